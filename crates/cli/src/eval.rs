//! Evaluation on labelled data at the shipped thresholds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use facegate_pipeline::{Analysis, Pipeline, Want};
use serde::Serialize;

use crate::calibrate::FitOptions;
use crate::loso::{self, LosoReport, SourceFigures as SourceBreakdown};
use crate::measure;
use crate::metrics::{accuracy, best_accuracy, eer, frr_at_far, rates_at};

/// Runs `analyse` on every distinct path on all cores, reporting progress on stderr (also how
/// `search-thresholds` embeds the manifest, so its faces are those `eval-pairs` scores).
pub fn analyse_all(
    pipeline: &Pipeline,
    root: &Path,
    paths: &[String],
    want: Want,
) -> HashMap<String, Result<Analysis, String>> {
    let mut unique: Vec<&String> = paths.iter().collect();
    unique.sort();
    unique.dedup();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(HashMap::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = unique.get(i) else { break };
                let full: PathBuf = root.join(path);
                let result = std::fs::read(&full)
                    .map_err(|e| format!("{}: {e}", full.display()))
                    .and_then(|bytes| pipeline.analyze(&bytes, want).map_err(|e| e.to_string()));
                if (i + 1).is_multiple_of(100) || i + 1 == unique.len() {
                    eprintln!("  {}/{} images", i + 1, unique.len());
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((*path).clone(), result);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn write_scores(path: Option<&Path>, csv: &str) -> Result<(), String> {
    match path {
        Some(p) => std::fs::write(p, csv).map_err(|e| format!("{}: {e}", p.display())),
        None => Ok(()),
    }
}

pub fn read_csv(path: &Path, limit: Option<usize>) -> Result<Vec<HashMap<String, String>>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let mut rows = Vec::new();
    for record in reader.records().take(limit.unwrap_or(usize::MAX)) {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect(),
        );
    }
    Ok(rows)
}

pub fn column<'a>(row: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    row.get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("CSV lacks the column `{name}`"))
}

#[derive(Serialize)]
pub struct PairsReport {
    pairs: usize,
    genuine: usize,
    impostor: usize,
    /// Shipped cosine threshold: a pair matches (Approved) above it.
    threshold: f32,
    accuracy: f64,
    fnmr: f64,
    fmr: f64,
    #[serde(rename = "fnmr_at_fmr_0.001")]
    fnmr_at_fmr_0_001: f64,
    eer: f64,
    /// Pairs where either image had no detectable face (scored as non-matching).
    no_face: usize,
    errors: usize,
    /// For information: the best accuracy any threshold would reach on this set.
    oracle_accuracy: f64,
    oracle_threshold: f32,
    by_source: BTreeMap<String, SourceFigures>,
}

#[derive(Serialize)]
struct SourceFigures {
    pairs: usize,
    accuracy: f64,
    fnmr: f64,
    fmr: f64,
}

/// One pair of `pairs.csv` and the cosine similarity of its faces (-1 when either image had
/// no detectable face: scored as non-matching).
pub struct ScoredPair {
    pub path_a: String,
    pub path_b: String,
    pub same: bool,
    pub source: String,
    pub cosine: f32,
}

/// Embeds every image of the pairs file once and scores each pair. Also returns how many
/// images could not be analysed.
pub fn score_pairs(
    pipeline: &Pipeline,
    csv: &Path,
    root: &Path,
    limit: Option<usize>,
) -> Result<(Vec<ScoredPair>, usize), String> {
    let rows = read_csv(csv, limit)?;
    let mut paths = Vec::new();
    for row in &rows {
        paths.push(column(row, "path_a")?.to_owned());
        paths.push(column(row, "path_b")?.to_owned());
    }
    eprintln!("eval-pairs: {} pairs, {} images", rows.len(), {
        let mut p = paths.clone();
        p.sort();
        p.dedup();
        p.len()
    });
    let analyses = analyse_all(
        pipeline,
        root,
        &paths,
        Want {
            embedding: true,
            liveness: false,
        },
    );
    let embedding = |p: &str| {
        analyses
            .get(p)
            .and_then(|r| r.as_ref().ok())
            .and_then(|a| a.subject.as_ref())
            .and_then(|s| s.embedding.clone())
    };
    let mut scored = Vec::with_capacity(rows.len());
    for row in &rows {
        let (a, b) = (column(row, "path_a")?, column(row, "path_b")?);
        scored.push(ScoredPair {
            path_a: a.to_owned(),
            path_b: b.to_owned(),
            same: column(row, "same")? == "1",
            source: row.get("source").cloned().unwrap_or_else(|| "all".into()),
            cosine: match (embedding(a), embedding(b)) {
                (Some(x), Some(y)) => x.cosine(&y),
                _ => -1.0,
            },
        });
    }
    for (path, result) in &analyses {
        if let Err(e) = result {
            eprintln!("  error: {path}: {e}");
        }
    }
    Ok((scored, analyses.values().filter(|r| r.is_err()).count()))
}

