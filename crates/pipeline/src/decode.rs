//! Bytes to an upright RGB image, refusing what would be unsafe or useless to process.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::PipelineError;

/// Bounds on accepted images. The side and pixel limits are checked from the header, before any
/// pixel is decoded, so a decompression bomb costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DecodeLimits {
    pub max_side: u32,
    pub max_pixels: u64,
    pub min_side: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 64 px: below that not even a full-frame face reaches the detector's smallest anchor
        // with enough detail to embed.
        DecodeLimits {
            max_side: 4096,
            max_pixels: 25_000_000,
            min_side: 64,
        }
    }
}

/// Decodes JPEG, PNG or WebP and applies the EXIF orientation, so phone photos come out upright.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, PipelineError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PipelineError::Undecodable(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) => check_jpeg_complete(bytes)?,
        Some(ImageFormat::Png | ImageFormat::WebP) => {}
        Some(other) => return Err(PipelineError::UnsupportedFormat(format!("{other:?}"))),
        None => return Err(PipelineError::UnsupportedFormat("not an image".into())),
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| PipelineError::Undecodable(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| PipelineError::Undecodable(e.to_string()))?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The JPEG decoder fills a truncated scan with grey instead of failing, and a half-grey selfie
/// must not reach the models. Inside entropy-coded data 0xFF is always escaped, so an
/// end-of-image marker after the last start-of-scan marker means the scan is complete.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), PipelineError> {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let complete = last_scan.is_some_and(|sos| bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]));
    if complete {
        Ok(())
    } else {
        Err(PipelineError::Undecodable(
            "truncated JPEG: no end-of-image marker after the image data".into(),
        ))
    }
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), PipelineError> {
    if width.max(height) > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(PipelineError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_megapixels: (limits.max_pixels / 1_000_000) as u32,
        });
    }
    if width.min(height) < limits.min_side {
        return Err(PipelineError::TooSmall {
            width,
            height,
            min_side: limits.min_side,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    #[test]
    fn decodes_png_and_jpeg() {
        let image = RgbImage::from_pixel(80, 70, image::Rgb([10, 200, 30]));
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let decoded = decode_image(&encode(&image, format), &DecodeLimits::default()).unwrap();
            assert_eq!(decoded.dimensions(), (80, 70));
        }
    }

    #[test]
    fn rejects_garbage_and_other_formats() {
        let err = decode_image(b"definitely not an image", &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, PipelineError::UnsupportedFormat(_)),
            "{err:?}"
        );
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        let err = decode_image(gif, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, PipelineError::UnsupportedFormat(ref f) if f == "Gif"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_truncated_jpeg() {
        let image = RgbImage::from_fn(200, 200, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let bytes = encode(&image, ImageFormat::Jpeg);
        let err = decode_image(&bytes[..bytes.len() / 3], &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, PipelineError::Undecodable(_)), "{err:?}");
        assert!(err.is_input_error());
    }

    #[test]
    fn rejects_oversized_before_decoding_pixels() {
        // A 10000x10000 PNG header with no pixel data: must fail on size, not on the missing data.
        let image = RgbImage::new(1, 1);
        let mut bytes = encode(&image, ImageFormat::Png);
        bytes[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&10_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_image(&bytes, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                PipelineError::TooLarge {
                    width: 10_000,
                    height: 10_000,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_too_many_pixels_and_tiny_images() {
        let limits = DecodeLimits::default();
        assert!(matches!(
            check_dimensions(4097, 100, &limits),
            Err(PipelineError::TooLarge { .. })
        ));
        let small_area = DecodeLimits {
            max_pixels: 1_000_000,
            ..limits
        };
        assert!(matches!(
            check_dimensions(1001, 1000, &small_area),
            Err(PipelineError::TooLarge { .. })
        ));
        assert!(check_dimensions(4096, 4096, &limits).is_ok());
        let tiny = RgbImage::new(40, 300);
        let err = decode_image(&encode(&tiny, ImageFormat::Png), &limits).unwrap_err();
        assert!(
            matches!(
                err,
                PipelineError::TooSmall {
                    width: 40,
                    height: 300,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn applies_exif_orientation() {
        // A 100x60 JPEG tagged "rotate 90° clockwise" must come out 60x100.
        let image = RgbImage::from_pixel(100, 64, image::Rgb([90, 90, 90]));
        let jpeg = encode(&image, ImageFormat::Jpeg);
        let tagged = with_exif_orientation(&jpeg, 6);
        let decoded = decode_image(&tagged, &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.dimensions(), (64, 100));
    }

    /// Inserts an APP1 Exif segment holding only the Orientation tag right after SOI.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08"); // big-endian TIFF, IFD at 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
