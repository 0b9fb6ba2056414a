//! The compiled site: the wasm bundle, its JS loader, the stylesheet and the favicon.
//!
//! Served from the copy built into the binary (`build.rs`), so a `sceneboard` copied alone
//! into an empty folder serves every page hydrated; or from a folder when `LEPTOS_SITE_ROOT`
//! names one (development: `cargo leptos watch` rebuilds the site there). Embedded files go
//! out in the best encoding the browser accepts (brotli, gzip, as built), with an ETag, and the
//! ones whose names carry a content hash with a year-long, immutable cache lifetime
//! (docs/design/site.md).

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One file of the site as build.rs embedded it.
#[derive(Debug)]
pub struct Embedded {
    /// Path below the site root, `/`-separated (`pkg/sceneboard.3kq….wasm`).
    pub path: &'static str,
    pub raw: &'static [u8],
    pub br: Option<&'static [u8]>,
    pub gzip: Option<&'static [u8]>,
    /// Hex of the content's SHA-256 (its start): the ETag, with the encoding appended.
    pub etag: &'static str,
}

static EMBEDDED: &[Embedded] = include!(concat!(env!("OUT_DIR"), "/site_files.rs"));

/// The CJK font built into the binary for the PNG charts' Chinese labels (build.rs), if the
/// build machine had one.
pub static CHART_FONT: Option<&[u8]> = include!(concat!(env!("OUT_DIR"), "/chart_font.rs"));

/// Where the site's files come from.
#[derive(Debug)]
enum Files {
    Embedded(HashMap<&'static str, &'static Embedded>),
    Dir(PathBuf),
}

/// The site a router serves, and the URLs of its bundle that pages link to.
#[derive(Debug)]
pub struct Site {
    files: Files,
    assets: app::Assets,
}

impl Site {
    /// The site of a server: the folder `dir` when one is configured, else the copy built into
    /// the binary, else (a binary built without one) `target/site`.
    pub fn new(dir: Option<&str>) -> Site {
        match dir {
            Some(dir) => Site::dir(dir),
            None => Site::embedded().unwrap_or_else(|| Site::dir("target/site")),
        }
    }

    /// The copy built into the binary, if it holds one.
    pub fn embedded() -> Option<Site> {
        if EMBEDDED.is_empty() {
            return None;
        }
        let files: HashMap<_, _> = EMBEDDED.iter().map(|f| (f.path, f)).collect();
        let assets = assets_among(files.keys().copied());
        Some(Site { files: Files::Embedded(files), assets })
    }

    /// The files of the folder `dir`, as they are on disk at every request.
    pub fn dir(dir: impl AsRef<Path>) -> Site {
        let dir = dir.as_ref().to_path_buf();
        let names: Vec<String> = std::fs::read_dir(dir.join("pkg"))
            .map(|entries| entries.flatten().map(|e| format!("pkg/{}", e.file_name().to_string_lossy())).collect())
            .unwrap_or_default();
        let assets = assets_among(names.iter().map(String::as_str));
        Site { files: Files::Dir(dir), assets }
    }

    /// The bundle's URLs, for the pages' context.
    pub fn assets(&self) -> &app::Assets {
        &self.assets
    }

    /// The folder the site is served from, or `None` when it is built in.
    pub fn folder(&self) -> Option<&Path> {
        match &self.files {
            Files::Dir(dir) => Some(dir),
            Files::Embedded(_) => None,
        }
    }

    /// One line for the startup log.
    pub fn describe(&self) -> String {
        match &self.files {
            Files::Embedded(files) => {
                let bytes: usize = files.values().map(|f| f.raw.len()).sum();
                format!("built in ({} files, {} KB)", files.len(), bytes / 1024)
            }
            Files::Dir(dir) => format!("from the folder {}", dir.display()),
        }
    }

    /// The response for an embedded file at `path`, or `None` when the site has no such file
    /// (or is served from a folder).
    pub fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
        let Files::Embedded(files) = &self.files else { return None };
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let file = files.get(path.trim_start_matches('/'))?;
        Some(respond(file, method, headers))
    }
}

/// The URLs of the JS loader, the wasm and the stylesheet among the site's file paths:
/// cargo-leptos' names (`pkg/sceneboard.js`), or those names with a content hash inserted
/// (`pkg/sceneboard.<hash>.js`).
fn assets_among<'a>(paths: impl Iterator<Item = &'a str>) -> app::Assets {
    let mut assets = app::Assets::default();
    for path in paths {
        let Some(name) = path.strip_prefix("pkg/sceneboard.") else { continue };
        let slot = match name.rsplit('.').next() {
            Some("js") => &mut assets.js,
            Some("wasm") => &mut assets.wasm,
            Some("css") => &mut assets.css,
            _ => continue,
        };
        *slot = format!("/{path}");
    }
    assets
}

