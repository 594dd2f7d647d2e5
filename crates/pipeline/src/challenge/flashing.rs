//! FLASHING: the screen shows a random sequence of colours and the face must reflect them the
//! way light from a screen a few tens of centimetres away falls on a three-dimensional head.
//! A still photo tinted in an image editor can follow the colours; what it cannot easily fake:
//!
//! - **falloff**: light from the screen falls off with the square of the distance, so the
//!   background behind the head changes far less than the face (a whole-image tint moves both
//!   alike);
//! - **relief**: the screen faces the user, so the nose and the forehead, facing it, catch more
//!   of its light than the sides of the cheeks, turned away (a tint painted over the face is
//!   even);
//! - **lag**: a frame grabbed the moment a colour is put on screen was exposed before it was
//!   shown, so it still shows the previous colour (a forger tinting each frame with the colour
//!   of its step shows it at once);
//! - **texture**: two frames of a real face under the same light differ by fresh sensor noise
//!   and by the small motion of a head never perfectly still; copies of one still differ by
//!   re-encoding, or by grainy added noise (`texture.rs`).
//!
//! The page sends two frames per step: the first grabbed as the colour is put on screen (the
//! onset frame), the second once the camera has caught up (the lit frame). The lit frame of
//! step k and the onset frame of step k+1 are lit by the same colour: that pair is the texture
//! evidence.

use image::RgbImage;
use serde_json::json;

use super::texture::{self, PairTexture};
use super::{centred, dot, ChallengeLimits, ChallengeResult, FaceTrack, FrameObservation, Step};
use crate::detect::Face;
use crate::imaging::luma;

/// Log-chromaticity of the regions of one frame that the checks compare.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Regions {
    /// Nose bridge, nose and the middle of the forehead: skin facing the screen.
    pub centre: Option<[f32; 3]>,
    /// The outer cheeks, beside the eyes and down to the mouth: skin turned away from it.
    pub sides: Option<[f32; 3]>,
    /// Left, right of and above the head, well clear of it (not below: the neck and shoulders
    /// are nearly as close to the screen as the face).
    pub background: Option<[f32; 3]>,
}

/// Pixel rectangles `[x0, y0, x1, y1)`.
type Rect = [f32; 4];

/// Mean colour of the cheeks and nose (eye line to mouth corners, between the eyes), as log
/// RGB minus its channel mean. Light of colour c at a share s of the illumination multiplies
/// each channel by (1 + s·c), so in log space the shift is about s·c whatever the skin tone.
pub fn skin_log_chroma(image: &RgbImage, face: &Face) -> Option<[f32; 3]> {
    let l = &face.landmarks;
    let eye_y = (l[0][1] + l[1][1]) / 2.0;
    let mouth_y = (l[3][1] + l[4][1]) / 2.0;
    let rect = [
        l[0][0].min(l[1][0]),
        eye_y + 0.3 * (mouth_y - eye_y),
        l[0][0].max(l[1][0]),
        mouth_y,
    ];
    region_log_chroma(image, &[rect], 1)
}

pub fn regions(image: &RgbImage, face: &Face) -> Regions {
    let l = &face.landmarks;
    let d = ((l[1][0] - l[0][0]).powi(2) + (l[1][1] - l[0][1]).powi(2))
        .sqrt()
        .max(1.0);
    let (left_eye_x, right_eye_x) = (l[0][0].min(l[1][0]), l[0][0].max(l[1][0]));
    let eye_y = (l[0][1] + l[1][1]) / 2.0;
    let mid_x = (l[0][0] + l[1][0]) / 2.0;
    let (nose_x, nose_y) = (l[2][0], l[2][1]);
    let mouth_y = (l[3][1] + l[4][1]) / 2.0;
    let centre = [
        // Nose bridge down to the tip.
        [
            nose_x - 0.15 * d,
            eye_y + 0.1 * d,
            nose_x + 0.15 * d,
            nose_y,
        ],
        // Middle of the forehead.
        [
            mid_x - 0.3 * d,
            eye_y - 0.65 * d,
            mid_x + 0.3 * d,
            eye_y - 0.3 * d,
        ],
    ];
    let sides = [
        [
            left_eye_x - 0.5 * d,
            nose_y - 0.1 * d,
            left_eye_x - 0.2 * d,
            mouth_y,
        ],
        [
            right_eye_x + 0.2 * d,
            nose_y - 0.1 * d,
            right_eye_x + 0.5 * d,
            mouth_y,
        ],
    ];
    // Clear of the head by a third of its width; hair reaches about half a face above the box.
    let margin = face.width / 3.0;
    let w = image.width() as f32;
    let top = (face.y - face.height * 0.5 - margin).max(0.0);
    let bottom = face.y + face.height;
    let background = [
        [0.0, 0.0, face.x - margin, bottom],
        [face.x + face.width + margin, 0.0, w, bottom],
        [face.x - margin, 0.0, face.x + face.width + margin, top],
    ];
    Regions {
        centre: region_log_chroma(image, &centre, 1),
        sides: region_log_chroma(image, &sides, 1),
        background: region_log_chroma(image, &background, 2),
    }
}

