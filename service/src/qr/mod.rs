//! Campaign QR codes, rendered locally from a ticket's `url` (the text WeChat puts in its own
//! QR images, e.g. `http://weixin.qq.com/q/02abc...`), so the app never has to fetch WeChat's
//! picture: PNG at a chosen pixel size and SVG that scales, both with the 4-module quiet zone
//! kept, an optional centre logo and (SVG only) an optional caption under the code.
//!
//! Encoding is done by the `qrcode` crate; this module only lays the modules out and draws.
//! Routes (`/campaigns/{id}/qr.png?size=N`, `qr.svg`) call [`parse_size`], then [`render_png`]
//! or [`render_svg`]; uploaded logos go through [`load_logo`] first.
//!
//! Files: `logo` — uploaded logos checked and re-encoded ([`load_logo`], [`reencode_logo`]);
//! `tests` — the unit tests. This file holds the limits, the options and errors, and the two
//! renderers with their drawing helpers.

use std::fmt::Write as _;

use base64::Engine as _;
use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, ExtendedColorType, ImageEncoder, Rgba, RgbaImage};
use qrcode::{Color, EcLevel, QrCode};

mod logo;

pub use logo::{load_logo, logo_msg, prepare_logo, reencode_logo};

/// The decoded logo type of [`QrOptions::logo`], re-exported so callers need no `image` dependency.
pub use image::RgbaImage as LogoImage;

/// The pixel sizes WeChat offers for its own codes; the UI shows these as presets.
pub const SIZES: [u32; 4] = [258, 430, 860, 1280];

/// The size used when a request gives none, WeChat's default.
pub const DEFAULT_SIZE: u32 = 430;

/// Smallest accepted size in pixels: below this a phone camera struggles with a printed code.
pub const MIN_SIZE: u32 = 128;

/// Largest accepted size in pixels: bounds the memory and time one request can cost.
pub const MAX_SIZE: u32 = 2048;

/// Longest accepted url, in bytes (WeChat's urls are about 40): keeps the code scannable and
/// well inside what a version-40 code can hold at error correction High.
pub const MAX_URL_LEN: usize = 1024;

/// Largest accepted logo upload (1 MiB): a logo is drawn at most a few hundred pixels wide.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// Largest accepted logo width and height, checked before decoding so a small file that
/// inflates to a huge image is refused cheaply.
pub const MAX_LOGO_DIMENSION: u32 = 2048;

/// Width of the quiet (blank) border the QR standard requires around the symbol, in modules.
pub const QUIET_ZONE: u32 = 4;

/// Fewest pixels per module in a PNG: one-pixel modules do not survive any rescaling by a
/// browser, printer or chat app, so such a code is refused rather than rendered unreadable.
const MIN_MODULE_PX: u32 = 2;

/// The logo's box is at most this share of the symbol width (quiet zone excluded). With
/// padding it hides well under the 30% that error correction High can restore.
const LOGO_FRACTION: f32 = 0.2;

/// Font stack for the SVG caption: campaign names are mostly Chinese, so CJK faces come first
/// on each platform before the generic fallback.
const CAPTION_FONTS: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";

/// What can be drawn besides the bare code.
#[derive(Debug, Clone)]
pub struct QrOptions {
    /// Width (and, for PNG, height) in pixels, in `MIN_SIZE..=MAX_SIZE`; see [`SIZES`].
    pub size: u32,
    /// Text under the code, usually the campaign name. Drawn in SVG only: PNG has no font to
    /// draw CJK text offline, so [`render_png`] ignores it.
    pub caption: Option<String>,
    /// Image placed on a white rounded square in the centre; switches error correction to
    /// High so the covered modules can be restored. Get it from [`load_logo`].
    pub logo: Option<RgbaImage>,
}

impl Default for QrOptions {
    /// The bare code at WeChat's default size.
    fn default() -> Self {
        Self { size: DEFAULT_SIZE, caption: None, logo: None }
    }
}

