//! The contract's liveness item for a burst: the single-frame decision on the best frame with
//! the burst's median score, then the burst's own checks, each able to decline.

use serde_json::json;

use super::{BurstAnalysis, BurstConfig};
use crate::decide::{liveness_check, CheckStatus, LivenessCheck, Policy, Warning};
use crate::PipelineConfig;

/// One failed burst check: why, and how far the weakest figure is from its bound (0-1, 1 =
/// on it), which caps the score below the decline threshold.
struct Failure {
    reason: String,
    ratio: f32,
}

fn below(name: &str, value: Option<f32>, min: f32, why: &str) -> Option<Failure> {
    let v = value?;
    (v < min).then(|| Failure {
        reason: format!("{name} {v:.3} below {min:.3}: {why}"),
        ratio: if min > 0.0 {
            (v / min).clamp(0.0, 1.0)
        } else {
            0.0
        },
    })
}

/// What the burst's own checks find wrong, in order of gravity.
fn failures(burst: &BurstAnalysis, config: &BurstConfig) -> Vec<Failure> {
    let c = &burst.cues;
    let mut out = Vec::new();
    if c.distinct_faces < config.min_distinct_faces {
        out.push(Failure {
            reason: format!(
                "{} distinct frames with a face ({} repeated, {} without a face), {} needed",
                c.distinct_faces, c.duplicates, c.no_face, config.min_distinct_faces
            ),
            ratio: c.distinct_faces as f32 / config.min_distinct_faces.max(1) as f32,
        });
    }
    out.extend(below(
        "same-person similarity",
        c.same_person_min_cosine,
        config.same_person_cosine,
        "another person's face is in the burst",
    ));
    out.extend(below(
        "frame-to-frame face overlap",
        c.continuity_min_iou,
        config.min_box_iou,
        "the face jumps between frames",
    ));
    // A flat picture moved in front of the camera carries its surroundings with it. In a
    // close-up nothing around the face can be measured; then the landmarks must show motion no
    // flat picture makes (the nose swinging against the eyes and mouth).
    match c.relative_motion {
        Some(_) => out.extend(below(
            "face motion against its surroundings",
            c.relative_motion,
            config.min_relative_motion,
            "the face and what surrounds it move as one flat picture",
        )),
        None => out.extend(below(
            "non-rigid landmark motion",
            c.nonrigid,
            config.min_nonrigid,
            "the face moves like a flat picture",
        )),
    }
    out
}

/// The liveness item for an analysed burst. `LOW_LIVENESS_SCORE` comes from the per-frame
/// median as for one picture; a burst that is not one live person in one continuous capture is
/// declined with `LIVENESS_FACE_ATTACK`, its reasons and figures in `additional_data`. The
/// thresholds are `pipeline`'s (its `burst` among them) under the workflow's `policy`.
pub fn burst_liveness_check(
    node_id: &str,
    burst: &BurstAnalysis,
    pipeline: &PipelineConfig,
    policy: &Policy,
) -> LivenessCheck {
    let mut check = liveness_check(
        node_id,
        &burst.best_frame_analysis().observation(None),
        &pipeline.calibration,
        policy,
        &pipeline.quality,
    );
    if check.warnings.iter().any(|w| w.risk == "NO_FACE_DETECTED") {
        return check;
    }
    let failed = failures(burst, &pipeline.burst);
    if failed.is_empty() {
        return check;
    }
    let ratio = failed.iter().map(|f| f.ratio).fold(1.0, f32::min);
    check.score = check
        .score
        .min((f64::from(50.0 * ratio) * 100.0).round() / 100.0);
    check.status = CheckStatus::Declined;
    let reasons: Vec<&str> = failed.iter().map(|f| f.reason.as_str()).collect();
    check.warnings.push(Warning {
        feature: "LIVENESS".into(),
        risk: "LIVENESS_FACE_ATTACK".into(),
        additional_data: Some(json!({ "reasons": reasons, "cues": burst.cues })),
        log_type: "error".into(),
        short_description: "Presentation attack suspected".into(),
        long_description: format!(
            "The burst of frames is not one live person: {}.",
            reasons.join("; ")
        ),
        node_id: node_id.into(),
    });
    check
}
