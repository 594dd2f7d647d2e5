//! `facegate search-thresholds`: the cosine thresholds of 1:N search for a target FPIR
//! (crates/pipeline/src/search_thresholds.json).
//!
//! Every image of `faces/manifest.csv` is embedded as the service embeds a capture
//! (`eval::analyse_all`, the path `eval-pairs` takes), and every pair of images compared: pairs
//! of different identities are impostors, of the same identity genuine. A gallery of N faces
//! meets N impostors per search, so an FPIR target needs FMR ≤ FPIR / N, down to 1e-7 for
//! 1 % at 100k, below what ~3 million pairs can show. Such thresholds come from a generalised
//! Pareto tail fitted to the highest impostor cosines and checked against the measured counts.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use facegate_pipeline::search::{FaceIndex, QUANTISATION_MARGIN};
use facegate_pipeline::search_thresholds::{
    GalleryThresholds, OperatingPoint, QuantisationError, SearchThresholds, TailModel, TailStep,
};
use facegate_pipeline::{Embedding, Pipeline, Want};
use serde::{Deserialize, Serialize};

use crate::eval::{analyse_all, column, read_csv};

pub const GALLERY_SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// FACE_IN_BLOCKLIST / DUPLICATED_FACE: one search in a hundred flags a stranger.
const MATCH_FPIR: f64 = 0.01;
/// The POSSIBLE_ warnings, for review: one search in ten.
const POSSIBLE_FPIR: f64 = 0.10;
/// The tail model is fitted to impostor cosines above this quantile (the top 0.1 %).
const TAIL_QUANTILE: f64 = 1e-3;

/// Manifest images and their embeddings (None: no face found), as cached between runs.
#[derive(Serialize, Deserialize)]
pub struct Embedded {
    pub flip_embeddings: bool,
    /// (path, identity, source, embedding)
    pub images: Vec<(String, String, String, Option<Vec<f32>>)>,
}

pub fn default_cache() -> PathBuf {
    std::env::temp_dir().join("facegate-manifest-embeddings.json")
}

/// Embeds the manifest, or reads the cache when it holds exactly these images embedded the
/// same way. The cache does not track the model file: delete it after changing models.
pub fn embed_manifest(data: &Path, cache: &Path, pipeline: &Pipeline) -> Result<Embedded, String> {
    let faces = data.join("faces");
    let rows = read_csv(&faces.join("manifest.csv"), None)?;
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        listed.push((
            column(row, "path")?.to_owned(),
            column(row, "identity")?.to_owned(),
            column(row, "source")?.to_owned(),
        ));
    }
    let flip = pipeline.config.flip_embeddings;
    if let Some(cached) = read_cache(cache) {
        let same = cached.flip_embeddings == flip
            && cached.images.len() == listed.len()
            && cached
                .images
                .iter()
                .zip(&listed)
                .all(|(c, l)| (&c.0, &c.1, &c.2) == (&l.0, &l.1, &l.2));
        if same {
            eprintln!("search-thresholds: embeddings from {}", cache.display());
            return Ok(cached);
        }
    }
    let paths: Vec<String> = listed.iter().map(|l| l.0.clone()).collect();
    eprintln!("search-thresholds: embedding {} images", paths.len());
    let want = Want {
        embedding: true,
        liveness: false,
    };
    let analyses = analyse_all(pipeline, &faces, &paths, want);
    let images = listed
        .into_iter()
        .map(|(path, identity, source)| {
            let e = match analyses.get(&path) {
                Some(Ok(a)) => a.subject.as_ref().and_then(|s| s.embedding.clone()),
                Some(Err(e)) => {
                    eprintln!("  error: {path}: {e}");
                    None
                }
                None => None,
            };
            (path, identity, source, e.map(|e| e.0))
        })
        .collect();
    let embedded = Embedded {
        flip_embeddings: flip,
        images,
    };
    let text = serde_json::to_string(&embedded).map_err(|e| e.to_string())?;
    std::fs::write(cache, text).map_err(|e| format!("{}: {e}", cache.display()))?;
    Ok(embedded)
}

