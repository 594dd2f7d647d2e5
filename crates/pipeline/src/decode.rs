//! Bytes to an upright RGB image, refusing what would be unsafe or useless to process.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::PipelineError;

/// Bounds on accepted images, sized for a Worker isolate (128 MB, about half of it taken by the
/// models): everything here is checked from the header, before any pixel is decoded, so a
/// decompression bomb or an oversized photo costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DecodeLimits {
    pub max_side: u32,
    pub max_pixels: u64,
    pub min_side: u32,
    /// Pixels summed over the images of one request (the frames of a challenge capture).
    pub max_total_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 4 MP (2048x2048, or 2304x1728 at 4:3): an image peaks at about 13 bytes a pixel
        // while it is decoded and analysed (see `ImageHeader::peak_bytes`), 55 MB here, which
        // an isolate with its models loaded (44 MB) can still afford: measured 88 MB at most. Detection runs at 320-640 px and the
        // face is embedded at 112 px, so more pixels would only cost memory. A 12 MP phone photo
        // is refused with a message saying what to send instead.
        // 64 px: below that not even a full-frame face reaches the detector's smallest anchor
        // with enough detail to embed.
        // 16 challenge frames of 640x480 are 4.9 MP; the total allows that with room to spare.
        DecodeLimits {
            max_side: 4096,
            max_pixels: 4_194_304,
            min_side: 64,
            max_total_pixels: 8_388_608,
        }
    }
}

/// What an image's header says, read without decoding a pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub width: u32,
    pub height: u32,
    /// Bytes a pixel takes in the decoder's own colour type (1 grey … 4 RGBA).
    pub bytes_per_pixel: u8,
    /// A progressive JPEG, whose decoder holds every DCT coefficient until the end.
    pub progressive: bool,
}

impl ImageHeader {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Most bytes alive at once while the image is decoded and analysed: the decoder's buffer
    /// and its RGB conversion (or an orientation's rotated copy, 6 bytes a pixel for RGB), then
    /// the RGB image beside the detector's padded canvas (1.4x the sides: 3 + 5.9 bytes a
    /// pixel), plus the decoder's own buffers; a progressive JPEG's coefficients (16-bit, up to
    /// 3 components) come on top. Measured in the worker: a faceless 2048x2048 PNG (every
    /// detection pass, the padded one too) took the heap 52 MB above its resting size, 12.4
    /// bytes a pixel; 13 is used.
    pub fn peak_bytes(&self) -> u64 {
        let decode = (u64::from(self.bytes_per_pixel) + 3).max(6);
        let per_pixel = decode.max(13) + if self.progressive { 6 } else { 0 };
        self.pixels() * per_pixel
    }
}

/// Checks an image from its header alone: format, completeness (JPEG), animation, bit depth,
/// sides and pixel count. `decode_image` does the same checks first.
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageHeader, PipelineError> {
    open(bytes, limits).map(|(header, _)| header)
}

/// Probes every image of one request and checks their total pixel count; the error names the
/// first image (by index) that was refused.
pub fn probe_all<B: AsRef<[u8]>>(
    images: &[B],
    limits: &DecodeLimits,
) -> Result<Vec<ImageHeader>, (usize, PipelineError)> {
    let headers = images
        .iter()
        .enumerate()
        .map(|(i, b)| probe(b.as_ref(), limits).map_err(|e| (i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let total: u64 = headers.iter().map(ImageHeader::pixels).sum();
    if total > limits.max_total_pixels {
        return Err((
            headers.len() - 1,
            PipelineError::TooManyPixels {
                total,
                max_total: limits.max_total_pixels,
            },
        ));
    }
    Ok(headers)
}

/// Decodes JPEG, PNG or WebP and applies the EXIF orientation, so phone photos come out upright.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, PipelineError> {
    let (_, decoder) = open(bytes, limits)?;
    let mut decoder = decoder;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|e| PipelineError::Undecodable(e.to_string()))?;
    // To RGB first, then rotate: the rotated copy is made of 3-byte pixels, not the decoder's.
    let mut image = DynamicImage::ImageRgb8(image.into_rgb8());
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

type Decoder<'a> = Box<dyn ImageDecoder + 'a>;

fn open<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<(ImageHeader, Decoder<'a>), PipelineError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PipelineError::Undecodable(e.to_string()))?;
    let progressive = match reader.format() {
        Some(ImageFormat::Jpeg) => {
            check_jpeg_complete(bytes)?;
            jpeg_is_progressive(bytes)
        }
        Some(ImageFormat::Png) => {
            refuse_if(png_is_animated(bytes), "an animated PNG")?;
            false
        }
        Some(ImageFormat::WebP) => {
            refuse_if(webp_is_animated(bytes), "an animated WebP")?;
            false
        }
        Some(other) => return Err(PipelineError::UnsupportedFormat(format!("{other:?}"))),
        None => return Err(PipelineError::UnsupportedFormat("not an image".into())),
    };
    let decoder: Decoder<'a> = Box::new(
        reader
            .into_decoder()
            .map_err(|e| PipelineError::Undecodable(e.to_string()))?,
    );
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let color = decoder.color_type();
    // 16-bit and float images are refused rather than converted: the decoder would first fill a
    // buffer of 6-16 bytes a pixel, and no camera sends a selfie that way.
    if color.bytes_per_pixel() > color.channel_count() {
        return Err(PipelineError::UnsupportedFormat(format!(
            "{color:?}, more than 8 bits a channel (send an 8-bit PNG, or a JPEG)"
        )));
    }
    let header = ImageHeader {
        width,
        height,
        bytes_per_pixel: color.bytes_per_pixel(),
        progressive,
    };
    Ok((header, decoder))
}

fn refuse_if(animated: bool, what: &str) -> Result<(), PipelineError> {
    if animated {
        Err(PipelineError::UnsupportedFormat(format!(
            "{what} (send one still image)"
        )))
    } else {
        Ok(())
    }
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

/// Walks the JPEG's marker segments up to the first scan: a progressive frame header (SOF2,
/// SOF6, SOF10, SOF14) means the decoder keeps every coefficient in memory.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE) {
            return true;
        }
        if marker == 0xDA {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
    // Unreadable segments: assume the expensive kind.
    true
}

/// An `acTL` chunk before the image data makes a PNG an APNG.
fn png_is_animated(bytes: &[u8]) -> bool {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        match &bytes[at + 4..at + 8] {
            b"acTL" => return true,
            b"IDAT" => return false,
            _ => {}
        }
        at = at.saturating_add(12).saturating_add(len as usize);
    }
    false
}

