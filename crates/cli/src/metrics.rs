//! Error rates from scored, labelled comparisons. Higher score = more likely genuine/live.

use serde::Serialize;

/// Rates at one threshold: accept when `score > threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    /// Genuine (or live) samples rejected, as a fraction.
    pub false_reject: f64,
    /// Impostor (or spoof) samples accepted, as a fraction.
    pub false_accept: f64,
}

pub fn rates_at(genuine: &[f32], impostor: &[f32], threshold: f32) -> Rates {
    let frac = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Rates {
        false_reject: frac(
            genuine.iter().filter(|&&s| s <= threshold).count(),
            genuine.len(),
        ),
        false_accept: frac(
            impostor.iter().filter(|&&s| s > threshold).count(),
            impostor.len(),
        ),
    }
}

/// The lowest threshold whose false-accept rate is at most `max_far`, and the false-reject
/// rate there.
pub fn frr_at_far(genuine: &[f32], impostor: &[f32], max_far: f64) -> (f32, f64) {
    let mut sorted: Vec<f32> = impostor.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // Accepting the k highest impostors keeps FAR at k / n.
    let k = (max_far * sorted.len() as f64).floor() as usize;
    let threshold = sorted.get(k).copied().unwrap_or(f32::NEG_INFINITY);
    (
        threshold,
        rates_at(genuine, impostor, threshold).false_reject,
    )
}

/// APCER with the threshold set to reject at most `max_bpcer` of the live scores (accept when
/// `score > threshold`, as in [`rates_at`]).
pub fn apcer_at_bpcer(live: &[f32], spoof: &[f32], max_bpcer: f64) -> f64 {
    let mut sorted = live.to_vec();
    sorted.sort_by(f32::total_cmp);
    // Rejecting the k lowest live scores keeps BPCER at k / n; ties at the k-th are accepted.
    let k = (max_bpcer * sorted.len() as f64).floor() as usize;
    let threshold = sorted.get(k).map_or(f32::INFINITY, |s| s.next_down());
    rates_at(live, spoof, threshold).false_accept
}

/// Equal error rate: the mean of FAR and FRR where they are closest, over all thresholds.
pub fn eer(genuine: &[f32], impostor: &[f32]) -> f64 {
    let mut best = (f64::INFINITY, 0.0);
    for &t in genuine.iter().chain(impostor) {
        for t in [t, t - 1e-6] {
            let r = rates_at(genuine, impostor, t);
            let gap = (r.false_accept - r.false_reject).abs();
            if gap < best.0 {
                best = (gap, (r.false_accept + r.false_reject) / 2.0);
            }
        }
    }
    best.1
}

/// Threshold with the best accuracy, for information only: shipped thresholds are never fitted
/// on the set being reported.
pub fn best_accuracy(genuine: &[f32], impostor: &[f32]) -> (f32, f64) {
    let mut best = (0.0, 0.0);
    for &t in genuine.iter().chain(impostor) {
        let acc = accuracy(genuine, impostor, t);
        if acc > best.1 {
            best = (t, acc);
        }
    }
    best
}

pub fn accuracy(genuine: &[f32], impostor: &[f32], threshold: f32) -> f64 {
    let correct = genuine.iter().filter(|&&s| s > threshold).count()
        + impostor.iter().filter(|&&s| s <= threshold).count();
    correct as f64 / (genuine.len() + impostor.len()).max(1) as f64
}

pub fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted_ms.len() - 1) as f64).round() as usize;
    sorted_ms[rank.min(sorted_ms.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENUINE: [f32; 5] = [0.9, 0.8, 0.7, 0.6, 0.2];
    const IMPOSTOR: [f32; 5] = [0.1, 0.15, 0.3, 0.35, 0.65];

    #[test]
    fn rates_and_accuracy() {
        let r = rates_at(&GENUINE, &IMPOSTOR, 0.5);
        assert_eq!((r.false_reject, r.false_accept), (0.2, 0.2));
        assert_eq!(accuracy(&GENUINE, &IMPOSTOR, 0.5), 0.8);
        let (t, acc) = best_accuracy(&GENUINE, &IMPOSTOR);
        assert_eq!(acc, 0.8);
        assert!((0.35..0.6).contains(&t));
    }

    #[test]
    fn frr_at_zero_far_sits_above_every_impostor() {
        let (t, frr) = frr_at_far(&GENUINE, &IMPOSTOR, 0.0);
        assert_eq!(t, 0.65);
        assert_eq!(frr, 0.4);
        let (t, frr) = frr_at_far(&GENUINE, &IMPOSTOR, 0.2);
        assert_eq!(t, 0.35);
        assert_eq!(frr, 0.2);
    }

    #[test]
    fn apcer_at_a_bpcer_moves_the_threshold_under_the_live_scores() {
        // 5 live: 10 % allows no rejection, so the threshold sits just under 0.2.
        assert_eq!(apcer_at_bpcer(&GENUINE, &IMPOSTOR, 0.1), 0.6);
        // 20 % rejects 0.2: the threshold sits just under 0.6.
        assert_eq!(apcer_at_bpcer(&GENUINE, &IMPOSTOR, 0.2), 0.2);
    }

    #[test]
    fn eer_of_separable_and_overlapping_sets() {
        assert_eq!(eer(&[0.9, 0.8], &[0.1, 0.2]), 0.0);
        assert!((eer(&GENUINE, &IMPOSTOR) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
