//! Escalation: when passive liveness is borderline, ask for a challenge rather than guess.
//!
//! MiniFASNet's score is least reliable near its threshold (CALIBRATION.md, "Liveness"): a
//! replay scoring just above it is approved, a live face in bad light just below it is
//! declined. Within a band around the threshold the workflow can ask for an active challenge
//! (FLASHING by default: it needs no instructions beyond holding still) instead. Asking costs
//! the user no attempt: the capture that led to it is not counted, its verdict is not stored,
//! and the challenge's capture is decided as usual.

use serde::{Deserialize, Serialize};

use super::LivenessMethod;
use crate::decide::{CheckStatus, LivenessCheck};

/// The workflow's setting (Didit-style flat config: `"liveness_escalation": {"enabled": true}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationSetting {
    pub enabled: bool,
    /// The challenge asked for; an active method (PASSIVE is read as the default, FLASHING).
    pub method: LivenessMethod,
    /// Half-width of the borderline band on the 0-100 liveness score, around the workflow's
    /// decline threshold. 10 points either side of 50 covers live probabilities from about
    /// 0.8x to 1.25x of the calibrated threshold (the score is linear in it below 50).
    pub band: f32,
    /// Escalations per session: one. A second borderline passive capture after a challenge
    /// was asked for is decided as it is.
    pub max_per_session: u32,
}

impl Default for EscalationSetting {
    fn default() -> Self {
        EscalationSetting {
            enabled: false,
            method: LivenessMethod::Flashing,
            band: 10.0,
            max_per_session: 1,
        }
    }
}

/// What to do with a passive capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Escalation {
    /// Decide from the passive check as it is.
    Decide,
    /// Do not decide: issue a challenge of this method; the attempt is not counted.
    AskChallenge { method: LivenessMethod },
}

/// Whether the passive `check` (with the workflow's `decline_threshold`) is borderline enough
/// to ask for a challenge. Only the liveness score is borderline: a check declined for another
/// reason (no face, several faces) or with nothing but a clear score is decided as it is.
pub fn escalate(
    check: &LivenessCheck,
    decline_threshold: f32,
    setting: &EscalationSetting,
    escalations_so_far: u32,
) -> Escalation {
    if !setting.enabled || escalations_so_far >= setting.max_per_session {
        return Escalation::Decide;
    }
    if check.method != LivenessMethod::Passive.as_wire() {
        // The capture already answered a challenge.
        return Escalation::Decide;
    }
    let other_risk = check
        .warnings
        .iter()
        .any(|w| w.log_type == "error" && w.risk != "LOW_LIVENESS_SCORE");
    if other_risk || (check.status == CheckStatus::InReview && !low_score_only(check)) {
        return Escalation::Decide;
    }
    let distance = (check.score - f64::from(decline_threshold)).abs();
    if distance > f64::from(setting.band.max(0.0)) {
        return Escalation::Decide;
    }
    let method = if setting.method.is_active() {
        setting.method
    } else {
        LivenessMethod::Flashing
    };
    Escalation::AskChallenge { method }
}