/// Why a code could not be rendered or a logo was refused; each message is for the user.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The size is outside `MIN_SIZE..=MAX_SIZE`.
    #[error("size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {0}")]
    SizeOutOfRange(u32),
    /// The `size` query value is not a whole number.
    #[error("size must be a whole number of pixels, got {0:?}")]
    InvalidSize(String),
    /// The url to encode is empty (or only spaces).
    #[error("the code's url is empty")]
    EmptyUrl,
    /// The url is longer than `MAX_URL_LEN` bytes.
    #[error("the code's url is {0} bytes long; at most {MAX_URL_LEN} are allowed")]
    UrlTooLong(usize),
    /// The url needs more modules than fit in the size at `MIN_MODULE_PX` pixels each.
    #[error("a {size} px image is too small for this url ({modules} modules wide); pick a larger size")]
    TooDense {
        /// The requested size in pixels.
        size: u32,
        /// Modules across, quiet zone included.
        modules: u32,
    },
    /// The `qrcode` crate could not encode the url.
    #[error("the url cannot be encoded as a QR code: {0}")]
    Encode(String),
    /// The logo upload is bigger than `MAX_LOGO_BYTES`.
    #[error("the logo file is {0} bytes; at most 1 MiB is allowed")]
    LogoTooLarge(usize),
    /// The logo is wider or taller than `MAX_LOGO_DIMENSION`.
    #[error("the logo is {width}×{height} px; at most {MAX_LOGO_DIMENSION}×{MAX_LOGO_DIMENSION} is allowed")]
    LogoDimensions {
        /// Width in pixels, from the PNG header.
        width: u32,
        /// Height in pixels, from the PNG header.
        height: u32,
    },
    /// The logo is not a PNG file.
    #[error("the logo must be a PNG image")]
    LogoNotPng,
    /// The logo says it is a PNG but cannot be decoded, or is empty.
    #[error("the logo could not be read: {0}")]
    LogoInvalid(String),
    /// Writing the PNG failed (our fault).
    #[error("could not write the PNG: {0}")]
    Png(String),
}

/// Reads the `size` query value of `qr.png?size=N`: missing or blank means [`DEFAULT_SIZE`],
/// anything else must be a whole number in `MIN_SIZE..=MAX_SIZE`.
pub fn parse_size(text: Option<&str>) -> Result<u32, QrError> {
    let text = match text.map(str::trim) {
        None | Some("") => return Ok(DEFAULT_SIZE),
        Some(t) => t,
    };
    let size: u32 = text.parse().map_err(|_| QrError::InvalidSize(text.to_owned()))?;
    check_size(size)?;
    Ok(size)
}

/// Encodes `url` the way both renderers do: error correction High with a logo (the logo hides
/// modules that must be restored), Quartile without. Quartile rather than Medium because these
/// codes end up on printed posters that get creased and dirty, and for WeChat's ~40-byte urls
/// it costs only one version step. Public so callers and tests can see the module grid.
pub fn encode(url: &str, with_logo: bool) -> Result<QrCode, QrError> {
    if url.trim().is_empty() {
        return Err(QrError::EmptyUrl);
    }
    if url.len() > MAX_URL_LEN {
        return Err(QrError::UrlTooLong(url.len()));
    }
    let level = if with_logo { EcLevel::H } else { EcLevel::Q };
    QrCode::with_error_correction_level(url.as_bytes(), level).map_err(|e| QrError::Encode(e.to_string()))
}

