//! From figures to the contract's `liveness_checks[]` / `face_matches[]` items and a verdict.
//!
//! Raw figures (cosine similarity, live probability) are mapped onto Didit's 0-100 scores so
//! that the calibrated operating points land where Didit's default workflow thresholds sit
//! (face match: decline 50, review 70; liveness: decline 50). Integrators who tuned thresholds
//! against Didit's scale therefore get the behaviour they expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::liveness::LivenessScore;
use crate::quality::{Quality, QualityIssue, QualityLimits};
use crate::spoof::Fusion;

/// Item status, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckStatus {
    Approved,
    Declined,
    #[serde(rename = "In Review")]
    InReview,
    #[serde(rename = "Not Finished")]
    NotFinished,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Approved => "Approved",
            CheckStatus::Declined => "Declined",
            CheckStatus::InReview => "In Review",
            CheckStatus::NotFinished => "Not Finished",
        }
    }

    /// The worse of two statuses: Declined beats In Review beats Approved.
    fn worst(self, other: CheckStatus) -> CheckStatus {
        let rank = |s: CheckStatus| match s {
            CheckStatus::Approved => 0,
            CheckStatus::NotFinished => 1,
            CheckStatus::InReview => 2,
            CheckStatus::Declined => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Item-level warning object of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub feature: String,
    pub risk: String,
    pub additional_data: Option<serde_json::Value>,
    pub log_type: String,
    pub short_description: String,
    pub long_description: String,
    pub node_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feature {
    Liveness,
    FaceMatch,
}

fn warning(
    feature: Feature,
    node_id: &str,
    risk: &str,
    log_type: &str,
    short: &str,
    long: &str,
) -> Warning {
    Warning {
        feature: match feature {
            Feature::Liveness => "LIVENESS",
            Feature::FaceMatch => "FACEMATCH",
        }
        .into(),
        risk: risk.into(),
        additional_data: None,
        log_type: log_type.into(),
        short_description: short.into(),
        long_description: long.into(),
        node_id: node_id.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessCheck {
    pub node_id: String,
    pub status: CheckStatus,
    pub method: String,
    pub score: f64,
    pub reference_image: Option<String>,
    pub video_url: Option<String>,
    pub age_estimation: Option<f32>,
    /// Cross-session face hits: the service's 1:N checks (face blocklist, duplicates) fill it.
    pub matches: Vec<serde_json::Value>,
    pub face_quality: Option<f64>,
    pub face_luminance: Option<f64>,
    pub warnings: Vec<Warning>,
    /// facegate's addition to Didit's item: what the score was made of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<LivenessEvidence>,
}

/// The signals behind a passive liveness score and how they were combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessEvidence {
    /// "fusion" (MiniFASNet + artefact features, logistic regression) or "minifasnet_ensemble".
    pub method: String,
    /// "full_frame" or "tight_crop": which operating point applied.
    pub operating_point: String,
    /// Each model's live probability and each artefact feature's value, by name.
    pub signals: BTreeMap<String, f32>,
    /// The fused score's margin over its operating point, in log-odds (live when positive).
    pub fused_margin: Option<f32>,
    /// sha256 of the data rows the fusion was fitted on, so a decision names its calibration.
    pub fusion_data_sha256: Option<String>,
}

impl LivenessEvidence {
    pub fn from_score(live: &LivenessScore, fusion: Option<&Fusion>) -> LivenessEvidence {
        let round = |x: f32| (x * 1e4).round() / 1e4;
        let mut signals = BTreeMap::new();
        signals.insert("minifasnet_v2".to_owned(), round(live.v2));
        if let Some(p) = live.v1se {
            signals.insert("minifasnet_v1se".to_owned(), round(p));
        }
        if let Some(p) = live.extra {
            signals.insert("extra_model".to_owned(), round(p));
        }
        for (name, value) in live.features.iter().flat_map(|f| f.named()) {
            signals.insert(name.to_owned(), round(value));
        }
        LivenessEvidence {
            method: if live.fused.is_some() {
                "fusion"
            } else {
                "minifasnet_ensemble"
            }
            .into(),
            operating_point: if live.tight {
                "tight_crop"
            } else {
                "full_frame"
            }
            .into(),
            signals,
            fused_margin: live.fused.map(round),
            fusion_data_sha256: fusion
                .filter(|_| live.fused.is_some())
                .map(|f| f.data.rows_sha256.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceMatch {
    pub node_id: String,
    pub status: CheckStatus,
    pub score: f64,
    pub source_image_session_id: Option<String>,
    pub source_image: Option<String>,
    pub target_image: Option<String>,
    pub warnings: Vec<Warning>,
}

/// Calibrated operating points on the raw figures. See crates/pipeline/CALIBRATION.md for how
/// each was chosen and what it measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Calibration {
    /// Cosine similarity mapped to face-match score 70 (Approved above).
    pub match_cosine: f32,
    /// Cosine similarity mapped to face-match score 50 (Declined at or below).
    pub match_decline_cosine: f32,
    /// Live probability mapped to liveness score 50 (Declined at or below).
    pub live_probability: f32,
    /// The same on a tight capture, where only MiniFASNetV2 runs and live and spoof scores
    /// both crowd near 1.
    pub tight_live_probability: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            match_cosine: 0.36,
            match_decline_cosine: 0.28,
            live_probability: 0.5,
            tight_live_probability: 0.998,
        }
    }
}

/// What to do about a warning that is neither a pass nor a fail on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Approve,
    Review,
    Decline,
}

impl Effect {
    fn status(self) -> CheckStatus {
        match self {
            Effect::Approve => CheckStatus::Approved,
            Effect::Review => CheckStatus::InReview,
            Effect::Decline => CheckStatus::Declined,
        }
    }
}

/// The workflow's thresholds on Didit's 0-100 scale, with Didit's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub face_match_review_threshold: f32,
    pub face_match_decline_threshold: f32,
    pub liveness_decline_threshold: f32,
    pub multiple_faces: Effect,
    pub low_quality: Effect,
    pub luminance: Effect,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            face_match_review_threshold: 70.0,
            face_match_decline_threshold: 50.0,
            liveness_decline_threshold: 50.0,
            multiple_faces: Effect::Review,
            low_quality: Effect::Review,
            luminance: Effect::Review,
        }
    }
}