/// Log RGB minus its channel mean of the mean colour of `rects` (every `stride`-th pixel),
/// leaving out shadows (mostly noise) and clipped highlights (no colour); `None` with fewer
/// than 30 usable pixels.
fn region_log_chroma(image: &RgbImage, rects: &[Rect], stride: usize) -> Option<[f32; 3]> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let mut sum = [0.0f64; 3];
    let mut n = 0u32;
    for r in rects {
        let (x0, y0) = (r[0].max(0.0) as u32, r[1].max(0.0) as u32);
        let (x1, y1) = (r[2].min(w).max(0.0) as u32, r[3].min(h).max(0.0) as u32);
        for y in (y0..y1).step_by(stride) {
            for x in (x0..x1).step_by(stride) {
                let p = image.get_pixel(x, y).0;
                if !(20.0..=245.0).contains(&luma(p)) {
                    continue;
                }
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
                n += 1;
            }
        }
    }
    if n < 30 {
        return None;
    }
    let logs = sum.map(|s| ((s / f64::from(n)) as f32 + 1.0).ln());
    let mean = logs.iter().sum::<f32>() / 3.0;
    Some(logs.map(|v| v - mean))
}

/// A frame's observed and expected colour, both centred log chromaticity.
type Pair = ([f32; 3], [f32; 3]);

/// Correlation and gain of observed colour changes (each frame minus the mean of all) on the
/// expected ones. A static face correlates with nothing; a face lit by the screen follows it.
fn regress(pairs: &[Pair]) -> Option<(f32, f32)> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f32;
    let mean = |pick: fn(&Pair) -> [f32; 3]| {
        let mut m = [0.0; 3];
        for p in pairs {
            let v = pick(p);
            for c in 0..3 {
                m[c] += v[c] / n;
            }
        }
        m
    };
    let (mo, me) = (mean(|p| p.0), mean(|p| p.1));
    let (mut oe, mut oo, mut ee) = (0.0, 0.0, 0.0);
    for (o, e) in pairs {
        let o = [o[0] - mo[0], o[1] - mo[1], o[2] - mo[2]];
        let e = [e[0] - me[0], e[1] - me[1], e[2] - me[2]];
        oe += dot(&o, &e);
        oo += dot(&o, &o);
        ee += dot(&e, &e);
    }
    if ee <= 1e-9 {
        return None;
    }
    Some((oe / (oo * ee).sqrt().max(1e-9), oe / ee))
}

/// The colour on screen while a frame was exposed: the onset frame of a step (its first)
/// still shows the previous step's colour (black before the first), later frames the step's.
fn expected_colours(steps: &[Step], frames: &[FrameObservation]) -> Vec<Option<[f32; 3]>> {
    let colour = |i: usize| match steps.get(i) {
        Some(Step::Flash { colour, .. }) => Some(centred(colour.rgb())),
        _ => None,
    };
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let onset = i == 0 || frames[i - 1].step != f.step;
            if onset {
                if f.step == 0 {
                    Some([0.0; 3])
                } else {
                    colour(f.step - 1)
                }
            } else {
                colour(f.step)
            }
        })
        .collect()
}