/// Renders the code as a square PNG exactly `opts.size` pixels wide: whole-pixel modules
/// (nearest-neighbour, so edges stay sharp), centred, with at least the 4-module quiet zone;
/// the logo, if any, in the middle. The caption is ignored (see [`QrOptions::caption`]).
pub fn render_png(url: &str, opts: &QrOptions) -> Result<Vec<u8>, QrError> {
    check_size(opts.size)?;
    let code = encode(url, opts.logo.is_some())?;
    let width = code_width(&code);
    let modules = width + 2 * QUIET_ZONE;
    let module_px = opts.size / modules;
    if module_px < MIN_MODULE_PX {
        return Err(QrError::TooDense { size: opts.size, modules });
    }
    // Whatever does not divide evenly becomes extra margin, split around the code.
    let origin = (opts.size - width * module_px) / 2;

    let white = Rgba([255, 255, 255, 255]);
    let black = Rgba([0, 0, 0, 255]);
    let mut canvas = RgbaImage::from_pixel(opts.size, opts.size, white);
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color != Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % width, i as u32 / width);
        let (x0, y0) = (origin + mx * module_px, origin + my * module_px);
        for y in y0..y0 + module_px {
            for x in x0..x0 + module_px {
                canvas.put_pixel(x, y, black);
            }
        }
    }

    if let Some(logo) = &opts.logo {
        let symbol_px = width * module_px;
        let logo = scale_logo(logo, (symbol_px as f32 * LOGO_FRACTION) as u32);
        // One module of white padding around the logo, corners rounded with a two-module
        // radius, so the square reads as a badge rather than a hole in the code.
        let pad = module_px;
        let (bw, bh) = (logo.width() + 2 * pad, logo.height() + 2 * pad);
        let bx = origin + (symbol_px - bw) / 2;
        let by = origin + (symbol_px - bh) / 2;
        fill_rounded_rect(&mut canvas, bx, by, bw, bh, pad * 2, white);
        imageops::overlay(&mut canvas, &logo, i64::from(bx + pad), i64::from(by + pad));
    }

    // No alpha is needed in the output: transparent logo pixels were blended onto white.
    let rgb = DynamicImage::ImageRgba8(canvas).into_rgb8();
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(rgb.as_raw(), opts.size, opts.size, ExtendedColorType::Rgb8)
        .map_err(|e| QrError::Png(e.to_string()))?;
    Ok(png)
}

