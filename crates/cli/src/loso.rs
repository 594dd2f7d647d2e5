//! Per-source figures and leave-one-source-out evaluation of liveness. Scores are margins over
//! the operating point (live when positive), so scores from different folds pool honestly.

use std::collections::BTreeMap;

use facegate_pipeline::spoof::fusion::logit;
use facegate_pipeline::spoof::Fusion;
use serde::Serialize;

use crate::calibrate::{fit, threshold_at, trainable, FitOptions};
use crate::measure::Row;
use crate::metrics::{apcer_at_bpcer, rates_at};

/// Error rates of one group at the operating point, and its ROC at two BPCERs.
#[derive(Debug, Serialize)]
pub struct GroupFigures {
    pub live: usize,
    pub spoof: usize,
    /// Spoofs accepted at the operating point (null without spoofs).
    pub apcer: Option<f64>,
    /// Live rejected at the operating point (null without live rows).
    pub bpcer: Option<f64>,
    /// APCER with the threshold moved (within this group) to reject at most 5 % / 10 % of its
    /// live rows; null unless the group has both classes.
    pub apcer_at_bpcer_5: Option<f64>,
    pub apcer_at_bpcer_10: Option<f64>,
}

impl GroupFigures {
    pub fn of(live: &[f32], spoof: &[f32]) -> GroupFigures {
        let r = rates_at(live, spoof, 0.0);
        let both = !live.is_empty() && !spoof.is_empty();
        GroupFigures {
            live: live.len(),
            spoof: spoof.len(),
            apcer: (!spoof.is_empty()).then_some(r.false_accept),
            bpcer: (!live.is_empty()).then_some(r.false_reject),
            apcer_at_bpcer_5: both.then(|| apcer_at_bpcer(live, spoof, 0.05)),
            apcer_at_bpcer_10: both.then(|| apcer_at_bpcer(live, spoof, 0.10)),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Breakdown {
    pub all: GroupFigures,
    pub by_kind: BTreeMap<String, GroupFigures>,
    pub by_source: BTreeMap<String, SourceFigures>,
}

#[derive(Debug, Serialize)]
pub struct SourceFigures {
    pub all: GroupFigures,
    pub by_kind: BTreeMap<String, GroupFigures>,
}

#[derive(Default)]
struct Split {
    live: Vec<f32>,
    spoof: Vec<f32>,
}

impl Split {
    fn push(&mut self, live: bool, margin: f32) {
        if live {
            self.live.push(margin)
        } else {
            self.spoof.push(margin)
        }
    }
    fn figures(&self) -> GroupFigures {
        GroupFigures::of(&self.live, &self.spoof)
    }
}

/// Figures overall, per kind, per source and per source and kind, from one margin per row.
pub fn breakdown(rows: &[Row], margins: &[f32]) -> Breakdown {
    let mut all = Split::default();
    let mut kinds: BTreeMap<&str, Split> = BTreeMap::new();
    let mut sources: BTreeMap<&str, (Split, BTreeMap<&str, Split>)> = BTreeMap::new();
    for (row, &m) in rows.iter().zip(margins) {
        all.push(row.live, m);
        kinds.entry(&row.kind).or_default().push(row.live, m);
        let s = sources.entry(&row.source).or_default();
        s.0.push(row.live, m);
        s.1.entry(&row.kind).or_default().push(row.live, m);
    }
    Breakdown {
        all: all.figures(),
        by_kind: kinds
            .into_iter()
            .map(|(k, s)| (k.to_owned(), s.figures()))
            .collect(),
        by_source: sources
            .into_iter()
            .map(|(name, (s, kinds))| {
                (
                    name.to_owned(),
                    SourceFigures {
                        all: s.figures(),
                        by_kind: kinds
                            .into_iter()
                            .map(|(k, s)| (k.to_owned(), s.figures()))
                            .collect(),
                    },
                )
            })
            .collect(),
    }
}

/// Rows without a face (or unreadable) are never live.
const NO_FACE: f32 = -1e3;

/// Today's ensemble as a fitted method: the same score the pipeline uses without fusion (mean
/// of both models, V2 alone on a tight capture), with each regime's threshold chosen by the same
/// rule as the fusion's.
fn ensemble_logit(row: &Row) -> Option<(bool, f64)> {
    row.raw.as_ref().map(|l| {
        (
            l.tight,
            f64::from(logit(l.v1se.map_or(l.v2, |b| (l.v2 + b) / 2.0))),
        )
    })
}

fn baseline_thresholds(train: &[&Row], opts: &FitOptions) -> (f64, f64) {
    let pick = |tight: bool, bpcer: f64| {
        let rows: Vec<&Row> = train
            .iter()
            .copied()
            .filter(|r| trainable(r) && ensemble_logit(r).is_some_and(|(t, _)| t == tight))
            .collect();
        // Source-balanced, as the fusion's threshold.
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.live) {
            *counts.entry(&r.source).or_default() += 1;
        }
        let mut live: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.live)
            .map(|r| {
                (
                    ensemble_logit(r).unwrap().1,
                    1.0 / counts[r.source.as_str()] as f64,
                )
            })
            .collect();
        threshold_at(&mut live, bpcer)
    };
    (pick(false, opts.full_bpcer), pick(true, opts.tight_bpcer))
}

fn fused_margin(fusion: &Fusion, row: &Row) -> f32 {
    row.raw.as_ref().map_or(NO_FACE, |l| fusion.margin(l, 0.0))
}

/// Margins of every row, each scored by a model fitted without its source.
pub fn held_out_margins(rows: &[Row], opts: &FitOptions) -> (Vec<f32>, Vec<f32>) {
    let mut sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
    sources.sort();
    sources.dedup();
    let (mut fused, mut base) = (vec![NO_FACE; rows.len()], vec![NO_FACE; rows.len()]);
    for source in sources {
        let train: Vec<&Row> = rows.iter().filter(|r| r.source != source).collect();
        let fusion = fit(&train, opts);
        let (full_t, tight_t) = baseline_thresholds(&train, opts);
        for (i, row) in rows.iter().enumerate().filter(|(_, r)| r.source == source) {
            fused[i] = fused_margin(&fusion, row);
            if let Some((tight, z)) = ensemble_logit(row) {
                base[i] = (z - if tight { tight_t } else { full_t }) as f32;
            }
        }
    }
    (fused, base)
}

#[derive(Serialize)]
pub struct LosoReport {
    /// How the held-out scores were made.
    pub protocol: &'static str,
    pub full_inputs: Vec<String>,
    pub tight_inputs: Vec<String>,
    /// Today's MiniFASNet ensemble, thresholds refitted per fold by the same rule.
    pub baseline: Breakdown,
    pub fusion: Breakdown,
    /// Each input's contribution: the fusion's pooled held-out figures without it.
    pub without_input: BTreeMap<String, Ablation>,
}

#[derive(Serialize)]
pub struct Ablation {
    pub all: GroupFigures,
    pub video_frame: Option<GroupFigures>,
    pub face_crop: Option<GroupFigures>,
    pub sample_image: Option<GroupFigures>,
}

pub fn run(rows: &[Row], opts: &FitOptions, ablation: bool) -> LosoReport {
    let (fused, base) = held_out_margins(rows, opts);
    let mut without_input = BTreeMap::new();
    if ablation {
        let mut names: Vec<String> = opts
            .full_inputs
            .iter()
            .chain(&opts.tight_inputs)
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut o = opts.clone();
            o.full_inputs.retain(|i| *i != name);
            o.tight_inputs.retain(|i| *i != name);
            let (m, _) = held_out_margins(rows, &o);
            let mut b = breakdown(rows, &m);
            let mut kind = |k: &str| b.by_kind.remove(k);
            without_input.insert(
                name,
                Ablation {
                    video_frame: kind("video_frame"),
                    face_crop: kind("face_crop"),
                    sample_image: kind("sample_image"),
                    all: b.all,
                },
            );
        }
    }
    LosoReport {
        protocol: "leave one source (subject) out: for each source, fusion and thresholds are \
                   fitted on the other sources' rows (never on \"evaluation only\" rows) and the \
                   held-out source is scored with them; figures come from the pooled held-out \
                   margins. apcer_at_bpcer_* move the threshold within the group.",
        full_inputs: opts.full_inputs.clone(),
        tight_inputs: opts.tight_inputs.clone(),
        baseline: breakdown(rows, &base),
        fusion: breakdown(rows, &fused),
        without_input,
    }
}
