//! The measured error-rate curves of the scores on the API's 0-100 scale: at each whole
//! threshold, how many impostor pairs / spoof images score above it (accepted) and how many
//! genuine pairs / live images score at or below it (refused), exactly as the decision
//! compares (`decide::face_match`, `decide::liveness_check`). Written by `facegate error-rates`
//! (crates/cli/src/error_rates.rs) into `error_rates.json`; see CALIBRATION.md.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whole thresholds 0..=100: each curve has this many points.
pub const STEPS: usize = 101;

const SHIPPED_JSON: &str = include_str!("error_rates.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRates {
    /// The day the curves were measured (UTC, YYYY-MM-DD).
    pub measured: String,
    /// How to measure them again.
    pub command: String,
    pub face_match: FaceMatchCurve,
    pub liveness: LivenessCurves,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceMatchCurve {
    pub data: String,
    pub genuine: usize,
    pub impostor: usize,
    /// Pairs where either image had no detectable face (score 0).
    pub no_face: usize,
    /// At threshold t (the index): impostor pairs scoring above t.
    pub impostor_above: Vec<usize>,
    /// At threshold t: genuine pairs scoring at or below t.
    pub genuine_at_or_below: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessCurves {
    pub data: String,
    pub protocol: String,
    /// `all`, and each kind of image (`video_frame`, `face_crop`, `sample_image`).
    pub groups: BTreeMap<String, LivenessCurve>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LivenessCurve {
    pub live: usize,
    pub spoof: usize,
    /// At threshold t: spoof images scoring above t (APCER's numerator).
    pub spoof_above: Vec<usize>,
    /// At threshold t: live images scoring at or below t (BPCER's numerator).
    pub live_at_or_below: Vec<usize>,
}

/// False accepts and false rejects at one threshold, as fractions of their sets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    /// FMR (face match) or APCER (liveness).
    pub false_accept: f64,
    /// FNMR or BPCER.
    pub false_reject: f64,
    /// Impostor pairs or spoof images measured.
    pub negatives: usize,
    /// Genuine pairs or live images measured.
    pub positives: usize,
}

/// The shipped curves, parsed once.
pub fn shipped() -> &'static ErrorRates {
    static SHIPPED: std::sync::OnceLock<ErrorRates> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        serde_json::from_str(SHIPPED_JSON).expect("the committed error_rates.json parses")
    })
}

/// `counts[t] / total` at a threshold between whole steps, linearly between its neighbours:
/// scores carry two decimals, so the steps bracket the exact count.
fn interpolate(counts: &[usize], total: usize, threshold: f64) -> f64 {
    if total == 0 || counts.is_empty() {
        return 0.0;
    }
    let last = counts.len() - 1;
    let t = threshold.clamp(0.0, last as f64);
    let (lo, hi) = (t.floor() as usize, (t.ceil() as usize).min(last));
    let frac = t - lo as f64;
    (counts[lo] as f64 * (1.0 - frac) + counts[hi] as f64 * frac) / total as f64
}

impl FaceMatchCurve {
    /// FMR (impostors above) and FNMR (genuine at or below) at `threshold`.
    pub fn at(&self, threshold: f64) -> Rates {
        Rates {
            false_accept: interpolate(&self.impostor_above, self.impostor, threshold),
            false_reject: interpolate(&self.genuine_at_or_below, self.genuine, threshold),
            negatives: self.impostor,
            positives: self.genuine,
        }
    }
}

impl LivenessCurve {
    /// APCER (spoofs above) and BPCER (live at or below) at `threshold`.
    pub fn at(&self, threshold: f64) -> Rates {
        Rates {
            false_accept: interpolate(&self.spoof_above, self.spoof, threshold),
            false_reject: interpolate(&self.live_at_or_below, self.live, threshold),
            negatives: self.spoof,
            positives: self.live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_curves_are_whole_and_monotonic() {
        let r = shipped();
        let f = &r.face_match;
        let mono = |v: &[usize], total: usize, rising: bool| {
            assert_eq!(v.len(), STEPS);
            assert!(v.iter().all(|&n| n <= total));
            assert!(v
                .windows(2)
                .all(|w| if rising { w[0] <= w[1] } else { w[0] >= w[1] }));
        };
        mono(&f.impostor_above, f.impostor, false);
        mono(&f.genuine_at_or_below, f.genuine, true);
        assert!(r.liveness.groups.contains_key("all"));
        for g in r.liveness.groups.values() {
            mono(&g.spoof_above, g.spoof, false);
            mono(&g.live_at_or_below, g.live, true);
        }
    }

    #[test]
    fn between_steps_the_rate_lies_between_its_neighbours() {
        let f = &shipped().face_match;
        let (a, b, mid) = (f.at(60.0), f.at(61.0), f.at(60.5));
        assert!(mid.false_accept <= a.false_accept && mid.false_accept >= b.false_accept);
        assert!(mid.false_reject >= a.false_reject && mid.false_reject <= b.false_reject);
        assert_eq!(f.at(-5.0), f.at(0.0));
        assert_eq!(f.at(250.0), f.at(100.0));
    }
}
