//! Every tunable of the pipeline in one place. Calibrated values carry their evidence in
//! crates/pipeline/CALIBRATION.md.

use serde::{Deserialize, Serialize};

use crate::burst::BurstConfig;
use crate::challenge::ChallengeLimits;
use crate::decide::{Calibration, Policy};
use crate::decode::DecodeLimits;
use crate::detect::DetectorConfig;
use crate::liveness::{ExtraModelSpec, LivenessConfig};
use crate::quality::QualityLimits;
use crate::spoof::Fusion;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    pub decode: DecodeLimits,
    pub detector: DetectorConfig,
    pub liveness: LivenessConfig,
    /// Average each embedding with its mirror image's. Off by default: on ../shared/data it buys
    /// 0.05 points of accuracy (99.18 % vs 99.13 %) for twice the embedding time (106 vs 54 ms),
    /// which would break the 120 ms per-selfie budget.
    pub flip_embeddings: bool,
    pub calibration: Calibration,
    pub quality: QualityLimits,
    pub policy: Policy,
    /// Another face counts towards MULTIPLE_FACES_DETECTED only when its box is at least this
    /// fraction of the subject's: a passer-by far behind the user is not a second person
    /// presenting.
    pub other_face_min_ratio: f32,
    /// Thresholds of the active (FLASHING / ACTIVE_3D) challenges.
    pub challenge: ChallengeLimits,
    /// What a passive capture's burst must be, and its cues' thresholds.
    pub burst: BurstConfig,
    /// Fuse MiniFASNet with the artefact features (`spoof`). Off gives the bare ensemble.
    pub fused_liveness: bool,
    /// A fusion other than the shipped `spoof/fusion.json`, e.g. from `facegate calibrate`.
    pub fusion: Option<Fusion>,
    /// An operator's own anti-spoofing model (bring your own model).
    pub extra_liveness_model: Option<ExtraModelSpec>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            decode: DecodeLimits::default(),
            detector: DetectorConfig::default(),
            liveness: LivenessConfig::default(),
            flip_embeddings: false,
            calibration: Calibration::default(),
            quality: QualityLimits::default(),
            policy: Policy::default(),
            other_face_min_ratio: 0.5,
            challenge: ChallengeLimits::default(),
            burst: BurstConfig::default(),
            fused_liveness: true,
            fusion: None,
            extra_liveness_model: None,
        }
    }
}

impl PipelineConfig {
    /// The fusion that scores liveness: the configured one, else the shipped one; `None` when
    /// fusion is switched off.
    pub fn fusion_in_force(&self) -> Option<Fusion> {
        self.fused_liveness.then(|| {
            self.fusion
                .clone()
                .unwrap_or_else(crate::spoof::fusion::shipped)
        })
    }
}
