//! `facegate calibrate`: fits the liveness fusion (L2 logistic regression per regime, source-
//! balanced) and its operating thresholds on labelled data, deterministically, and writes the
//! file the pipeline embeds (crates/pipeline/src/fusion.json).

use std::collections::BTreeMap;

use facegate_pipeline::spoof::fusion::{input, Provenance, Regime};
use facegate_pipeline::spoof::Fusion;

use crate::measure::{sha256_of, Row};

/// The inputs and thresholds rule of a fit. The defaults are the shipped choice; the evidence
/// for each input is `eval-liveness --loso`'s ablation (see CALIBRATION.md).
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub full_inputs: Vec<String>,
    pub tight_inputs: Vec<String>,
    pub l2: f64,
    /// Operating points: the threshold rejects this fraction of the (source-balanced) live
    /// training rows of each regime.
    pub full_bpcer: f64,
    pub tight_bpcer: f64,
}

pub const FULL_INPUTS: &[&str] = &["v2", "v1se", "chroma_std"];
pub const TIGHT_INPUTS: &[&str] = &["v2", "blue_cast", "chroma_std"];

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            full_inputs: FULL_INPUTS.iter().map(|s| s.to_string()).collect(),
            tight_inputs: TIGHT_INPUTS.iter().map(|s| s.to_string()).collect(),
            l2: 1.0,
            full_bpcer: 0.05,
            tight_bpcer: 0.10,
        }
    }
}

impl FitOptions {
    /// Adds the operator's model as an input of both regimes.
    pub fn with_extra(mut self) -> Self {
        for inputs in [&mut self.full_inputs, &mut self.tight_inputs] {
            if !inputs.iter().any(|i| i == "extra") {
                inputs.push("extra".into());
            }
        }
        self
    }
}

/// Rows a fit may use: measured, and not marked "evaluation only".
pub fn trainable(row: &Row) -> bool {
    row.raw.is_some() && !row.eval_only
}

/// Each row weighs 1 / (rows of its source and label), so a source with 70 frames counts as
/// much as one with 5: the fit should learn what screens have in common, not one source.
fn balanced_weights(rows: &[&Row]) -> Vec<f64> {
    let mut counts: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    for r in rows {
        *counts.entry((r.source.as_str(), r.live)).or_default() += 1;
    }
    let groups = counts.len().max(1) as f64;
    rows.iter()
        .map(|r| rows.len() as f64 / groups / counts[&(r.source.as_str(), r.live)] as f64)
        .collect()
}

fn inputs_of(row: &Row, names: &[String]) -> Vec<Option<f64>> {
    let raw = row.raw.as_ref().expect("measured row");
    names.iter().map(|n| input(raw, n).map(f64::from)).collect()
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (a is small and SPD here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            continue;
        }
        for row in col + 1..n {
            let f = a[row][col] / d;
            let (upper, lower) = a.split_at_mut(row);
            for (x, p) in lower[0][col..n].iter_mut().zip(&upper[col][col..n]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| a[i][k] * x[k]).sum();
        x[i] = if a[i][i].abs() < 1e-12 {
            0.0
        } else {
            (b[i] - s) / a[i][i]
        };
    }
    x
}

/// The weighted quantile of the live rows' scores at `bpcer`: the threshold rejecting that
/// share of live weight.
pub fn threshold_at(live: &mut [(f64, f64)], bpcer: f64) -> f64 {
    live.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = live.iter().map(|l| l.1).sum();
    let mut acc = 0.0;
    for (i, &(s, w)) in live.iter().enumerate() {
        acc += w;
        if acc > bpcer * total {
            // Between the last rejected and the first accepted score.
            return if i == 0 {
                s - 1e-3
            } else {
                (live[i - 1].0 + s) / 2.0
            };
        }
    }
    live.last().map_or(0.0, |l| l.0)
}

