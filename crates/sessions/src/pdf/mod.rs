//! `GET /session/{id}/generate-pdf/` and the console's PDF: a session's evidence as a report
//! (status, workflow, vendor data, the scores drawn against their thresholds as the console
//! draws them, warnings, reviews and, when the application retains images, the captured
//! frame beside the enrolled one). Written with pdf-writer; text in embedded, per-document
//! subsets of Noto fonts (Type0/Identity-H with a ToUnicode map, so any of the hosted page's
//! languages is drawn, searchable and copyable). Pure: the caller loads the fonts
//! `Report::fonts` names and passes their bytes in.

mod draw;
pub mod fonts;
mod text;
#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::error::ApiError;
pub use fonts::{fonts_for, FontId};

/// A report is at most this many pages: a longer one ends with a line saying it was cut.
pub const MAX_PAGES: usize = 20;
/// Each text of the report is cut to this many characters before it is set.
pub const MAX_FIELD_CHARS: usize = 5000;

/// The pictures of a session whose application retains images: stored bytes (JPEG, PNG or
/// WebP, as `keep_capture` kept them).
#[derive(Debug, Clone, Default)]
pub struct Pictures {
    pub captured: Option<Vec<u8>>,
    pub enrolled: Option<Vec<u8>>,
}

/// What a report shows: the console's evidence JSON (`console::review::evidence`) and the
/// pictures, `None` when the application does not retain images.
#[derive(Debug, Clone)]
pub struct Report {
    pub evidence: Value,
    pub pictures: Option<Pictures>,
}

/// One item of the report, top to bottom.
#[derive(Debug, Clone)]
enum Block {
    Title(String),
    Heading(String),
    Field(&'static str, String),
    Para(String),
    Meter {
        score: f64,
        decline: Option<f64>,
        review: Option<f64>,
    },
    Pictures,
}

fn text(v: &Value) -> String {
    let s = match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

fn score(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |n| format!("{}", (n * 10.0).round() / 10.0))
}

impl Report {
    fn blocks(&self) -> Vec<Block> {
        let e = &self.evidence;
        let d = &e["decision"];
        let mut b = vec![
            Block::Title("facegate verification report".into()),
            Block::Field("Session", text(&e["session_id"])),
            Block::Field("Number", text(&e["session_number"])),
            Block::Field("Status", text(&e["status"])),
        ];
        let wf = &e["workflow"];
        b.push(Block::Field(
            "Workflow",
            if wf.is_null() {
                format!("{} (version {})", text(&d["workflow_id"]), text(&d["workflow_version"]))
            } else {
                format!("{} ({}, version {})", text(&wf["label"]), text(&wf["id"]), text(&wf["version"]))
            },
        ));
        b.push(Block::Field("Vendor data", text(&e["vendor_data"])));
        b.push(Block::Field("Created", text(&e["created_at"])));
        b.push(Block::Field("Updated", text(&e["updated_at"])));
        b.push(Block::Field(
            "Attempts",
            format!("{} of {}", text(&e["attempts"]), text(&e["max_attempts"])),
        ));

        for check in d["liveness_checks"].as_array().into_iter().flatten() {
            b.push(Block::Heading(format!("Liveness ({})", text(&check["method"]))));
            b.push(Block::Field("Status", text(&check["status"])));
            let decline = e["liveness"]["decline_threshold"].as_f64();
            b.push(Block::Field(
                "Score",
                match decline {
                    Some(t) => format!("{} of 100, decline threshold {}", score(&check["score"]), score(&t.into())),
                    None => format!("{} of 100", score(&check["score"])),
                },
            ));
            if let Some(s) = check["score"].as_f64() {
                b.push(Block::Meter { score: s, decline, review: None });
            }
            b.push(Block::Field(
                "Face",
                format!("quality {}, luminance {}", score(&check["face_quality"]), score(&check["face_luminance"])),
            ));
        }
        for m in d["face_matches"].as_array().into_iter().flatten() {
            b.push(Block::Heading("Face match".into()));
            b.push(Block::Field("Status", text(&m["status"])));
            let decline = e["face_match"]["decline_threshold"].as_f64();
            let review = e["face_match"]["review_threshold"].as_f64();
            let mut line = format!("{} of 100", score(&m["score"]));
            if let Some(t) = review {
                line.push_str(&format!(", review threshold {}", score(&t.into())));
            }
            if let Some(t) = decline {
                line.push_str(&format!(", decline threshold {}", score(&t.into())));
            }
            b.push(Block::Field("Score", line));
            if let Some(s) = m["score"].as_f64() {
                b.push(Block::Meter { score: s, decline, review });
            }
            b.push(Block::Field("Reference", text(&m["source_image_session_id"])));
        }
        let warnings: Vec<&Value> = d["warnings"].as_array().into_iter().flatten().collect();
        if !warnings.is_empty() {
            b.push(Block::Heading("Warnings".into()));
            for w in warnings {
                b.push(Block::Para(format!(
                    "{}: {}",
                    text(&w["risk"]),
                    text(&w["short_description"])
                )));
            }
        }
        let reviews: Vec<&Value> = d["reviews"].as_array().into_iter().flatten().collect();
        if !reviews.is_empty() {
            b.push(Block::Heading("Reviews".into()));
            for r in reviews {
                b.push(Block::Para(format!(
                    "{}, {}: {} to {}",
                    text(&r["created_at"]),
                    text(&r["reviewed_by"]),
                    text(&r["old_status"]),
                    text(&r["new_status"]),
                )));
                if let Some(note) = r["note"].as_str().filter(|n| !n.is_empty()) {
                    b.push(Block::Field("Comment", text(&Value::from(note))));
                }
            }
        }
        if self.pictures.is_some() {
            b.push(Block::Heading("Pictures".into()));
            b.push(Block::Pictures);
        }
        b
    }

    /// Every string the report will draw, to choose its fonts by.
    fn all_text(blocks: &[Block]) -> String {
        let mut all = String::new();
        for block in blocks {
            match block {
                Block::Title(s) | Block::Heading(s) | Block::Para(s) => all.push_str(s),
                Block::Field(label, s) => {
                    all.push_str(label);
                    all.push_str(s);
                }
                Block::Meter { .. } | Block::Pictures => {}
            }
            all.push('\n');
        }
        all
    }

    /// The fonts this report needs (`FontId::key` names their files): Latin always, the
    /// others only if the text has their script.
    pub fn fonts(&self) -> Vec<FontId> {
        fonts_for(&Self::all_text(&self.blocks()))
    }

    /// The PDF. Fonts absent from `fonts` leave their characters drawn as U+FFFD; without
    /// the Latin font there is nothing to write with, which is a deployment error.
    pub fn render(&self, fonts: &[(FontId, &[u8])]) -> Result<Vec<u8>, ApiError> {
        let blocks = self.blocks();
        let all = Self::all_text(&blocks);
        let setter = text::Typesetter::new(fonts, &all).ok_or_else(|| {
            ApiError::Internal("the PDF report's Latin font (font/latin) is missing or unreadable".into())
        })?;
        Ok(draw::document(setter, &blocks, self.pictures.as_ref()))
    }
}
