//! Hosted-page branding: `GET/PATCH /v3/customization/` (Didit's multipart fields
//! `image_square`, `image_rectangular`, `image_favicon`, plus colours and a title), applied by
//! the hosted page from its summary.
//!
//! A logo is shown on the page's origin, next to the camera: only raster images are taken
//! (PNG, JPEG, WebP, recognised by their bytes, never by a name or content type), decoded
//! within pixel limits, shrunk to the size the page shows, and re-encoded as a fresh PNG, so
//! nothing of the upload but its pixels reaches a browser (no SVG script, no polyglot, no
//! metadata). Colours are `#rrggbb` and the title plain text: the page sets them as CSS
//! custom properties and `textContent`, never as markup.

use std::io::Cursor;

use base64::Engine;
use image::{imageops::FilterType, DynamicImage, ImageFormat, ImageReader};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ApiError, FieldErrors};
use crate::routes::HttpResponse;
use crate::store::{Store, Write};
use crate::time::iso8601;
use crate::types::Application;

/// The largest upload of one image. A logo needs far less; the limit bounds the decode.
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;
/// Decoded pixels are RGBA8: 2048 × 2048 is 16 MB of the isolate's memory at most.
pub const MAX_SIDE: u32 = 2048;

/// The three images Didit's customization takes, with the box each is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Square,
    Rectangular,
    Favicon,
}

impl Slot {
    pub const ALL: [Slot; 3] = [Slot::Square, Slot::Rectangular, Slot::Favicon];

    pub fn field(self) -> &'static str {
        match self {
            Slot::Square => "image_square",
            Slot::Rectangular => "image_rectangular",
            Slot::Favicon => "image_favicon",
        }
    }

    /// Width and height the image is shrunk into (aspect kept; never enlarged).
    fn bounds(self) -> (u32, u32) {
        match self {
            Slot::Square => (256, 256),
            Slot::Rectangular => (640, 160),
            Slot::Favicon => (64, 64),
        }
    }
}

/// A re-encoded image as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logo {
    pub png_base64: String,
    pub width: u32,
    pub height: u32,
}

impl Logo {
    pub fn data_uri(&self) -> String {
        format!("data:image/png;base64,{}", self.png_base64)
    }
}

/// One application's branding (stored whole, as JSON, one row per application).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Branding {
    pub image_square: Option<Logo>,
    pub image_rectangular: Option<Logo>,
    pub image_favicon: Option<Logo>,
    pub primary_color: Option<String>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub title: Option<String>,
    pub updated_at: Option<i64>,
}

/// The text fields a PATCH may carry besides the images.
pub const TEXT_FIELDS: [&str; 4] = ["primary_color", "background_color", "text_color", "title"];

/// A PATCH as the adapter read it from the form: per image slot the uploaded bytes, or
/// `None` where the field was sent empty (remove the image); text fields by name.
#[derive(Debug, Default)]
pub struct BrandingChange {
    pub images: Vec<(Slot, Option<Vec<u8>>)>,
    pub texts: Vec<(String, String)>,
}

impl Branding {
    fn slot(&mut self, slot: Slot) -> &mut Option<Logo> {
        match slot {
            Slot::Square => &mut self.image_square,
            Slot::Rectangular => &mut self.image_rectangular,
            Slot::Favicon => &mut self.image_favicon,
        }
    }

    fn colour(&mut self, field: &str) -> Option<&mut Option<String>> {
        match field {
            "primary_color" => Some(&mut self.primary_color),
            "background_color" => Some(&mut self.background_color),
            "text_color" => Some(&mut self.text_color),
            _ => None,
        }
    }

    /// The branding after `change`, or every field's error. Nothing is applied unless all
    /// of it is valid.
    pub fn apply(&self, change: BrandingChange, now: i64) -> Result<Branding, ApiError> {
        if change.images.is_empty() && change.texts.is_empty() {
            return Err(ApiError::BadRequest(
                "Send at least one of image_square, image_rectangular, image_favicon, primary_color, background_color, text_color, title.".into(),
            ));
        }
        let mut next = self.clone();
        let mut errors = FieldErrors::new();
        for (slot, bytes) in change.images {
            match bytes.map(|b| reencode(slot, &b)).transpose() {
                Ok(logo) => *next.slot(slot) = logo,
                Err(why) => errors.add(slot.field(), why),
            }
        }
        for (field, value) in change.texts {
            let value = value.trim();
            if let Some(target) = next.colour(&field) {
                match parse_colour(value) {
                    Ok(c) => *target = c,
                    Err(why) => errors.add(&field, why),
                }
            } else if field == "title" {
                if value.chars().count() > 60 || value.chars().any(char::is_control) {
                    errors.add(&field, "Plain text of at most 60 characters.");
                } else {
                    next.title = Some(value.to_owned()).filter(|t| !t.is_empty());
                }
            } else {
                errors.add(&field, "Unknown field.");
            }
        }
        errors.into_result()?;
        next.updated_at = Some(now);
        Ok(next)
    }

