//! Face detection with YuNet: boxes, five landmarks and a confidence per face.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::imaging::{planar_f32, resize_smooth, ChannelOrder};
use crate::net::Net;
use crate::PipelineError;

const STRIDES: [usize; 3] = [8, 16, 32];

/// One detected face in source-image pixels. Landmarks are, in image order: the eye on the
/// image's left, the other eye, the nose tip, the mouth corner on the left, the other one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub landmarks: [[f32; 2]; 5],
    pub score: f32,
}

impl Face {
    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub(crate) fn iou(&self, other: &Face) -> f32 {
        let ix = (self.x + self.width).min(other.x + other.width) - self.x.max(other.x);
        let iy = (self.y + self.height).min(other.y + other.height) - self.y.max(other.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.area() + other.area() - inter)
    }

    fn scaled(mut self, factor: f32, dx: f32, dy: f32) -> Face {
        self.x = self.x * factor + dx;
        self.y = self.y * factor + dy;
        self.width *= factor;
        self.height *= factor;
        for p in &mut self.landmarks {
            p[0] = p[0] * factor + dx;
            p[1] = p[1] * factor + dy;
        }
        self
    }
}

/// How the detector looks at an image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorConfig {
    /// Longest side the image is scaled down to before detection. Selfie faces fill a good part
    /// of the frame, so a small input finds them at a fraction of the cost of 640.
    pub input_side: u32,
    /// Longest side of the second pass, taken only when the first finds nothing, for faces that
    /// are small in a large frame.
    pub fallback_side: u32,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Fraction of the image side added as a border in a last pass. Tight crops, where the face
    /// fills the frame, lack the context YuNet was trained with and are found once padded.
    pub pad_fraction: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            input_side: 320,
            fallback_side: 640,
            score_threshold: 0.6,
            nms_iou: 0.3,
            pad_fraction: 0.4,
        }
    }
}

pub struct Detector {
    net: Net,
    /// Indices of (cls, obj, bbox, kps) outputs for each stride.
    outputs: [[usize; 4]; 3],
}

impl Detector {
    pub fn load(onnx: &[u8]) -> Result<Self, PipelineError> {
        let net = Net::load("yunet", onnx)?;
        let names = net.output_names();
        let find = |name: String| {
            names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| PipelineError::Model {
                    model: "yunet",
                    message: format!("output {name} missing (outputs: {names:?})"),
                })
        };
        let mut outputs = [[0; 4]; 3];
        for (i, stride) in STRIDES.iter().enumerate() {
            for (j, kind) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
                outputs[i][j] = find(format!("{kind}_{stride}"))?;
            }
        }
        Ok(Detector { net, outputs })
    }

    /// Builds the plan for a typical 4:3 selfie up front.
    pub fn warm_up(&self, config: &DetectorConfig) -> Result<(), PipelineError> {
        let side = config.input_side as usize;
        self.net.prepare(&[1, 3, pad32(side * 3 / 4), pad32(side)])
    }

    /// Finds faces, best first (by score), in source-image coordinates.
    pub fn detect(
        &self,
        image: &RgbImage,
        config: &DetectorConfig,
    ) -> Result<Vec<Face>, PipelineError> {
        let longest = image.width().max(image.height());
        let faces = self.detect_at(image, config.input_side.min(longest), config)?;
        if !faces.is_empty() {
            return Ok(faces);
        }
        if longest > config.input_side {
            let faces = self.detect_at(image, config.fallback_side.min(longest), config)?;
            if !faces.is_empty() {
                return Ok(faces);
            }
        }
        if config.pad_fraction > 0.0 {
            return self.detect_padded(image, config);
        }
        Ok(faces)
    }

    fn detect_padded(
        &self,
        image: &RgbImage,
        config: &DetectorConfig,
    ) -> Result<Vec<Face>, PipelineError> {
        let (w, h) = image.dimensions();
        let border = ((w.max(h) as f32) * config.pad_fraction / 2.0).round() as u32;
        let mut canvas =
            RgbImage::from_pixel(w + 2 * border, h + 2 * border, image::Rgb([127, 127, 127]));
        image::imageops::replace(&mut canvas, image, border as i64, border as i64);
        let side = config.input_side.min(canvas.width().max(canvas.height()));
        let faces = self.detect_at(&canvas, side, config)?;
        Ok(faces
            .into_iter()
            .map(|f| f.scaled(1.0, -(border as f32), -(border as f32)))
            .collect())
    }

    fn detect_at(
        &self,
        image: &RgbImage,
        side: u32,
        config: &DetectorConfig,
    ) -> Result<Vec<Face>, PipelineError> {
        let (w, h) = image.dimensions();
        let scale = side as f32 / w.max(h) as f32;
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let small = resize_smooth(image, sw, sh);
        let (pw, ph) = (pad32(sw as usize), pad32(sh as usize));
        let tensor = planar_f32(&small, ChannelOrder::Bgr, pw, ph);
        let outputs = self.net.run(&[1, 3, ph, pw], &tensor)?;
        let mut faces = Vec::new();
        for (level, stride) in STRIDES.iter().enumerate() {
            let [cls, obj, bbox, kps] = self.outputs[level].map(|i| &outputs[i]);
            decode_level(
                *stride,
                pw / stride,
                ph / stride,
                cls,
                obj,
                bbox,
                kps,
                config.score_threshold,
                &mut faces,
            )?;
        }
        let faces = non_max_suppression(faces, config.nms_iou);
        let back = 1.0 / scale;
        Ok(faces
            .into_iter()
            .map(|f| f.scaled(back, 0.0, 0.0))
            .collect())
    }
}

