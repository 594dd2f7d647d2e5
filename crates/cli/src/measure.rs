//! One model pass over a liveness labels file, cached: every raw signal (MiniFASNet, the
//! operator's model, the artefact features) per image, so leave-one-source-out refits and
//! calibration cost no further inference.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use facegate_pipeline::{select_subject, LivenessScore, Pipeline, Want};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::eval::{column, read_csv};

/// One labelled image and what was measured on it.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub live: bool,
    pub source: String,
    pub kind: String,
    /// SOURCES.md marks it "evaluation only": measure on it, never fit on it.
    pub eval_only: bool,
    /// The row's fields joined by U+001F: what the fusion's provenance hash covers.
    pub canonical: String,
    pub file_sha256: String,
    /// Raw, unfused signals; None when no face was found or the image could not be read.
    pub raw: Option<LivenessScore>,
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    sha256: String,
    raw: Option<LivenessScore>,
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    /// What the measurements depend on besides the image bytes.
    fingerprint: String,
    images: HashMap<String, Cached>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_of(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

/// Everything besides the image that changes a measurement: the liveness and detector
/// configuration, the operator's model spec and the feature list.
fn fingerprint(pipeline: &Pipeline) -> String {
    let c = &pipeline.config;
    sha256_of(
        &serde_json::json!({
            "version": 1,
            "crate": env!("CARGO_PKG_VERSION"),
            "detector": c.detector,
            "decode": c.decode,
            "liveness": c.liveness,
            "extra": c.extra_liveness_model,
            "features": facegate_pipeline::spoof::FEATURE_NAMES,
        })
        .to_string(),
    )
}

fn measure_one(pipeline: &Pipeline, bytes: &[u8]) -> Result<Option<LivenessScore>, String> {
    let image = pipeline.decode(bytes).map_err(|e| e.to_string())?;
    let analysis = pipeline
        .analyze_image(
            &image,
            Want {
                embedding: false,
                liveness: false,
            },
        )
        .map_err(|e| e.to_string())?;
    let Some(face) = select_subject(&analysis.faces, image.width(), image.height()) else {
        return Ok(None);
    };
    pipeline
        .raw_liveness(&image, &face, true)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Reads the labels and measures every image (all cores), reusing `cache` where the file's
/// bytes and the fingerprint are unchanged, and rewriting it.
pub fn measure(
    pipeline: &Pipeline,
    csv: &Path,
    root: &Path,
    limit: Option<usize>,
    cache: Option<&Path>,
) -> Result<Vec<Row>, String> {
    let records = read_csv(csv, limit)?;
    let print = fingerprint(pipeline);
    let mut cached: HashMap<String, Cached> = cache
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        .filter(|c| c.fingerprint == print)
        .map(|c| c.images)
        .unwrap_or_default();
    let mut rows = Vec::with_capacity(records.len());
    for r in &records {
        let path = column(r, "path")?.to_owned();
        let live = match column(r, "label")? {
            "live" => true,
            "spoof" => false,
            other => {
                return Err(format!(
                    "{path}: unknown label `{other}` (expected live or spoof)"
                ))
            }
        };
        let get = |k: &str| r.get(k).cloned().unwrap_or_default();
        let mut fields: Vec<(&String, &String)> = r.iter().collect();
        fields.sort();
        rows.push(Row {
            canonical: fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\u{1f}"),
            live,
            source: r.get("subject").cloned().unwrap_or_else(|| "all".into()),
            kind: r.get("kind").cloned().unwrap_or_else(|| "all".into()),
            eval_only: get("note").contains("evaluation only"),
            file_sha256: String::new(),
            raw: None,
            error: None,
            path,
        });
    }
    let todo = AtomicUsize::new(0);
    let measured = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = todo.fetch_add(1, Ordering::Relaxed);
                let Some(row) = rows.get(i) else { break };
                let full = root.join(&row.path);
                let outcome = match std::fs::read(&full) {
                    Err(e) => (
                        String::new(),
                        None,
                        Some(format!("{}: {e}", full.display())),
                    ),
                    Ok(bytes) => {
                        let sha = sha256_hex(&bytes);
                        match cached.get(&row.path).filter(|c| c.sha256 == sha) {
                            Some(c) => (sha, c.raw, c.error.clone()),
                            None => {
                                let n = measured.fetch_add(1, Ordering::Relaxed) + 1;
                                if n.is_multiple_of(100) {
                                    eprintln!("  {n} images measured");
                                }
                                match measure_one(pipeline, &bytes) {
                                    Ok(raw) => (sha, raw, None),
                                    Err(e) => (sha, None, Some(e)),
                                }
                            }
                        }
                    }
                };
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, outcome));
            });
        }
    });
    eprintln!(
        "  {} of {} images measured, the rest from the cache",
        measured.into_inner(),
        rows.len()
    );
    for (i, (sha, raw, error)) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let row = &mut rows[i];
        if let Some(e) = &error {
            eprintln!("  error: {}: {e}", row.path);
        }
        (row.file_sha256, row.raw, row.error) = (sha, raw, error);
        if !row.file_sha256.is_empty() {
            cached.insert(
                row.path.clone(),
                Cached {
                    sha256: row.file_sha256.clone(),
                    raw,
                    error: row.error.clone(),
                },
            );
        }
    }
    if let Some(p) = cache {
        let file = CacheFile {
            fingerprint: print,
            images: cached,
        };
        let text = serde_json::to_string(&file).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(rows)
}