/// Does `path` name a file whose name carries its content's hash (`name.<hash>.ext`)? Such a
/// file never changes under its name, so browsers may keep it for a year.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.').count() >= 3
}

/// The encodings the request accepts, as (brotli, gzip): `Accept-Encoding` tokens without
/// `;q=0`.
fn accepted(headers: &HeaderMap) -> (bool, bool) {
    let mut found = (false, false);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        for item in value.to_str().unwrap_or_default().split(',') {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
            match coding.as_str() {
                "br" if !refused => found.0 = true,
                "gzip" if !refused => found.1 = true,
                _ => {}
            }
        }
    }
    found
}

/// Does `If-None-Match` name `file` in any encoding (each encoding's ETag is the content's
/// hash with the encoding appended, so caches never take one for the other)?
fn unchanged(file: &Embedded, headers: &HeaderMap) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|t| t == "*" || t.strip_suffix("-br").or_else(|| t.strip_suffix("-gzip")).unwrap_or(t) == file.etag)
    })
}

fn respond(file: &Embedded, method: &Method, headers: &HeaderMap) -> Response {
    let (br, gzip) = accepted(headers);
    let (body, encoding) = match (file.br, file.gzip) {
        (Some(b), _) if br => (b, Some("br")),
        (_, Some(g)) if gzip => (g, Some("gzip")),
        _ => (file.raw, None),
    };
    let etag = match encoding {
        Some(e) => format!("\"{}-{e}\"", file.etag),
        None => format!("\"{}\"", file.etag),
    };
    let cache = if is_hashed(file.path) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response =
        Response::builder().header(header::ETAG, etag).header(header::CACHE_CONTROL, cache).header(header::VARY, "accept-encoding");
    if unchanged(file, headers) {
        return response.status(StatusCode::NOT_MODIFIED).body(Body::empty()).expect("a valid 304");
    }
    if let Some(encoding) = encoding {
        response = response.header(header::CONTENT_ENCODING, encoding);
    }
    let mime = mime_guess::from_path(file.path).first_or_octet_stream();
    response = response
        .header(header::CONTENT_TYPE, HeaderValue::from_str(mime.as_ref()).unwrap_or(HeaderValue::from_static("application/octet-stream")))
        .header(header::CONTENT_LENGTH, body.len());
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(body) };
    response.body(body).expect("a valid file response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_urls_follow_hashed_names() {
        let paths = ["favicon.svg", "pkg/sceneboard.Ab_9.js", "pkg/sceneboard.Zx-1.wasm", "pkg/sceneboard.Q.css"];
        let a = assets_among(paths.into_iter());
        assert_eq!(
            (a.js.as_str(), a.wasm.as_str(), a.css.as_str()),
            ("/pkg/sceneboard.Ab_9.js", "/pkg/sceneboard.Zx-1.wasm", "/pkg/sceneboard.Q.css")
        );
        assert_eq!(assets_among(["pkg/sceneboard.js"].into_iter()).js, "/pkg/sceneboard.js");
        assert!(is_hashed("pkg/sceneboard.Ab_9.wasm") && !is_hashed("favicon.svg") && !is_hashed("pkg/sceneboard.wasm"));
    }

    #[test]
    fn encodings_refused_with_q_zero_are_not_used() {
        let h = |v: &str| HeaderMap::from_iter([(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap())]);
        assert_eq!(accepted(&h("gzip, deflate, br, zstd")), (true, true));
        assert_eq!(accepted(&h("br;q=0, GZIP;q=0.5")), (false, true));
        assert_eq!(accepted(&h("identity")), (false, false));
        assert_eq!(accepted(&HeaderMap::new()), (false, false));
    }

    #[test]
    fn an_embedded_file_is_sent_compressed_and_revalidated() {
        let file = Embedded { path: "pkg/sceneboard.h1.js", raw: b"raw body", br: Some(b"b"), gzip: Some(b"gz"), etag: "e1" };
        let h = |k, v: &str| HeaderMap::from_iter([(k, HeaderValue::from_str(v).unwrap())]);
        let r = respond(&file, &Method::GET, &h(header::ACCEPT_ENCODING, "gzip, br"));
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(r.headers()[header::ETAG], "\"e1-br\"");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "1");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/javascript");
        let r = respond(&file, &Method::GET, &h(header::ACCEPT_ENCODING, "gzip"));
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let r = respond(&file, &Method::GET, &HeaderMap::new());
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "8");
        assert_eq!(r.headers()[header::ETAG], "\"e1\"");
        for tags in ["\"other\", \"e1\"", "\"e1-gzip\"", "W/\"e1-br\""] {
            let r = respond(&file, &Method::GET, &h(header::IF_NONE_MATCH, tags));
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{tags}");
        }
        let r = respond(&file, &Method::GET, &h(header::IF_NONE_MATCH, "\"e2\""));
        assert_eq!(r.status(), StatusCode::OK);
    }
}
