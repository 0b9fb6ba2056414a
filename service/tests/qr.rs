//! Campaign QR codes: every rendered code must decode back to exactly the ticket's url.
//! PNGs are decoded with `image` and read with the `rqrr` decoder; SVGs are checked by reading
//! the module grid back out of their one `<path>` and decoding that grid with `rqrr` too.

use image::{Rgba, RgbaImage};
use service::qr::{self, QrError, QrOptions, SIZES};

/// Shaped like a real WeChat ticket url (`http://weixin.qq.com/q/` + ticket).
const URL: &str = "http://weixin.qq.com/q/02abcDEF123-_xyz0Qw1RtYuIoPa8sD";

fn opts(size: u32) -> QrOptions {
    QrOptions { size, caption: None, logo: None }
}

/// Decodes PNG bytes, checks the size, and returns every QR payload rqrr finds.
fn decode_png(png: &[u8], size: u32) -> Vec<String> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("output is a PNG").into_luma8();
    assert_eq!(img.dimensions(), (size, size), "PNG must be exactly {size}×{size}");
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.width() as usize, img.height() as usize, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    prepared.detect_grids().into_iter().map(|g| g.decode().expect("grid decodes").1).collect()
}

fn solid_logo() -> RgbaImage {
    RgbaImage::from_pixel(120, 120, Rgba([220, 30, 60, 255]))
}

#[test]
fn png_every_preset_size_decodes_to_url() {
    for size in SIZES {
        let png = qr::render_png(URL, &opts(size)).unwrap();
        assert_eq!(decode_png(&png, size), vec![URL.to_owned()], "size {size}");
    }
}

#[test]
fn png_odd_sizes_are_exact_and_decode() {
    for size in [128, 300, 2048] {
        let png = qr::render_png(URL, &opts(size)).unwrap();
        assert_eq!(decode_png(&png, size), vec![URL.to_owned()], "size {size}");
    }
}

#[test]
fn png_with_centre_logo_still_decodes() {
    for size in [430, 860] {
        let o = QrOptions { logo: Some(solid_logo()), ..opts(size) };
        let png = qr::render_png(URL, &o).unwrap();
        assert_eq!(decode_png(&png, size), vec![URL.to_owned()], "size {size}");
        // The logo really is drawn: its colour appears in the centre.
        let img = image::load_from_memory(&png).unwrap().into_rgb8();
        assert_eq!(img.get_pixel(size / 2, size / 2).0, [220, 30, 60]);
    }
}

#[test]
fn png_with_logo_at_every_preset_decodes() {
    // A wide, half-transparent logo on the smallest and largest presets as well.
    let logo = RgbaImage::from_fn(300, 100, |x, _| Rgba([0, 90, 200, if x % 2 == 0 { 255 } else { 0 }]));
    for size in SIZES {
        let o = QrOptions { logo: Some(logo.clone()), ..opts(size) };
        let png = qr::render_png(URL, &o).unwrap();
        assert_eq!(decode_png(&png, size), vec![URL.to_owned()], "size {size}");
    }
}

#[test]
fn png_keeps_quiet_zone_white() {
    let size = 430;
    let png = qr::render_png(URL, &opts(size)).unwrap();
    let img = image::load_from_memory(&png).unwrap().into_luma8();
    let code = qr::encode(URL, false).unwrap();
    let modules = code.width() as u32 + 2 * qr::QUIET_ZONE;
    let margin = size / modules * qr::QUIET_ZONE;
    for y in 0..size {
        for x in 0..size {
            if x < margin || y < margin || x >= size - margin || y >= size - margin {
                assert_eq!(img.get_pixel(x, y).0[0], 255, "({x},{y}) in the quiet zone");
            }
        }
    }
}

#[test]
fn png_caption_is_ignored_not_an_error() {
    let o = QrOptions { caption: Some("春季海报".into()), ..opts(430) };
    let png = qr::render_png(URL, &o).unwrap();
    assert_eq!(decode_png(&png, 430), vec![URL.to_owned()]);
}

/// Reads the SVG's viewBox and the dark-module grid from its `<path>` (runs written as
/// `M{x} {y}h{n}v1h-{n}z`, in module units with the quiet zone included).
fn svg_grid(svg: &str) -> (u32, u32, Vec<Vec<bool>>) {
    let vb = svg.split("viewBox=\"0 0 ").nth(1).expect("viewBox").split('"').next().unwrap();
    let mut it = vb.split(' ').map(|n| n.parse::<u32>().unwrap());
    let (w, h) = (it.next().unwrap(), it.next().unwrap());
    let d = svg.split("<path fill=\"#000000\" d=\"").nth(1).expect("path").split('"').next().unwrap();
    let mut grid = vec![vec![false; w as usize]; w as usize];
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        let n: usize = rest.split_once('v').unwrap().0.parse().unwrap();
        assert_eq!(rest, format!("{n}v1h-{n}z"));
        for cell in &mut grid[y][x..x + n] {
            *cell = true;
        }
    }
    (w, h, grid)
}

#[test]
fn svg_grid_matches_qrcode_and_decodes() {
    let svg = qr::render_svg(URL, &opts(430)).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>"));
    assert!(svg.contains("width=\"430\" height=\"430\""));
    assert_eq!(svg.matches("<path").count(), 1, "dark modules are one path");

    let code = qr::encode(URL, false).unwrap();
    let width = code.width();
    assert_eq!(width as i16, code.version().width());
    let (vw, vh, grid) = svg_grid(&svg);
    assert_eq!((vw, vh), (width as u32 + 8, width as u32 + 8), "viewBox = symbol + quiet zone");

    // The path's modules are exactly the code's dark modules; the quiet zone is empty.
    let colors = code.to_colors();
    for (y, row) in grid.iter().enumerate() {
        for (x, &dark) in row.iter().enumerate() {
            let inside = (4..4 + width).contains(&x) && (4..4 + width).contains(&y);
            let expected = inside && colors[(y - 4) * width + (x - 4)] == qrcode::Color::Dark;
            assert_eq!(dark, expected, "module ({x},{y})");
        }
    }

    // And the grid decodes back to the url (no rasteriser needed).
    let scale = 6;
    let px = vw as usize * scale;
    let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(px, px, |x, y| grid[y / scale][x / scale]);
    let found: Vec<String> = prepared.detect_grids().into_iter().map(|g| g.decode().unwrap().1).collect();
    assert_eq!(found, vec![URL.to_owned()]);
}

