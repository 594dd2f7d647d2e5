//! Active liveness challenges: the server picks a random sequence (screen colours for FLASHING,
//! head turns for ACTIVE_3D), the page shows it while it films, and the frames must show the
//! face reacting to that sequence, in order. A photo, a screen replay or a pre-recorded video
//! cannot know the sequence in advance.
//!
//! Pure: randomness comes in as a `draw` function, frames come in already detected. Thresholds
//! and the evidence behind them are in crates/pipeline/CALIBRATION.md.

use image::RgbImage;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::decide::{CheckStatus, LivenessCheck, Warning};
use crate::detect::Face;
use crate::quality::Quality;

pub mod active;
pub mod escalate;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod flashing;
pub mod texture;
mod turns;

pub use flashing::{flash_response, skin_log_chroma, Regions};
pub use texture::Patch;

/// The workflow's liveness method. Didit's flat workflow config spells it `passive`,
/// `active_3d`, `flashing`; decisions and graph configs `PASSIVE`, `ACTIVE_3D`, `FLASHING`.
/// Both are read; the upper-case wire form is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LivenessMethod {
    #[default]
    Passive,
    Active3d,
    Flashing,
}

impl LivenessMethod {
    pub fn as_wire(self) -> &'static str {
        match self {
            LivenessMethod::Passive => "PASSIVE",
            LivenessMethod::Active3d => "ACTIVE_3D",
            LivenessMethod::Flashing => "FLASHING",
        }
    }

    pub fn parse(s: &str) -> Option<LivenessMethod> {
        [
            LivenessMethod::Passive,
            LivenessMethod::Active3d,
            LivenessMethod::Flashing,
        ]
        .into_iter()
        .find(|m| m.as_wire().eq_ignore_ascii_case(s.trim()))
    }

    /// Methods that need a server-issued challenge.
    pub fn is_active(self) -> bool {
        self != LivenessMethod::Passive
    }
}

impl Serialize for LivenessMethod {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_wire())
    }
}

impl<'de> Deserialize<'de> for LivenessMethod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LivenessMethod::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown liveness method {s:?} (passive, active_3d, flashing)"
            ))
        })
    }
}

/// Flash colours: fully saturated primaries and secondaries, so each step moves the face's
/// colour in a direction well apart from the previous one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Colour {
    #[serde(rename = "#ff0000")]
    Red,
    #[serde(rename = "#00ff00")]
    Green,
    #[serde(rename = "#0000ff")]
    Blue,
    #[serde(rename = "#ffff00")]
    Yellow,
    #[serde(rename = "#ff00ff")]
    Magenta,
    #[serde(rename = "#00ffff")]
    Cyan,
}

impl Colour {
    pub const PALETTE: [Colour; 6] = [
        Colour::Red,
        Colour::Green,
        Colour::Blue,
        Colour::Yellow,
        Colour::Magenta,
        Colour::Cyan,
    ];

    /// Linear RGB of the screen light, 0 or 1 per channel.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [1.0, 0.0, 0.0],
            Colour::Green => [0.0, 1.0, 0.0],
            Colour::Blue => [0.0, 0.0, 1.0],
            Colour::Yellow => [1.0, 1.0, 0.0],
            Colour::Magenta => [1.0, 0.0, 1.0],
            Colour::Cyan => [0.0, 1.0, 1.0],
        }
    }
}

/// A head pose asked for, as the user sees it: `left` is the user's own left. Frames are taken
/// from the raw (unmirrored) camera, where the user's left is the image's right, so turning
/// left moves the nose towards the image's right: positive yaw (see `quality::pose_in_crop`).
/// Up/down are not offered: pitch from five landmarks confuses head pitch with face shape
/// (see CALIBRATION.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadMove {
    Straight,
    Left,
    Right,
}