/// Correlation and gain of the skin colour on the colours on screen, the onset frames counted
/// as showing the previous colour. `None` with fewer than three measurable frames.
pub fn flash_response(steps: &[Step], frames: &[FrameObservation]) -> Option<(f32, f32)> {
    response(steps, frames, |t| t.chroma)
}

fn response(
    steps: &[Step],
    frames: &[FrameObservation],
    pick: impl Fn(&FaceTrack) -> Option<[f32; 3]>,
) -> Option<(f32, f32)> {
    let expected = expected_colours(steps, frames);
    let pairs: Vec<Pair> = frames
        .iter()
        .zip(expected)
        .filter_map(|(f, e)| Some((pick(f.face.as_ref()?)?, e?)))
        .collect();
    regress(&pairs)
}

/// Everything the FLASHING verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FlashFigures {
    pub correlation: f32,
    pub gain: f32,
    /// Background gain over face gain: near 0 for a real screen, near 1 for a tinted picture.
    pub background_ratio: Option<f32>,
    /// Centre gain over sides gain: above 1 on a 3-D face lit from the front, 1 for a flat
    /// tint.
    pub relief: Option<f32>,
    /// Mean over steps after the first of where the onset frame's colour lies between the
    /// previous lit frame's (+1) and its own step's (-1).
    pub lag: Option<f32>,
    /// The median over same-light pairs (lit frame of step k, onset frame of step k+1).
    pub texture: Option<PairTexture>,
}

pub fn figures(steps: &[Step], frames: &[FrameObservation]) -> Option<FlashFigures> {
    let (correlation, gain) = flash_response(steps, frames)?;
    let region =
        |pick: fn(&FaceTrack) -> Option<[f32; 3]>| response(steps, frames, pick).map(|(_, g)| g);
    let background_ratio = region(|t| t.regions.background).map(|g| g / gain.max(1e-6));
    let relief = match (region(|t| t.regions.centre), region(|t| t.regions.sides)) {
        (Some(c), Some(s)) if s > 1e-4 => Some(c / s),
        (Some(c), Some(_)) if c > 1e-4 => Some(f32::INFINITY),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    Some(FlashFigures {
        correlation,
        gain,
        background_ratio,
        relief,
        lag: lag(frames),
        texture: texture(frames),
    })
}

/// Frame indices of each step's first (onset) and last (lit) frame.
fn onset_and_lit(frames: &[FrameObservation]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        match out.last_mut() {
            Some(last) if frames[last.0].step == f.step => last.1 = i,
            _ => out.push((i, i)),
        }
    }
    out
}

fn lag(frames: &[FrameObservation]) -> Option<f32> {
    let chroma = |i: usize| frames[i].face.as_ref().and_then(|t| t.chroma);
    let steps = onset_and_lit(frames);
    let mut sum = 0.0;
    let mut n = 0;
    for w in steps.windows(2) {
        let (prev_lit, (onset, lit)) = (w[0].1, w[1]);
        if onset == lit {
            continue;
        }
        let (Some(p), Some(o), Some(c)) = (chroma(prev_lit), chroma(onset), chroma(lit)) else {
            continue;
        };
        let span = dist2(&p, &c);
        if span < 1e-6 {
            continue;
        }
        sum += ((dist2(&o, &c) - dist2(&o, &p)) / span).clamp(-1.0, 1.0);
        n += 1;
    }
    (n > 0).then(|| sum / n as f32)
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|c| (a[c] - b[c]).powi(2)).sum()
}

