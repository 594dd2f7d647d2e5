//! A second spoof signal, independent of MiniFASNet: screen and print artefacts measured on the
//! face and its surround, fused with the models' outputs by a small calibrated classifier.

mod features;
pub mod fusion;

pub use features::{measure, SpoofFeatures, FEATURE_NAMES, N_FEATURES};
pub use fusion::Fusion;
