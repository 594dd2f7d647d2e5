//! Seeded fuzzing of the image decoder: valid JPEG, PNG and WebP files, then truncated, with
//! bytes flipped, with huge, zero or odd dimensions, other bit depths and colour types, an
//! animation chunk, another format's magic, or pure garbage. Every input must decode within the
//! limits or be refused as the client's fault (never a panic, never a "model" error), the
//! header-only `probe` must agree with the full decode, and mutations with a known answer must
//! get it. `FUZZ_CASES` and `FUZZ_SEED` change the run.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use facegate_pipeline::decode::{decode_image, probe, DecodeLimits};
use facegate_pipeline::PipelineError;
use image::{DynamicImage, ImageFormat, RgbImage};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// Valid files of each accepted format and a few colour types.
fn seeds() -> Vec<(ImageFormat, Vec<u8>)> {
    let rgb = RgbImage::from_fn(96, 80, |x, y| image::Rgb([x as u8 * 2, y as u8 * 3, 90]));
    let img = DynamicImage::ImageRgb8(rgb);
    vec![
        (ImageFormat::Jpeg, encode(img.clone(), ImageFormat::Jpeg)),
        (ImageFormat::Png, encode(img.clone(), ImageFormat::Png)),
        (
            ImageFormat::Png,
            encode(DynamicImage::ImageRgba8(img.to_rgba8()), ImageFormat::Png),
        ),
        (
            ImageFormat::Png,
            encode(DynamicImage::ImageLuma8(img.to_luma8()), ImageFormat::Png),
        ),
        (
            ImageFormat::WebP,
            encode(DynamicImage::ImageRgba8(img.to_rgba8()), ImageFormat::WebP),
        ),
    ]
}

/// What a mutation must lead to, when it is certain.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Anything,
    TooLarge,
    Unsupported,
}

fn fix_png_crc(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
}

fn mutate(rng: &mut Rng, format: ImageFormat, seed: &[u8]) -> (String, Vec<u8>, Expect) {
    let mut b = seed.to_vec();
    let png = format == ImageFormat::Png;
    match rng.below(10) {
        0 => {
            let at = rng.below(b.len());
            b.truncate(at);
            (format!("truncated at {at}"), b, Expect::Anything)
        }
        1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            (format!("{n} bytes changed"), b, Expect::Anything)
        }
        2 if png => {
            let sides = [0u32, 1, 63, 64, 5000, 65_535, 0x7fff_ffff, 0xffff_ffff];
            let (w, h) = (sides[rng.below(sides.len())], sides[rng.below(sides.len())]);
            b[16..20].copy_from_slice(&w.to_be_bytes());
            b[20..24].copy_from_slice(&h.to_be_bytes());
            fix_png_crc(&mut b);
            // Beyond 65535 the PNG decoder itself may refuse first (its own memory limit): also a 400.
            let huge = w.max(h) > 4096 && w.min(h) > 0 && w.max(h) <= 65_535;
            let expect = if huge {
                Expect::TooLarge
            } else {
                Expect::Anything
            };
            (format!("PNG {w}x{h}"), b, expect)
        }
        3 if png => {
            let depth = [1u8, 2, 4, 8, 16, 3, 0, 32][rng.below(8)];
            let colour = [0u8, 2, 3, 4, 6, 1, 7][rng.below(7)];
            b[24] = depth;
            b[25] = colour;
            fix_png_crc(&mut b);
            // A valid 16-bit colour type must be refused from the header.
            let expect = if depth == 16 && matches!(colour, 0 | 2 | 4 | 6) {
                Expect::Unsupported
            } else {
                Expect::Anything
            };
            (format!("PNG depth {depth} colour {colour}"), b, expect)
        }
        4 if png => {
            let actl = [0u8, 0, 0, 3, 0, 0, 0, 0];
            let mut chunk = 8u32.to_be_bytes().to_vec();
            chunk.extend_from_slice(b"acTL");
            chunk.extend_from_slice(&actl);
            chunk.extend_from_slice(
                &crc32fast::hash(&[b"acTL".as_slice(), &actl].concat()).to_be_bytes(),
            );
            b.splice(33..33, chunk);
            ("APNG".into(), b, Expect::Unsupported)
        }
        5 if format == ImageFormat::Jpeg => {
            // The frame header's height and width.
            if let Some(sof) = b.windows(2).position(|w| w == [0xFF, 0xC0]) {
                let (h, w) = (
                    [0u16, 1, 9000, 65_535][rng.below(4)],
                    [0u16, 8, 9000, 65_535][rng.below(4)],
                );
                b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
                b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
                let expect = if h.max(w) > 4096 && h.min(w) > 0 {
                    Expect::TooLarge
                } else {
                    Expect::Anything
                };
                return (format!("JPEG {w}x{h}"), b, expect);
            }
            ("JPEG without SOF0".into(), b, Expect::Anything)
        }
        6 => {
            let magic: &[u8] = [
                b"GIF89a".as_slice(),
                b"BM",
                b"II*\0",
                b"MM\0*",
                b"\0\0\x01\0",
            ][rng.below(5)];
            b[..magic.len()].copy_from_slice(magic);
            (format!("magic {magic:?}"), b, Expect::Unsupported)
        }
        7 => {
            let n = rng.below(2000);
            (
                "garbage".into(),
                (0..n).map(|_| rng.next() as u8).collect(),
                Expect::Anything,
            )
        }
        8 if format == ImageFormat::WebP => {
            // VP8X with the animation flag, or a chunk size that lies.
            if rng.below(2) == 0 {
                let mut x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0".to_vec();
                x.extend_from_slice(&[95, 0, 0, 79, 0, 0]);
                x.extend_from_slice(&b[12..]);
                ("animated WebP".into(), x, Expect::Unsupported)
            } else {
                let size = rng.next() as u32;
                b[16..20].copy_from_slice(&size.to_le_bytes());
                (format!("WebP chunk size {size}"), b, Expect::Anything)
            }
        }
        _ => {
            let cut = rng.below(b.len());
            let tail = b[cut..].to_vec();
            b.extend_from_slice(&tail);
            ("tail repeated".into(), b, Expect::Anything)
        }
    }
}