fn texture(frames: &[FrameObservation]) -> Option<PairTexture> {
    let steps = onset_and_lit(frames);
    let mut pairs: Vec<PairTexture> = steps
        .windows(2)
        .filter_map(|w| {
            let (lit, next_onset) = (w[0].1, w[1].0);
            texture::compare(
                frames[lit].patch.as_ref()?,
                frames[next_onset].patch.as_ref()?,
            )
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.motion.total_cmp(&b.motion));
    let motion = pairs[pairs.len() / 2].motion;
    pairs.sort_by(|a, b| a.smoothness.total_cmp(&b.smoothness));
    let smoothness = pairs[pairs.len() / 2].smoothness;
    pairs.sort_by(|a, b| a.residual.total_cmp(&b.residual));
    Some(PairTexture {
        residual: pairs[pairs.len() / 2].residual,
        motion,
        smoothness,
    })
}

pub fn verify(
    steps: &[Step],
    frames: &[FrameObservation],
    limits: &ChallengeLimits,
) -> ChallengeResult {
    let tracks: Vec<&FaceTrack> = frames.iter().filter_map(|f| f.face.as_ref()).collect();
    let (lo, hi) = tracks
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), t| {
            (lo.min(t.yaw), hi.max(t.yaw))
        });
    if hi - lo > limits.flash_max_yaw_spread {
        return ChallengeResult::fail(format!(
            "the head moved during the flashes (yaw spanned {:.0}°, at most {}° allowed)",
            hi - lo,
            limits.flash_max_yaw_spread
        ));
    }
    if onset_and_lit(frames).iter().any(|(a, b)| a == b) {
        return ChallengeResult::fail(
            "each colour needs two frames: one as it appears and one once it is shown",
        );
    }
    let Some(f) = figures(steps, frames) else {
        return ChallengeResult::fail(
            "the skin colour could not be measured on enough frames (too dark or too bright)",
        );
    };
    // Each figure as a ratio to its threshold (≥ 1 passes); the weakest sets the score.
    let mut ratios = vec![
        f.correlation / limits.flash_min_correlation,
        f.gain / limits.flash_min_gain,
    ];
    let mut reasons = Vec::new();
    if f.correlation < limits.flash_min_correlation {
        reasons.push(format!(
            "the face's colour did not follow the flashed colours (correlation {:.2}, at least {} needed)",
            f.correlation, limits.flash_min_correlation
        ));
    }
    if f.gain < limits.flash_min_gain {
        reasons.push(format!(
            "the face barely reflected the flashed colours (gain {:.3}, at least {} needed)",
            f.gain, limits.flash_min_gain
        ));
    }
    match f.background_ratio {
        None => reasons.push("the background beside the head could not be measured".into()),
        Some(r) => {
            ratios.push(limits.flash_max_background_ratio / r.max(1e-3));
            if r > limits.flash_max_background_ratio {
                reasons.push(format!(
                    "the background changed colour as much as the face ({:.0} %, at most {:.0} % for a screen's light)",
                    r * 100.0,
                    limits.flash_max_background_ratio * 100.0
                ));
            }
        }
    }
    match f.relief {
        None => reasons.push("the nose and cheeks could not be measured".into()),
        Some(r) => {
            ratios.push(r / limits.flash_min_relief);
            if r < limits.flash_min_relief {
                reasons.push(format!(
                    "the light fell evenly over the face, as on a flat picture (centre/sides {r:.2}, at least {} for a face)",
                    limits.flash_min_relief
                ));
            }
        }
    }
    match f.lag {
        None => reasons.push("no frame caught a colour as it appeared".into()),
        Some(l) => {
            ratios.push((1.0 + l) / (1.0 + limits.flash_min_lag));
            if l < limits.flash_min_lag {
                reasons.push(format!(
                    "the face showed each colour before the camera could have seen it (lag {l:.2}, at least {} needed)",
                    limits.flash_min_lag
                ));
            }
        }
    }
    match f.texture {
        None => reasons.push("consecutive frames could not be compared".into()),
        Some(t) => {
            ratios.push(t.residual / limits.min_frame_residual);
            ratios.push(t.smoothness / limits.min_frame_smoothness);
            if t.residual < limits.min_frame_residual {
                reasons.push(format!(
                    "consecutive frames are copies of one image (difference {:.2} grey levels, at least {} from a camera)",
                    t.residual, limits.min_frame_residual
                ));
            } else if t.smoothness < limits.min_frame_smoothness {
                reasons.push(format!(
                    "consecutive frames differ by grainy noise, not by a face moving (smoothness {:.2}, at least {})",
                    t.smoothness, limits.min_frame_smoothness
                ));
            }
        }
    }
    let r = ratios.into_iter().fold(f32::INFINITY, f32::min);
    ChallengeResult::judged(r, reasons, json!(f))
}
