//! Capture-quality figures from the landmarks and the aligned crop.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::align::{Similarity, ARCFACE_TEMPLATE};
use crate::detect::Face;
use crate::imaging::{laplacian_variance, mean_luma};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Shorter side of the face box, source pixels.
    pub face_px: f32,
    /// Landmark-based head pose estimates in degrees (0 = frontal). Coarse: good for "turn
    /// towards the camera" cues and gating, not for measurement.
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    /// Variance of the Laplacian of the aligned crop; low means blurred.
    pub sharpness: f32,
    /// Mean luma of the centre of the aligned crop, 0-255.
    pub brightness: f32,
}

/// Bounds below or above which a capture is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityLimits {
    pub min_face_px: f32,
    pub min_sharpness: f32,
    pub min_brightness: f32,
    pub max_brightness: f32,
    pub max_yaw: f32,
    pub max_pitch: f32,
}

impl Default for QualityLimits {
    fn default() -> Self {
        // Face size: SFace's crop is 112 px; below ~60 px the embedding degrades fast.
        // Sharpness and brightness bounds are set under the lowest values seen on the live
        // images of ../shared/data (see crates/pipeline/CALIBRATION.md).
        QualityLimits {
            min_face_px: 60.0,
            min_sharpness: 15.0,
            min_brightness: 30.0,
            max_brightness: 225.0,
            max_yaw: 35.0,
            max_pitch: 30.0,
        }
    }
}

/// A flagged quality problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    FaceTooSmall,
    Blurred,
    TooDark,
    TooBright,
    NotFrontal,
}

impl Quality {
    pub fn measure(face: &Face, aligned: &RgbImage) -> Quality {
        let to_crop = Similarity::estimate(&face.landmarks, &ARCFACE_TEMPLATE);
        let (yaw, pitch) = pose_in_crop(&face.landmarks.map(|p| to_crop.apply(p)));
        let centre = image::imageops::crop_imm(aligned, 28, 36, 56, 64).to_image();
        Quality {
            face_px: face.width.min(face.height),
            yaw,
            pitch,
            roll: -to_crop.b.atan2(to_crop.a).to_degrees(),
            sharpness: laplacian_variance(aligned),
            brightness: mean_luma(&centre),
        }
    }

    pub fn issues(&self, limits: &QualityLimits) -> Vec<QualityIssue> {
        let mut issues = Vec::new();
        if self.face_px < limits.min_face_px {
            issues.push(QualityIssue::FaceTooSmall);
        }
        if self.sharpness < limits.min_sharpness {
            issues.push(QualityIssue::Blurred);
        }
        if self.brightness < limits.min_brightness {
            issues.push(QualityIssue::TooDark);
        }
        if self.brightness > limits.max_brightness {
            issues.push(QualityIssue::TooBright);
        }
        if self.yaw.abs() > limits.max_yaw || self.pitch.abs() > limits.max_pitch {
            issues.push(QualityIssue::NotFrontal);
        }
        issues
    }

    /// 0-100 summary: each figure's distance from its limit, the worst one counting.
    pub fn score(&self, limits: &QualityLimits) -> f32 {
        let ratio = |v: f32, lo: f32| (v / lo).clamp(0.0, 2.0) / 2.0;
        let size = ratio(self.face_px, limits.min_face_px);
        let sharp = ratio(self.sharpness, limits.min_sharpness);
        let light = if self.brightness < 128.0 {
            ratio(self.brightness, limits.min_brightness)
        } else {
            ratio(255.0 - self.brightness, 255.0 - limits.max_brightness)
        };
        let pose = 1.0
            - (self.yaw.abs() / (2.0 * limits.max_yaw))
                .max(self.pitch.abs() / (2.0 * limits.max_pitch))
                .min(1.0);
        (size.min(sharp).min(light).min(pose) * 100.0).round()
    }
}

/// Depth of the nose tip in front of the eye line, as a fraction of the eye span (anthropometric
/// average): turning the head by θ moves the nose sideways by this times tan θ eye spans.
const NOSE_DEPTH: f32 = 0.55;

/// Yaw and pitch from where the nose sits between the eyes and mouth once roll and scale are
/// removed by the alignment, relative to where it sits on the frontal template.
fn pose_in_crop(p: &[[f32; 2]; 5]) -> (f32, f32) {
    let eye_mid = [(p[0][0] + p[1][0]) / 2.0, (p[0][1] + p[1][1]) / 2.0];
    let mouth_mid = [(p[3][0] + p[4][0]) / 2.0, (p[3][1] + p[4][1]) / 2.0];
    let eye_span = (p[1][0] - p[0][0]).abs().max(1e-3);
    let t = &ARCFACE_TEMPLATE;
    let frontal_dx = t[2][0] - (t[0][0] + t[1][0]) / 2.0;
    let offset = (p[2][0] - eye_mid[0]) / eye_span - frontal_dx / (t[1][0] - t[0][0]);
    let yaw = (offset / NOSE_DEPTH).atan().to_degrees();
    let height = (mouth_mid[1] - eye_mid[1]).abs().max(1e-3);
    let frontal_ratio = (t[2][1] - (t[0][1] + t[1][1]) / 2.0)
        / ((t[3][1] + t[4][1]) / 2.0 - (t[0][1] + t[1][1]) / 2.0);
    let pitch = (((p[2][1] - eye_mid[1]) / height - frontal_ratio) * 180.0).clamp(-90.0, 90.0);
    (yaw, pitch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_face_is_frontal() {
        let (yaw, pitch) = pose_in_crop(&ARCFACE_TEMPLATE);
        assert!(yaw.abs() < 1e-3 && pitch.abs() < 1e-3);
    }

    #[test]
    fn nose_towards_one_eye_reads_as_yaw() {
        let mut p = ARCFACE_TEMPLATE;
        p[2][0] += 15.0;
        let (yaw, _) = pose_in_crop(&p);
        assert!(yaw > 35.0 && yaw < 45.0, "{yaw}");
        p[2][0] -= 30.0;
        assert!(pose_in_crop(&p).0 < -35.0);
    }

    #[test]
    fn flags_each_issue() {
        let limits = QualityLimits::default();
        let good = Quality {
            face_px: 150.0,
            yaw: 3.0,
            pitch: -2.0,
            roll: 1.0,
            sharpness: 200.0,
            brightness: 120.0,
        };
        assert!(good.issues(&limits).is_empty());
        assert!(good.score(&limits) > 80.0);
        let bad = Quality {
            face_px: 30.0,
            yaw: 50.0,
            sharpness: 2.0,
            brightness: 20.0,
            ..good
        };
        assert_eq!(
            bad.issues(&limits),
            vec![
                QualityIssue::FaceTooSmall,
                QualityIssue::Blurred,
                QualityIssue::TooDark,
                QualityIssue::NotFrontal
            ]
        );
        assert!(bad.score(&limits) < 30.0);
        let bright = Quality {
            brightness: 250.0,
            ..good
        };
        assert_eq!(bright.issues(&limits), vec![QualityIssue::TooBright]);
    }
}
