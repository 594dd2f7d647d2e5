//! Passive liveness from a short burst of frames instead of one picture.
//!
//! Every frame gets the detector and the cheap figures (quality, a small grey copy, aligned-crop
//! patches); SFace runs on three (first, best, last) to check that one person is in the burst;
//! MiniFASNet runs on those three and on others up to `BurstConfig::liveness_frames`, and its
//! scores are aggregated by their median, so one lucky frame cannot carry a replay. The
//! aggregate is the lower of the median over all scored frames and over the embedded ones, so
//! live frames of someone else spliced between frames of the victim do not count. The
//! temporal cues are what a flat picture held in front of the camera cannot produce (see
//! `cues`). Which stages run where, and why, is measured in CALIBRATION.md.
//!
//! Capture protocol (what the hosted page sends, what the server refuses): see
//! crates/pipeline/CALIBRATION.md, "Multi-frame capture".

mod check;
mod cues;
pub mod motion;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::decide::LivenessEvidence;
use crate::detect::Face;
use crate::embed::Embedding;
use crate::liveness::LivenessScore;
use crate::quality::Quality;
use crate::spoof::Fusion;
use crate::{select_subject, Analysis, Pipeline, PipelineError, Subject};

pub use check::burst_liveness_check;
pub use cues::BurstCues;

/// Bounds of an acceptable burst and the thresholds of its cues (evidence: CALIBRATION.md,
/// "Multi-frame capture").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BurstConfig {
    pub min_frames: usize,
    pub max_frames: usize,
    /// Longest frame side accepted, pixels: the checks need a face of about 150 px, which a
    /// 640x480 selfie frame gives; larger frames only cost upload and decode time.
    pub min_long_side: u32,
    pub max_long_side: u32,
    /// Frames whose grey copies differ by less than this (mean grey levels of 255) are the
    /// same picture sent twice: a camera's sensor noise alone differs by more.
    pub duplicate_max_diff: f32,
    /// Distinct frames with a face needed for a decision.
    pub min_distinct_faces: usize,
    /// Frames MiniFASNet runs on: always the embedded ones (first, best, last), then others
    /// spread over the burst.
    pub liveness_frames: usize,
    /// The first and last embedded frames must be at least this similar to the best one: the
    /// face match's own decline point (a face it would not decline as another person is not
    /// declined as one here), so another person's frame spliced in fails. Not the 0.36 of an
    /// approval: the live clip's fast head turns bring a turned frame and a frontal one of the
    /// same person down to 0.29 (see CALIBRATION.md, "Multi-frame capture").
    pub same_person_cosine: f32,
    /// Neighbouring frames' face boxes must overlap at least this much: one face moving, not
    /// a cut to another picture.
    pub min_box_iou: f32,
    /// Face motion against its surroundings a live burst shows at least (eye spans).
    pub min_relative_motion: f32,
    /// Where too little surrounds the face to measure that (a close-up), the landmark motion
    /// no flat picture explains that a live burst shows at least (affine residual, eye spans).
    pub min_nonrigid: f32,
}

impl Default for BurstConfig {
    fn default() -> Self {
        BurstConfig {
            min_frames: 5,
            max_frames: 8,
            min_long_side: 480,
            max_long_side: 1280,
            duplicate_max_diff: 0.4,
            min_distinct_faces: 5,
            liveness_frames: 4,
            same_person_cosine: 0.28,
            min_box_iou: 0.3,
            min_relative_motion: 0.1,
            min_nonrigid: 0.04,
        }
    }
}

/// A burst the server refuses to judge: bad input, not a failed liveness check. The adapter
/// answers 400 and the attempt is not spent.
#[derive(Debug, Clone, PartialEq)]
pub enum BurstError {
    Input(String),
    Pipeline(PipelineError),
}

