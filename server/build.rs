//! Embeds the compiled site (`target/site`: the wasm bundle, its JS loader, the stylesheet,
//! the favicon) into the binary, so a `sceneboard` copied alone serves every page hydrated.
//!
//! cargo-leptos builds the site before the server when `hash-files` is on (Cargo.toml), names
//! the bundle's files after a hash of their content, and in release builds writes `.br` and
//! `.gz` copies beside each file; all of them are embedded. Without a site (a plain
//! `cargo build` before any `cargo leptos build`) nothing is embedded and the binary serves
//! the site from disk (`src/site.rs`).
//!
//! It also embeds a CJK font for the PNG charts' Chinese labels, so a host without one still
//! draws them: `SCENEBOARD_EMBED_FONT` names the file (`none` embeds nothing), else the first
//! of Debian's WenQuanYi Micro Hei (5 MB; `scripts/setup.sh` installs it) and Noto Sans CJK.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("the server crate sits in the workspace");
    println!("cargo:rerun-if-env-changed=LEPTOS_SITE_ROOT");
    let root = match std::env::var("LEPTOS_SITE_ROOT") {
        Ok(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target/site"),
    };
    // A missing folder makes cargo rerun this script on every build, which is what we want:
    // the site appears as soon as cargo-leptos has built it.
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    if root.is_dir() {
        walk(&root, &root, &mut files);
    } else {
        println!(
            "cargo:warning=no compiled site at {}: this binary will serve the site from LEPTOS_SITE_ROOT (build with `cargo leptos build` to embed it)",
            root.display()
        );
    }
    files.sort();

    let mut out = String::from("&[\n");
    // TypeScript declarations (wasm-bindgen's `.d.ts`) are for editors, not browsers.
    let served = |f: &&String| !f.ends_with(".br") && !f.ends_with(".gz") && !f.ends_with(".ts");
    for rel in files.iter().filter(served) {
        let path = root.join(rel);
        let bytes = std::fs::read(&path).expect("a site file is readable");
        let etag: String = Sha256::digest(&bytes)[..12].iter().map(|b| format!("{b:02x}")).collect();
        let variant = |suffix: &str| {
            let p = root.join(format!("{rel}.{suffix}"));
            // A compressed copy no smaller than the file (a PNG, an icon) is not worth sending.
            match std::fs::metadata(&p) {
                Ok(m) if m.len() < bytes.len() as u64 => format!("Some(include_bytes!({:?}))", p.display().to_string()),
                _ => "None".to_owned(),
            }
        };
        writeln!(
            out,
            "    Embedded {{ path: {rel:?}, raw: include_bytes!({:?}), br: {}, gzip: {}, etag: {etag:?} }},",
            path.display().to_string(),
            variant("br"),
            variant("gz"),
        )
        .expect("writing to a String");
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("site_files.rs"), out).expect("OUT_DIR is writable");
    std::fs::write(out_dir.join("chart_font.rs"), chart_font()).expect("OUT_DIR is writable");
}

/// The expression for the embedded chart font: `Some(include_bytes!(…))` or `None`.
fn chart_font() -> String {
    println!("cargo:rerun-if-env-changed=SCENEBOARD_EMBED_FONT");
    let candidates: Vec<PathBuf> = match std::env::var("SCENEBOARD_EMBED_FONT") {
        Ok(v) if v == "none" => return "None".into(),
        Ok(v) if !v.is_empty() => vec![PathBuf::from(v)],
        _ => ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    for path in &candidates {
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            return format!("Some(include_bytes!({:?}))", path.display().to_string());
        }
    }
    println!(
        "cargo:warning=no CJK font to embed ({}): PNG charts will need one on the host (apt install fonts-wqy-microhei)",
        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    "None".into()
}

/// Every file under `dir`, as a `/`-separated path relative to `root`.
fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            files.push(rel.join("/"));
        }
    }
}
