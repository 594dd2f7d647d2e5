//! The client-side checks, in the Web Worker: the pipeline's capture guide on RGBA frames.

use facegate_pipeline::guide::{FrameChecker, Guide, GuideConfig};
use facegate_pipeline::quality::QualityLimits;
use image::RgbImage;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct Checker {
    checker: FrameChecker,
    guide: Guide,
}

#[wasm_bindgen]
impl Checker {
    /// Builds YuNet and MiniFASNetV2 from their ONNX bytes (a few hundred ms: once per page).
    #[wasm_bindgen(constructor)]
    pub fn new(yunet: &[u8], minifasnet_v2: Vec<u8>) -> Result<Checker, JsError> {
        Ok(Checker {
            checker: FrameChecker::load(yunet, minifasnet_v2)?,
            guide: Guide::new(GuideConfig::default(), QualityLimits::default()),
        })
    }

    /// Checks one RGBA frame and returns the guidance as JSON: `{cue, score, check}` (see
    /// facegate_pipeline::guide::Guidance).
    pub fn check(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<String, JsError> {
        let image = rgb_from_rgba(rgba, width, height)
            .ok_or_else(|| JsError::new("the frame's size does not match its pixels"))?;
        let guidance = self.guide.observe(self.checker.check(&image)?);
        Ok(serde_json::to_string(&guidance)?)
    }
}

fn rgb_from_rgba(rgba: &[u8], width: u32, height: u32) -> Option<RgbImage> {
    if rgba.len() != (width as usize) * (height as usize) * 4 {
        return None;
    }
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(width, height, rgb)
}

#[cfg(test)]
mod tests {
    use super::rgb_from_rgba;

    #[test]
    fn drops_alpha_and_refuses_wrong_sizes() {
        let image = rgb_from_rgba(&[1, 2, 3, 255, 4, 5, 6, 0], 2, 1).unwrap();
        assert_eq!(image.into_raw(), [1, 2, 3, 4, 5, 6]);
        assert!(rgb_from_rgba(&[0; 7], 2, 1).is_none());
    }
}
