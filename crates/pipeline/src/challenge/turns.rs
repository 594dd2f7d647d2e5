//! ACTIVE_3D on frames the page labelled with their step, all sent at the end: the path the
//! hosted page uses until the step-by-step protocol (`active.rs`) is wired in. Labels and
//! order come from the client, so a recording cut to fit passes here (see `active.rs`).

use serde_json::json;

use super::{ChallengeLimits, ChallengeResult, FaceTrack, HeadMove, Step};

pub(super) fn verify(
    steps: &[Step],
    tracks: &[(usize, FaceTrack)],
    limits: &ChallengeLimits,
) -> ChallengeResult {
    let yaws = |step: usize| -> Vec<f32> {
        tracks
            .iter()
            .filter(|(s, _)| *s == step)
            .map(|(_, t)| t.yaw)
            .collect()
    };
    // The starting pose is the reference: a camera off to one side shifts every yaw alike.
    let mut start = yaws(0);
    start.sort_by(f32::total_cmp);
    let Some(&baseline) = start.get(start.len() / 2) else {
        return ChallengeResult::fail("no frame for step 0");
    };
    let mut reasons = Vec::new();
    let mut r = limits.start_max_yaw / baseline.abs().max(0.1);
    if baseline.abs() > limits.start_max_yaw {
        reasons.push(format!(
            "the face did not start looking at the camera (yaw {baseline:.0}°)"
        ));
    }
    let mut measured = Vec::new();
    for (i, step) in steps.iter().enumerate().skip(1) {
        let Step::Turn { head } = step else {
            return ChallengeResult::fail(format!("step {i} is not a head move"));
        };
        let rel: Vec<f32> = yaws(i).into_iter().map(|y| y - baseline).collect();
        if *head == HeadMove::Straight {
            let dev = rel.iter().map(|d| d.abs()).fold(f32::INFINITY, f32::min);
            r = r.min(limits.straight_max_yaw / dev.max(0.1));
            measured.push(json!({ "step": i, "move": head, "yaw": dev }));
            if dev > limits.straight_max_yaw {
                reasons.push(format!(
                    "step {i} (look straight): the head stayed {dev:.0}° away from the start"
                ));
            }
        } else {
            let peak = rel
                .iter()
                .map(|d| d * head.direction())
                .fold(f32::NEG_INFINITY, f32::max);
            r = r.min(peak / limits.turn_min_yaw);
            measured.push(json!({ "step": i, "move": head, "yaw": peak }));
            if peak < limits.turn_min_yaw {
                reasons.push(format!(
                    "step {i} (turn {}): the head turned {peak:.0}° that way, at least {}° needed",
                    if *head == HeadMove::Left {
                        "left"
                    } else {
                        "right"
                    },
                    limits.turn_min_yaw
                ));
            }
        }
    }
    ChallengeResult::judged(
        r,
        reasons,
        json!({ "start_yaw": baseline, "steps": measured }),
    )
}
