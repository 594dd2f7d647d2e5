//! The half-precision browser copies of the real prepared models: about half the size, loaded
//! and optimised by tract-onnx as the pipeline does it (crates/pipeline/src/net.rs), and
//! computing what the float32 models compute to within float16's weight rounding.
//!
//! Reads the float32 files from models/prepared (or FACEGATE_PREPARED_DIR); run `npm run setup`
//! or `facegate models prepare` first. A missing file skips its test with a loud message, as in
//! reference_outputs.rs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use facegate_models::{half_precision_weights, Manifest, HALF_MIN_ELEMENTS};
use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// Measured: 54.7 % (YuNet: 214 nodes and long names are a fixed cost, 64 Cast nodes add to
/// it) and 51.2 % (MiniFASNetV2) of the float32 size.
const MAX_SIZE_RATIO: f64 = 0.55;
/// Live probability (softmax class 1) of MiniFASNetV2, float32 vs float16 weights. Measured
/// max 7.1e-4 on the synthetic inputs below (logits: 7.4e-3).
const LIVE_TOLERANCE: f32 = 0.01;
/// YuNet boxes decoded at the TOP_ANCHORS best-scoring anchors of each input, as a fraction of
/// the box's longer side. A synthetic frame has no face, so these are large, low-score boxes
/// (up to 400 px); measured max 0.72 px there, at most 0.60 % of the box. Real faces are checked in
/// absolute pixels in crates/pipeline/tests/half_weights.rs.
const BOX_TOLERANCE: f32 = 0.02;
const TOP_ANCHORS: usize = 50;
/// YuNet face score (sqrt(cls · obj)) at every anchor. Measured max 4.2e-4.
const SCORE_TOLERANCE: f32 = 0.01;

fn prepared_dir() -> PathBuf {
    std::env::var_os("FACEGATE_PREPARED_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/prepared"),
            PathBuf::from,
        )
}

/// The prepared float32 file of `name` and its half-precision conversion, or None (loudly).
fn both(name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let manifest = Manifest::load().unwrap();
    let path = facegate_models::prepared_path(&prepared_dir(), &manifest, name).unwrap();
    let Ok(fp32) = std::fs::read(&path) else {
        eprintln!(
            "\n**********************************************************************\n\
             SKIPPED {name} half-precision test: {} is missing.\n\
             Run `facegate models prepare` (or `npm run setup`), or set FACEGATE_PREPARED_DIR.\n\
             **********************************************************************\n",
            path.display()
        );
        return None;
    };
    let f16w = half_precision_weights(&fp32).expect("conversion succeeds");
    // Kept for inspection (e.g. `gzip -9 -c … | wc -c`).
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}_f16w.onnx"));
    std::fs::write(&out, &f16w).unwrap();
    Some((fp32, f16w))
}

/// Parsed, given a concrete input shape, optimised and made runnable: what `Net` does.
fn plan(onnx: &[u8], shape: &[usize]) -> Arc<TypedRunnableModel> {
    tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .expect("tract parses the model")
        .with_input_fact(0, f32::fact(shape).into())
        .unwrap()
        .into_optimized()
        .expect("tract optimises the model")
        .into_runnable()
        .unwrap()
}

/// Runs the model and returns its outputs by graph output name.
fn run(onnx: &[u8], input: &Tensor) -> HashMap<String, Vec<f32>> {
    let names: Vec<String> = ModelProto::decode(onnx)
        .unwrap()
        .graph
        .unwrap()
        .output
        .iter()
        .map(|o| o.name.clone())
        .collect();
    let outputs = plan(onnx, input.shape())
        .run(tvec!(input.clone().into()))
        .unwrap();
    assert_eq!(outputs.len(), names.len());
    names
        .into_iter()
        .zip(outputs.iter())
        .map(|(n, o)| {
            (
                n,
                o.to_plain_array_view::<f32>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect(),
            )
        })
        .collect()
}

/// Deterministic BGR-like input, 0-255: a smooth two-tone gradient with a bright disc and a
/// hashed texture, so that activations are neither flat nor pure noise.
fn synthetic(h: usize, w: usize, seed: u32) -> Tensor {
    let mut data = Vec::with_capacity(3 * h * w);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                let d = ((fx - 0.5).powi(2) + (fy - 0.45).powi(2)).sqrt();
                let disc = if d < 0.25 { 120.0 } else { 0.0 };
                let mut hsh = (x as u32).wrapping_mul(73_856_093)
                    ^ (y as u32).wrapping_mul(19_349_663)
                    ^ (c as u32 + seed).wrapping_mul(83_492_791);
                hsh ^= hsh >> 13;
                let noise = (hsh % 41) as f32 - 20.0;
                let v = 40.0 + 80.0 * fx + 30.0 * fy + 25.0 * c as f32 + disc + noise;
                data.push(v.clamp(0.0, 255.0));
            }
        }
    }
    Tensor::from_shape(&[1, 3, h, w], &data).unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// No float32 initializer of HALF_MIN_ELEMENTS or more elements is left, and each stored
/// float16 one is cast back under its old name by a node that precedes all the others.
fn check_structure(f16w: &[u8]) -> usize {
    let g = ModelProto::decode(f16w).unwrap().graph.unwrap();
    let big_f32 = g
        .initializer
        .iter()
        .filter(|t| t.data_type == 1 && t.dims.iter().product::<i64>() >= HALF_MIN_ELEMENTS as i64)
        .count();
    assert_eq!(big_f32, 0, "large float32 initializers left");
    let halves = g.initializer.iter().filter(|t| t.data_type == 10).count();
    assert!(halves > 0);
    assert!(g.node[..halves].iter().all(|n| n.op_type == "Cast"));
    halves
}

