//! The reports read back with lopdf: text through the ToUnicode maps, pages, pictures. The
//! fonts are the real ones (models/fonts/, put there by scripts/setup.sh).

use std::time::Instant;

use lopdf::{Document, Object};
use serde_json::{json, Value};

use super::*;

pub(crate) fn font_bytes(id: FontId) -> Vec<u8> {
    let path = format!("{}/../../models/fonts/{}.ttf", env!("CARGO_MANIFEST_DIR"), id.key());
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run scripts/setup.sh (npm install) to fetch the fonts"))
}

fn render_with(report: &Report, ids: &[FontId]) -> Vec<u8> {
    let loaded: Vec<(FontId, Vec<u8>)> = ids.iter().map(|&id| (id, font_bytes(id))).collect();
    let fonts: Vec<(FontId, &[u8])> = loaded.iter().map(|(id, b)| (*id, b.as_slice())).collect();
    report.render(&fonts).unwrap()
}

fn render(report: &Report) -> Vec<u8> {
    render_with(report, &report.fonts())
}

fn read(pdf: &[u8]) -> (Document, String) {
    let doc = Document::load_mem(pdf).expect("the PDF parses");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("text extracts");
    (doc, text)
}

fn images(doc: &Document) -> Vec<(String, i64)> {
    doc.objects
        .values()
        .filter_map(|o| match o {
            Object::Stream(s) if s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image") => Some((
                String::from_utf8_lossy(s.dict.get(b"Filter").and_then(Object::as_name).unwrap_or(b"")).into_owned(),
                s.dict.get(b"Width").and_then(Object::as_i64).unwrap_or(0),
            )),
            _ => None,
        })
        .collect()
}

fn evidence(vendor_data: &str, comment: &str) -> Value {
    json!({
        "session_id": "s-1", "session_number": 7, "status": "Approved",
        "vendor_data": vendor_data, "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:05:00Z",
        "workflow": {"id": "w-1", "label": "Selfie re-authentication", "version": 2},
        "attempts": 1, "max_attempts": 3,
        "liveness": {"decline_threshold": 50.0},
        "face_match": {"decline_threshold": 40.0, "review_threshold": 60.0},
        "decision": {
            "workflow_id": "w-1", "workflow_version": 2,
            "liveness_checks": [{"method": "PASSIVE", "status": "Approved", "score": 99.5, "face_quality": 80.0,
                                 "face_luminance": 120.0, "warnings": []}],
            "face_matches": [{"status": "In Review", "score": 55.0, "source_image_session_id": "s-0", "warnings": []}],
            "warnings": [{"risk": "LOW_FACE_MATCH_SIMILARITY", "short_description": "Low face match similarity"}],
            "reviews": [{"created_at": "2026-11-26T00:06:00Z", "reviewed_by": "Ana Reviewer",
                         "old_status": "In Review", "new_status": "Approved", "note": comment}],
        },
    })
}

const MIXED: [&str; 10] = [
    "Zoë Ångström", "Здравствуйте", "Καλημέρα", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "你好世界", "こんにちは", "안녕하세요",
];

