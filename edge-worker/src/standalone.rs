//! The standalone biometric APIs, `POST /v3/passive-liveness/` and `POST /v3/face-match/`
//! (multipart; contract Appendix A). The renderers are pure and unit-tested; the handlers only
//! read the form and run the pipeline.

use facegate_pipeline::decide::{self, Policy};
use facegate_pipeline::{
    Analysis, Embedding, FaceMatch, LivenessCheck, Pipeline, PipelineError, Want,
};
use facegate_sessions::{ApiError, FieldErrors, HttpResponse};
use serde_json::{json, Value};
use worker::{Env, FormData, FormEntry};

use crate::http::internal;
use crate::models;

/// Didit's documented cap on an uploaded image.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// The standalone face-match API has a single decline threshold, 30 by default (contract).
pub const DEFAULT_STANDALONE_MATCH_DECLINE: f32 = 30.0;

/// The form of a standalone API request (its body already read within the route's limit).
pub async fn read_form(headers: &[(String, String)], body: Vec<u8>) -> Result<FormData, ApiError> {
    crate::http::form(headers, body, "Send multipart/form-data.").await
}

pub async fn passive_liveness(form: FormData, env: &Env) -> Result<HttpResponse, ApiError> {
    let image = image_field(&form, "user_image").await?;
    let mut policy = Policy::default();
    if let Some(t) = number_field(&form, "face_liveness_score_decline_threshold")? {
        policy.liveness_decline_threshold = t;
    }
    let pipeline = models::pipeline(env).await?;
    let analysis = analyze(
        &pipeline,
        &image,
        "user_image",
        Want {
            embedding: false,
            liveness: true,
        },
    )?;
    let c = &pipeline.config;
    let check = decide::liveness_check(
        "passive_liveness",
        &analysis.observation(None),
        &c.calibration,
        &policy,
        &c.quality,
    );
    Ok(HttpResponse::json(
        200,
        render_passive_liveness(&new_request_id()?, &check, &analysis, &now_iso()),
    ))
}

pub async fn face_match(form: FormData, env: &Env) -> Result<HttpResponse, ApiError> {
    let user = image_field(&form, "user_image").await?;
    let reference = image_field(&form, "ref_image").await?;
    let decline = number_field(&form, "face_match_score_decline_threshold")?
        .unwrap_or(DEFAULT_STANDALONE_MATCH_DECLINE);
    let policy = Policy {
        face_match_decline_threshold: decline,
        face_match_review_threshold: decline,
        ..Policy::default()
    };
    let pipeline = models::pipeline(env).await?;
    let want = Want {
        embedding: true,
        liveness: false,
    };
    let user_analysis = analyze(&pipeline, &user, "user_image", want)?;
    let ref_analysis = analyze(&pipeline, &reference, "ref_image", want)?;
    let ref_embedding: Option<&Embedding> = ref_analysis
        .subject
        .as_ref()
        .and_then(|s| s.embedding.as_ref());
    let c = &pipeline.config;
    let item = decide::face_match(
        "face_match",
        &user_analysis.observation(ref_embedding),
        ref_embedding.is_some(),
        &c.calibration,
        &policy,
    );
    Ok(HttpResponse::json(
        200,
        render_face_match(
            &new_request_id()?,
            &item,
            &user_analysis,
            &ref_analysis,
            &now_iso(),
        ),
    ))
}

/// `{request_id, liveness: {...}, created_at}`: the contract's liveness item plus the detected
/// faces as `user_image.entities`.
pub fn render_passive_liveness(
    request_id: &str,
    check: &LivenessCheck,
    analysis: &Analysis,
    created_at: &str,
) -> Value {
    json!({
        "request_id": request_id,
        "liveness": {
            "status": check.status,
            "method": check.method,
            "score": check.score,
            "user_image": image_entities(analysis),
            "warnings": check.warnings,
            "face_quality": check.face_quality,
            "face_luminance": check.face_luminance,
        },
        "created_at": created_at,
    })
}

pub fn render_face_match(
    request_id: &str,
    item: &FaceMatch,
    user: &Analysis,
    reference: &Analysis,
    created_at: &str,
) -> Value {
    json!({
        "request_id": request_id,
        "face_match": {
            "status": item.status,
            "score": item.score,
            "user_image": image_entities(user),
            "ref_image": image_entities(reference),
            "warnings": item.warnings,
        },
        "created_at": created_at,
    })
}

/// facegate estimates neither age nor gender: those keys are present and null, as Didit sends
/// them when it cannot tell.
pub(crate) fn image_entities(analysis: &Analysis) -> Value {
    let entities: Vec<Value> = analysis
        .faces
        .iter()
        .map(|f| {
            json!({
                "bbox": [f.x.round(), f.y.round(), (f.x + f.width).round(), (f.y + f.height).round()],
                "confidence": (f64::from(f.score) * 1000.0).round() / 1000.0,
                "age": null,
                "gender": null,
            })
        })
        .collect();
    json!({ "entities": entities, "best_angle": 0 })
}

