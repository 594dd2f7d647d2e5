//! The labels of a multi-frame (active liveness) capture: which challenge it answers and which
//! step each frame was taken in. Malformed labels are the client's fault and answer 400
//! before the session is touched, so they cost no attempt.

use serde_json::Value;

use crate::error::{ApiError, FieldErrors};
use crate::validate::REQUIRED;

/// Two frames for each of at most six flash colours, plus slack; bounds the worker's CPU and
/// memory per capture.
pub const MAX_FRAMES: usize = 16;
/// Challenge frames are small (the page sends about 320 px wide), far under the single-selfie
/// limit.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// No challenge has more steps than this.
const MAX_STEP: u64 = 63;

#[derive(Debug, Clone, PartialEq)]
pub struct FrameLabels {
    pub challenge_id: String,
    /// Step index of each frame, in the order the frames were sent.
    pub steps: Vec<usize>,
}

/// `challenge_id` and `steps` (a JSON array, one entry per frame: the step index, or
/// `{"step": n, "t": ms}` with the client's timestamp, which is accepted but not trusted).
pub fn parse_frame_labels(
    challenge_id: Option<&str>,
    steps: Option<&str>,
    frames: usize,
) -> Result<FrameLabels, ApiError> {
    let mut e = FieldErrors::new();
    if frames == 0 {
        e.add("frames", REQUIRED);
    } else if frames > MAX_FRAMES {
        e.add(
            "frames",
            format!("Send at most {MAX_FRAMES} frames ({frames} sent)."),
        );
    }
    let challenge_id = challenge_id.map(str::trim).unwrap_or_default();
    if challenge_id.is_empty() {
        e.add("challenge_id", REQUIRED);
    }
    let parsed = match steps {
        None => {
            e.add("steps", REQUIRED);
            None
        }
        Some(text) => match parse_steps(text) {
            Ok(list) if frames > 0 && list.len() != frames => {
                e.add(
                    "steps",
                    format!(
                        "Must have one entry per frame ({frames} frames, {} entries).",
                        list.len()
                    ),
                );
                None
            }
            Ok(list) => Some(list),
            Err(m) => {
                e.add("steps", m);
                None
            }
        },
    };
    e.into_result()?;
    Ok(FrameLabels {
        challenge_id: challenge_id.to_owned(),
        steps: parsed.unwrap_or_default(),
    })
}

fn parse_steps(text: &str) -> Result<Vec<usize>, String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Err("Must be a JSON array with the step index of each frame.".into());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let step = match item {
                Value::Object(o) => {
                    if o.get("t").is_some_and(|t| !t.is_number()) {
                        return Err(format!("Entry {i}: `t` must be a number (milliseconds)."));
                    }
                    o.get("step")
                }
                other => Some(other),
            };
            step.and_then(Value::as_u64)
                .filter(|s| *s <= MAX_STEP)
                .map(|s| s as usize)
                .ok_or_else(|| {
                    format!("Entry {i}: the step must be an integer from 0 to {MAX_STEP}.")
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<FrameLabels, ApiError>) -> Vec<String> {
        match r {
            Err(ApiError::Validation(f)) => f.0.keys().cloned().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_indices_or_objects_with_timestamps() {
        let l = parse_frame_labels(Some("c1"), Some(r#"[0, 0, {"step": 1, "t": 512.5}, 1]"#), 4)
            .unwrap();
        assert_eq!(
            l,
            FrameLabels {
                challenge_id: "c1".into(),
                steps: vec![0, 0, 1, 1]
            }
        );
    }

    #[test]
    fn refuses_what_it_cannot_trust_the_shape_of() {
        assert_eq!(
            fields(parse_frame_labels(Some("c"), Some("[0]"), 0)),
            ["frames"]
        );
        assert_eq!(
            fields(parse_frame_labels(
                Some("c"),
                Some(&format!("{:?}", vec![0; 17])),
                17
            )),
            ["frames"]
        );
        assert_eq!(
            fields(parse_frame_labels(None, Some("[0]"), 1)),
            ["challenge_id"]
        );
        assert_eq!(
            fields(parse_frame_labels(Some("  "), Some("[0]"), 1)),
            ["challenge_id"]
        );
        assert_eq!(fields(parse_frame_labels(Some("c"), None, 1)), ["steps"]);
        assert_eq!(
            fields(parse_frame_labels(Some("c"), Some("[0, 1]"), 3)),
            ["steps"]
        );
        for bad in [
            "{}",
            "not json",
            "[-1]",
            "[1.5]",
            "[\"0\"]",
            "[64]",
            r#"[{"t": 1}]"#,
            r#"[{"step": 0, "t": "x"}]"#,
        ] {
            assert_eq!(
                fields(parse_frame_labels(Some("c"), Some(bad), 1)),
                ["steps"],
                "{bad}"
            );
        }
    }
}