impl HeadMove {
    /// Sign of the yaw change this move asks for; 0 for straight.
    pub(crate) fn direction(self) -> f32 {
        match self {
            HeadMove::Straight => 0.0,
            HeadMove::Left => 1.0,
            HeadMove::Right => -1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    Flash {
        colour: Colour,
        /// How long the page shows the colour.
        ms: u32,
    },
    Turn {
        #[serde(rename = "move")]
        head: HeadMove,
    },
}

/// One issued challenge; the JSON is what the hosted page receives and what is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    pub id: String,
    pub method: LivenessMethod,
    pub steps: Vec<Step>,
}

impl Challenge {
    /// The flash colours in order (empty for head turns).
    pub fn colours(&self) -> Vec<Colour> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Flash { colour, .. } => Some(*colour),
                Step::Turn { .. } => None,
            })
            .collect()
    }
}

/// Long enough for the camera to deliver two frames lit by the colour, short enough that its
/// automatic white balance has not yet cancelled the tint (it adapts over about a second).
pub const FLASH_MS: u32 = 450;

/// A random challenge for `method` (`None` for PASSIVE). `draw(n)` must return a uniformly
/// random integer in `0..n`.
pub fn choose(
    method: LivenessMethod,
    id: String,
    draw: &mut dyn FnMut(u32) -> u32,
) -> Option<Challenge> {
    let steps = match method {
        LivenessMethod::Passive => return None,
        LivenessMethod::Flashing => {
            let n = 4 + draw(3) as usize;
            let palette = Colour::PALETTE.len() as u32;
            let mut prev = draw(palette) % palette;
            let mut steps = vec![prev];
            while steps.len() < n {
                // Uniform over the other five colours: no colour follows itself.
                let k = draw(palette - 1) % (palette - 1);
                prev = if k >= prev { k + 1 } else { k };
                steps.push(prev);
            }
            steps
                .into_iter()
                .map(|i| Step::Flash {
                    colour: Colour::PALETTE[i as usize],
                    ms: FLASH_MS,
                })
                .collect()
        }
        LivenessMethod::Active3d => {
            let moves = 2 + draw(2) as usize;
            let mut head = if draw(2).is_multiple_of(2) {
                HeadMove::Left
            } else {
                HeadMove::Right
            };
            let mut steps = vec![Step::Turn {
                head: HeadMove::Straight,
            }];
            for _ in 0..moves {
                steps.push(Step::Turn { head });
                head = if head == HeadMove::Left {
                    HeadMove::Right
                } else {
                    HeadMove::Left
                };
            }
            steps.push(Step::Turn {
                head: HeadMove::Straight,
            });
            steps
        }
    };
    Some(Challenge { id, method, steps })
}