pub fn pairs(
    pipeline: &Pipeline,
    csv: &Path,
    root: &Path,
    limit: Option<usize>,
    scores_out: Option<&Path>,
) -> Result<PairsReport, String> {
    let (scored, errors) = score_pairs(pipeline, csv, root, limit)?;
    let threshold = pipeline.config.calibration.match_cosine;
    let (mut genuine, mut impostor, mut no_face) = (Vec::new(), Vec::new(), 0);
    let mut per_source: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    let mut scores = String::from("path_a,path_b,same,similarity\n");
    for p in &scored {
        let score = p.cosine;
        no_face += (score == -1.0) as usize;
        scores.push_str(&format!(
            "{},{},{},{score}\n",
            p.path_a, p.path_b, p.same as u8
        ));
        let entry = per_source.entry(p.source.clone()).or_default();
        if p.same {
            genuine.push(score);
            entry.0.push(score);
        } else {
            impostor.push(score);
            entry.1.push(score);
        }
    }
    write_scores(scores_out, &scores)?;
    let at = rates_at(&genuine, &impostor, threshold);
    let (oracle_threshold, oracle_accuracy) = best_accuracy(&genuine, &impostor);
    Ok(PairsReport {
        pairs: scored.len(),
        genuine: genuine.len(),
        impostor: impostor.len(),
        threshold,
        accuracy: accuracy(&genuine, &impostor, threshold),
        fnmr: at.false_reject,
        fmr: at.false_accept,
        fnmr_at_fmr_0_001: frr_at_far(&genuine, &impostor, 0.001).1,
        eer: eer(&genuine, &impostor),
        no_face,
        errors,
        oracle_accuracy,
        oracle_threshold,
        by_source: per_source
            .into_iter()
            .map(|(source, (g, i))| {
                let r = rates_at(&g, &i, threshold);
                (
                    source,
                    SourceFigures {
                        pairs: g.len() + i.len(),
                        accuracy: accuracy(&g, &i, threshold),
                        fnmr: r.false_reject,
                        fmr: r.false_accept,
                    },
                )
            })
            .collect(),
    })
}

#[derive(Serialize)]
pub struct LivenessReport {
    live: usize,
    spoof: usize,
    /// "fusion" (MiniFASNet + artefact features) or "minifasnet_ensemble" (fusion off).
    method: &'static str,
    /// Shipped live-probability threshold: live above it (without fusion; a fused score is
    /// centred on its operating point, 0.5).
    threshold: f32,
    /// The same for tight captures (face filling the frame), without fusion.
    tight_threshold: f32,
    /// Captures treated as tight.
    tight: usize,
    /// Attack presentations accepted as live.
    apcer: f64,
    /// Live presentations rejected.
    bpcer: f64,
    acer: f64,
    /// Images where no face was found (never live).
    no_face: usize,
    errors: usize,
    by_kind: BTreeMap<String, KindFigures>,
    /// Per source, overall and per kind, at the shipped operating point, with each group's
    /// APCER at BPCER 5 % / 10 %.
    by_source: BTreeMap<String, SourceBreakdown>,
    /// Leave-one-source-out evaluation (with --loso).
    #[serde(skip_serializing_if = "Option::is_none")]
    loso: Option<LosoReport>,
    /// Rows sharing a `clip` value judged as one multi-frame capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    captures: Option<crate::captures::CapturesReport>,
}

