//! Live guidance for the capture page: what to tell the user about the current camera frame
//! and when the picture is good enough to send. It runs in the browser (capture-wasm) to make
//! the first try succeed; the server never reads its output, it re-checks everything itself.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::align::align_face;
use crate::detect::{Detector, DetectorConfig, Face};
use crate::liveness::{LivenessConfig, LivenessModel};
use crate::quality::{Quality, QualityLimits};
use crate::{select_subject, PipelineError};

/// What the page should say. The snake_case names are the page's translation keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cue {
    NoFace,
    ManyFaces,
    MoveCloser,
    MoveBack,
    Centre,
    MoreLight,
    LessLight,
    LookStraight,
    Blurry,
    HoldStill,
    /// Good and steady: take the picture.
    Ready,
}

/// Bounds of a good capture. Stricter than the server's quality limits, so that a frame the
/// guide accepts passes the server's checks with margin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuideConfig {
    /// Face box short side over the frame's short side.
    pub min_face_fraction: f32,
    pub max_face_fraction: f32,
    /// Face centre's distance from the frame centre, as a fraction of each frame side.
    pub max_off_centre: f32,
    /// Margin added inside the server's brightness, sharpness and pose limits.
    pub brightness_margin: f32,
    pub sharpness_factor: f32,
    pub max_yaw: f32,
    pub max_pitch: f32,
    /// Face-centre movement between two checked frames, as a fraction of the face width,
    /// above which the user is not holding still.
    pub max_motion: f32,
    /// Consecutive good, still frames before the capture is taken.
    pub steady_frames: u32,
}

impl Default for GuideConfig {
    fn default() -> Self {
        GuideConfig {
            min_face_fraction: 0.22,
            max_face_fraction: 0.8,
            max_off_centre: 0.2,
            brightness_margin: 15.0,
            sharpness_factor: 1.5,
            max_yaw: 20.0,
            max_pitch: 20.0,
            max_motion: 0.08,
            steady_frames: 3,
        }
    }
}

/// What one frame showed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameCheck {
    pub width: u32,
    pub height: u32,
    /// Faces found, the subject included.
    pub faces: usize,
    pub face: Option<Face>,
    pub quality: Option<Quality>,
    /// MiniFASNetV2's probability of a live face. A hint only: one model on a browser frame.
    pub live: Option<f32>,
}

/// The guide's answer for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guidance {
    pub cue: Cue,
    /// 0-100: how good this frame is as the capture, to keep the best of the steady moment.
    pub score: f32,
    pub check: FrameCheck,
}

/// The client-side models: the detector and MiniFASNetV2 alone (the server runs the ensemble).
pub struct FrameChecker {
    detector: Detector,
    liveness: LivenessModel,
    detector_config: DetectorConfig,
    liveness_config: LivenessConfig,
}

impl FrameChecker {
    pub fn load(yunet: &[u8], minifasnet_v2: Vec<u8>) -> Result<Self, PipelineError> {
        // One pass at 320 px: a selfie face is large, and the fallback passes for small or
        // tight faces would triple the cost of every empty frame.
        let detector_config = DetectorConfig {
            fallback_side: DetectorConfig::default().input_side,
            pad_fraction: 0.0,
            ..DetectorConfig::default()
        };
        let detector = Detector::load(yunet)?;
        detector.warm_up(&detector_config)?;
        Ok(FrameChecker {
            detector,
            liveness: LivenessModel::load(minifasnet_v2, None)?,
            detector_config,
            liveness_config: LivenessConfig::default(),
        })
    }

    pub fn check(&self, image: &RgbImage) -> Result<FrameCheck, PipelineError> {
        let faces = self.detector.detect(image, &self.detector_config)?;
        let subject = select_subject(&faces, image.width(), image.height());
        let (quality, live) = match &subject {
            None => (None, None),
            Some(face) => (
                Some(Quality::measure(face, &align_face(image, &face.landmarks))),
                Some(
                    self.liveness
                        .score(image, face, &self.liveness_config)?
                        .live,
                ),
            ),
        };
        Ok(FrameCheck {
            width: image.width(),
            height: image.height(),
            faces: faces.len(),
            face: subject,
            quality,
            live,
        })
    }
}

/// Turns frame checks into cues, remembering the previous frame to tell whether the user
/// holds still.
pub struct Guide {
    config: GuideConfig,
    limits: QualityLimits,
    previous: Option<Face>,
    steady: u32,
}

impl Guide {
    pub fn new(config: GuideConfig, limits: QualityLimits) -> Self {
        Guide {
            config,
            limits,
            previous: None,
            steady: 0,
        }
    }

    pub fn observe(&mut self, check: FrameCheck) -> Guidance {
        let problem = self.problem(&check);
        let moved = match (check.face, self.previous) {
            (Some(now), Some(before)) => {
                let (x1, y1) = now.centre();
                let (x0, y0) = before.centre();
                ((x1 - x0).hypot(y1 - y0) / now.width.max(1.0)) > self.config.max_motion
            }
            _ => true,
        };
        self.previous = check.face;
        let cue = match problem {
            Some(cue) => {
                self.steady = 0;
                cue
            }
            None if moved => {
                self.steady = 0;
                Cue::HoldStill
            }
            None => {
                self.steady += 1;
                if self.steady >= self.config.steady_frames {
                    Cue::Ready
                } else {
                    Cue::HoldStill
                }
            }
        };
        let score = match (problem, check.quality) {
            (None, Some(q)) => 0.8 * q.score(&self.limits) + 20.0 * check.live.unwrap_or(0.0),
            _ => 0.0,
        };
        Guidance { cue, score, check }
    }