/// Thresholds of the challenge checks (evidence: CALIBRATION.md, "Active challenges").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChallengeLimits {
    /// Correlation between the face's log-chromaticity changes and the flashed colours'.
    pub flash_min_correlation: f32,
    /// Regression gain of those changes on the colours': roughly the screen's share of the
    /// light on the face.
    pub flash_min_gain: f32,
    /// Flashing asks the user to hold still: a head turning changes the light on the skin more
    /// than a screen does, so frames whose yaw spans more than this are refused, degrees.
    pub flash_max_yaw_spread: f32,
    /// The background's colour gain at most this share of the face's: a screen at 30 cm lights
    /// a wall 50 cm further back about (30/80)² ≈ 14 % as much; a tinted picture moves both
    /// alike (share ≈ 1).
    pub flash_max_background_ratio: f32,
    /// The gain on the nose and forehead over the gain on the outer cheeks: a face lit from the
    /// front catches more light where it faces the screen. Measured, tints painted evenly over
    /// a picture already read 1.11-1.34 and the simulated 3-D face 1.08-2.4, so this only
    /// refuses a face lit more on its sides than its centre; it does not separate a tint from
    /// a face on this evidence (CALIBRATION.md).
    pub flash_min_relief: f32,
    /// Where the onset frames' colour lies between the previous step's (+1) and their own
    /// (-1): a camera shows a new colour one frame late.
    pub flash_min_lag: f32,
    /// Two frames under the same light must differ by at least this much (RMS grey levels
    /// after a gain and offset fit): fresh sensor noise. Copies of one image differ less.
    /// Both methods.
    pub min_frame_residual: f32,
    /// ...and that difference must be smooth (correlation with itself one pixel over): real
    /// frame pairs read 0.59-0.97 (p5 0.82), a still with noise added per frame 0.42-0.43.
    /// Both methods.
    pub min_frame_smoothness: f32,
    /// Yaw change from the starting pose a turn step must reach, degrees.
    pub turn_min_yaw: f32,
    /// How far from the starting pose a later `straight` step may stay, degrees.
    pub straight_max_yaw: f32,
    /// The starting pose must be at least this frontal, degrees.
    pub start_max_yaw: f32,
    /// Consecutive frames must overlap at least this much (IoU of the face boxes)...
    pub min_box_iou: f32,
    /// ...and their face sizes differ by at most this factor: one face throughout.
    pub max_size_ratio: f32,

    // The step-by-step ACTIVE_3D protocol (`active.rs`).
    /// Challenges a session may be issued: one per attempt and a retry or two after a lost
    /// connection; more is someone trying sequences until one fits their recording.
    pub max_challenges: u32,
    /// Least time between two challenges of one session, ms: nobody needs a new one sooner,
    /// and it slows the same search.
    pub min_issue_interval_ms: u32,
    /// A challenge expires this long after it is issued, ms: four steps of at most a 1.2 s
    /// hold, the turns, and uploads over a slow link fit in well under half a minute.
    pub active_expiry_ms: u32,
    /// A step's frames must arrive within this of its reveal, ms.
    pub active_step_timeout_ms: u32,
    /// The page films one frame this often, ms: five a second follow a head turn (about 100
    /// to 200°/s) with at most 35° between frames, and keep a step to about ten detections.
    pub active_frame_interval_ms: u32,
    /// Time allowed between the last frame filmed and its arrival, ms (a phone on a slow link).
    pub active_upload_allowance_ms: u32,
    /// Frames accepted for one step: a 1.2 s hold and a turn at the cadence, plus slack.
    pub active_max_frames_per_step: usize,
    /// The held frames' yaw may wander at most this far from their median, degrees (a still
    /// head on the live clip: 4.9° range).
    pub hold_max_yaw_wander: f32,
    /// Consecutive frames (one interval apart) may differ at most this much in yaw...
    pub max_yaw_per_frame: f32,
    /// ...and in roll, degrees.
    pub max_roll_per_frame: f32,
    /// Cosine between each step's face embedding and the first step's: the shipped face-match
    /// threshold, so one person did every step.
    pub min_identity_cosine: f32,
}

impl Default for ChallengeLimits {
    fn default() -> Self {
        ChallengeLimits {
            flash_min_correlation: 0.7,
            flash_min_gain: 0.03,
            flash_max_yaw_spread: 12.0,
            flash_max_background_ratio: 0.5,
            flash_min_relief: 1.0,
            flash_min_lag: 0.3,
            min_frame_residual: 0.8,
            min_frame_smoothness: 0.6,
            max_challenges: 5,
            min_issue_interval_ms: 3_000,
            active_expiry_ms: 45_000,
            active_step_timeout_ms: 10_000,
            active_frame_interval_ms: 200,
            active_upload_allowance_ms: 3_000,
            active_max_frames_per_step: 16,
            hold_max_yaw_wander: 6.0,
            max_yaw_per_frame: 35.0,
            max_roll_per_frame: 12.0,
            min_identity_cosine: 0.36,
            turn_min_yaw: 15.0,
            straight_max_yaw: 10.0,
            start_max_yaw: 20.0,
            min_box_iou: 0.3,
            max_size_ratio: 1.5,
        }
    }
}

/// What one frame of a challenge shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameObservation {
    /// Index into the challenge's steps, as labelled by the page.
    pub step: usize,
    pub face: Option<FaceTrack>,
    /// The face's luma, kept to compare consecutive frames (`texture.rs`).
    pub patch: Option<Patch>,
}