/// An extended WebP (`VP8X`) with its animation flag, or any `ANIM` chunk.
fn webp_is_animated(bytes: &[u8]) -> bool {
    let vp8x_animated = bytes.len() > 20 && &bytes[12..16] == b"VP8X" && bytes[20] & 0x02 != 0;
    vp8x_animated || bytes.windows(4).take(4096).any(|w| w == b"ANIM")
}

fn check_dimensions(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), PipelineError> {
    if width.max(height) > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(PipelineError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_megapixels: limits.max_pixels as f64 / 1e6,
            suggested_side: suggested_side(width, height, limits),
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

/// The longest side to which an image of this shape should be resized to fit the limits,
/// rounded down to a multiple of 16.
fn suggested_side(width: u32, height: u32, limits: &DecodeLimits) -> u32 {
    let (long, short) = (width.max(height) as f64, width.min(height).max(1) as f64);
    let by_area = (limits.max_pixels as f64 * long / short).sqrt();
    let side = by_area.min(limits.max_side as f64) as u32;
    side / 16 * 16
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
        assert!(check_dimensions(2048, 2048, &limits).is_ok());
        // A 12 MP phone photo is refused, with the side it would fit at.
        match check_dimensions(4032, 3024, &limits) {
            Err(e @ PipelineError::TooLarge { suggested_side, .. }) => {
                assert_eq!(suggested_side, 2352);
                assert!(e.to_string().contains("at most 2352 px"), "{e}");
                assert!(2352u64 * 1764 <= limits.max_pixels);
            }
            other => panic!("{other:?}"),
        }
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

    fn png_with_bit_depth(bit_depth: u8, color: u8) -> Vec<u8> {
        let image = RgbImage::new(80, 80);
        let mut bytes = encode(&image, ImageFormat::Png);
        bytes[24] = bit_depth;
        bytes[25] = color;
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    #[test]
    fn refuses_16_bit_and_animated_images_from_the_header() {
        let limits = DecodeLimits::default();
        let err = probe(&png_with_bit_depth(16, 2), &limits).unwrap_err();
        assert!(
            matches!(err, PipelineError::UnsupportedFormat(ref m) if m.contains("8 bits")),
            "{err:?}"
        );
        assert!(err.is_input_error());

        // An acTL chunk before IDAT: an APNG.
        let png = encode(&RgbImage::new(80, 80), ImageFormat::Png);
        let mut apng = png[..33].to_vec();
        let actl = [0u8, 0, 0, 2, 0, 0, 0, 0];
        apng.extend_from_slice(&8u32.to_be_bytes());
        apng.extend_from_slice(b"acTL");
        apng.extend_from_slice(&actl);
        apng.extend_from_slice(
            &crc32fast::hash(&[b"acTL".as_slice(), &actl].concat()).to_be_bytes(),
        );
        apng.extend_from_slice(&png[33..]);
        let err = decode_image(&apng, &limits).unwrap_err();
        assert!(
            matches!(err, PipelineError::UnsupportedFormat(ref m) if m.contains("animated PNG")),
            "{err:?}"
        );
        assert!(
            decode_image(&png, &limits).is_ok(),
            "the same PNG without acTL decodes"
        );

        // An extended WebP header with the animation flag set.
        let mut webp = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00".to_vec();
        webp.extend_from_slice(&[79, 0, 0, 79, 0, 0]);
        let err = probe(&webp, &limits).unwrap_err();
        assert!(
            matches!(err, PipelineError::UnsupportedFormat(ref m) if m.contains("animated WebP")),
            "{err:?}"
        );
    }

    #[test]
    fn counts_the_pixels_of_all_frames_and_what_they_cost() {
        let limits = DecodeLimits {
            max_total_pixels: 3 * 640 * 480,
            ..DecodeLimits::default()
        };
        let frame = encode(&RgbImage::new(640, 480), ImageFormat::Jpeg);
        let headers = probe_all(&[&frame, &frame, &frame], &limits).unwrap();
        assert_eq!(headers.len(), 3);
        assert!(!headers[0].progressive);
        assert_eq!(headers[0].peak_bytes(), 640 * 480 * 13);
        let (i, err) = probe_all(&[&frame, &frame, &frame, &frame], &limits).unwrap_err();
        assert_eq!(i, 3);
        assert!(
            matches!(err, PipelineError::TooManyPixels { .. }),
            "{err:?}"
        );
        let (i, err) = probe_all(&[frame.as_slice(), b"junk"], &limits).unwrap_err();
        assert_eq!(i, 1);
        assert!(err.is_input_error());
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
