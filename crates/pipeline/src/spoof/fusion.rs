//! The calibrated fusion of MiniFASNet's outputs with the artefact features: a logistic
//! regression per capture regime (full frame, tight crop), fitted by `facegate calibrate` and
//! committed as `fusion.json` with the hash of the data it came from.

use serde::{Deserialize, Serialize};

use crate::liveness::LivenessScore;

/// The coefficients the pipeline ships with (see crates/pipeline/CALIBRATION.md).
pub const SHIPPED_JSON: &str = include_str!("../fusion.json");

/// Parsed once: the service asks for it on every capture (`PipelineConfig::fusion_in_force`).
pub fn shipped() -> Fusion {
    static SHIPPED: std::sync::OnceLock<Fusion> = std::sync::OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            serde_json::from_str(SHIPPED_JSON).expect("the committed fusion.json parses")
        })
        .clone()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// How the coefficients were fitted, e.g. "logistic regression, L2 1.0, source-balanced".
    pub method: String,
    /// What they were fitted on.
    pub data: Provenance,
    pub full: Regime,
    pub tight: Regime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// sha256 of the labels file's rows used, in file order, each as its exact CSV line.
    pub rows_sha256: String,
    /// sha256 over the used image files' own sha256 digests, in row order.
    pub files_sha256: String,
    pub rows: usize,
    pub sources: Vec<String>,
    /// Rows left out and why (e.g. "evaluation only").
    pub excluded: String,
}

/// One operating regime: standardised inputs, weights, and the threshold on the linear score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regime {
    /// Input names: "v2", "v1se", "extra" (logits of the models' live probabilities) or a
    /// feature of [`crate::spoof::FEATURE_NAMES`].
    pub inputs: Vec<String>,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Live when the linear score is above this.
    pub threshold: f32,
    /// How the threshold was chosen, e.g. "BPCER 5 % on the training rows".
    pub threshold_rule: String,
}

/// Log-odds, bounded so a saturated softmax does not dominate the sum.
pub fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-5, 1.0 - 1e-5);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// One named input of a liveness measurement, when it was measured.
pub fn input(score: &LivenessScore, name: &str) -> Option<f32> {
    match name {
        "v2" => Some(logit(score.v2)),
        "v1se" => score.v1se.map(logit),
        "extra" => score.extra.map(logit),
        _ => score.features.and_then(|f| f.get(name)),
    }
}

impl Regime {
    /// The linear score; an input that was not measured counts as its training mean.
    pub fn linear(&self, score: &LivenessScore) -> f32 {
        self.inputs
            .iter()
            .enumerate()
            .map(|(i, name)| {
                input(score, name).map_or(0.0, |x| {
                    self.weights[i] * (x - self.mean[i]) / self.scale[i].max(1e-6)
                })
            })
            .sum::<f32>()
            + self.bias
    }
}

impl Fusion {
    pub fn regime(&self, tight: bool) -> &Regime {
        if tight {
            &self.tight
        } else {
            &self.full
        }
    }

    /// The fused score's distance above the operating point, in log-odds: live when positive.
    /// `extra_weight` adds an operator's model that this fusion was not fitted with.
    pub fn margin(&self, score: &LivenessScore, extra_weight: f32) -> f32 {
        let regime = self.regime(score.tight);
        let unfitted_extra = if regime.inputs.iter().any(|i| i == "extra") {
            0.0
        } else {
            score.extra.map_or(0.0, |p| extra_weight * logit(p))
        };
        regime.linear(score) + unfitted_extra - regime.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_fusion_is_consistent() {
        let f = shipped();
        for r in [&f.full, &f.tight] {
            assert_eq!(r.inputs.len(), r.weights.len());
            assert_eq!(r.inputs.len(), r.mean.len());
            assert_eq!(r.inputs.len(), r.scale.len());
            for name in &r.inputs {
                assert!(
                    ["v2", "v1se", "extra"].contains(&name.as_str())
                        || crate::spoof::FEATURE_NAMES.contains(&name.as_str()),
                    "unknown input {name}"
                );
            }
        }
        assert!(f.data.rows > 0 && f.data.rows_sha256.len() == 64);
    }

    #[test]
    fn logit_and_sigmoid_invert() {
        for p in [0.01f32, 0.3, 0.5, 0.9] {
            assert!((sigmoid(logit(p)) - p).abs() < 1e-5);
        }
        assert!(logit(1.0).is_finite() && logit(0.0).is_finite());
    }
}
