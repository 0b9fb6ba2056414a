//! PNG charts: the chart's SVG rasterised by resvg, with real fonts.
//!
//! resvg draws text only with fonts it is given: the system's, a folder's
//! (`SCENEBOARD_FONT_DIR`), and the CJK font built into the server binary, so a host without
//! any CJK font still draws Chinese labels. `sans-serif` (what the charts ask for) maps to the
//! first CJK family found.

use super::err;
use crate::ServiceError;
use resvg::usvg::fontdb::{Database, Source};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The folder of fonts PNG charts may use besides the system's (`SCENEBOARD_FONT_DIR`), set
/// once at startup, before the first chart is drawn.
static FONT_DIR: OnceLock<PathBuf> = OnceLock::new();
/// A font built into the binary, set once at startup.
static FONT_DATA: OnceLock<&'static [u8]> = OnceLock::new();

/// Families preferred for `sans-serif`, CJK first: a host's Noto or Source Han over the
/// built-in WenQuanYi.
const PREFER: [&str; 6] =
    ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans", "DejaVu Sans"];

/// Use the fonts in `dir` too; the first call wins.
pub fn use_font_dir(dir: PathBuf) {
    let _ = FONT_DIR.set(dir);
}

/// Use this font file's bytes too (a TTF, OTF or TTC); the first call wins.
pub fn use_font_data(data: &'static [u8]) {
    let _ = FONT_DATA.set(data);
}

/// A font database: the system's fonts when `system`, those in `dir`, and `data`; with
/// `sans-serif` mapped to the first of [`PREFER`] it holds.
pub fn font_db(system: bool, dir: Option<&Path>, data: Option<&'static [u8]>) -> Arc<Database> {
    let mut db = Database::new();
    if system {
        db.load_system_fonts();
    }
    if let Some(dir) = dir {
        db.load_fonts_dir(dir);
    }
    if let Some(data) = data {
        db.load_font_source(Source::Binary(Arc::new(data)));
    }
    let families: Vec<String> = db.faces().flat_map(|f| f.families.iter().map(|(n, _)| n.clone())).collect();
    if let Some(name) = PREFER.iter().find(|p| families.iter().any(|f| f == *p)) {
        db.set_sans_serif_family(*name);
    }
    if families.is_empty() {
        tracing::warn!("no fonts found: PNG charts will have no text (install fonts-wqy-microhei or set SCENEBOARD_FONT_DIR)");
    }
    Arc::new(db)
}

/// The fonts of every PNG this process draws, loaded once.
fn fonts() -> Arc<Database> {
    static FONTS: OnceLock<Arc<Database>> = OnceLock::new();
    FONTS.get_or_init(|| font_db(true, FONT_DIR.get().map(PathBuf::as_path), FONT_DATA.get().copied())).clone()
}

/// Rasterises a chart's SVG (the [`super::Variant::Raster`] one) to PNG at `scale` (2 = crisp
/// on high-density screens and in slides).
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, ServiceError> {
    png_with(svg, scale, fonts())
}

/// [`png`] with the fonts of `fonts`.
pub fn png_with(svg: &str, scale: f32, fonts: Arc<Database>) -> Result<Vec<u8>, ServiceError> {
    use resvg::{tiny_skia, usvg};
    let opt = usvg::Options { fontdb: fonts, ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(err)?;
    let size = tree.size();
    let (w, h) = ((size.width() * scale).ceil() as u32, (size.height() * scale).ceil() as u32);
    let mut pixmap = tiny_skia::Pixmap::new(w.max(1), h.max(1)).ok_or_else(|| err("no room for the picture"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(err)
}