/// Piecewise-linear, monotonic map of `x` through (0,0), (at_50, 50), (at_70, 70), (1, 100).
fn to_score(x: f32, at_50: f32, at_70: f32) -> f64 {
    let (x, at_50, at_70) = (
        f64::from(x.clamp(0.0, 1.0)),
        f64::from(at_50),
        f64::from(at_70),
    );
    let s = if x <= at_50 {
        50.0 * x / at_50.max(1e-6)
    } else if x <= at_70 {
        50.0 + 20.0 * (x - at_50) / (at_70 - at_50).max(1e-6)
    } else {
        70.0 + 30.0 * (x - at_70) / (1.0 - at_70).max(1e-6)
    };
    (s * 100.0).round() / 100.0
}

impl Calibration {
    pub fn match_score(&self, cosine: f32) -> f64 {
        to_score(cosine, self.match_decline_cosine, self.match_cosine)
    }

    /// The threshold that applies to this capture. A fused score is already centred on its
    /// regime's operating point (fitted with the fusion, see spoof/fusion.json).
    pub fn live_threshold(&self, live: &LivenessScore) -> f32 {
        if live.fused.is_some() {
            0.5
        } else if live.tight {
            self.tight_live_probability
        } else {
            self.live_probability
        }
    }

    pub fn liveness_score(&self, live: &LivenessScore) -> f64 {
        // Only the 50 point is calibrated for liveness; 70 sits proportionally above it.
        let at_50 = self.live_threshold(live);
        to_score(live.live, at_50, at_50 + 0.4 * (1.0 - at_50))
    }
}

/// What the pipeline measured on the selfie, as far as it got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub faces: usize,
    pub quality: Option<Quality>,
    pub liveness: Option<LivenessScore>,
    /// Cosine similarity with the reference, when there was a face and a reference.
    pub cosine: Option<f32>,
}

