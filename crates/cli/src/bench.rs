//! Per-stage latency on one thread, and peak memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use facegate_pipeline::{select_subject, PipelineConfig};
use serde::Serialize;

use crate::metrics::percentile;

#[derive(Serialize)]
pub struct BenchReport {
    iterations: usize,
    images: Vec<String>,
    /// Milliseconds per stage: p50, p99, mean.
    stages_ms: BTreeMap<&'static str, StageFigures>,
    model_load_ms: f64,
    peak_rss_mb: f64,
}

#[derive(Serialize)]
struct StageFigures {
    p50: f64,
    p99: f64,
    mean: f64,
}

const STAGES: [&str; 6] = ["decode", "detect", "align", "embed", "liveness", "total"];
/// Timed on its own after the stages above (it is part of `liveness` when fusion is on).
const SPOOF_FEATURES: &str = "spoof_features";

pub fn run(
    config: PipelineConfig,
    images: &[PathBuf],
    iterations: usize,
) -> Result<BenchReport, String> {
    let start = Instant::now();
    let pipeline = crate::paths::load_pipeline(config)?;
    let model_load_ms = start.elapsed().as_secs_f64() * 1e3;
    let bytes: Vec<Vec<u8>> = images
        .iter()
        .map(|p| crate::read(p))
        .collect::<Result<_, _>>()?;
    let mut samples: BTreeMap<&'static str, Vec<f64>> = STAGES
        .iter()
        .chain([&SPOOF_FEATURES])
        .map(|s| (*s, Vec::new()))
        .collect();
    // One untimed pass so that every detector plan is built before timing.
    for b in &bytes {
        let image = pipeline.decode(b).map_err(|e| e.to_string())?;
        pipeline.detect(&image).map_err(|e| e.to_string())?;
    }
    for i in 0..iterations {
        let b = &bytes[i % bytes.len()];
        let t0 = Instant::now();
        let image = pipeline.decode(b).map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let faces = pipeline.detect(&image).map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        let face = select_subject(&faces, image.width(), image.height())
            .ok_or("no face in a benchmark image")?;
        let aligned = pipeline.align(&image, &face);
        let t3 = Instant::now();
        pipeline.embed(&aligned).map_err(|e| e.to_string())?;
        let t4 = Instant::now();
        pipeline
            .liveness(&image, &face)
            .map_err(|e| e.to_string())?;
        let t5 = Instant::now();
        for (stage, (a, b)) in
            STAGES
                .iter()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t0, t5)])
        {
            samples
                .get_mut(stage)
                .expect("stage")
                .push((b - a).as_secs_f64() * 1e3);
        }
        let t6 = Instant::now();
        std::hint::black_box(facegate_pipeline::spoof::measure(&image, &face));
        samples
            .get_mut(SPOOF_FEATURES)
            .expect("stage")
            .push(t6.elapsed().as_secs_f64() * 1e3);
        if (i + 1) % 25 == 0 {
            eprintln!("  {}/{iterations}", i + 1);
        }
    }
    let stages_ms = samples
        .into_iter()
        .map(|(stage, mut v)| {
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let round = |x: f64| (x * 100.0).round() / 100.0;
            (
                stage,
                StageFigures {
                    p50: round(percentile(&v, 50.0)),
                    p99: round(percentile(&v, 99.0)),
                    mean: round(mean),
                },
            )
        })
        .collect();
    Ok(BenchReport {
        iterations,
        images: images.iter().map(|p| p.display().to_string()).collect(),
        stages_ms,
        model_load_ms: (model_load_ms * 10.0).round() / 10.0,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// VmHWM from /proc (Linux); 0 where unavailable.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}