impl std::fmt::Display for BurstError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BurstError::Input(m) => f.write_str(m),
            BurstError::Pipeline(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BurstError {}

impl From<PipelineError> for BurstError {
    fn from(e: PipelineError) -> Self {
        BurstError::Pipeline(e)
    }
}

impl BurstError {
    pub fn is_input_error(&self) -> bool {
        match self {
            BurstError::Input(_) => true,
            BurstError::Pipeline(e) => e.is_input_error(),
        }
    }
}

/// What one frame of the burst showed.
#[derive(Debug, Clone, Serialize)]
pub struct BurstFrame {
    /// Faces large enough to count as people presenting.
    pub presenting_faces: usize,
    pub face: Option<Face>,
    pub quality: Option<Quality>,
    /// MiniFASNet's score, on the frames it ran on.
    pub liveness: Option<LivenessScore>,
    /// An earlier frame this one repeats; repeated frames are left out of every cue.
    pub duplicate_of: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BurstAnalysis {
    pub width: u32,
    pub height: u32,
    pub frames: Vec<BurstFrame>,
    /// The frame to match against the enrolled face: the sharpest near-frontal one.
    pub best: Option<usize>,
    /// The embedded frames and their embeddings: first, best and last distinct face.
    #[serde(skip)]
    pub embeddings: Vec<(usize, Embedding)>,
    pub cues: BurstCues,
}

impl BurstAnalysis {
    /// What the burst's liveness rests on, for the decision's `liveness_checks[].evidence`:
    /// the aggregate score's signals and the burst's own cues, each by name.
    pub fn evidence(&self, fusion: Option<&Fusion>) -> Option<LivenessEvidence> {
        let live = self.cues.aggregate_liveness()?;
        let mut e = LivenessEvidence::from_score(&live, fusion);
        e.method = format!("burst:{}", e.method);
        let c = &self.cues;
        let round = |x: f32| (x * 1e4).round() / 1e4;
        let mut put = |name: &str, v: Option<f32>| {
            if let Some(v) = v {
                e.signals.insert(format!("burst_{name}"), round(v));
            }
        };
        put("frames", Some(self.frames.len() as f32));
        put("distinct_faces", Some(c.distinct_faces as f32));
        put("live_median", c.live_median);
        put("same_person_min_cosine", c.same_person_min_cosine);
        put("min_box_iou", c.continuity_min_iou);
        put("relative_motion", c.relative_motion);
        put("nonrigid", c.nonrigid);
        Some(e)
    }

    /// The best frame as a single-image analysis whose liveness is the burst's aggregate, so
    /// the existing face-match decision applies unchanged.
    pub fn best_frame_analysis(&self) -> Analysis {
        let subject = self.best.and_then(|i| {
            let f = &self.frames[i];
            Some(Subject {
                face: f.face?,
                quality: f.quality?,
                presenting_faces: f.presenting_faces,
                embedding: self
                    .embeddings
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, e)| e.clone()),
                liveness: self.cues.aggregate_liveness(),
            })
        });
        Analysis {
            width: self.width,
            height: self.height,
            faces: self
                .best
                .and_then(|i| self.frames[i].face)
                .into_iter()
                .collect(),
            subject,
        }
    }
}

impl BurstConfig {
    /// Refuses a frame count no burst has, before anything is decoded.
    pub fn check_count(&self, sent: usize) -> Result<(), BurstError> {
        if (self.min_frames..=self.max_frames).contains(&sent) {
            return Ok(());
        }
        Err(BurstError::Input(format!(
            "send {} to {} frames of the steady moment (about 0.13 s apart); {sent} were sent",
            self.min_frames, self.max_frames
        )))
    }
}

/// Refuses what cannot be a burst from one camera before any model runs.
pub fn validate(frames: &[RgbImage], config: &BurstConfig) -> Result<(), BurstError> {
    config.check_count(frames.len())?;
    let (w, h) = frames[0].dimensions();
    if let Some(i) = frames.iter().position(|f| f.dimensions() != (w, h)) {
        let (wi, hi) = frames[i].dimensions();
        return Err(BurstError::Input(format!(
            "every frame must have the same size: frame 0 is {w}x{h}, frame {i} is {wi}x{hi}"
        )));
    }
    let long = w.max(h);
    if long < config.min_long_side || long > config.max_long_side {
        return Err(BurstError::Input(format!(
            "frames must be {} to {} px on their longest side, these are {w}x{h}",
            config.min_long_side, config.max_long_side
        )));
    }
    Ok(())
}

/// The JPEG frames of an MJPEG stream (a camera's or a test clip's): each starts with an SOI
/// marker followed by another marker, a byte pair entropy-coded data never contains (0xFF
/// there is stuffed).
pub fn split_mjpeg(bytes: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = bytes
        .windows(3)
        .enumerate()
        .filter(|(_, w)| w == &[0xFF, 0xD8, 0xFF])
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&bytes.len()]))
        .map(|(&a, &b)| &bytes[a..b])
        .collect()
}

/// Per-frame work shared by the cues.
pub(crate) struct Measured {
    pub small: motion::Small,
    pub face_patch: Option<Vec<f32>>,
    pub eye_patch: Option<Vec<f32>>,
}