fn read_cache(path: &Path) -> Option<Embedded> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub fn measure(data: &Path, cache: &Path, pipeline: &Pipeline) -> Result<SearchThresholds, String> {
    let cal = &pipeline.config.calibration;
    let embedded = embed_manifest(data, cache, pipeline)?;
    let no_face = embedded.images.iter().filter(|i| i.3.is_none()).count();
    let faces: Vec<Face> = embedded
        .images
        .iter()
        .filter_map(|(_, who, source, e)| {
            Some(Face {
                who,
                source,
                embedding: Embedding::from_raw(e.clone()?)?,
            })
        })
        .collect();
    let identities: BTreeSet<&str> = faces.iter().map(|f| f.who).collect();

    let (mut impostor, mut genuine, mut cross_source) = (Vec::new(), Vec::new(), 0);
    for (i, a) in faces.iter().enumerate() {
        for b in &faces[i + 1..] {
            let c = a.embedding.cosine(&b.embedding);
            if a.who == b.who {
                genuine.push(c)
            } else if a.source == b.source {
                impostor.push(c)
            } else {
                // Identities are named per source: deepface's Angelina, Jennifer and subject 11
                // are LFW's Angelina Jolie, Jennifer Aniston and Matt Damon, and counted as
                // impostors they made ~100 of the highest "impostor" cosines (up to 0.91).
                cross_source += 1;
            }
        }
    }
    impostor.sort_unstable_by(|a, b| b.total_cmp(a));
    genuine.sort_unstable_by(f32::total_cmp);
    let pairs = impostor.len();
    if pairs < 10_000 || genuine.is_empty() {
        return Err(format!(
            "{pairs} impostor and {} genuine pairs: too few to set thresholds",
            genuine.len()
        ));
    }
    eprintln!(
        "search-thresholds: {} faces, {pairs} impostor pairs, {} genuine pairs",
        faces.len(),
        genuine.len()
    );
    let above = |t: f32| impostor.partition_point(|&c| c > t);
    let at_or_below = |t: f32| genuine.partition_point(|&c| c <= t);
    let smallest = 3.0 / pairs as f64;
    let model = fit_tail(&impostor);

    let point = |n: usize, fpir: f64| -> OperatingPoint {
        let fmr = fpir / n as f64;
        let model_cosine = model.cosine_at(fmr);
        // At most floor(fmr·pairs) impostors may lie above: the cosine of the next one down.
        let measured = (fmr >= smallest).then(|| impostor[(fmr * pairs as f64) as usize]);
        let floor = impostor[(smallest * pairs as f64) as usize];
        let (cosine, source) = match measured {
            Some(m) if (m - model_cosine).abs() <= 0.005 => {
                (m.max(model_cosine), "measured and model")
            }
            Some(m) if m > model_cosine => (m, "measured"),
            Some(_) => (model_cosine, "model"),
            None if model_cosine >= floor => (model_cosine, "model"),
            None => (floor, "measured at the smallest measurable FMR"),
        };
        OperatingPoint {
            fpir,
            fmr,
            cosine: round4(cosine),
            score: cal.match_score(cosine),
            fnir: at_or_below(cosine) as f64 / genuine.len() as f64,
            measured_cosine: measured.map(round4),
            model_cosine: round4(model_cosine),
            impostors_above: above(cosine),
            source: source.into(),
        }
    };
    let galleries = GALLERY_SIZES
        .iter()
        .map(|&n| GalleryThresholds {
            gallery_size: n,
            match_: point(n, MATCH_FPIR),
            possible: point(n, POSSIBLE_FPIR),
        })
        .collect();
    let tail = (10..=40)
        .map(|i| {
            let t = i as f32 * 0.02;
            TailStep {
                cosine: round4(t),
                impostor_above: above(t),
                genuine_at_or_below: at_or_below(t),
            }
        })
        .collect();

    Ok(SearchThresholds {
        measured: crate::error_rates::today(),
        command: "facegate search-thresholds ../shared/data \
                  --out crates/pipeline/src/search_thresholds.json"
            .into(),
        data: "faces/manifest.csv: LFW and deepface images; every pair of images of one source \
               compared, genuine when their identities are the same, impostor when they differ; \
               pairs across sources left out (identities are named per source and overlap)"
            .into(),
        images: faces.len(),
        identities: identities.len(),
        no_face,
        impostor_pairs: pairs,
        genuine_pairs: genuine.len(),
        smallest_measurable_fmr: smallest,
        excluded_cross_source_pairs: cross_source,
        max_impostor_cosine: round4(impostor[0]),
        policy: format!(
            "A face is reported when its exact cosine is above `cosine`, set for FMR = FPIR / N \
             (N·FMR ≥ 1-(1-FMR)^N, so the FPIR is at most the target). Where the pairs can vouch \
             for the FMR (≥ {smallest:.1e}), the stricter of the measured threshold and the tail \
             model's; below it, the tail model's, never below the threshold measured at \
             {smallest:.1e}. FNIR is the share of genuine pairs at or below `cosine`: a search \
             with one image of the person enrolled, on LFW's mostly frontal press photos \
             (selfies against an enrolment selfie should fare better)."
        ),
        tail_model: model,
        quantisation: quantisation_error(&faces),
        tail,
        galleries,
    })
}

