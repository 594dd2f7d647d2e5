//! ACTIVE_3D as a protocol the server drives, one step at a time.
//!
//! Labels and timestamps from the client can be forged, and a video of the victim turning
//! their head contains frames for any pose. So the server reveals one step at a time (what to
//! do and how long to hold it), the page films it at a fixed cadence and uploads that step's
//! frames, and the server stamps them on receipt with its own clock. What a recording then has
//! to contain, in one continuous piece, is the random sequence itself: a head that moves from
//! where the last step ended to the new pose without jumps, holds it for the asked time, with
//! as many frames as the server's clock says were filmed, and the same face throughout.
//!
//! Pure state: the caller stores `ActiveChallenge` between requests and passes the time in
//! (milliseconds) and the randomness (`draw(n)` uniform in `0..n`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::texture::{self, PairTexture, Patch};
use super::{iou, ChallengeLimits, ChallengeResult, FrameObservation, HeadMove};
use crate::embed::Embedding;

/// How long a step may ask the user to hold a pose, milliseconds. Varying the hold makes a
/// recording's natural pauses fit only by chance.
pub const HOLDS_MS: [u32; 3] = [400, 800, 1200];

/// Why the protocol refused a request; nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("this session has had its {0} challenges: no more can be issued")]
    TooManyChallenges(u32),
    #[error("a challenge was issued {0} ms ago: wait before asking for another")]
    TooSoon(i64),
    #[error("the challenge has expired: ask for a new one")]
    Expired,
    #[error("every step of this challenge has been revealed")]
    NoMoreSteps,
    #[error("step {0} has not been answered yet")]
    Unanswered(usize),
    #[error("step {0} is not the step awaiting frames")]
    WrongStep(usize),
    #[error("send between 1 and {max} frames for a step ({sent} sent)")]
    FrameCount { sent: usize, max: usize },
}

/// What the store keeps about a session's challenges, to limit them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueHistory {
    pub issued: u32,
    pub last_issued_at: Option<i64>,
}

/// Head pose of one frame, as far as the checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Face box as fractions of the frame.
    pub bbox: [f32; 4],
    pub yaw: f32,
    pub roll: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepAnswer {
    /// Server time the frames arrived, milliseconds.
    pub received_at: i64,
    /// One per frame, in the order filmed; `None` where no face was found.
    pub poses: Vec<Option<Pose>>,
    /// Texture of each frame against the one before it (the first against the previous step's
    /// last frame); `None` where the patches could not be compared.
    pub textures: Vec<Option<PairTexture>>,
    /// The face embedding of one frame of the step, to check that one person did every step.
    pub identity: Option<Embedding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveStep {
    #[serde(rename = "move")]
    pub head: HeadMove,
    pub hold_ms: u32,
    pub revealed_at: i64,
    pub answer: Option<StepAnswer>,
}

/// One ACTIVE_3D challenge in progress. Holds a face embedding and one small face patch while
/// it lives: the store should keep it sealed and delete it once verified or expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveChallenge {
    pub id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Drawn at issue; what each step asks is drawn only when it is revealed.
    pub total_steps: usize,
    pub steps: Vec<ActiveStep>,
    /// The luma patch of the last frame received, compared with the next step's first frame.
    #[serde(default)]
    pub last_patch: Option<Patch>,
}

/// What the page is told when a step is revealed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reveal {
    pub challenge_id: String,
    pub step: usize,
    pub total_steps: usize,
    #[serde(rename = "move")]
    pub head: HeadMove,
    pub hold_ms: u32,
    /// Film one frame this often, from the reveal until the pose has been held.
    pub frame_interval_ms: u32,
    /// Server time by which the step's frames must have arrived.
    pub respond_by: i64,
}

impl ChallengeLimits {
    /// How many frames one step's upload may hold; the adapter checks it before decoding any.
    pub fn check_step_frames(&self, sent: usize) -> Result<(), ProtocolError> {
        let max = self.active_max_frames_per_step;
        if (1..=max).contains(&sent) {
            return Ok(());
        }
        Err(ProtocolError::FrameCount { sent, max })
    }
}

