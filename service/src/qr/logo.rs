//! Uploaded logos: PNG only and size-limited, decoded to pixels and re-encoded so nothing but
//! the image is stored; and the message for a refused upload.

use std::io::Cursor;

use image::codecs::png::{PngDecoder, PngEncoder};
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, RgbaImage};

use super::{MAX_LOGO_BYTES, MAX_LOGO_DIMENSION, QrError};

/// Decodes an uploaded logo: PNG only, at most 1 MiB and 2048×2048 px. The caller keeps the
/// returned pixels (or re-encodes them); the upload's own bytes are never served back, which
/// strips anything but the image from them.
pub fn load_logo(bytes: &[u8]) -> Result<RgbaImage, QrError> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(QrError::LogoTooLarge(bytes.len()));
    }
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(QrError::LogoNotPng);
    }
    let decoder = PngDecoder::new(Cursor::new(bytes)).map_err(|e| QrError::LogoInvalid(e.to_string()))?;
    // The header's dimensions are checked before any pixel is inflated.
    let (width, height) = decoder.dimensions();
    if width > MAX_LOGO_DIMENSION || height > MAX_LOGO_DIMENSION {
        return Err(QrError::LogoDimensions { width, height });
    }
    if width == 0 || height == 0 {
        return Err(QrError::LogoInvalid("the image is empty".into()));
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|e| QrError::LogoInvalid(e.to_string()))?;
    Ok(image.into_rgba8())
}

/// Validates an uploaded logo ([`load_logo`]) and re-encodes it as a fresh PNG: only pixels
/// survive, so nothing else that was in the upload (metadata, trailing data) is ever stored
/// or served.
pub fn reencode_logo(bytes: &[u8]) -> Result<Vec<u8>, QrError> {
    let image = load_logo(bytes)?;
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
        .map_err(|e| QrError::Png(e.to_string()))?;
    Ok(png)
}

/// The message for a refused logo upload (`Png` is our fault and never reaches here).
pub fn logo_msg(e: &QrError) -> crate::Msg {
    use crate::Msg;
    match e {
        QrError::LogoTooLarge(bytes) => Msg::LogoTooLarge { bytes: *bytes },
        QrError::LogoDimensions { width, height } => Msg::LogoDimensions { width: *width, height: *height, max: MAX_LOGO_DIMENSION },
        QrError::LogoNotPng => Msg::LogoNotPng,
        QrError::LogoInvalid(detail) => Msg::LogoInvalid { detail: detail.clone() },
        other => Msg::ImageProblem { detail: other.to_string() },
    }
}

/// An upload as it is stored: validated and re-encoded on the heavy-work threads (decoding up
/// to 2048×2048 pixels is CPU work); `None` (remove the logo) stays `None`. A refused upload
/// is a validation error of the `logo` field.
pub async fn prepare_logo(upload: Option<&[u8]>) -> Result<Option<Vec<u8>>, crate::ServiceError> {
    use crate::ServiceError;
    let Some(bytes) = upload else { return Ok(None) };
    let bytes = bytes.to_vec();
    let encoded =
        crate::heavy::run(move || reencode_logo(&bytes)).await.map_err(|_| ServiceError::invalid("logo", crate::Msg::HeavyBusy))?;
    encoded.map(Some).map_err(|e| match e {
        QrError::Png(_) => ServiceError::Internal(e.to_string()),
        other => ServiceError::invalid("logo", logo_msg(&other)),
    })
}