impl Pipeline {
    /// Analyses a burst of consecutive frames of one capture, in capture order.
    pub fn analyze_burst(
        &self,
        frames: &[RgbImage],
        config: &BurstConfig,
    ) -> Result<BurstAnalysis, BurstError> {
        validate(frames, config)?;
        let (width, height) = frames[0].dimensions();
        let mut out = Vec::with_capacity(frames.len());
        let mut measured = Vec::with_capacity(frames.len());
        let mut aligned_crops = Vec::with_capacity(frames.len());
        for image in frames {
            let faces = self.detect(image)?;
            let face = select_subject(&faces, width, height);
            let aligned = face.map(|f| self.align(image, &f));
            let quality = face
                .zip(aligned.as_ref())
                .map(|(f, a)| Quality::measure(&f, a));
            let presenting_faces = face.map_or(0, |f| {
                let min_side = f.width.min(f.height) * self.config.other_face_min_ratio;
                faces
                    .iter()
                    .filter(|g| g.width.min(g.height) >= min_side)
                    .count()
            });
            let small = motion::Small::of(image);
            let duplicate_of =
                measured
                    .iter()
                    .zip(&out)
                    .position(|(m, f): (&Measured, &BurstFrame)| {
                        f.duplicate_of.is_none()
                            && m.small.mean_abs_diff(&small) < config.duplicate_max_diff
                    });
            measured.push(Measured {
                small,
                face_patch: aligned
                    .as_ref()
                    .map(|a| motion::grey_region(a, motion::FACE_REGION)),
                eye_patch: aligned
                    .as_ref()
                    .map(|a| motion::grey_region(a, motion::EYE_REGION)),
            });
            aligned_crops.push(aligned);
            out.push(BurstFrame {
                presenting_faces,
                face,
                quality,
                liveness: None,
                duplicate_of,
            });
        }
        let distinct: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].duplicate_of.is_none() && out[i].face.is_some())
            .collect();
        let best = best_frame(&out, &distinct, self.config.quality.max_yaw.min(20.0));
        let mut embedded: Vec<usize> = Vec::new();
        for i in [distinct.first().copied(), best, distinct.last().copied()]
            .into_iter()
            .flatten()
        {
            if !embedded.contains(&i) {
                embedded.push(i);
            }
        }
        for i in liveness_frames(&distinct, &embedded, config.liveness_frames) {
            let face = out[i].face.expect("distinct frames have a face");
            out[i].liveness = Some(self.liveness(&frames[i], &face)?);
        }
        let mut embeddings = Vec::new();
        for &i in &embedded {
            let aligned = aligned_crops[i]
                .as_ref()
                .expect("distinct frames have a face");
            embeddings.push((i, self.embed(aligned)?));
        }
        let cues = cues::measure(&out, &measured, &distinct, best, &embeddings);
        Ok(BurstAnalysis {
            width,
            height,
            frames: out,
            best,
            embeddings,
            cues,
        })
    }
}

/// The sharpest frame within `max_yaw` of frontal (a turned face matches worse), else the
/// sharpest of all.
fn best_frame(frames: &[BurstFrame], distinct: &[usize], max_yaw: f32) -> Option<usize> {
    let sharpest = |frontal_only: bool| {
        distinct
            .iter()
            .filter_map(|&i| frames[i].quality.map(|q| (i, q)))
            .filter(|(_, q)| !frontal_only || q.yaw.abs() <= max_yaw)
            .max_by(|a, b| a.1.sharpness.total_cmp(&b.1.sharpness))
            .map(|(i, _)| i)
    };
    sharpest(true).or_else(|| sharpest(false))
}

/// At least `n` frames for MiniFASNet: the embedded ones, whose identity is checked, then
/// others spread evenly over the burst.
fn liveness_frames(distinct: &[usize], embedded: &[usize], n: usize) -> Vec<usize> {
    if n >= distinct.len() {
        return distinct.to_vec();
    }
    let mut chosen: Vec<usize> = embedded.to_vec();
    let mut k = 1;
    while chosen.len() < n && k < distinct.len() {
        // Fill the largest gap first: midpoints of ever finer subdivisions.
        let mut depth = 2;
        while k >= depth {
            depth *= 2;
        }
        let pos = ((2 * (k - depth / 2) + 1) * (distinct.len() - 1)) / depth;
        let i = distinct[pos];
        if !chosen.contains(&i) {
            chosen.push(i);
        }
        k += 1;
    }
    for &i in distinct {
        if chosen.len() >= n {
            break;
        }
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_frames_include_the_best_and_spread_out() {
        let distinct: Vec<usize> = (0..8).collect();
        assert_eq!(liveness_frames(&distinct, &[0, 3, 7], 8), distinct);
        assert_eq!(liveness_frames(&distinct, &[0, 6, 7], 4), vec![0, 3, 6, 7]);
        assert_eq!(
            liveness_frames(&distinct, &[0, 3, 7], 5),
            vec![0, 1, 3, 5, 7]
        );
        assert_eq!(liveness_frames(&[2, 5], &[2, 5], 4), vec![2, 5]);
    }

    #[test]
    fn refuses_bad_bursts_before_any_model_runs() {
        let c = BurstConfig::default();
        let frame = |w, h| RgbImage::new(w, h);
        let too_few = vec![frame(640, 480); 4];
        assert!(
            matches!(validate(&too_few, &c), Err(BurstError::Input(m)) if m.contains("4 were sent"))
        );
        assert!(validate(&vec![frame(640, 480); 9], &c).is_err());
        let mut mixed = vec![frame(640, 480); 6];
        mixed[4] = frame(480, 640);
        assert!(matches!(validate(&mixed, &c), Err(BurstError::Input(m)) if m.contains("frame 4")));
        assert!(validate(&vec![frame(320, 240); 6], &c).is_err());
        assert!(validate(&vec![frame(2000, 1500); 6], &c).is_err());
        assert!(validate(&vec![frame(640, 480); 6], &c).is_ok());
        assert!(BurstError::Input("x".into()).is_input_error());
    }
}