#[test]
fn mutated_images_decode_within_limits_or_are_refused_as_input_errors() {
    let cases = env_or("FUZZ_CASES", 20_000);
    let mut rng = Rng(env_or("FUZZ_SEED", 0xdec0de));
    let limits = DecodeLimits::default();
    let seeds = seeds();
    for (format, bytes) in &seeds {
        decode_image(bytes, &limits).unwrap_or_else(|e| panic!("seed {format:?} must decode: {e}"));
    }
    let mut decoded = 0;
    let mut refused = std::collections::BTreeMap::<&str, u32>::new();
    for case in 0..cases {
        let (format, seed) = &seeds[rng.below(seeds.len())];
        let (what, bytes, expect) = mutate(&mut rng, *format, seed);
        let label = format!("case {case}: {format:?} {what}");
        let probed = catch_unwind(AssertUnwindSafe(|| probe(&bytes, &limits)))
            .unwrap_or_else(|_| panic!("probe panicked: {label}"));
        let result = catch_unwind(AssertUnwindSafe(|| decode_image(&bytes, &limits)))
            .unwrap_or_else(|_| panic!("decode panicked: {label}"));
        match &result {
            Ok(image) => {
                let (w, h) = image.dimensions();
                assert!(
                    w.max(h) <= limits.max_side && w.min(h) >= limits.min_side,
                    "{label}: {w}x{h}"
                );
                assert!(u64::from(w) * u64::from(h) <= limits.max_pixels, "{label}");
                let header =
                    probed.unwrap_or_else(|e| panic!("{label}: decoded, but probe said {e}"));
                assert_eq!(u64::from(w) * u64::from(h), header.pixels(), "{label}");
                assert_eq!(
                    expect,
                    Expect::Anything,
                    "{label}: decoded, expected {expect:?}"
                );
                decoded += 1;
            }
            Err(e) => {
                assert!(e.is_input_error(), "{label}: {e:?} is not an input error");
                if let Err(p) = &probed {
                    assert_eq!(p, e, "{label}: probe and decode disagree");
                }
                let class = match e {
                    PipelineError::TooLarge { .. } => "too large",
                    PipelineError::TooSmall { .. } => "too small",
                    PipelineError::UnsupportedFormat(_) => "unsupported",
                    PipelineError::Undecodable(_) => "undecodable",
                    PipelineError::TooManyPixels { .. } => "too many pixels",
                    PipelineError::Model { .. } => unreachable!(),
                };
                match expect {
                    Expect::TooLarge => assert_eq!(class, "too large", "{label}: {e}"),
                    Expect::Unsupported => assert_eq!(class, "unsupported", "{label}: {e}"),
                    Expect::Anything => {}
                }
                *refused.entry(class).or_default() += 1;
            }
        }
    }
    eprintln!("{cases} cases: {decoded} decoded, refused {refused:?}");
    assert!(decoded > 0 && refused.len() >= 4, "every outcome exercised");
}