impl FrameObservation {
    /// A frame known only by its face track (constructed tests, the old client-labelled path).
    pub fn tracked(step: usize, face: Option<FaceTrack>) -> Self {
        FrameObservation {
            step,
            face,
            patch: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceTrack {
    /// Face box as fractions of the frame (x, y, width, height), so frames of different sizes
    /// compare.
    pub bbox: [f32; 4],
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    pub sharpness: f32,
    /// Log-chromaticity of the skin between the eyes and the mouth; `None` when too few usable
    /// pixels (dark or clipped).
    pub chroma: Option<[f32; 3]>,
    /// The regions the FLASHING checks compare with it.
    pub regions: Regions,
}

/// Measures one frame given its subject face (from `select_subject`) and the quality figures
/// of its aligned crop.
pub fn observe(
    image: &RgbImage,
    subject: Option<(&Face, &Quality)>,
    step: usize,
) -> FrameObservation {
    let face = subject.map(|(f, q)| {
        let (w, h) = (image.width().max(1) as f32, image.height().max(1) as f32);
        FaceTrack {
            bbox: [f.x / w, f.y / h, f.width / w, f.height / h],
            yaw: q.yaw,
            pitch: q.pitch,
            roll: q.roll,
            sharpness: q.sharpness,
            chroma: skin_log_chroma(image, f),
            regions: flashing::regions(image, f),
        }
    });
    FrameObservation {
        step,
        face,
        patch: subject.and_then(|(f, _)| Patch::from_face(image, f)),
    }
}

/// The challenge's verdict on a set of frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChallengeResult {
    pub passed: bool,
    /// 0-100; above 50 exactly when passed, like Didit's liveness score and decline threshold.
    pub score: f64,
    /// Why it failed (empty on a pass), for the warning's `additional_data`.
    pub reasons: Vec<String>,
    /// Measured figures (correlation and gain, or yaw per step), for the same.
    pub figures: serde_json::Value,
}

impl ChallengeResult {
    pub(crate) fn fail(reason: impl Into<String>) -> Self {
        ChallengeResult {
            passed: false,
            score: 0.0,
            reasons: vec![reason.into()],
            figures: serde_json::Value::Null,
        }
    }

    /// The verdict from `r`, the weakest figure over its threshold, and what failed. A pass
    /// scores above 50 even when the ratio rounds to 1, a failure at most 50.
    pub(crate) fn judged(r: f32, reasons: Vec<String>, figures: serde_json::Value) -> Self {
        let passed = reasons.is_empty();
        ChallengeResult {
            passed,
            score: ratio_score(if passed { r.max(1.001) } else { r.min(1.0) }),
            reasons,
            figures,
        }
    }
}

/// How far past its threshold the weakest figure is (1 = exactly on it) as a 0-100 score
/// with the threshold at 50.
fn ratio_score(r: f32) -> f64 {
    let r = f64::from(r.max(0.0));
    let s = if r <= 1.0 { 50.0 * r } else { 100.0 - 50.0 / r };
    (s * 100.0).round() / 100.0
}

/// Verifies frames answering `answered_id` against the session's current challenge.
pub fn verify(
    challenge: Option<&Challenge>,
    answered_id: Option<&str>,
    frames: &[FrameObservation],
    limits: &ChallengeLimits,
) -> ChallengeResult {
    let Some(challenge) = challenge else {
        return ChallengeResult::fail("no challenge was issued for this session: reload the page");
    };
    if answered_id != Some(challenge.id.as_str()) {
        return ChallengeResult::fail(
            "the capture answers another challenge than the one last issued for this session",
        );
    }
    if let Err(reason) = check_frames(challenge, frames, limits) {
        return ChallengeResult::fail(reason);
    }
    match challenge.method {
        LivenessMethod::Flashing => flashing::verify(&challenge.steps, frames, limits),
        LivenessMethod::Active3d => {
            let tracks: Vec<(usize, FaceTrack)> = frames
                .iter()
                .filter_map(|f| f.face.map(|t| (f.step, t)))
                .collect();
            turns::verify(&challenge.steps, &tracks, limits)
        }
        LivenessMethod::Passive => ChallengeResult::fail("a passive workflow has no challenge"),
    }
}

/// Structure common to both methods: every step filmed, in order, one face throughout.
fn check_frames(
    challenge: &Challenge,
    frames: &[FrameObservation],
    limits: &ChallengeLimits,
) -> Result<(), String> {
    if frames.is_empty() {
        return Err("no frames were sent".into());
    }
    if let Some(f) = frames.iter().find(|f| f.step >= challenge.steps.len()) {
        return Err(format!(
            "frame labelled with step {} that the challenge does not have",
            f.step
        ));
    }
    if frames.windows(2).any(|w| w[1].step < w[0].step) {
        return Err("frames are not in step order".into());
    }
    if let Some(i) = frames.iter().position(|f| f.face.is_none()) {
        return Err(format!("no face in frame {i}"));
    }
    for step in 0..challenge.steps.len() {
        if !frames.iter().any(|f| f.step == step) {
            return Err(format!("no frame for step {step}"));
        }
    }
    for (i, w) in frames.windows(2).enumerate() {
        let (Some(a), Some(b)) = (w[0].face, w[1].face) else {
            continue;
        };
        let size = (a.bbox[2] * a.bbox[3]).sqrt() / (b.bbox[2] * b.bbox[3]).sqrt().max(1e-6);
        if iou(&a.bbox, &b.bbox) < limits.min_box_iou
            || size > limits.max_size_ratio
            || size < 1.0 / limits.max_size_ratio
        {
            return Err(format!("the face changed between frames {i} and {}", i + 1));
        }
    }
    Ok(())
}

pub(crate) fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if ix <= 0.0 || iy <= 0.0 {
        return 0.0;
    }
    let inter = ix * iy;
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

pub(crate) fn centred(v: [f32; 3]) -> [f32; 3] {
    let m = (v[0] + v[1] + v[2]) / 3.0;
    v.map(|x| x - m)
}

pub(crate) fn dot(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The frame to embed and run passive liveness on: the sharpest of the near-frontal ones (a
/// turned face matches worse), else the sharpest of any.
pub fn best_frame(frames: &[FrameObservation], limits: &ChallengeLimits) -> Option<usize> {
    let sharpest = |frontal_only: bool| {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.face.map(|t| (i, t)))
            .filter(|(_, t)| !frontal_only || t.yaw.abs() <= limits.straight_max_yaw)
            .max_by(|a, b| a.1.sharpness.total_cmp(&b.1.sharpness))
            .map(|(i, _)| i)
    };
    sharpest(true).or_else(|| sharpest(false))
}

/// Folds the challenge's verdict into the passive liveness item of the best frame: the method
/// becomes the challenge's, the score the lower of the two, and a failed challenge declines
/// with LOW_LIVENESS_SCORE explaining why.
pub fn apply(
    check: &mut LivenessCheck,
    method: LivenessMethod,
    challenge_id: Option<&str>,
    result: &ChallengeResult,
) {
    check.method = method.as_wire().into();
    check.score = check.score.min(result.score);
    if result.passed {
        return;
    }
    check.status = CheckStatus::Declined;
    // Didit: NO_FACE_DETECTED suppresses LOW_LIVENESS_SCORE.
    if check.warnings.iter().any(|w| w.risk == "NO_FACE_DETECTED") {
        return;
    }
    check.warnings.push(Warning {
        feature: "LIVENESS".into(),
        risk: "LOW_LIVENESS_SCORE".into(),
        additional_data: Some(json!({
            "challenge_id": challenge_id,
            "method": method,
            "reasons": result.reasons,
            "figures": result.figures,
        })),
        log_type: "error".into(),
        short_description: "Liveness challenge failed".into(),
        long_description: format!(
            "The frames did not show the {} challenge: {}.",
            method.as_wire(),
            result.reasons.join("; ")
        ),
        node_id: check.node_id.clone(),
    });
}

#[cfg(test)]
mod tests;