struct Face<'a> {
    who: &'a str,
    source: &'a str,
    embedding: Embedding,
}

fn round4(x: f32) -> f32 {
    (x * 1e4).round() / 1e4
}

/// A generalised Pareto tail over the top TAIL_QUANTILE of `descending`, by probability-weighted
/// moments (Hosking & Wallis 1987), which unlike maximum likelihood needs no iteration and is
/// stable for a few thousand exceedances. A negative fitted shape (a tail bounded below 1)
/// would let the thresholds for unmeasurable FMRs flatten out on the strength of the fit alone;
/// the shape is clamped to 0 (exponential tail, scale refitted as the mean exceedance), which
/// gives stricter thresholds for them.
fn fit_tail(descending: &[f32]) -> TailModel {
    let pairs = descending.len();
    let n = ((pairs as f64 * TAIL_QUANTILE) as usize).clamp(50, pairs - 1);
    let u = f64::from(descending[n]);
    // Exceedances in ascending order for the plotting positions.
    let y: Vec<f64> = descending[..n]
        .iter()
        .rev()
        .map(|&c| f64::from(c) - u)
        .collect();
    let a0 = y.iter().sum::<f64>() / n as f64;
    let a1 = y
        .iter()
        .enumerate()
        .map(|(i, v)| (1.0 - (i as f64 + 0.65) / n as f64) * v)
        .sum::<f64>()
        / n as f64;
    let fitted_shape = 2.0 - a0 / (a0 - 2.0 * a1);
    let (shape, scale) = if fitted_shape >= 0.0 {
        (fitted_shape, 2.0 * a0 * a1 / (a0 - 2.0 * a1))
    } else {
        (0.0, a0)
    };
    let mut model = TailModel {
        description: format!(
            "generalised Pareto over the top {TAIL_QUANTILE} of impostor cosines, fitted by \
             probability-weighted moments; shape clamped to >= 0 (fitted {fitted_shape:.3}), so \
             the tail is never assumed to end before cosine 1"
        ),
        threshold: (u * 1e6).round() / 1e6,
        exceedances: n,
        exceedance_rate: n as f64 / pairs as f64,
        scale: (scale * 1e6).round() / 1e6,
        shape: (shape * 1e4).round() / 1e4,
        fitted_shape: (fitted_shape * 1e4).round() / 1e4,
        check: Vec::new(),
    };
    // The model against the counts it was fitted to and beyond, down to a few pairs.
    let mut t = (u * 50.0).ceil() / 50.0;
    loop {
        let measured = descending.partition_point(|&c| f64::from(c) > t);
        model.check.push((
            round4(t as f32),
            measured,
            (model.fmr(t) * pairs as f64 * 100.0).round() / 100.0,
        ));
        if measured == 0 {
            break;
        }
        t += 0.02;
    }
    model
}

/// The int8 index's estimate against the exact cosine, over every pair of faces.
fn quantisation_error(faces: &[Face]) -> QuantisationError {
    let mut index = FaceIndex::new();
    for (i, e) in faces.iter().map(|f| &f.embedding).enumerate() {
        // Every embedding here came from `Embedding::from_raw`, so it is a valid template.
        let _ = index.insert(&i.to_string(), e);
    }
    let (mut max, mut sum, mut n) = (0f32, 0f64, 0usize);
    for (i, e) in faces.iter().map(|f| &f.embedding).enumerate() {
        let hits = index.search(e, faces.len(), -1.0).unwrap_or_default();
        for h in hits {
            let j: usize = h.id.parse().unwrap_or(usize::MAX);
            if let Some(f) = faces.get(j).filter(|_| j > i) {
                let err = (h.cosine - e.cosine(&f.embedding)).abs();
                max = max.max(err);
                sum += f64::from(err);
                n += 1;
            }
        }
    }
    QuantisationError {
        pairs: n,
        max_abs: (max * 1e5).round() / 1e5,
        mean_abs: ((sum / n.max(1) as f64) * 1e5).round() as f32 / 1e5,
        margin: QUANTISATION_MARGIN,
    }
}

/// The cached embeddings, for the search benchmark.
pub fn cached_embeddings(cache: &Path) -> Option<Vec<Embedding>> {
    let cached = read_cache(cache)?;
    let map: HashMap<String, Embedding> = cached
        .images
        .into_iter()
        .filter_map(|(p, _, _, e)| Some((p, Embedding::from_raw(e?)?)))
        .collect();
    let mut v: Vec<(String, Embedding)> = map.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Some(v.into_iter().map(|x| x.1).collect())
}