pub fn liveness_check(
    node_id: &str,
    obs: &Observation,
    cal: &Calibration,
    policy: &Policy,
    limits: &QualityLimits,
) -> LivenessCheck {
    let mut check = LivenessCheck {
        node_id: node_id.into(),
        status: CheckStatus::Approved,
        method: "PASSIVE".into(),
        score: 0.0,
        reference_image: None,
        video_url: None,
        age_estimation: None,
        matches: Vec::new(),
        face_quality: None,
        face_luminance: None,
        warnings: Vec::new(),
        evidence: None,
    };
    let (Some(quality), Some(live)) = (obs.quality, obs.liveness) else {
        check.status = CheckStatus::Declined;
        check.warnings.push(warning(
            Feature::Liveness,
            node_id,
            "NO_FACE_DETECTED",
            "error",
            "No face detected",
            "No face could be found in the captured image, so liveness could not be assessed.",
        ));
        return check;
    };
    check.score = cal.liveness_score(&live);
    check.face_quality = Some(f64::from(quality.score(limits)));
    check.face_luminance = Some(f64::from(quality.brightness.round()));
    if check.score <= f64::from(policy.liveness_decline_threshold) {
        check.status = CheckStatus::Declined;
        check.warnings.push(warning(
            Feature::Liveness,
            node_id,
            "LOW_LIVENESS_SCORE",
            "error",
            "Low liveness score",
            "The capture looks like a photo, screen or mask rather than a live person.",
        ));
    }
    if obs.faces > 1 {
        check.status = check.status.worst(policy.multiple_faces.status());
        check.warnings.push(warning(
            Feature::Liveness,
            node_id,
            "MULTIPLE_FACES_DETECTED",
            "warning",
            "Multiple faces detected",
            "More than one face was visible; the largest, most central one was assessed.",
        ));
    }
    let issues = quality.issues(limits);
    for (issue, risk, short, long) in [
        (
            QualityIssue::TooDark,
            "LOW_FACE_LUMINANCE",
            "Face too dark",
            "The face is underexposed.",
        ),
        (
            QualityIssue::TooBright,
            "HIGH_FACE_LUMINANCE",
            "Face too bright",
            "The face is overexposed.",
        ),
    ] {
        if issues.contains(&issue) {
            check.status = check.status.worst(policy.luminance.status());
            check.warnings.push(warning(
                Feature::Liveness,
                node_id,
                risk,
                "warning",
                short,
                long,
            ));
        }
    }
    if issues.iter().any(|i| {
        matches!(
            i,
            QualityIssue::FaceTooSmall | QualityIssue::Blurred | QualityIssue::NotFrontal
        )
    }) {
        check.status = check.status.worst(policy.low_quality.status());
        check.warnings.push(warning(
            Feature::Liveness,
            node_id,
            "LOW_FACE_QUALITY",
            "warning",
            "Low face quality",
            "The face is too small, blurred or turned away for a reliable check.",
        ));
    }
    check
}

pub fn face_match(
    node_id: &str,
    obs: &Observation,
    has_reference: bool,
    cal: &Calibration,
    policy: &Policy,
) -> FaceMatch {
    let mut m = FaceMatch {
        node_id: node_id.into(),
        status: CheckStatus::Declined,
        score: 0.0,
        source_image_session_id: None,
        source_image: None,
        target_image: None,
        warnings: Vec::new(),
    };
    if !has_reference {
        m.warnings.push(warning(
            Feature::FaceMatch,
            node_id,
            "NO_REFERENCE_IMAGE",
            "error",
            "No reference image",
            "There is no enrolled face to compare the selfie with.",
        ));
        return m;
    }
    m.score = obs.cosine.map(|c| cal.match_score(c)).unwrap_or(0.0);
    m.status = if m.score > f64::from(policy.face_match_review_threshold) {
        CheckStatus::Approved
    } else if m.score > f64::from(policy.face_match_decline_threshold) {
        CheckStatus::InReview
    } else {
        CheckStatus::Declined
    };
    if m.status != CheckStatus::Approved {
        m.warnings.push(warning(
            Feature::FaceMatch,
            node_id,
            "LOW_FACE_MATCH_SIMILARITY",
            if m.status == CheckStatus::Declined {
                "error"
            } else {
                "warning"
            },
            "Low face match similarity",
            "The selfie does not match the reference face closely enough.",
        ));
    }
    m
}