/// Review flags other than the score (quality, light, several faces) are for a human, not a
/// challenge.
fn low_score_only(check: &LivenessCheck) -> bool {
    check
        .warnings
        .iter()
        .all(|w| w.risk == "LOW_LIVENESS_SCORE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Warning;

    fn check(score: f64, risks: &[(&str, &str)]) -> LivenessCheck {
        LivenessCheck {
            node_id: "feature_liveness".into(),
            status: if score <= 50.0 {
                CheckStatus::Declined
            } else {
                CheckStatus::Approved
            },
            method: "PASSIVE".into(),
            score,
            reference_image: None,
            video_url: None,
            age_estimation: None,
            matches: vec![],
            face_quality: Some(90.0),
            face_luminance: Some(120.0),
            evidence: None,
            warnings: risks
                .iter()
                .map(|(risk, log_type)| Warning {
                    feature: "LIVENESS".into(),
                    risk: (*risk).into(),
                    additional_data: None,
                    log_type: (*log_type).into(),
                    short_description: String::new(),
                    long_description: String::new(),
                    node_id: "feature_liveness".into(),
                })
                .collect(),
        }
    }

    fn on() -> EscalationSetting {
        EscalationSetting {
            enabled: true,
            ..EscalationSetting::default()
        }
    }

    const FLASH: Escalation = Escalation::AskChallenge {
        method: LivenessMethod::Flashing,
    };

    #[test]
    fn borderline_scores_ask_for_flashing_on_either_side_of_the_threshold() {
        assert_eq!(escalate(&check(55.0, &[]), 50.0, &on(), 0), FLASH);
        let low = check(44.0, &[("LOW_LIVENESS_SCORE", "error")]);
        assert_eq!(escalate(&low, 50.0, &on(), 0), FLASH);
        // The band's edges belong to it.
        assert_eq!(escalate(&check(60.0, &[]), 50.0, &on(), 0), FLASH);
        assert_eq!(escalate(&check(40.0, &[]), 50.0, &on(), 0), FLASH);
    }

    #[test]
    fn clear_scores_are_decided() {
        assert_eq!(
            escalate(&check(97.0, &[]), 50.0, &on(), 0),
            Escalation::Decide
        );
        let spoof = check(12.0, &[("LOW_LIVENESS_SCORE", "error")]);
        assert_eq!(escalate(&spoof, 50.0, &on(), 0), Escalation::Decide);
        // The band follows the workflow's threshold.
        assert_eq!(
            escalate(&check(55.0, &[]), 80.0, &on(), 0),
            Escalation::Decide
        );
        assert_eq!(escalate(&check(75.0, &[]), 80.0, &on(), 0), FLASH);
    }

    #[test]
    fn off_by_default_and_once_per_session() {
        let borderline = check(52.0, &[]);
        assert_eq!(
            escalate(&borderline, 50.0, &EscalationSetting::default(), 0),
            Escalation::Decide
        );
        assert_eq!(escalate(&borderline, 50.0, &on(), 1), Escalation::Decide);
        let twice = EscalationSetting {
            max_per_session: 2,
            ..on()
        };
        assert_eq!(escalate(&borderline, 50.0, &twice, 1), FLASH);
    }

    #[test]
    fn other_problems_are_not_a_reason_for_a_challenge() {
        for risks in [
            &[("NO_FACE_DETECTED", "error")][..],
            &[
                ("LOW_LIVENESS_SCORE", "error"),
                ("MULTIPLE_FACES_DETECTED", "error"),
            ][..],
        ] {
            assert_eq!(
                escalate(&check(48.0, risks), 50.0, &on(), 0),
                Escalation::Decide
            );
        }
        let mut review = check(55.0, &[("LOW_FACE_QUALITY", "warning")]);
        review.status = CheckStatus::InReview;
        assert_eq!(escalate(&review, 50.0, &on(), 0), Escalation::Decide);
        // A capture that already answered a challenge is not escalated again.
        let mut answered = check(55.0, &[]);
        answered.method = "FLASHING".into();
        assert_eq!(escalate(&answered, 50.0, &on(), 0), Escalation::Decide);
    }

    #[test]
    fn the_method_is_configurable_and_never_passive() {
        let active = EscalationSetting {
            method: LivenessMethod::Active3d,
            ..on()
        };
        assert_eq!(
            escalate(&check(52.0, &[]), 50.0, &active, 0),
            Escalation::AskChallenge {
                method: LivenessMethod::Active3d
            }
        );
        let passive = EscalationSetting {
            method: LivenessMethod::Passive,
            ..on()
        };
        assert_eq!(escalate(&check(52.0, &[]), 50.0, &passive, 0), FLASH);
        let parsed: EscalationSetting =
            serde_json::from_str(r#"{"enabled": true, "band": 5}"#).unwrap();
        assert_eq!(parsed.method, LivenessMethod::Flashing);
        assert_eq!(
            escalate(&check(56.0, &[]), 50.0, &parsed, 0),
            Escalation::Decide
        );
    }
}