    /// `GET /customization/`: the images as `data:` URIs (what the page shows), colours, title.
    pub fn render(&self) -> Value {
        let image = |l: &Option<Logo>| l.as_ref().map(Logo::data_uri);
        json!({
            "image_square": image(&self.image_square),
            "image_rectangular": image(&self.image_rectangular),
            "image_favicon": image(&self.image_favicon),
            "primary_color": self.primary_color,
            "background_color": self.background_color,
            "text_color": self.text_color,
            "title": self.title,
            "updated_at": self.updated_at.map(iso8601),
        })
    }

    /// What the hosted page applies: one logo (the wide one when there is one), favicon,
    /// colours and title. `None` when nothing is set, so unbranded summaries stay as they were.
    pub fn for_page(&self) -> Option<Value> {
        if *self == Branding::default() {
            return None;
        }
        let logo = self
            .image_rectangular
            .as_ref()
            .or(self.image_square.as_ref());
        Some(json!({
            "logo": logo.map(Logo::data_uri),
            "favicon": self.image_favicon.as_ref().map(Logo::data_uri),
            "primary_color": self.primary_color,
            "background_color": self.background_color,
            "text_color": self.text_color,
            "title": self.title,
        }))
    }
}

/// `GET /customization/`.
pub async fn get(store: &impl Store, app: &Application) -> Result<HttpResponse, ApiError> {
    let b = store.get_branding(&app.id).await?.unwrap_or_default();
    Ok(HttpResponse::json(200, b.render()))
}

/// `PATCH /customization/`: the change applied to the stored branding, all or nothing.
pub async fn patch(
    store: &impl Store,
    app: &Application,
    change: BrandingChange,
    now: i64,
) -> Result<HttpResponse, ApiError> {
    let before = store.get_branding(&app.id).await?.unwrap_or_default();
    let after = before.apply(change, now)?;
    store
        .commit(&[Write::PutBranding {
            application_id: app.id.clone(),
            branding: after.clone(),
        }])
        .await?;
    Ok(HttpResponse::json(200, after.render()))
}

/// `#rrggbb` (or `#rgb`, widened), lower-cased; empty clears it.
fn parse_colour(v: &str) -> Result<Option<String>, &'static str> {
    const WHY: &str = "A colour as #rrggbb.";
    if v.is_empty() {
        return Ok(None);
    }
    let hex = v.strip_prefix('#').ok_or(WHY)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WHY);
    }
    match hex.len() {
        6 => Ok(Some(format!("#{}", hex.to_ascii_lowercase()))),
        3 => Ok(Some(hex.chars().flat_map(|c| [c, c]).fold(
            "#".to_owned(),
            |mut s, c| {
                s.push(c.to_ascii_lowercase());
                s
            },
        ))),
        _ => Err(WHY),
    }
}

/// The upload as a fresh PNG within the slot's box, or why it is refused.
pub fn reencode(slot: Slot, bytes: &[u8]) -> Result<Logo, String> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(format!(
            "The image is larger than {} KB.",
            MAX_IMAGE_BYTES / 1024
        ));
    }
    let format = sniff(bytes).ok_or_else(|| {
        if looks_like_markup(bytes) {
            "SVG and other markup are refused (script on the page's origin); send a PNG, JPEG or WebP.".to_owned()
        } else {
            "Not a PNG, JPEG or WebP image.".to_owned()
        }
    })?;
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| "The image cannot be read.".to_owned())?;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!(
            "The image is {w}×{h} pixels; at most {MAX_SIDE}×{MAX_SIDE}."
        ));
    }
    let decoded = ImageReader::with_format(Cursor::new(bytes), format)
        .decode()
        .map_err(|_| "The image cannot be read.".to_owned())?;
    let (bw, bh) = slot.bounds();
    let shown = if w > bw || h > bh {
        decoded.resize(bw, bh, FilterType::Triangle)
    } else {
        decoded
    };
    let shown = DynamicImage::ImageRgba8(shown.to_rgba8());
    let mut png = Vec::new();
    shown
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|_| "The image cannot be re-encoded.".to_owned())?;
    Ok(Logo {
        png_base64: base64::engine::general_purpose::STANDARD.encode(&png),
        width: shown.width(),
        height: shown.height(),
    })
}