/// Runs the pipeline; a bad image is the caller's error on `field`, a model failure is ours.
pub fn analyze(
    pipeline: &Pipeline,
    bytes: &[u8],
    field: &str,
    want: Want,
) -> Result<Analysis, ApiError> {
    crate::memory::admit(
        &[bytes],
        &pipeline.config.decode,
        crate::memory::Held::OneAtATime,
    )?;
    pipeline.analyze(bytes, want).map_err(|e| match e {
        PipelineError::Model { .. } => internal("pipeline", e),
        input => FieldErrors::single(field, input.to_string()),
    })
}

pub async fn image_field(form: &FormData, name: &str) -> Result<Vec<u8>, ApiError> {
    match form.get(name) {
        Some(FormEntry::File(file)) => {
            let bytes = file
                .bytes()
                .await
                .map_err(|e| FieldErrors::single(name, format!("Unreadable upload: {e}")))?;
            if bytes.len() > MAX_IMAGE_BYTES {
                return Err(ApiError::PayloadTooLarge {
                    limit: MAX_IMAGE_BYTES,
                });
            }
            Ok(bytes)
        }
        Some(FormEntry::Field(_)) => Err(FieldErrors::single(
            name,
            "Upload a file, not a text field.",
        )),
        None => Err(FieldErrors::single(name, "This field is required.")),
    }
}

fn number_field(form: &FormData, name: &str) -> Result<Option<f32>, ApiError> {
    match form.get_field(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|t| (0.0..=100.0).contains(t))
            .map(Some)
            .ok_or_else(|| FieldErrors::single(name, "A number between 0 and 100 is required.")),
    }
}

pub(crate) fn new_request_id() -> Result<String, ApiError> {
    use facegate_sessions::Ids;
    Ok(crate::ports::WorkerIds.uuid()?)
}

pub(crate) fn now_iso() -> String {
    String::from(worker::js_sys::Date::new_0().to_iso_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_pipeline::decide::{Calibration, Observation};
    use facegate_pipeline::quality::{Quality, QualityLimits};
    use facegate_pipeline::{Face, LivenessScore, Subject};

    fn analysis() -> Analysis {
        let face = Face {
            x: 10.4,
            y: 20.0,
            width: 100.0,
            height: 120.0,
            landmarks: [[0.0; 2]; 5],
            score: 0.91234,
        };
        let quality = Quality {
            face_px: 100.0,
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            sharpness: 200.0,
            brightness: 120.0,
        };
        let liveness = LivenessScore {
            v2: 0.99,
            v1se: Some(0.98),
            coverage: 1.0,
            tight: false,
            features: None,
            extra: None,
            fused: None,
            live: 0.985,
        };
        Analysis {
            width: 640,
            height: 480,
            faces: vec![face],
            subject: Some(Subject {
                face,
                quality,
                presenting_faces: 1,
                embedding: None,
                liveness: Some(liveness),
            }),
        }
    }

    #[test]
    fn passive_liveness_has_didits_shape() {
        let a = analysis();
        let obs: Observation = a.observation(None);
        let check = decide::liveness_check(
            "passive_liveness",
            &obs,
            &Calibration::default(),
            &Policy::default(),
            &QualityLimits::default(),
        );
        let v = render_passive_liveness("rid", &check, &a, "2026-11-26T00:00:00.000Z");
        assert_eq!(v["liveness"]["status"], "Approved");
        assert_eq!(v["liveness"]["method"], "PASSIVE");
        assert!(v["liveness"]["warnings"].as_array().unwrap().is_empty());
        assert_eq!(
            v["liveness"]["user_image"]["entities"][0]["bbox"],
            json!([10.0, 20.0, 110.0, 140.0])
        );
        assert_eq!(
            v["liveness"]["user_image"]["entities"][0]["confidence"],
            json!(0.912)
        );
        assert!(v["liveness"]["user_image"]["entities"][0]["age"].is_null());
        assert_eq!(v["request_id"], "rid");
    }

    #[test]
    fn face_match_without_a_face_in_the_reference_is_declined() {
        let a = analysis();
        let empty = Analysis {
            width: 10,
            height: 10,
            faces: vec![],
            subject: None,
        };
        let item = decide::face_match(
            "face_match",
            &a.observation(None),
            false,
            &Calibration::default(),
            &Policy::default(),
        );
        let v = render_face_match("rid", &item, &a, &empty, "t");
        assert_eq!(v["face_match"]["status"], "Declined");
        assert_eq!(v["face_match"]["warnings"][0]["risk"], "NO_REFERENCE_IMAGE");
        assert_eq!(v["face_match"]["ref_image"]["entities"], json!([]));
    }
}