/// The session's status from its checks: Approved only when every check is Approved, Declined
/// when any is Declined, otherwise In Review. A liveness failure therefore vetoes any match.
pub fn verdict(liveness: &[LivenessCheck], matches: &[FaceMatch]) -> CheckStatus {
    liveness
        .iter()
        .map(|c| c.status)
        .chain(matches.iter().map(|m| m.status))
        .fold(CheckStatus::Approved, CheckStatus::worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_quality() -> Quality {
        Quality {
            face_px: 150.0,
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            sharpness: 300.0,
            brightness: 120.0,
        }
    }

    fn obs(live: f32, cosine: f32) -> Observation {
        let liveness = LivenessScore {
            v2: live,
            v1se: Some(live),
            coverage: 1.0,
            tight: false,
            live,
            features: None,
            extra: None,
            fused: None,
        };
        Observation {
            faces: 1,
            quality: Some(good_quality()),
            liveness: Some(liveness),
            cosine: Some(cosine),
        }
    }

    fn decide(o: &Observation) -> (LivenessCheck, FaceMatch, CheckStatus) {
        let (cal, policy, limits) = (
            Calibration::default(),
            Policy::default(),
            QualityLimits::default(),
        );
        let l = liveness_check("feature_liveness", o, &cal, &policy, &limits);
        let m = face_match("feature_face_match", o, true, &cal, &policy);
        let v = verdict(std::slice::from_ref(&l), std::slice::from_ref(&m));
        (l, m, v)
    }

    #[test]
    fn scores_hit_didit_thresholds_at_calibrated_points() {
        let cal = Calibration::default();
        assert_eq!(cal.match_score(cal.match_cosine), 70.0);
        assert_eq!(cal.match_score(cal.match_decline_cosine), 50.0);
        assert_eq!(cal.match_score(1.0), 100.0);
        assert_eq!(cal.match_score(-0.5), 0.0);
        let at = |live: f32, tight: bool| LivenessScore {
            v2: live,
            v1se: None,
            coverage: 0.5,
            tight,
            live,
            features: None,
            extra: None,
            fused: None,
        };
        assert_eq!(cal.liveness_score(&at(cal.live_probability, false)), 50.0);
        assert_eq!(
            cal.liveness_score(&at(cal.tight_live_probability, true)),
            50.0
        );
        assert!(
            cal.liveness_score(&at(0.9, true)) < 50.0,
            "0.9 is not live on a tight crop"
        );
        let mut prev = -1.0;
        for i in 0..=100 {
            let s = cal.match_score(i as f32 / 100.0);
            assert!(s >= prev);
            prev = s;
        }
    }

    #[test]
    fn live_and_matching_is_approved() {
        let (l, m, v) = decide(&obs(0.95, 0.7));
        assert_eq!(
            (l.status, m.status, v),
            (
                CheckStatus::Approved,
                CheckStatus::Approved,
                CheckStatus::Approved
            )
        );
        assert!(l.warnings.is_empty() && m.warnings.is_empty());
        assert_eq!(l.method, "PASSIVE");
    }

    #[test]
    fn between_thresholds_is_in_review() {
        let cal = Calibration::default();
        let (_, m, v) = decide(&obs(
            0.95,
            (cal.match_cosine + cal.match_decline_cosine) / 2.0,
        ));
        assert_eq!(
            (m.status, v),
            (CheckStatus::InReview, CheckStatus::InReview)
        );
        assert_eq!(m.warnings[0].risk, "LOW_FACE_MATCH_SIMILARITY");
        assert_eq!(m.warnings[0].log_type, "warning");
    }

    #[test]
    fn impostor_is_declined() {
        let (_, m, v) = decide(&obs(0.95, 0.05));
        assert_eq!(
            (m.status, v),
            (CheckStatus::Declined, CheckStatus::Declined)
        );
    }

    #[test]
    fn failed_liveness_vetoes_a_perfect_match() {
        let (l, m, v) = decide(&obs(0.1, 0.99));
        assert_eq!(m.status, CheckStatus::Approved);
        assert_eq!(
            (l.status, v),
            (CheckStatus::Declined, CheckStatus::Declined)
        );
        assert_eq!(l.warnings[0].risk, "LOW_LIVENESS_SCORE");
    }

    #[test]
    fn no_face_is_declined_without_a_liveness_score_warning() {
        let o = Observation {
            faces: 0,
            quality: None,
            liveness: None,
            cosine: None,
        };
        let (l, m, v) = decide(&o);
        assert_eq!(
            l.warnings
                .iter()
                .map(|w| w.risk.as_str())
                .collect::<Vec<_>>(),
            vec!["NO_FACE_DETECTED"]
        );
        assert_eq!(
            (l.status, m.status, v),
            (
                CheckStatus::Declined,
                CheckStatus::Declined,
                CheckStatus::Declined
            )
        );
    }

    #[test]
    fn multiple_faces_and_low_quality_send_to_review() {
        let mut o = obs(0.95, 0.8);
        o.faces = 2;
        let (l, _, v) = decide(&o);
        assert_eq!(
            (l.status, v),
            (CheckStatus::InReview, CheckStatus::InReview)
        );
        assert_eq!(l.warnings[0].risk, "MULTIPLE_FACES_DETECTED");
        let mut o = obs(0.95, 0.8);
        o.quality = Some(Quality {
            face_px: 20.0,
            ..good_quality()
        });
        let (l, _, _) = decide(&o);
        assert_eq!(l.status, CheckStatus::InReview);
        assert_eq!(l.warnings[0].risk, "LOW_FACE_QUALITY");
    }

    #[test]
    fn missing_reference_is_declined() {
        let m = face_match(
            "n",
            &obs(0.9, 0.9),
            false,
            &Calibration::default(),
            &Policy::default(),
        );
        assert_eq!(m.status, CheckStatus::Declined);
        assert_eq!(m.warnings[0].risk, "NO_REFERENCE_IMAGE");
    }

    #[test]
    fn statuses_serialise_with_wire_casing() {
        let json = serde_json::to_string(&[
            CheckStatus::InReview,
            CheckStatus::NotFinished,
            CheckStatus::Approved,
        ])
        .unwrap();
        assert_eq!(json, r#"["In Review","Not Finished","Approved"]"#);
        for s in [CheckStatus::InReview, CheckStatus::Declined] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
