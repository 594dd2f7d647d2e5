use thiserror::Error;

/// Everything that can go wrong between image bytes and a decision. Input problems are separate
/// variants from model problems so that adapters can map the former to 4xx and the latter to 5xx.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PipelineError {
    #[error("the image could not be decoded: {0}")]
    Undecodable(String),
    #[error("unsupported image format: {0} (send JPEG, PNG or WebP)")]
    UnsupportedFormat(String),
    #[error("the image is too large: {width}x{height} (at most {max_side} px a side and {max_megapixels:.1} MP): resize it to at most {suggested_side} px on its longer side")]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
        max_megapixels: f64,
        /// The longer side an image of this shape fits the limits at.
        suggested_side: u32,
    },
    #[error("the images hold {total} pixels in all, more than {max_total} (send smaller frames, about 480 px wide)")]
    TooManyPixels { total: u64, max_total: u64 },
    #[error("the image is too small: {width}x{height} (at least {min_side} px a side)")]
    TooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("model {model} failed: {message}")]
    Model {
        model: &'static str,
        message: String,
    },
}

impl PipelineError {
    /// True when the caller sent a bad image, false when the fault is ours.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, PipelineError::Model { .. })
    }

    pub(crate) fn model(model: &'static str, err: impl std::fmt::Display) -> Self {
        PipelineError::Model {
            model,
            message: format!("{err:#}"),
        }
    }
}