/// A new challenge, if the session may have one: at most `max_challenges` per session, at
/// least `min_issue_interval_ms` apart.
pub fn issue(
    id: String,
    now: i64,
    history: IssueHistory,
    draw: &mut dyn FnMut(u32) -> u32,
    limits: &ChallengeLimits,
) -> Result<ActiveChallenge, ProtocolError> {
    if history.issued >= limits.max_challenges {
        return Err(ProtocolError::TooManyChallenges(limits.max_challenges));
    }
    if let Some(last) = history.last_issued_at {
        let since = now - last;
        if since < i64::from(limits.min_issue_interval_ms) {
            return Err(ProtocolError::TooSoon(since));
        }
    }
    Ok(ActiveChallenge {
        id,
        issued_at: now,
        expires_at: now + i64::from(limits.active_expiry_ms),
        // A straight start (the reference pose) and two or three moves.
        total_steps: 3 + draw(2) as usize,
        steps: Vec::new(),
        last_patch: None,
    })
}

/// Reveals the next step: the first looks straight at the camera (the reference pose), each
/// later one moves somewhere else than the one before (left, right or back to the centre);
/// every hold is drawn from `HOLDS_MS`.
pub fn reveal_next(
    state: &mut ActiveChallenge,
    now: i64,
    draw: &mut dyn FnMut(u32) -> u32,
    limits: &ChallengeLimits,
) -> Result<Reveal, ProtocolError> {
    if now >= state.expires_at {
        return Err(ProtocolError::Expired);
    }
    if let Some(s) = state.steps.last() {
        if s.answer.is_none() {
            return Err(ProtocolError::Unanswered(state.steps.len() - 1));
        }
    }
    if state.steps.len() >= state.total_steps {
        return Err(ProtocolError::NoMoreSteps);
    }
    let head = match state.steps.last() {
        None => HeadMove::Straight,
        Some(prev) => {
            let others: Vec<HeadMove> = [HeadMove::Straight, HeadMove::Left, HeadMove::Right]
                .into_iter()
                .filter(|m| *m != prev.head)
                .collect();
            others[(draw(others.len() as u32) as usize) % others.len()]
        }
    };
    let hold_ms = HOLDS_MS[draw(HOLDS_MS.len() as u32) as usize % HOLDS_MS.len()];
    state.steps.push(ActiveStep {
        head,
        hold_ms,
        revealed_at: now,
        answer: None,
    });
    Ok(Reveal {
        challenge_id: state.id.clone(),
        step: state.steps.len() - 1,
        total_steps: state.total_steps,
        head,
        hold_ms,
        frame_interval_ms: limits.active_frame_interval_ms,
        respond_by: (now + i64::from(limits.active_step_timeout_ms)).min(state.expires_at),
    })
}

/// Records the frames of the step awaiting them, stamped `received_at` by the server. Whether
/// they show the step is judged by `verify`; refused here is only what cannot be recorded.
pub fn accept_step_frames(
    state: &mut ActiveChallenge,
    step: usize,
    frames: &[FrameObservation],
    identity: Option<Embedding>,
    received_at: i64,
    limits: &ChallengeLimits,
) -> Result<(), ProtocolError> {
    if received_at >= state.expires_at {
        return Err(ProtocolError::Expired);
    }
    let awaiting = state.steps.len().checked_sub(1);
    if awaiting != Some(step) || state.steps[step].answer.is_some() {
        return Err(ProtocolError::WrongStep(step));
    }
    limits.check_step_frames(frames.len())?;
    let mut textures = Vec::with_capacity(frames.len());
    let mut previous = state.last_patch.take();
    for f in frames {
        textures.push(
            previous
                .as_ref()
                .zip(f.patch.as_ref())
                .and_then(|(a, b)| texture::compare(a, b)),
        );
        previous = f.patch.clone();
    }
    state.last_patch = previous;
    state.steps[step].answer = Some(StepAnswer {
        received_at,
        poses: frames
            .iter()
            .map(|f| {
                f.face.map(|t| Pose {
                    bbox: t.bbox,
                    yaw: t.yaw,
                    roll: t.roll,
                })
            })
            .collect(),
        textures,
        identity,
    });
    Ok(())
}