#[test]
fn svg_caption_is_escaped_text_under_the_code() {
    let o = QrOptions { caption: Some("春季海报 <&> \"x\"".into()), ..opts(430) };
    let svg = qr::render_svg(URL, &o).unwrap();
    assert!(svg.contains("春季海报 &lt;&amp;&gt; &quot;x&quot;</text>"), "{svg}");
    assert!(!svg.contains("<&>"));
    assert!(svg.contains("PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif"));
    let (vw, vh, _) = svg_grid(&svg);
    assert!(vh > vw, "the caption band is added below the code");
    let text_y: u32 = svg.split("<text").nth(1).unwrap().split("y=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!(text_y > vw && text_y <= vh, "caption baseline {text_y} below the code (0..{vw})");
    // The pixel height keeps the viewBox's aspect ratio.
    let expected_h = 430 * vh / vw;
    assert!(svg.contains(&format!("width=\"430\" height=\"{expected_h}\"")));
}

#[test]
fn svg_without_caption_has_no_text_and_blank_caption_is_none() {
    let svg = qr::render_svg(URL, &opts(258)).unwrap();
    assert!(!svg.contains("<text"));
    let blank = QrOptions { caption: Some("  ".into()), ..opts(258) };
    assert_eq!(qr::render_svg(URL, &blank).unwrap(), svg);
}

#[test]
fn svg_with_logo_embeds_png_and_uses_high_ec() {
    let o = QrOptions { logo: Some(solid_logo()), ..opts(860) };
    let svg = qr::render_svg(URL, &o).unwrap();
    assert!(svg.contains("href=\"data:image/png;base64,"));
    let code = qr::encode(URL, true).unwrap();
    assert_eq!(code.error_correction_level(), qrcode::EcLevel::H);
    let (vw, _, _) = svg_grid(&svg);
    assert_eq!(vw, code.width() as u32 + 8);
}

#[test]
fn bad_sizes_are_refused() {
    for size in [0, 127, 2049, u32::MAX] {
        assert!(matches!(qr::render_png(URL, &opts(size)), Err(QrError::SizeOutOfRange(s)) if s == size), "png {size}");
        assert!(matches!(qr::render_svg(URL, &opts(size)), Err(QrError::SizeOutOfRange(_))));
    }
    assert!(matches!(qr::parse_size(Some("abc")), Err(QrError::InvalidSize(_))));
    assert_eq!(qr::parse_size(None).unwrap(), 430);
}

#[test]
fn empty_and_long_urls_are_refused() {
    for url in ["", "   "] {
        assert!(matches!(qr::render_png(url, &opts(430)), Err(QrError::EmptyUrl)));
        assert!(matches!(qr::render_svg(url, &opts(430)), Err(QrError::EmptyUrl)));
    }
    let long = "a".repeat(1025);
    assert!(matches!(qr::render_png(&long, &opts(430)), Err(QrError::UrlTooLong(1025))));
    // 1024 bytes is allowed, but needs a size big enough for its modules.
    let max = format!("http://weixin.qq.com/q/{}", "x".repeat(1024 - 23));
    assert!(matches!(qr::render_png(&max, &opts(128)), Err(QrError::TooDense { size: 128, .. })));
    let png = qr::render_png(&max, &opts(1280)).unwrap();
    assert_eq!(decode_png(&png, 1280), vec![max]);
}

#[test]
fn logo_loading_validates() {
    // A good PNG round-trips to its pixels.
    let logo = solid_logo();
    let mut png = Vec::new();
    logo.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert_eq!(qr::load_logo(&png).unwrap(), logo);

    // Not a PNG (a JPEG's first bytes, and text).
    assert!(matches!(qr::load_logo(b"\xFF\xD8\xFF\xE0\x00\x10JFIF"), Err(QrError::LogoNotPng)));
    assert!(matches!(qr::load_logo(b"hello"), Err(QrError::LogoNotPng)));
    assert!(matches!(qr::load_logo(b""), Err(QrError::LogoNotPng)));

    // A PNG signature followed by garbage.
    let mut broken = b"\x89PNG\r\n\x1a\n".to_vec();
    broken.extend_from_slice(&[0; 64]);
    assert!(matches!(qr::load_logo(&broken), Err(QrError::LogoInvalid(_))));

    // Over 1 MiB of bytes.
    let big = vec![0u8; 1024 * 1024 + 1];
    assert!(matches!(qr::load_logo(&big), Err(QrError::LogoTooLarge(n)) if n == big.len()));

    // Too many pixels: a blank 2049×10 PNG compresses to a few bytes but is refused by header.
    let wide = RgbaImage::new(2049, 10);
    let mut png = Vec::new();
    wide.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert!(png.len() < 1024 * 1024);
    assert!(matches!(qr::load_logo(&png), Err(QrError::LogoDimensions { width: 2049, height: 10 })));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(QrError::SizeOutOfRange(5).to_string(), "size must be between 128 and 2048 pixels, got 5");
    assert_eq!(QrError::LogoNotPng.to_string(), "the logo must be a PNG image");
}
