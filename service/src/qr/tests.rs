//! Unit tests of the QR module: size parsing, escaping, error correction and the drawing helpers.

use super::*;

#[test]
fn parse_size_defaults_and_bounds() {
    assert_eq!(parse_size(None).unwrap(), DEFAULT_SIZE);
    assert_eq!(parse_size(Some(" ")).unwrap(), DEFAULT_SIZE);
    assert_eq!(parse_size(Some("860")).unwrap(), 860);
    assert_eq!(parse_size(Some("128")).unwrap(), 128);
    assert_eq!(parse_size(Some("2048")).unwrap(), 2048);
    assert!(matches!(parse_size(Some("127")), Err(QrError::SizeOutOfRange(127))));
    assert!(matches!(parse_size(Some("2049")), Err(QrError::SizeOutOfRange(2049))));
    assert!(matches!(parse_size(Some("-1")), Err(QrError::InvalidSize(_))));
    assert!(matches!(parse_size(Some("big")), Err(QrError::InvalidSize(_))));
}

#[test]
fn ec_level_follows_logo() {
    let url = "http://weixin.qq.com/q/02abc";
    assert_eq!(encode(url, true).unwrap().error_correction_level(), EcLevel::H);
    assert_eq!(encode(url, false).unwrap().error_correction_level(), EcLevel::Q);
}

#[test]
fn scaled_logo_fits_box_and_keeps_aspect() {
    let logo = RgbaImage::from_pixel(400, 200, Rgba([1, 2, 3, 255]));
    let s = scale_logo(&logo, 50);
    assert_eq!((s.width(), s.height()), (50, 25));
    let tiny = RgbaImage::from_pixel(4, 4, Rgba([1, 2, 3, 255]));
    assert_eq!(scale_logo(&tiny, 40).dimensions(), (40, 40));
}

#[test]
fn rounded_rect_leaves_corners() {
    let mut img = RgbaImage::from_pixel(20, 20, Rgba([0, 0, 0, 255]));
    fill_rounded_rect(&mut img, 0, 0, 20, 20, 6, Rgba([255, 255, 255, 255]));
    assert_eq!(img.get_pixel(0, 0).0[0], 0);
    assert_eq!(img.get_pixel(19, 19).0[0], 0);
    assert_eq!(img.get_pixel(10, 10).0[0], 255);
    assert_eq!(img.get_pixel(0, 10).0[0], 255);
}