/// Fits one regime on `rows` (already restricted to it and to trainable rows).
pub fn fit_regime(rows: &[&Row], names: &[String], l2: f64, bpcer: f64, rule: &str) -> Regime {
    let p = names.len();
    let x: Vec<Vec<Option<f64>>> = rows.iter().map(|r| inputs_of(r, names)).collect();
    let weights = balanced_weights(rows);
    let mut mean = vec![0.0; p];
    let mut scale = vec![1.0; p];
    for j in 0..p {
        let v: Vec<f64> = x.iter().filter_map(|r| r[j]).collect();
        if v.is_empty() {
            continue;
        }
        mean[j] = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|a| (a - mean[j]).powi(2)).sum::<f64>() / v.len() as f64;
        scale[j] = var.sqrt().max(1e-6);
    }
    // Standardised design with a leading 1 for the bias; missing inputs sit at the mean.
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|r| {
            std::iter::once(1.0)
                .chain((0..p).map(|j| r[j].map_or(0.0, |v| (v - mean[j]) / scale[j])))
                .collect()
        })
        .collect();
    let y: Vec<f64> = rows.iter().map(|r| f64::from(u8::from(r.live))).collect();
    // Newton's method (IRLS) from zero, a fixed number of steps: deterministic and converged
    // long before the end on problems this small.
    let mut beta = vec![0.0; p + 1];
    for _ in 0..30 {
        let mut grad = vec![0.0; p + 1];
        let mut hess = vec![vec![0.0; p + 1]; p + 1];
        for ((zi, &yi), &wi) in z.iter().zip(&y).zip(&weights) {
            let eta: f64 = zi.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let mu = 1.0 / (1.0 + (-eta).exp());
            let s = (mu * (1.0 - mu)).max(1e-9);
            for a in 0..=p {
                grad[a] += wi * (mu - yi) * zi[a];
                for b in 0..=p {
                    hess[a][b] += wi * s * zi[a] * zi[b];
                }
            }
        }
        for a in 1..=p {
            grad[a] += l2 * beta[a];
            hess[a][a] += l2;
        }
        let step = solve(hess, grad);
        for (b, s) in beta.iter_mut().zip(step) {
            *b -= s;
        }
    }
    let mut live: Vec<(f64, f64)> = z
        .iter()
        .zip(rows)
        .zip(&weights)
        .filter(|((_, r), _)| r.live)
        .map(|((zi, _), &w)| (zi.iter().zip(&beta).map(|(a, b)| a * b).sum(), w))
        .collect();
    let threshold = threshold_at(&mut live, bpcer);
    let f = |v: f64| v as f32;
    Regime {
        inputs: names.to_vec(),
        mean: mean.into_iter().map(f).collect(),
        scale: scale.into_iter().map(f).collect(),
        weights: beta[1..].iter().copied().map(f).collect(),
        bias: f(beta[0]),
        threshold: f(threshold),
        threshold_rule: rule.to_owned(),
    }
}

/// Fits both regimes on the trainable rows among `rows`.
pub fn fit(rows: &[&Row], opts: &FitOptions) -> Fusion {
    let train: Vec<&Row> = rows.iter().copied().filter(|r| trainable(r)).collect();
    let (tight_rows, full_rows): (Vec<&Row>, Vec<&Row>) = train
        .iter()
        .partition(|r| r.raw.as_ref().is_some_and(|l| l.tight));
    let rule = |b: f64, what: &str| {
        format!(
            "rejects {:.0} % of the source-balanced live {what} it was fitted on",
            b * 100.0
        )
    };
    let digest_rows: String = train.iter().map(|r| format!("{}\n", r.canonical)).collect();
    let digest_files: String = train
        .iter()
        .map(|r| format!("{}\n", r.file_sha256))
        .collect();
    let mut sources: Vec<String> = train.iter().map(|r| r.source.clone()).collect();
    sources.sort();
    sources.dedup();
    Fusion {
        method: format!(
            "logistic regression per regime, L2 {} on standardised inputs, each source and label \
             weighted equally, Newton 30 steps",
            opts.l2
        ),
        data: Provenance {
            rows_sha256: sha256_of(&digest_rows),
            files_sha256: sha256_of(&digest_files),
            rows: train.len(),
            sources,
            excluded: "rows whose note says \"evaluation only\" (NUAA/CASIA-derived), and rows \
                       without a detected face"
                .into(),
        },
        full: fit_regime(
            &full_rows,
            &opts.full_inputs,
            opts.l2,
            opts.full_bpcer,
            &rule(opts.full_bpcer, "full frames"),
        ),
        tight: fit_regime(
            &tight_rows,
            &opts.tight_inputs,
            opts.l2,
            opts.tight_bpcer,
            &rule(opts.tight_bpcer, "tight crops"),
        ),
    }
}

/// The file as committed: pretty JSON with a final newline.
pub fn to_file(fusion: &Fusion) -> Result<String, String> {
    serde_json::to_string_pretty(fusion)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_small_system() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]);
        assert!(
            (x[0] - 0.8).abs() < 1e-9 && (x[1] - 1.4).abs() < 1e-9,
            "{x:?}"
        );
    }

    #[test]
    fn threshold_rejects_the_asked_share() {
        let mut live: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        let t = threshold_at(&mut live, 0.2);
        assert_eq!(t, 1.5);
    }
}
