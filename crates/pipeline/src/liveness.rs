//! Passive liveness: MiniFASNetV2 and MiniFASNetV1SE on enlarged crops around the face.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::detect::Face;
use crate::imaging::{planar_f32, resize_region, ChannelOrder};
use crate::net::Net;
use crate::spoof::SpoofFeatures;
use crate::PipelineError;

const SIDE: u32 = 80;
const SHAPE: [usize; 4] = [1, 3, SIDE as usize, SIDE as usize];

/// What to do when the enlarged crop does not fit in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CropMode {
    /// Shrink the enlargement until it fits, as Silent-Face-Anti-Spoofing does. The model then
    /// sees a much tighter face than it was trained on and calls most live tight crops spoofs.
    Shrink,
    /// Keep the enlargement and fill what lies outside the image with its edge pixels (black or
    /// mirrored borders measured worse; see CALIBRATION.md).
    Replicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessConfig {
    pub crop: CropMode,
    /// YuNet's box is looser than the detector the anti-spoofing models were trained with; this
    /// factor brings it to the size their crop scales (2.7x, 4.0x) assume.
    pub box_scale: f32,
    /// Below this fraction of the 2.7x crop inside the image, the capture is "tight": the
    /// context the models rely on (screen edges, hands, background) is missing, so only
    /// MiniFASNetV2 is used and a stricter threshold applies (see decide::Calibration).
    pub tight_coverage: f32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        // Calibration figures in crates/pipeline/CALIBRATION.md.
        LivenessConfig {
            crop: CropMode::Replicate,
            box_scale: 0.75,
            tight_coverage: 0.6,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivenessScore {
    /// Probability of "live" from MiniFASNetV2 on the 2.7x crop.
    pub v2: f32,
    /// Probability of "live" from MiniFASNetV1SE on the 4.0x crop, when that model ran.
    pub v1se: Option<f32>,
    /// Fraction of the 2.7x crop that lies inside the image.
    pub coverage: f32,
    /// The capture is a tight crop (coverage below the configured bound).
    pub tight: bool,
    /// The probability of "live" the decision uses. With fusion: the fused probability, centred
    /// so that 0.5 is the regime's operating point. Without: the ensemble mean, or V2 alone on a
    /// tight capture.
    pub live: f32,
    /// Screen and print artefact measures (see `spoof`), when fusion ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<SpoofFeatures>,
    /// Probability of "live" from the operator's own model, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<f32>,
    /// The fused score's margin over its operating point in log-odds (live when positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused: Option<f32>,
}

/// One MiniFASNet and the crop scale it was trained with.
pub struct SpoofNet {
    net: Net,
    scale: f32,
}

impl SpoofNet {
    pub fn load(name: &'static str, onnx: Vec<u8>, scale: f32) -> Result<Self, PipelineError> {
        Ok(SpoofNet {
            net: Net::load_fixed(name, onnx, &SHAPE)?,
            scale,
        })
    }

    /// Probability that the face is live.
    pub fn live_probability(
        &self,
        image: &RgbImage,
        face: &Face,
        config: &LivenessConfig,
    ) -> Result<f32, PipelineError> {
        let crop = enlarged_crop(image, face, self.scale * config.box_scale, config.crop);
        let tensor = planar_f32(&crop, ChannelOrder::Bgr, SIDE as usize, SIDE as usize);
        let logits = self.net.run(&SHAPE, &tensor)?.swap_remove(0);
        if logits.len() != 3 {
            return Err(PipelineError::Model {
                model: "minifasnet",
                message: format!("{} logits, expected 3", logits.len()),
            });
        }
        Ok(softmax(&logits)[1])
    }
}

/// An operator's own anti-spoofing model, described in configuration: which crop it wants, how
/// its input is laid out and which output is "live".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraModelSpec {
    /// The ONNX file (read by the caller: the pipeline does no I/O).
    pub path: String,
    /// Crop side as a multiple of the face box (MiniFASNet: 2.7 or 4.0).
    pub scale: f32,
    /// Square input side in pixels.
    #[serde(default = "default_input_size")]
    pub input_size: u32,
    /// "bgr" (OpenCV-trained models) or "rgb".
    #[serde(default = "default_channel_order")]
    pub channel_order: String,
    /// Input = (pixel 0-255 - mean) / std, per channel in `channel_order`.
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    /// Index of the "live" class in the output.
    #[serde(default = "default_live_index")]
    pub live_index: usize,
    /// The output is already a probability (softmax inside the graph); else logits.
    #[serde(default)]
    pub outputs_probabilities: bool,
    /// Weight of its log-odds in the fused score when the fusion was not refitted with it
    /// (`facegate calibrate --extra-model` refits instead).
    #[serde(default = "default_weight")]
    pub fusion_weight: f32,
}

fn default_input_size() -> u32 {
    SIDE
}
fn default_channel_order() -> String {
    "bgr".into()
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}
fn default_live_index() -> usize {
    1
}
fn default_weight() -> f32 {
    1.0
}

pub struct ExtraModel {
    net: Net,
    spec: ExtraModelSpec,
    shape: [usize; 4],
    order: ChannelOrder,
}

impl ExtraModel {
    pub fn load(spec: &ExtraModelSpec, onnx: Vec<u8>) -> Result<Self, PipelineError> {
        let bad = |message: String| PipelineError::Model {
            model: "extra_liveness_model",
            message,
        };
        let order = match spec.channel_order.as_str() {
            "bgr" => ChannelOrder::Bgr,
            "rgb" => ChannelOrder::Rgb,
            other => return Err(bad(format!("channel_order `{other}`: expected bgr or rgb"))),
        };
        if !(spec.scale > 0.0 && spec.scale <= 10.0 && (16..=512).contains(&spec.input_size)) {
            return Err(bad(
                "scale must be in (0, 10], input_size in 16..=512".into()
            ));
        }
        if spec.std.contains(&0.0) {
            return Err(bad("std must not be 0".into()));
        }
        let side = spec.input_size as usize;
        let shape = [1, 3, side, side];
        Ok(ExtraModel {
            net: Net::load_fixed("extra_liveness_model", onnx, &shape)?,
            spec: spec.clone(),
            shape,
            order,
        })
    }

    pub fn spec(&self) -> &ExtraModelSpec {
        &self.spec
    }

    pub fn live_probability(
        &self,
        image: &RgbImage,
        face: &Face,
        config: &LivenessConfig,
    ) -> Result<f32, PipelineError> {
        let side = self.spec.input_size;
        let region = crop_box(
            image.width() as f32,
            image.height() as f32,
            face,
            self.spec.scale * config.box_scale,
            config.crop,
        );
        let crop = resize_region(image, region, side, side);
        let mut tensor = planar_f32(&crop, self.order, side as usize, side as usize);
        let plane = (side * side) as usize;
        for (c, chunk) in tensor.chunks_mut(plane).enumerate() {
            for v in chunk {
                *v = (*v - self.spec.mean[c]) / self.spec.std[c];
            }
        }
        let out = self.net.run(&self.shape, &tensor)?.swap_remove(0);
        let probs = if self.spec.outputs_probabilities {
            out
        } else {
            softmax(&out)
        };
        probs
            .get(self.spec.live_index)
            .copied()
            .ok_or_else(|| PipelineError::Model {
                model: "extra_liveness_model",
                message: format!(
                    "{} outputs, live_index {}",
                    probs.len(),
                    self.spec.live_index
                ),
            })
    }
}

/// The two-model ensemble; the second model is optional so the browser can run the first alone.
pub struct LivenessModel {
    v2: SpoofNet,
    v1se: Option<SpoofNet>,
}

impl LivenessModel {
    pub fn load(v2_onnx: Vec<u8>, v1se_onnx: Option<Vec<u8>>) -> Result<Self, PipelineError> {
        Ok(LivenessModel {
            v2: SpoofNet::load("minifasnet_v2", v2_onnx, 2.7)?,
            v1se: v1se_onnx
                .map(|b| SpoofNet::load("minifasnet_v1se", b, 4.0))
                .transpose()?,
        })
    }

    pub fn score(
        &self,
        image: &RgbImage,
        face: &Face,
        config: &LivenessConfig,
    ) -> Result<LivenessScore, PipelineError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let coverage = crop_coverage(
            w,
            h,
            &crop_box(
                w,
                h,
                face,
                self.v2.scale * config.box_scale,
                CropMode::Replicate,
            ),
        );
        let tight = coverage < config.tight_coverage;
        let v2 = self.v2.live_probability(image, face, config)?;
        // On a tight capture most of the 4.0x crop would be invented border: skip that model.
        let v1se = match (&self.v1se, tight) {
            (Some(net), false) => Some(net.live_probability(image, face, config)?),
            _ => None,
        };
        let live = v1se.map_or(v2, |v1se| (v2 + v1se) / 2.0);
        Ok(LivenessScore {
            v2,
            v1se,
            coverage,
            tight,
            live,
            features: None,
            extra: None,
            fused: None,
        })
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The box `scale` times the face box around the face centre, as the models were trained on,
/// resized to 80x80.
pub fn enlarged_crop(image: &RgbImage, face: &Face, scale: f32, mode: CropMode) -> RgbImage {
    let region = crop_box(
        image.width() as f32,
        image.height() as f32,
        face,
        scale,
        mode,
    );
    resize_region(image, region, SIDE, SIDE)
}

fn crop_coverage(src_w: f32, src_h: f32, &(l, t, r, b): &(f32, f32, f32, f32)) -> f32 {
    let inside = (r.min(src_w) - l.max(0.0)).max(0.0) * (b.min(src_h) - t.max(0.0)).max(0.0);
    inside / ((r - l) * (b - t)).max(1.0)
}

/// Returns (left, top, right, bottom) in pixels, right/bottom exclusive.
fn crop_box(
    src_w: f32,
    src_h: f32,
    face: &Face,
    scale: f32,
    mode: CropMode,
) -> (f32, f32, f32, f32) {
    let scale = match mode {
        CropMode::Shrink => scale
            .min((src_h - 1.0) / face.height)
            .min((src_w - 1.0) / face.width),
        CropMode::Replicate => scale,
    };
    let (w, h) = (face.width * scale, face.height * scale);
    let (cx, cy) = face.centre();
    let (mut left, mut top) = (cx - w / 2.0, cy - h / 2.0);
    if mode == CropMode::Shrink {
        // Slide the box back inside the image rather than cutting it.
        left = left.clamp(0.0, (src_w - 1.0 - w).max(0.0));
        top = top.clamp(0.0, (src_h - 1.0 - h).max(0.0));
    }
    (
        left.floor(),
        top.floor(),
        (left + w).floor() + 1.0,
        (top + h).floor() + 1.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, w: f32, h: f32) -> Face {
        Face {
            x,
            y,
            width: w,
            height: h,
            landmarks: [[0.0; 2]; 5],
            score: 1.0,
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }

    #[test]
    fn crop_box_shrinks_or_keeps_scale() {
        // Face 100x100 centred in a 640x480 frame: 2.7x fits in both modes.
        let f = face(270.0, 190.0, 100.0, 100.0);
        let (l, t, r, b) = crop_box(640.0, 480.0, &f, 2.7, CropMode::Shrink);
        assert_eq!((r - l, b - t), (271.0, 271.0));
        assert_eq!((l, t), (185.0, 105.0));
        // A tight 120x120 crop with a 100 px face: Shrink reduces the scale to fit...
        let f = face(10.0, 10.0, 100.0, 100.0);
        let (l, t, r, b) = crop_box(120.0, 120.0, &f, 4.0, CropMode::Shrink);
        assert!(l >= 0.0 && t >= 0.0 && r <= 120.0 && b <= 120.0);
        // ...while Replicate keeps it and reaches outside.
        let (l, _, r, _) = crop_box(120.0, 120.0, &f, 4.0, CropMode::Replicate);
        assert_eq!((l, r - l), (-140.0, 401.0));
    }

    #[test]
    fn shrink_slides_the_box_inside() {
        let f = face(0.0, 0.0, 50.0, 50.0);
        let (l, t, _, _) = crop_box(640.0, 480.0, &f, 2.7, CropMode::Shrink);
        assert_eq!((l, t), (0.0, 0.0));
    }

    #[test]
    fn coverage_of_fitting_and_overflowing_boxes() {
        assert_eq!(
            crop_coverage(640.0, 480.0, &(100.0, 100.0, 300.0, 300.0)),
            1.0
        );
        assert_eq!(
            crop_coverage(100.0, 100.0, &(-100.0, 0.0, 100.0, 100.0)),
            0.5
        );
        assert_eq!(
            crop_coverage(100.0, 100.0, &(200.0, 200.0, 300.0, 300.0)),
            0.0
        );
    }
}