    /// The first thing wrong with the frame, in the order a user can fix them.
    fn problem(&self, check: &FrameCheck) -> Option<Cue> {
        let c = &self.config;
        let (Some(face), Some(q)) = (check.face, check.quality) else {
            return Some(Cue::NoFace);
        };
        let (w, h) = (check.width as f32, check.height as f32);
        let fraction = face.width.min(face.height) / w.min(h);
        let (fx, fy) = face.centre();
        if check.faces > 1 {
            Some(Cue::ManyFaces)
        } else if fraction < c.min_face_fraction || q.face_px < self.limits.min_face_px * 1.5 {
            Some(Cue::MoveCloser)
        } else if fraction > c.max_face_fraction {
            Some(Cue::MoveBack)
        } else if (fx / w - 0.5).abs() > c.max_off_centre || (fy / h - 0.5).abs() > c.max_off_centre
        {
            Some(Cue::Centre)
        } else if q.brightness < self.limits.min_brightness + c.brightness_margin {
            Some(Cue::MoreLight)
        } else if q.brightness > self.limits.max_brightness - c.brightness_margin {
            Some(Cue::LessLight)
        } else if q.yaw.abs() > c.max_yaw || q.pitch.abs() > c.max_pitch {
            Some(Cue::LookStraight)
        } else if q.sharpness < self.limits.min_sharpness * c.sharpness_factor {
            Some(Cue::Blurry)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_at(cx: f32, cy: f32, side: f32) -> Face {
        Face {
            x: cx - side / 2.0,
            y: cy - side / 2.0,
            width: side,
            height: side,
            landmarks: [[0.0; 2]; 5],
            score: 0.9,
        }
    }

    fn good_quality(side: f32) -> Quality {
        Quality {
            face_px: side,
            yaw: 3.0,
            pitch: 5.0,
            roll: 0.0,
            sharpness: 80.0,
            brightness: 120.0,
        }
    }

    fn frame(face: Option<Face>, quality: Option<Quality>) -> FrameCheck {
        FrameCheck {
            width: 640,
            height: 480,
            faces: usize::from(face.is_some()),
            face,
            quality,
            live: Some(0.9),
        }
    }

    fn good() -> FrameCheck {
        frame(
            Some(face_at(320.0, 240.0, 200.0)),
            Some(good_quality(200.0)),
        )
    }

    fn guide() -> Guide {
        Guide::new(GuideConfig::default(), QualityLimits::default())
    }

    #[test]
    fn steady_good_frames_become_ready_after_the_configured_count() {
        let mut g = guide();
        let cues: Vec<Cue> = (0..5).map(|_| g.observe(good()).cue).collect();
        // The first frame has nothing to compare with, so it counts as movement.
        assert_eq!(
            cues,
            [
                Cue::HoldStill,
                Cue::HoldStill,
                Cue::HoldStill,
                Cue::Ready,
                Cue::Ready
            ]
        );
    }

    #[test]
    fn movement_or_a_problem_restarts_the_steady_count() {
        let mut g = guide();
        for _ in 0..4 {
            g.observe(good());
        }
        let moved = frame(
            Some(face_at(360.0, 240.0, 200.0)),
            Some(good_quality(200.0)),
        );
        assert_eq!(g.observe(moved).cue, Cue::HoldStill);
        assert_eq!(g.observe(frame(None, None)).cue, Cue::NoFace);
        assert_eq!(g.observe(moved).cue, Cue::HoldStill);
    }

    #[test]
    fn each_problem_has_its_cue() {
        let q = good_quality(200.0);
        let with = |f: fn(&mut Quality)| {
            let mut q = q;
            f(&mut q);
            guide()
                .observe(frame(Some(face_at(320.0, 240.0, 200.0)), Some(q)))
                .cue
        };
        assert_eq!(with(|q| q.brightness = 35.0), Cue::MoreLight);
        assert_eq!(with(|q| q.brightness = 220.0), Cue::LessLight);
        assert_eq!(with(|q| q.yaw = -30.0), Cue::LookStraight);
        assert_eq!(with(|q| q.sharpness = 16.0), Cue::Blurry);
        let small = frame(Some(face_at(320.0, 240.0, 80.0)), Some(good_quality(80.0)));
        assert_eq!(guide().observe(small).cue, Cue::MoveCloser);
        let huge = frame(
            Some(face_at(320.0, 240.0, 460.0)),
            Some(good_quality(460.0)),
        );
        assert_eq!(guide().observe(huge).cue, Cue::MoveBack);
        let aside = frame(Some(face_at(120.0, 240.0, 200.0)), Some(q));
        assert_eq!(guide().observe(aside).cue, Cue::Centre);
        let two = FrameCheck { faces: 2, ..good() };
        assert_eq!(guide().observe(two).cue, Cue::ManyFaces);
    }

    #[test]
    fn only_acceptable_frames_score_and_better_ones_score_higher() {
        let mut g = guide();
        assert_eq!(g.observe(frame(None, None)).score, 0.0);
        let sharp = g.observe(good()).score;
        let mut soft = good();
        soft.quality = Some(Quality {
            sharpness: 25.0,
            ..good_quality(200.0)
        });
        assert!(g.observe(soft).score < sharp);
    }
}