/// The verdict once every step is answered.
pub fn verify(state: &ActiveChallenge, limits: &ChallengeLimits) -> ChallengeResult {
    if state.steps.len() < state.total_steps || state.steps.iter().any(|s| s.answer.is_none()) {
        return ChallengeResult::fail(format!(
            "the challenge was not finished ({} of {} steps answered)",
            state.steps.iter().filter(|s| s.answer.is_some()).count(),
            state.total_steps
        ));
    }
    let mut reasons = Vec::new();
    let mut ratio = f32::INFINITY;
    let mut measured = Vec::new();
    let mut baseline = None;
    let mut previous: Option<Pose> = None;
    let reference = state.steps[0]
        .answer
        .as_ref()
        .and_then(|a| a.identity.as_ref());
    for (i, s) in state.steps.iter().enumerate() {
        let a = s.answer.as_ref().expect("checked above");
        let mut fail = |r: String| reasons.push(format!("step {i}: {r}"));
        let Some(poses) = a.poses.iter().copied().collect::<Option<Vec<Pose>>>() else {
            fail("a frame without a face".into());
            ratio = 0.0;
            continue;
        };
        // Time, by the server's clock: no more frames than the cadence allows in the time the
        // step took, and no long unfilmed wait (time to search a recording or stretch it).
        let elapsed = a.received_at - s.revealed_at;
        let interval = i64::from(limits.active_frame_interval_ms);
        let most = elapsed / interval + 1;
        let least = (elapsed - i64::from(limits.active_upload_allowance_ms)) / interval;
        let n = poses.len() as i64;
        if elapsed > i64::from(limits.active_step_timeout_ms) {
            fail(format!(
                "the frames arrived {elapsed} ms after the step was shown"
            ));
            ratio = 0.0;
        }
        if n > most {
            fail(format!(
                "{n} frames arrived {elapsed} ms after the step was shown: at most {most} can have been filmed"
            ));
            ratio = ratio.min(most as f32 / n as f32);
        }
        if n < least {
            fail(format!(
                "only {n} frames for the {elapsed} ms the step took (at least {least})"
            ));
            ratio = ratio.min(n as f32 / least as f32);
        }
        // Continuous motion: from the last step's final frame, frame by frame.
        for (k, p) in poses.iter().enumerate() {
            if let Some(q) = previous {
                if let Some(jump) = jump(&q, p, limits) {
                    fail(format!("frame {k}: the head jumped ({jump})"));
                    ratio = 0.0;
                }
            }
            previous = Some(*p);
        }
        // The held pose: the frames covering `hold_ms` at the end of the step.
        let held = (s.hold_ms as usize).div_ceil(limits.active_frame_interval_ms as usize) + 1;
        if poses.len() < held {
            fail(format!(
                "{} frames cannot show a {} ms hold",
                poses.len(),
                s.hold_ms
            ));
            ratio = 0.0;
            continue;
        }
        let hold = &poses[poses.len() - held..];
        let mut yaws: Vec<f32> = hold.iter().map(|p| p.yaw).collect();
        yaws.sort_by(f32::total_cmp);
        let median = yaws[yaws.len() / 2];
        let wander = hold
            .iter()
            .map(|p| (p.yaw - median).abs())
            .fold(0.0, f32::max);
        if wander > limits.hold_max_yaw_wander {
            fail(format!(
                "the pose was not held for {} ms (yaw wandered {wander:.0}°)",
                s.hold_ms
            ));
            ratio = ratio.min(limits.hold_max_yaw_wander / wander);
        }
        let base = *baseline.get_or_insert(median);
        let rel = median - base;
        measured.push(json!({
            "step": i, "move": s.head, "hold_ms": s.hold_ms, "frames": poses.len(),
            "elapsed_ms": elapsed, "yaw": rel,
        }));
        match s.head {
            HeadMove::Straight if i == 0 => {
                ratio = ratio.min(limits.start_max_yaw / median.abs().max(0.1));
                if median.abs() > limits.start_max_yaw {
                    fail(format!(
                        "the face did not start looking at the camera (yaw {median:.0}°)"
                    ));
                }
            }
            HeadMove::Straight => {
                ratio = ratio.min(limits.straight_max_yaw / rel.abs().max(0.1));
                if rel.abs() > limits.straight_max_yaw {
                    fail(format!(
                        "the head stayed {:.0}° away from the centre",
                        rel.abs()
                    ));
                }
            }
            turn => {
                let reached = rel * turn.direction();
                ratio = ratio.min(reached / limits.turn_min_yaw);
                if reached < limits.turn_min_yaw {
                    fail(format!(
                        "the head turned {reached:.0}° {}, at least {}° needed",
                        if turn == HeadMove::Left {
                            "left"
                        } else {
                            "right"
                        },
                        limits.turn_min_yaw
                    ));
                }
            }
        }
        // A living face at rest still moves a little and the sensor's noise is fresh: held
        // frames (and the step's first frame, against the last step's final one) must be
        // neither copies nor copies with noise added.
        let pairs = (0..a.textures.len())
            .filter(|&k| k == 0 || k > poses.len() - held)
            .filter(|&k| !(i == 0 && k == 0));
        for k in pairs {
            match a.textures[k] {
                None => {
                    fail(format!(
                        "frame {k} could not be compared with the one before"
                    ));
                    ratio = 0.0;
                }
                Some(t) if t.residual < limits.min_frame_residual => {
                    fail(format!("frame {k} is a copy of the one before"));
                    ratio = ratio.min(t.residual / limits.min_frame_residual);
                }
                Some(t) if t.smoothness < limits.min_frame_smoothness => {
                    fail(format!(
                        "frame {k} differs from the one before by grainy noise, not motion (smoothness {:.2})",
                        t.smoothness
                    ));
                    ratio = ratio.min(t.smoothness / limits.min_frame_smoothness);
                }
                Some(_) => {}
            }
        }
        match (reference, a.identity.as_ref()) {
            (Some(r), Some(e)) => {
                let cos = r.cosine(e);
                ratio = ratio.min(cos / limits.min_identity_cosine);
                if cos < limits.min_identity_cosine {
                    fail(format!("another face than at the start (cosine {cos:.2})"));
                }
            }
            _ => {
                fail("the face could not be compared with the first step's".into());
                ratio = 0.0;
            }
        }
    }
    ChallengeResult::judged(ratio, reasons, json!({ "steps": measured }))
}

/// Why two consecutive frames cannot show one head moving for one frame interval, if so.
fn jump(a: &Pose, b: &Pose, limits: &ChallengeLimits) -> Option<String> {
    let dyaw = (b.yaw - a.yaw).abs();
    if dyaw > limits.max_yaw_per_frame {
        return Some(format!("yaw changed {dyaw:.0}°"));
    }
    let droll = (b.roll - a.roll).abs();
    if droll > limits.max_roll_per_frame {
        return Some(format!("roll changed {droll:.0}°"));
    }
    let size = (a.bbox[2] * a.bbox[3]).sqrt() / (b.bbox[2] * b.bbox[3]).sqrt().max(1e-6);
    let overlap = iou(&a.bbox, &b.bbox);
    if overlap < limits.min_box_iou
        || size > limits.max_size_ratio
        || size < 1.0 / limits.max_size_ratio
    {
        return Some(format!(
            "face box overlap {overlap:.2}, size ratio {size:.2}"
        ));
    }
    None
}

#[cfg(test)]
#[path = "active_tests.rs"]
mod tests;
