//! Where the models' memory goes: peak and retained heap bytes while each model is loaded,
//! natively, with a counting allocator (the Worker's `GET /system/healthcheck` reports the same
//! steps as wasm linear memory). Also loads SFace the way the worker did before (the whole
//! float32 file through tract's own reader), for comparison.
//!
//! `cargo run --release -p facegate-pipeline --example model_memory [models/prepared]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use facegate_models::{dequantize_onnx, prepared_path, Manifest};
use facegate_pipeline::detect::Detector;
use facegate_pipeline::embed::Embedder;
use facegate_pipeline::liveness::LivenessModel;
use tract_onnx::prelude::*;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

fn mb(b: usize) -> f64 {
    (b as f64 / 1e5).round() / 10.0
}

/// Runs `load` and prints the peak heap during it and what it left allocated, both above
/// what was live before (the input bytes are counted: they were allocated inside).
fn step<T>(name: &str, load: impl FnOnce() -> T) -> T {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = load();
    let (peak, after) = (PEAK.load(Ordering::Relaxed), LIVE.load(Ordering::Relaxed));
    println!(
        "{name:<34} peak +{:>6.1} MB   kept +{:>6.1} MB",
        mb(peak - before),
        mb(after.saturating_sub(before))
    );
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models/prepared"));
    let manifest = Manifest::load()?;
    let read = |name: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(std::fs::read(prepared_path(&dir, &manifest, name)?)?)
    };

    println!("heap while loading each model (the file's bytes are read inside each step)");
    let sface = step("sface (int8 fc layer, as shipped)", || {
        Embedder::load(read("sface").expect("sface"))
    })?;
    let yunet = step("yunet", || Detector::load(&read("yunet").expect("yunet")))?;
    let live = step("minifasnet_v2 + v1se", || {
        LivenessModel::load(
            read("minifasnet_v2").expect("v2"),
            Some(read("minifasnet_v1se").expect("v1se")),
        )
    })?;
    let all = LIVE.load(Ordering::Relaxed);
    println!(
        "{:<34} {:>13.1} MB",
        "all four loaded, heap in use",
        mb(all)
    );
    drop((sface, yunet, live));

    println!("\nfor comparison, SFace as before (float32 fc layer, tract's reader):");
    let full = dequantize_onnx(&read("sface")?)?;
    step("sface (float32, model_for_read)", || {
        // As the worker did: the bytes read, parsed, dropped, then the plan optimised.
        let bytes = full.clone();
        let parsed = tract_onnx::onnx().model_for_read(&mut &bytes[..]);
        drop(bytes);
        let model = parsed
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, 112, 112]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable());
        model.map(|_| ())
    })?;
    Ok(())
}