#[derive(Serialize)]
struct KindFigures {
    live: usize,
    spoof: usize,
    apcer: f64,
    bpcer: f64,
    no_face: usize,
    live_no_face: usize,
    apcer_at_bpcer_5: Option<f64>,
    apcer_at_bpcer_10: Option<f64>,
}

pub struct LivenessOptions<'a> {
    pub limit: Option<usize>,
    pub scores_out: Option<&'a Path>,
    pub cache: Option<&'a Path>,
    /// Leave-one-source-out with these fit options, and whether to ablate each input.
    pub loso: Option<(FitOptions, bool)>,
}

pub fn liveness(
    pipeline: &Pipeline,
    csv: &Path,
    root: &Path,
    opts: &LivenessOptions,
) -> Result<LivenessReport, String> {
    let rows = measure::measure(pipeline, csv, root, opts.limit, opts.cache)?;
    eprintln!("eval-liveness: {} images", rows.len());
    let calibration = &pipeline.config.calibration;
    // Decide exactly as the service does: live when the 0-100 score clears the policy's
    // decline threshold, which the calibration maps to the applicable probability threshold.
    let score_threshold = pipeline.config.policy.liveness_decline_threshold;
    let mut tight = 0;
    let mut margins = Vec::with_capacity(rows.len());
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut no_face, mut errors) = (0, 0);
    let mut scores =
        String::from("path,label,kind,source,score,live_probability,v2,v1se,tight,fused\n");
    for row in &rows {
        errors += row.error.is_some() as usize;
        // No face, or an image we could not read, is never live.
        let measured = row.raw.map(|raw| pipeline.fuse(raw));
        tight += measured.is_some_and(|l| l.tight) as usize;
        let score = measured.map_or(-1.0, |l| calibration.liveness_score(&l) as f32);
        let (p, v2, v1se, t, fused) = measured.map_or((-1.0, -1.0, -1.0, false, f32::NAN), |l| {
            (
                l.live,
                l.v2,
                l.v1se.unwrap_or(-1.0),
                l.tight,
                l.fused.unwrap_or(f32::NAN),
            )
        });
        scores.push_str(&format!(
            "{},{},{},{},{score},{p},{v2},{v1se},{t},{fused}\n",
            row.path,
            if row.live { "live" } else { "spoof" },
            row.kind,
            row.source,
        ));
        if score < 0.0 {
            no_face += 1;
            let kind = kinds.entry(row.kind.clone()).or_default();
            kind.0 += 1;
            kind.1 += row.live as usize;
        }
        margins.push(score - score_threshold);
    }
    write_scores(opts.scores_out, &scores)?;
    let b = loso::breakdown(&rows, &margins);
    let (apcer, bpcer) = (b.all.apcer.unwrap_or(0.0), b.all.bpcer.unwrap_or(0.0));
    // Rows sharing a `clip` are also judged together, as one multi-frame capture.
    let captures = crate::captures::evaluate(pipeline, &read_csv(csv, opts.limit)?, root)?;
    Ok(LivenessReport {
        captures,
        live: b.all.live,
        spoof: b.all.spoof,
        method: if pipeline.fusion().is_some() {
            "fusion"
        } else {
            "minifasnet_ensemble"
        },
        threshold: calibration.live_probability,
        tight_threshold: calibration.tight_live_probability,
        tight,
        apcer,
        bpcer,
        acer: (apcer + bpcer) / 2.0,
        no_face,
        errors,
        by_kind: b
            .by_kind
            .into_iter()
            .map(|(kind, g)| {
                let (nf, lnf) = kinds.get(&kind).copied().unwrap_or_default();
                (
                    kind,
                    KindFigures {
                        live: g.live,
                        spoof: g.spoof,
                        apcer: g.apcer.unwrap_or(0.0),
                        bpcer: g.bpcer.unwrap_or(0.0),
                        no_face: nf,
                        live_no_face: lnf,
                        apcer_at_bpcer_5: g.apcer_at_bpcer_5,
                        apcer_at_bpcer_10: g.apcer_at_bpcer_10,
                    },
                )
            })
            .collect(),
        by_source: b.by_source,
        loso: opts
            .loso
            .as_ref()
            .map(|(fit, ablate)| loso::run(&rows, fit, *ablate)),
    })
}
