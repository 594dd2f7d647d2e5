//! Multi-frame captures: `eval-liveness` judges the rows sharing a `clip` value as one burst,
//! and `bench --burst` times a burst from bytes to decision.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use facegate_pipeline::burst::burst_liveness_check;
use facegate_pipeline::{CheckStatus, Pipeline};
use image::RgbImage;
use serde::Serialize;

use crate::metrics::percentile;

#[derive(Serialize)]
pub struct CapturesReport {
    /// How the captures were formed.
    grouping: &'static str,
    live: usize,
    spoof: usize,
    /// Spoof captures not declined.
    apcer: f64,
    /// Live captures declined (a refused capture counts as declined).
    bpcer: f64,
    /// Captures refused as input (too few frames, mixed sizes), with the reason in `items`.
    refused: usize,
    items: Vec<CaptureItem>,
}

#[derive(Serialize)]
struct CaptureItem {
    clip: String,
    label: String,
    subject: String,
    frames: usize,
    status: String,
    score: f64,
    risks: Vec<String>,
    live_median: Option<f32>,
    same_person_min_cosine: Option<f32>,
    relative_motion: Option<f32>,
    nonrigid: Option<f32>,
    refused: Option<String>,
}

fn load(pipeline: &Pipeline, path: &Path) -> Result<RgbImage, String> {
    let bytes = crate::read(path)?;
    pipeline
        .decode(&bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The `captures` object of `eval-liveness`, or `None` when no row names a clip.
pub fn evaluate(
    pipeline: &Pipeline,
    rows: &[HashMap<String, String>],
    root: &Path,
) -> Result<Option<CapturesReport>, String> {
    // Clips in order of first appearance, frames in row order.
    let mut clips: Vec<(String, &HashMap<String, String>, Vec<PathBuf>)> = Vec::new();
    for row in rows {
        let Some(clip) = row.get("clip").filter(|c| !c.is_empty()) else {
            continue;
        };
        let path = root.join(row.get("path").ok_or("CSV lacks the column `path`")?);
        match clips.iter_mut().find(|(c, _, _)| c == clip) {
            Some(entry) => entry.2.push(path),
            None => clips.push((clip.clone(), row, vec![path])),
        }
    }
    if clips.is_empty() {
        return Ok(None);
    }
    eprintln!("eval-liveness: {} multi-frame captures", clips.len());
    let config = pipeline.config.burst;
    let (mut live, mut spoof, mut live_rejected, mut spoof_accepted, mut refused) = (0, 0, 0, 0, 0);
    let mut items = Vec::new();
    for (clip, first, paths) in clips {
        let label = first.get("label").cloned().unwrap_or_default();
        let is_live = match label.as_str() {
            "live" => true,
            "spoof" => false,
            other => return Err(format!("clip {clip}: unknown label `{other}`")),
        };
        let frames: Vec<RgbImage> = paths
            .iter()
            .map(|p| load(pipeline, p))
            .collect::<Result<_, _>>()?;
        let mut item = CaptureItem {
            clip,
            label,
            subject: first.get("subject").cloned().unwrap_or_default(),
            frames: frames.len(),
            status: CheckStatus::Declined.as_str().into(),
            score: 0.0,
            risks: Vec::new(),
            live_median: None,
            same_person_min_cosine: None,
            relative_motion: None,
            nonrigid: None,
            refused: None,
        };
        match pipeline.analyze_burst(&frames, &config) {
            Ok(burst) => {
                let check = burst_liveness_check(
                    "feature_liveness",
                    &burst,
                    &pipeline.config,
                    &pipeline.config.policy,
                );
                item.status = check.status.as_str().into();
                item.score = check.score;
                item.risks = check.warnings.iter().map(|w| w.risk.clone()).collect();
                item.live_median = burst.cues.live_median;
                item.same_person_min_cosine = burst.cues.same_person_min_cosine;
                item.relative_motion = burst.cues.relative_motion;
                item.nonrigid = burst.cues.nonrigid;
            }
            Err(e) if e.is_input_error() => {
                refused += 1;
                item.refused = Some(e.to_string());
            }
            Err(e) => return Err(format!("clip {}: {e}", item.clip)),
        }
        let accepted = item.status != CheckStatus::Declined.as_str();
        if is_live {
            live += 1;
            live_rejected += usize::from(!accepted);
        } else {
            spoof += 1;
            spoof_accepted += usize::from(accepted);
        }
        items.push(item);
    }
    let frac = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Ok(Some(CapturesReport {
        grouping: "rows sharing a non-empty `clip` value, frames in row order",
        live,
        spoof,
        apcer: frac(spoof_accepted, spoof),
        bpcer: frac(live_rejected, live),
        refused,
        items,
    }))
}

#[derive(Serialize)]
pub struct BurstBenchReport {
    iterations: usize,
    clip: String,
    frames: usize,
    frame_size: [u32; 2],
    /// Milliseconds per burst, one thread: decoding the JPEGs, the analysis, the decision.
    decode_ms: [f64; 2],
    analyze_ms: [f64; 2],
    total_ms: [f64; 2],
    /// Mean JPEG bytes of one burst as sent (the clip's own frames).
    upload_bytes: usize,
    /// p50 / p99 in each pair above.
    note: &'static str,
}

/// Times bursts of 8 frames 4 apart (the protocol's ~0.9 s at 30 fps) cut from the live clip.
pub fn bench(
    pipeline: &Pipeline,
    clip: &Path,
    iterations: usize,
) -> Result<BurstBenchReport, String> {
    let bytes = crate::read(clip)?;
    let jpegs = facegate_pipeline::burst::split_mjpeg(&bytes);
    let config = pipeline.config.burst;
    let (n, stride) = (config.max_frames, 4);
    let span = (n - 1) * stride + 1;
    if jpegs.len() < span {
        return Err(format!(
            "{}: {} frames, {span} needed",
            clip.display(),
            jpegs.len()
        ));
    }
    let bursts: Vec<Vec<&[u8]>> = (0..=jpegs.len() - span)
        .step_by(span)
        .map(|s| (0..n).map(|i| jpegs[s + i * stride]).collect())
        .collect();
    let decode = |b: &[&[u8]]| -> Result<Vec<RgbImage>, String> {
        b.iter()
            .map(|j| pipeline.decode(j).map_err(|e| e.to_string()))
            .collect()
    };
    // Untimed: the detector plans for this frame size.
    pipeline
        .analyze_burst(&decode(&bursts[0])?, &config)
        .map_err(|e| e.to_string())?;
    let (mut dec, mut ana, mut tot) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let b = &bursts[i % bursts.len()];
        let t0 = Instant::now();
        let frames = decode(b)?;
        let t1 = Instant::now();
        let burst = pipeline
            .analyze_burst(&frames, &config)
            .map_err(|e| e.to_string())?;
        burst_liveness_check(
            "feature_liveness",
            &burst,
            &pipeline.config,
            &pipeline.config.policy,
        );
        let t2 = Instant::now();
        dec.push((t1 - t0).as_secs_f64() * 1e3);
        ana.push((t2 - t1).as_secs_f64() * 1e3);
        tot.push((t2 - t0).as_secs_f64() * 1e3);
        if (i + 1) % 10 == 0 {
            eprintln!("  {}/{iterations} bursts", i + 1);
        }
    }
    let p = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let r = |x: f64| (x * 10.0).round() / 10.0;
        [r(percentile(&v, 50.0)), r(percentile(&v, 99.0))]
    };
    let size = decode(&bursts[0][..1])?[0].dimensions();
    Ok(BurstBenchReport {
        iterations,
        clip: clip.display().to_string(),
        frames: n,
        frame_size: [size.0, size.1],
        decode_ms: p(dec),
        analyze_ms: p(ana),
        total_ms: p(tot),
        upload_bytes: bursts
            .iter()
            .map(|b| b.iter().map(|j| j.len()).sum::<usize>())
            .sum::<usize>()
            / bursts.len(),
        note: "each pair is [p50, p99]",
    })
}