#[test]
fn mixed_scripts_round_trip_through_to_unicode() {
    let vendor = MIXED[..5].join(" ");
    let comment = MIXED[5..].join(" ");
    let report = Report { evidence: evidence(&vendor, &comment), pictures: None };
    // With kana in the text, Han is drawn with the Japanese font: no Chinese font is read.
    assert_eq!(
        report.fonts(),
        [FontId::Latin, FontId::Arabic, FontId::Hebrew, FontId::Devanagari, FontId::Thai, FontId::Japanese, FontId::Korean]
    );
    let started = Instant::now();
    let pdf = render(&report);
    println!("mixed-script report: {} bytes in {:?}", pdf.len(), started.elapsed());
    assert!(pdf.len() < 200_000, "subset fonts keep the report small: {} bytes", pdf.len());
    let (doc, text) = read(&pdf);
    assert_eq!(doc.get_pages().len(), 1);
    for word in MIXED {
        // Right-to-left words are drawn, and so extracted, in visual order; shaped scripts
        // (Arabic, Devanagari, Thai) have glyphs positioned one by one, which lopdf spaces
        // out. Each of their letters must still come back through ToUnicode.
        let shaped = word.chars().any(|c| matches!(c as u32, 0x0590..=0x06FF | 0x0900..=0x097F | 0x0E00..=0x0E7F));
        if shaped {
            assert!(word.chars().all(|c| text.contains(c)), "{word} not in {text}");
        } else {
            assert!(text.contains(word), "{word} not in {text}");
        }
    }
    for s in ["Status", "Approved", "review 60", "decline 40", "LOW_FACE_MATCH_SIMILARITY", "Ana Reviewer", "In Review to Approved"] {
        assert!(text.contains(s), "{s} not in {text}");
    }
    // Each face is a Type0 font over an embedded TrueType subset.
    let type0 = doc
        .objects
        .values()
        .filter(|o| o.as_dict().is_ok_and(|d| d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0")))
        .count();
    assert_eq!(type0, report.fonts().len());
}

#[test]
fn a_long_comment_wraps_within_the_page() {
    let comment = "Le visage correspond, mais l'éclairage était faible; ".repeat(30);
    let report = Report { evidence: evidence("bob", &comment), pictures: None };
    let (doc, text) = read(&render(&report));
    assert!(doc.get_pages().len() <= 2);
    // Broken between words: every line is a run of whole words.
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("éclairage") || l.contains("visage")).collect();
    assert!(lines.len() > 5, "{lines:?}");
    assert!(lines.iter().all(|l| l.chars().count() < 110), "{lines:?}");
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([x as u8, 0, 0]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn pictures_are_embedded_only_when_retained() {
    let pictures = Pictures { captured: Some(jpeg(64, 48)), enrolled: Some(png(40, 30)) };
    let with = Report { evidence: evidence("bob", ""), pictures: Some(pictures) };
    let (doc, text) = read(&render(&with));
    let mut found = images(&doc);
    found.sort();
    assert_eq!(found, vec![("DCTDecode".into(), 64), ("FlateDecode".into(), 40)]);
    assert!(text.contains("Captured") && text.contains("Enrolled"));

    // Retained, but no enrolled picture (a portrait reference is not kept).
    let half = Report {
        evidence: evidence("bob", ""),
        pictures: Some(Pictures { captured: Some(jpeg(64, 48)), enrolled: None }),
    };
    let (doc, text) = read(&render(&half));
    assert_eq!(images(&doc).len(), 1);
    assert!(text.contains("No picture kept"));

    let without = Report { evidence: evidence("bob", ""), pictures: None };
    let (doc, text) = read(&render(&without));
    assert!(images(&doc).is_empty());
    assert!(!text.contains("Captured"));
}

#[test]
fn attack_a_huge_comment_is_cut_at_the_page_limit() {
    let mut e = evidence("bob", "");
    let note = "x".repeat(200_000) + &" word".repeat(40_000);
    let review = e["decision"]["reviews"][0].clone();
    e["decision"]["reviews"] = Value::Array(
        (0..500)
            .map(|_| {
                let mut r = review.clone();
                r["note"] = json!(note);
                r
            })
            .collect(),
    );
    let report = Report { evidence: e, pictures: None };
    let started = Instant::now();
    let pdf = render(&report);
    println!("huge report: {} bytes in {:?}", pdf.len(), started.elapsed());
    let (doc, text) = read(&pdf);
    assert_eq!(doc.get_pages().len(), MAX_PAGES);
    assert!(text.contains(&format!("the report was cut at {MAX_PAGES} pages")));
}

#[test]
fn attack_controls_bidi_marks_and_unknown_characters_draw_without_panic() {
    let hostile = "a\u{0}b\u{7}\u{1b}[31m\r\n\u{202E}evil\u{2067}\u{200F}\u{2029}\u{85} \u{E000}\u{1F600}\u{13000}\u{10FFFF} \u{0301}\u{FFFF}";
    let report = Report { evidence: evidence(hostile, "\u{202B}\u{202B}\u{202B}مرحبا\u{2066}"), pictures: None };
    let (_, text) = read(&render(&report));
    // Private use, emoji, hieroglyphs, noncharacters: no font has them, U+FFFD stands in.
    assert!(text.contains('\u{FFFD}'), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{0}'));
    // The right-to-left override is obeyed (drawn reversed), and harmless.
    assert!(text.contains("live"), "{text}");

    // A script whose font the caller did not load falls back the same way.
    let arabic = Report { evidence: evidence("مرحبا", ""), pictures: None };
    let (_, text) = read(&render_with(&arabic, &[FontId::Latin]));
    assert!(text.contains("\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"), "{text}");

    // Without the Latin font there is nothing to write with: an internal error, not a panic.
    let cyrillic_only = font_bytes(FontId::Hebrew);
    assert!(matches!(
        arabic.render(&[(FontId::Hebrew, &cyrillic_only), (FontId::Latin, b"not a font")]),
        Err(ApiError::Internal(_))
    ));
}

#[test]
fn only_the_scripts_present_are_asked_for() {
    assert_eq!(fonts_for("Jürgen Müller, Ελένη, Олег"), vec![FontId::Latin]);
    assert_eq!(fonts_for("東京"), vec![FontId::Latin, FontId::Chinese]);
    assert_eq!(fonts_for("東京です"), vec![FontId::Latin, FontId::Japanese]);
    assert_eq!(fonts_for("Ճ ბ ব"), vec![FontId::Latin, FontId::Bengali, FontId::Armenian, FontId::Georgian]);
    let report = Report { evidence: evidence("bob", "fine"), pictures: None };
    assert_eq!(report.fonts(), vec![FontId::Latin]);
}

#[test]
fn jpeg_frames_are_read_from_their_header() {
    assert_eq!(draw_jpeg_size(&jpeg(33, 21)), Some((33, 21, 3)));
    assert_eq!(draw_jpeg_size(b"\xFF\xD8\xFF"), None);
    assert_eq!(draw_jpeg_size(&[0xFF, 0xD8, 0xFF, 0xC0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0]), None);
}

fn draw_jpeg_size(b: &[u8]) -> Option<(u32, u32, u8)> {
    super::draw::jpeg_size(b)
}