fn pad32(n: usize) -> usize {
    n.div_ceil(32).max(1) * 32
}

/// Decodes one stride level the way OpenCV's `FaceDetectorYN` does: anchor-free, one prior per
/// cell, score = sqrt(cls * obj).
#[allow(clippy::too_many_arguments)]
fn decode_level(
    stride: usize,
    cols: usize,
    rows: usize,
    cls: &[f32],
    obj: &[f32],
    bbox: &[f32],
    kps: &[f32],
    threshold: f32,
    out: &mut Vec<Face>,
) -> Result<(), PipelineError> {
    let cells = cols * rows;
    if cls.len() < cells || obj.len() < cells || bbox.len() < cells * 4 || kps.len() < cells * 10 {
        return Err(PipelineError::Model {
            model: "yunet",
            message: format!("unexpected output sizes at stride {stride}"),
        });
    }
    let s = stride as f32;
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let cx = (c as f32 + bbox[i * 4]) * s;
            let cy = (r as f32 + bbox[i * 4 + 1]) * s;
            let w = bbox[i * 4 + 2].exp() * s;
            let h = bbox[i * 4 + 3].exp() * s;
            let mut landmarks = [[0f32; 2]; 5];
            for (n, p) in landmarks.iter_mut().enumerate() {
                *p = [
                    (kps[i * 10 + 2 * n] + c as f32) * s,
                    (kps[i * 10 + 2 * n + 1] + r as f32) * s,
                ];
            }
            out.push(Face {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                width: w,
                height: h,
                landmarks,
                score,
            });
        }
    }
    Ok(())
}

fn non_max_suppression(mut faces: Vec<Face>, iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| k.iou(&face) <= iou) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32, score: f32) -> Face {
        Face {
            x,
            y,
            width: size,
            height: size,
            landmarks: [[0.0; 2]; 5],
            score,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let kept = non_max_suppression(
            vec![
                face(0.0, 0.0, 10.0, 0.7),
                face(1.0, 1.0, 10.0, 0.9),
                face(50.0, 50.0, 10.0, 0.8),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].x, 50.0);
    }

    #[test]
    fn decodes_one_cell() {
        // A 2x2 grid at stride 8 with one confident cell at row 1, column 0.
        let mut cls = vec![0.0; 4];
        let mut obj = vec![0.0; 4];
        cls[2] = 0.81;
        obj[2] = 1.0;
        let mut bbox = vec![0.0; 16];
        bbox[8..12].copy_from_slice(&[0.5, 0.5, 0.0, (2f32).ln()]);
        let kps = vec![0.25; 40];
        let mut out = Vec::new();
        decode_level(8, 2, 2, &cls, &obj, &bbox, &kps, 0.5, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        assert_eq!((f.x, f.y, f.width, f.height), (0.0, 4.0, 8.0, 16.0));
        assert_eq!(f.landmarks[0], [2.0, 10.0]);
    }

    #[test]
    fn rejects_short_outputs() {
        let err = decode_level(
            8,
            2,
            2,
            &[0.0; 4],
            &[0.0; 4],
            &[0.0; 4],
            &[0.0; 40],
            0.5,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(!err.is_input_error());
    }

    #[test]
    fn pads_to_multiples_of_32() {
        assert_eq!(
            (pad32(250), pad32(256), pad32(257), pad32(0)),
            (256, 256, 288, 32)
        );
    }
}
