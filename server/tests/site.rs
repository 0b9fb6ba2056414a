//! The site built into the binary: a `sceneboard` copied alone into an empty folder serves
//! every page with its bundle, compressed when the browser accepts it, under content-hashed
//! names browsers may keep for a year. (Playwright hydrates pages from such a copy.)

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first URL `/pkg/sceneboard.….ext` that `html` names (in an attribute or the loader script).
fn bundle_url(html: &str, ext: &str) -> String {
    html.split("/pkg/sceneboard.")
        .skip(1)
        .map(|rest| rest.split(['"', '\'']).next().unwrap())
        .find(|name| name.ends_with(ext))
        .map(|name| format!("/pkg/sceneboard.{name}"))
        .unwrap_or_else(|| panic!("the page links no /pkg/sceneboard.*{ext}: {html}"))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a gzip body");
    out
}

#[tokio::test]
async fn a_binary_copied_alone_serves_its_site_compressed_and_cacheable() {
    assert!(
        server::site::Site::embedded().is_some(),
        "this build has no site built in: run `cargo leptos build` before `cargo test` (scripts/test.sh does)"
    );
    // The binary alone in an empty folder, no LEPTOS_SITE_ROOT: nothing on disk to serve from.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("sceneboard");
    std::fs::copy(env!("CARGO_BIN_EXE_sceneboard"), &bin).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Killed(
        Command::new(&bin)
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("LEPTOS_SITE_ROOT")
            .env_remove("DATABASE_URL")
            .env_remove("SCENEBOARD_SECRET_KEY")
            .env("SCENEBOARD_ADDR", format!("127.0.0.1:{port}"))
            .env("SCENEBOARD_DATA_DIR", dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..600 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the copied binary never answered /healthz");
    let folder: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!folder.iter().any(|f| f == "target" || f == "site" || f == "pkg"), "a site folder appeared: {folder:?}");

    // The page, compressed both ways, the same HTML once decoded.
    let page = http.get(format!("{base}/login")).header(ACCEPT_ENCODING, "identity").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(CONTENT_ENCODING).is_none());
    let html = page.text().await.unwrap();
    let br = http.get(format!("{base}/login")).header(ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
    assert_eq!(br.headers()[CONTENT_ENCODING], "br");
    let gz = http.get(format!("{base}/login")).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip");
    let gz_bytes = gz.bytes().await.unwrap();
    assert!(gz_bytes.len() < html.len(), "the page compresses: {} of {} bytes", gz_bytes.len(), html.len());
    assert!(String::from_utf8(gunzip(&gz_bytes)).unwrap().contains("<form"), "the gzip body decodes to the page");

    // The bundle: every file the page links, under a hashed name, cached for a year,
    // compressed, revalidated by its ETag.
    for (ext, magic) in [(".js", &b""[..]), (".wasm", &b"\0asm"[..]), (".css", &b""[..])] {
        let url = bundle_url(&html, ext);
        assert!(url.matches('.').count() >= 2, "{url} carries no content hash");
        let raw = http.get(format!("{base}{url}")).header(ACCEPT_ENCODING, "identity").send().await.unwrap();
        assert_eq!(raw.status(), StatusCode::OK, "{url}");
        assert_eq!(raw.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable", "{url}");
        let etag = raw.headers()[ETAG].clone();
        let raw = raw.bytes().await.unwrap();
        assert!(raw.starts_with(magic) && !raw.is_empty(), "{url}");
        let gz = http.get(format!("{base}{url}")).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
        assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip", "{url}");
        let gz = gz.bytes().await.unwrap();
        assert!(gz.len() < raw.len(), "{url}: gzip {} of {}", gz.len(), raw.len());
        assert_eq!(gunzip(&gz), raw, "{url}: gzip decodes to the file");
        let br = http.get(format!("{base}{url}")).header(ACCEPT_ENCODING, "br;q=1, gzip;q=0.5").send().await.unwrap();
        assert_eq!(br.headers()[CONTENT_ENCODING], "br", "{url}");
        let again = http.get(format!("{base}{url}")).header(IF_NONE_MATCH, etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
    }
    // The favicon is built in too, revalidated rather than kept.
    let icon = http.get(format!("{base}/favicon.svg")).send().await.unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()[CACHE_CONTROL], "no-cache");
    // An old bundle name, or any other path, is the app's 404 page.
    let old = http.get(format!("{base}/pkg/sceneboard.0000.wasm")).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    assert!(old.text().await.unwrap().contains("<html"));
}

// The CJK font built into the binary draws Chinese labels in PNG charts on a host with no CJK
// font at all: here with no system font, only the built-in one, against the same database
// without it.
#[test]
fn the_built_in_font_draws_chinese_labels() {
    let font = server::site::CHART_FONT.expect("this build embedded no CJK font: install fonts-wqy-microhei (scripts/setup.sh does)");
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="80"><text x="10" y="60" font-family="sans-serif" font-size="48">微信扫码</text></svg>"#;
    let ink = |fonts| {
        let png = service::chart::png_with(svg, 1.0, fonts).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        img.pixels().filter(|p| p.0.iter().all(|c| *c < 128)).count()
    };
    let without = ink(service::chart::font_db(false, None, None));
    let with = ink(service::chart::font_db(false, None, Some(font)));
    assert_eq!(without, 0, "no font, no text");
    assert!(with > 1000, "four CJK characters at 48 px leave ink: {with} dark pixels");
}