/// The raster formats taken, by magic bytes.
fn sniff(b: &[u8]) -> Option<ImageFormat> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

fn looks_like_markup(b: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&b[..b.len().min(512)]).to_ascii_lowercase();
    head.trim_start().starts_with('<') || head.contains("<svg")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn change(slot: Slot, bytes: Vec<u8>) -> BrandingChange {
        BrandingChange {
            images: vec![(slot, Some(bytes))],
            texts: vec![],
        }
    }

    #[test]
    fn a_logo_is_shrunk_into_its_box_and_reencoded() {
        let b = Branding::default()
            .apply(change(Slot::Rectangular, png(1200, 600)), 5)
            .unwrap();
        let logo = b.image_rectangular.as_ref().unwrap();
        assert_eq!((logo.width, logo.height), (320, 160));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&logo.png_base64)
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(b.render()["image_rectangular"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert_eq!(
            b.for_page().unwrap()["logo"],
            b.render()["image_rectangular"]
        );
        // A small favicon is kept at its size, never enlarged.
        let f = reencode(Slot::Favicon, &png(32, 32)).unwrap();
        assert_eq!((f.width, f.height), (32, 32));
    }

    #[test]
    fn what_is_not_a_raster_image_is_refused() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        let why = reencode(Slot::Square, svg).unwrap_err();
        assert!(why.contains("SVG"), "{why}");
        // Named .png, sent as image/png: the bytes decide.
        assert!(reencode(Slot::Square, b"GIF89a....")
            .unwrap_err()
            .contains("Not a PNG"));
        // A PNG header over garbage.
        let mut broken = png(10, 10);
        broken.truncate(40);
        assert!(reencode(Slot::Square, &broken).is_err());
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert!(reencode(Slot::Square, &big).unwrap_err().contains("larger"));
        // Within the byte limit but past the pixel limit: refused before decoding.
        let wide = png(MAX_SIDE + 1, 1);
        assert!(reencode(Slot::Square, &wide)
            .unwrap_err()
            .contains("pixels"));
    }

    #[test]
    fn colours_and_title_are_checked_and_nothing_applies_unless_all_is_valid() {
        let start = Branding {
            title: Some("Acme".into()),
            ..Branding::default()
        };
        let ok = start
            .apply(
                BrandingChange {
                    images: vec![],
                    texts: vec![
                        ("primary_color".into(), "#0A6".into()),
                        ("text_color".into(), "#112233".into()),
                    ],
                },
                1,
            )
            .unwrap();
        assert_eq!(ok.primary_color.as_deref(), Some("#00aa66"));
        assert_eq!(ok.title.as_deref(), Some("Acme"));
        for (field, value) in [
            ("primary_color", "red"),
            ("primary_color", "#12345g"),
            ("background_color", "url(javascript:x)"),
            ("title", "line\nbreak"),
            ("title", &"x".repeat(61)),
            ("font", "Comic Sans"),
        ] {
            let e = start
                .apply(
                    BrandingChange {
                        images: vec![(Slot::Square, Some(png(8, 8)))],
                        texts: vec![(field.into(), value.into())],
                    },
                    1,
                )
                .unwrap_err();
            let (status, _, body) = e.to_http();
            assert_eq!(status, 400);
            assert!(body.get(field).is_some(), "{field}: {body}");
        }
        assert!(start.apply(BrandingChange::default(), 1).is_err());
        // An empty image field removes the image.
        let with = start.apply(change(Slot::Square, png(8, 8)), 1).unwrap();
        let without = with
            .apply(
                BrandingChange {
                    images: vec![(Slot::Square, None)],
                    texts: vec![],
                },
                2,
            )
            .unwrap();
        assert_eq!(without.image_square, None);
    }
}