/// Renders the code as SVG. The `viewBox` counts modules (quiet zone included), so the image
/// scales to any print size; `width`/`height` give `opts.size` px as the default. All dark
/// modules are one `<path>` to keep the file small. The caption, if any, is a `<text>` in a
/// band under the code; the logo, if any, an embedded PNG on a white rounded square.
pub fn render_svg(url: &str, opts: &QrOptions) -> Result<String, QrError> {
    check_size(opts.size)?;
    let code = encode(url, opts.logo.is_some())?;
    let width = code_width(&code);
    let modules = width + 2 * QUIET_ZONE;

    let caption = opts.caption.as_deref().map(str::trim).filter(|c| !c.is_empty());
    // Caption band: 3 modules tall with text 1.6 modules high, about 6% of the code width for
    // a typical WeChat code, readable on a poster without crowding the code.
    let band = if caption.is_some() { 3 } else { 0 };
    let view_h = modules + band;
    let px_h = (u64::from(opts.size) * u64::from(view_h) / u64::from(modules)) as u32;

    let mut svg = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {modules} {view_h}" shape-rendering="crispEdges">"#,
        w = opts.size,
        h = px_h,
    );
    let _ = write!(svg, r##"<rect width="{modules}" height="{view_h}" fill="#ffffff"/>"##);
    svg.push_str(r##"<path fill="#000000" d=""##);
    let colors = code.to_colors();
    for my in 0..width {
        let row = &colors[(my * width) as usize..((my + 1) * width) as usize];
        let mut mx = 0;
        while mx < width {
            if row[mx as usize] != Color::Dark {
                mx += 1;
                continue;
            }
            // One sub-path per horizontal run of dark modules.
            let start = mx;
            while mx < width && row[mx as usize] == Color::Dark {
                mx += 1;
            }
            let run = mx - start;
            let _ = write!(svg, "M{x} {y}h{run}v1h-{run}z", x = start + QUIET_ZONE, y = my + QUIET_ZONE);
        }
    }
    svg.push_str(r#""/>"#);

    if let Some(logo) = &opts.logo {
        // The logo is drawn from pixels scaled for the requested size, so it embeds no more
        // detail than the PNG would show.
        let module_px = (opts.size / modules).max(1);
        let box_px = (width * module_px) as f32 * LOGO_FRACTION;
        let scaled = scale_logo(logo, box_px as u32);
        let unit = module_px as f32; // pixels per viewBox unit
        let (lw, lh) = (scaled.width() as f32 / unit, scaled.height() as f32 / unit);
        let centre = QUIET_ZONE as f32 + width as f32 / 2.0;
        let (lx, ly) = (centre - lw / 2.0, centre - lh / 2.0);
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(scaled.as_raw(), scaled.width(), scaled.height(), ExtendedColorType::Rgba8)
            .map_err(|e| QrError::Png(e.to_string()))?;
        let data = base64::engine::general_purpose::STANDARD.encode(&png);
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" fill="#ffffff"/>"##,
            x = lx - 1.0,
            y = ly - 1.0,
            w = lw + 2.0,
            h = lh + 2.0,
        );
        let _ = write!(svg, r#"<image x="{lx}" y="{ly}" width="{lw}" height="{lh}" href="data:image/png;base64,{data}"/>"#,);
    }

    if let Some(text) = caption {
        // Baseline two modules into the band: the quiet zone above already separates it.
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{y}" font-family="{CAPTION_FONTS}" font-size="1.6" text-anchor="middle" fill="#000000">{t}</text>"##,
            x = f64::from(modules) / 2.0,
            y = modules + 1,
            t = wechat::xml::escape(text),
        );
    }
    svg.push_str("</svg>");
    Ok(svg)
}

/// Refuses sizes outside `MIN_SIZE..=MAX_SIZE`.
fn check_size(size: u32) -> Result<(), QrError> {
    if (MIN_SIZE..=MAX_SIZE).contains(&size) { Ok(()) } else { Err(QrError::SizeOutOfRange(size)) }
}

/// Modules across the symbol, quiet zone excluded (at most 177, so the cast is lossless).
fn code_width(code: &QrCode) -> u32 {
    code.width() as u32
}

/// Scales `logo` to fit a `max_side` square, keeping its aspect ratio (up or down: a small
/// logo is enlarged so every code looks alike).
fn scale_logo(logo: &RgbaImage, max_side: u32) -> RgbaImage {
    let max_side = max_side.max(1);
    let (w, h) = (logo.width().max(1), logo.height().max(1));
    let scale = max_side as f32 / w.max(h) as f32;
    let nw = ((w as f32 * scale).round() as u32).clamp(1, max_side);
    let nh = ((h as f32 * scale).round() as u32).clamp(1, max_side);
    imageops::resize(logo, nw, nh, FilterType::CatmullRom)
}

/// Paints a filled rectangle with rounded corners of `radius` pixels.
fn fill_rounded_rect(img: &mut RgbaImage, x0: u32, y0: u32, w: u32, h: u32, radius: u32, px: Rgba<u8>) {
    let r = radius.min(w / 2).min(h / 2) as i64;
    let (w, h) = (i64::from(w), i64::from(h));
    for dy in 0..h {
        for dx in 0..w {
            // Distance from the nearest corner circle's centre, if the pixel is in a corner.
            let cx = if dx < r {
                r - dx
            } else if dx >= w - r {
                dx - (w - r - 1)
            } else {
                0
            };
            let cy = if dy < r {
                r - dy
            } else if dy >= h - r {
                dy - (h - r - 1)
            } else {
                0
            };
            if cx > 0 && cy > 0 && cx * cx + cy * cy > r * r {
                continue;
            }
            let (x, y) = (x0 as i64 + dx, y0 as i64 + dy);
            if x < i64::from(img.width()) && y < i64::from(img.height()) {
                img.put_pixel(x as u32, y as u32, px);
            }
        }
    }
}

#[cfg(test)]
mod tests;