fn check_size(name: &str, fp32: &[u8], f16w: &[u8]) {
    let ratio = f16w.len() as f64 / fp32.len() as f64;
    eprintln!(
        "{name}: float32 {} bytes, f16w {} bytes ({:.1} %), {} float16 tensors",
        fp32.len(),
        f16w.len(),
        100.0 * ratio,
        check_structure(f16w)
    );
    assert!(
        ratio < MAX_SIZE_RATIO,
        "{name}: {:.1} % of float32",
        100.0 * ratio
    );
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let m = logits.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn minifasnet_v2_f16w_is_half_the_size_and_scores_the_same() {
    let Some((fp32, f16w)) = both("minifasnet_v2") else {
        return;
    };
    check_size("minifasnet_v2", &fp32, &f16w);
    let mut worst_live = 0f32;
    let mut worst_logit = 0f32;
    for seed in 0..4 {
        let input = synthetic(80, 80, seed);
        let (a, b) = (run(&fp32, &input), run(&f16w, &input));
        for (name, la) in &a {
            let lb = &b[name];
            assert_eq!(la.len(), 3, "{name}: three logits");
            worst_logit = worst_logit.max(max_abs(la, lb));
            let (pa, pb) = (softmax(la), softmax(lb));
            eprintln!(
                "minifasnet_v2 seed {seed}: live {:.5} vs {:.5}",
                pa[1], pb[1]
            );
            worst_live = worst_live.max((pa[1] - pb[1]).abs());
        }
    }
    eprintln!("minifasnet_v2: max |Δ logit| {worst_logit:.3e}, max |Δ live| {worst_live:.3e}");
    assert!(worst_live < LIVE_TOLERANCE, "live differs by {worst_live}");
}

/// YuNet's boxes at every anchor whose score passes `min_score`, as (score, [x, y, w, h]) in
/// input pixels, decoded as the pipeline does (crates/pipeline/src/detect.rs).
fn yunet_boxes(out: &HashMap<String, Vec<f32>>, w: usize) -> Vec<(f32, [f32; 4])> {
    let mut boxes = Vec::new();
    for stride in [8usize, 16, 32] {
        let cols = w / stride;
        let cls = &out[&format!("cls_{stride}")];
        let obj = &out[&format!("obj_{stride}")];
        let bbox = &out[&format!("bbox_{stride}")];
        for i in 0..cls.len() {
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            let (col, row) = ((i % cols) as f32, (i / cols) as f32);
            let s = stride as f32;
            let cx = (col + bbox[4 * i]) * s;
            let cy = (row + bbox[4 * i + 1]) * s;
            let bw = bbox[4 * i + 2].exp() * s;
            let bh = bbox[4 * i + 3].exp() * s;
            boxes.push((score, [cx - bw / 2.0, cy - bh / 2.0, bw, bh]));
        }
    }
    boxes
}

#[test]
fn yunet_f16w_is_half_the_size_and_detects_the_same() {
    let Some((fp32, f16w)) = both("yunet") else {
        return;
    };
    check_size("yunet", &fp32, &f16w);
    let (mut worst_score, mut worst_raw, mut top_score) = (0f32, 0f32, 0f32);
    let (mut worst_box, mut worst_rel) = (0f32, 0f32);
    // 320x320 is what the capture page's FrameChecker feeds; 480x640 a full camera frame.
    for (h, w, seed) in [(320, 320, 0), (320, 320, 1), (480, 640, 2)] {
        let input = synthetic(h, w, seed);
        let (a, b) = (run(&fp32, &input), run(&f16w, &input));
        for (name, va) in &a {
            worst_raw = worst_raw.max(max_abs(va, &b[name]));
        }
        let (ba, bb) = (yunet_boxes(&a, w), yunet_boxes(&b, w));
        for ((sa, _), (sb, _)) in ba.iter().zip(&bb) {
            worst_score = worst_score.max((sa - sb).abs());
        }
        // A synthetic frame holds no face, so compare the boxes of the anchors that score
        // highest: the ones a detection threshold would keep first.
        let mut order: Vec<usize> = (0..ba.len()).collect();
        order.sort_by(|&i, &j| ba[j].0.total_cmp(&ba[i].0));
        for &i in &order[..TOP_ANCHORS] {
            top_score = top_score.max(ba[i].0);
            let d = max_abs(&ba[i].1, &bb[i].1);
            worst_box = worst_box.max(d);
            worst_rel = worst_rel.max(d / ba[i].1[2].max(ba[i].1[3]));
        }
    }
    eprintln!(
        "yunet: max |Δ raw output| {worst_raw:.3e}, max |Δ score| {worst_score:.3e}, \
         max |Δ box| {worst_box:.3} px = {:.3} % of the box over the top {TOP_ANCHORS} anchors \
         of each input (best score {top_score:.3})",
        100.0 * worst_rel
    );
    assert!(
        worst_score < SCORE_TOLERANCE,
        "score differs by {worst_score}"
    );
    assert!(
        worst_rel < BOX_TOLERANCE,
        "box differs by {worst_box} px, {:.3} % of its size",
        100.0 * worst_rel
    );
}
