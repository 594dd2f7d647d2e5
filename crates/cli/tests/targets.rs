//! The `facegate` command end to end on ../shared/data: the accuracy targets hold at the shipped
//! thresholds, the output is the documented JSON, and bad input fails cleanly.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data() -> PathBuf {
    std::env::var_os("FACEGATE_DATA_DIR")
        .map_or_else(|| workspace().join("../shared/data"), PathBuf::from)
}

fn facegate(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_facegate"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run facegate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), json, stderr)
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` missing in {v}"))
}

/// Runs an eval command on a shared-data CSV and checks the documented keys are present.
fn eval(command: &str, csv: &str, root: &str, keys: &[&str]) -> Value {
    let (csv, root) = (data().join(csv), data().join(root));
    let (ok, r, err) = facegate(&[
        command,
        csv.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    eprintln!("{r:#}");
    for key in keys {
        assert!(r.get(key).is_some(), "`{key}` missing");
    }
    r
}

#[test]
fn face_matching_meets_its_targets_on_lfw_and_deepface() {
    let keys = [
        "pairs",
        "genuine",
        "impostor",
        "threshold",
        "accuracy",
        "fnmr",
        "fmr",
        "fnmr_at_fmr_0.001",
        "eer",
        "no_face",
    ];
    let r = eval("eval-pairs", "faces/pairs.csv", "faces", &keys);
    assert_eq!(num(&r, "pairs"), 2080.0);
    assert!(num(&r, "accuracy") >= 0.99, "accuracy {}", r["accuracy"]);
    assert!(
        num(&r["by_source"]["lfw"], "accuracy") >= 0.99,
        "LFW accuracy {}",
        r["by_source"]["lfw"]
    );
    assert!(
        num(&r, "fnmr_at_fmr_0.001") <= 0.02,
        "FNMR at FMR 0.1%: {}",
        r["fnmr_at_fmr_0.001"]
    );
    assert!(
        num(&r, "fmr") <= 0.005,
        "FMR at the shipped threshold: {}",
        r["fmr"]
    );
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// eval-liveness with --loso on the shared labels, through a per-image cache in `cache`.
fn eval_liveness_loso(cache: &std::path::Path, extra: &[&str]) -> Value {
    let (labels, root) = (data().join("liveness/labels.csv"), data().join("liveness"));
    let mut args = vec![
        "eval-liveness",
        path(&labels),
        "--root",
        path(&root),
        "--json",
        "--loso",
        "--cache",
        path(cache),
    ];
    args.extend_from_slice(extra);
    let (ok, r, err) = facegate(&args);
    assert!(ok, "{err}");
    r
}

fn pct(g: &Value, key: &str) -> f64 {
    num(g, key)
}

/// Regression gates on the liveness figures that count: leave-one-source-out (fusion and
/// thresholds fitted without the scored source). The targets (full frames APCER 5 % at
/// BPCER 10 %, all images 10 % at 15 %) are not reached; these gates hold today's figures (see
/// CALIBRATION.md) so that a change cannot quietly lose ground. Then `facegate calibrate`
/// reproduces the committed fusion byte for byte from the same data.
#[test]
fn liveness_held_out_figures_hold_and_the_fusion_refits_to_the_committed_file() {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("liveness-cache.json");
    let r = eval_liveness_loso(&cache, &[]);
    for key in [
        "live",
        "spoof",
        "threshold",
        "apcer",
        "bpcer",
        "acer",
        "no_face",
        "by_kind",
        "by_source",
    ] {
        assert!(r.get(key).is_some(), "`{key}` missing");
    }
    assert_eq!(r["method"], "fusion");
    let g = &r["by_source"]["tdreplay_s1"]["by_kind"]["video_frame"];
    assert!(g["apcer"].is_number() && g["bpcer"].is_null(), "{g}");
    let (fusion, baseline) = (&r["loso"]["fusion"], &r["loso"]["baseline"]);
    eprintln!(
        "held out: fusion {:#}\nbaseline {:#}",
        fusion["by_kind"], baseline["by_kind"]
    );
    let all = &fusion["all"];
    assert!(
        pct(all, "apcer") <= 0.24 && pct(all, "bpcer") <= 0.10,
        "{all}"
    );
    assert!(
        pct(all, "apcer_at_bpcer_10") + 0.05 <= pct(&baseline["all"], "apcer_at_bpcer_10"),
        "the fusion must beat the bare ensemble held out: {all} vs {}",
        baseline["all"]
    );
    let samples = &fusion["by_kind"]["sample_image"];
    assert!(
        pct(samples, "apcer") <= 0.10 && pct(samples, "bpcer") <= 0.15,
        "single photos: {samples}"
    );
    let frames = &fusion["by_kind"]["video_frame"];
    assert!(
        pct(frames, "bpcer") <= 0.10 && pct(frames, "apcer") <= 0.27,
        "full frames: {frames}"
    );
    let crops = &fusion["by_kind"]["face_crop"];
    assert!(
        pct(crops, "apcer") <= 0.27 && pct(crops, "bpcer") <= 0.12,
        "tight crops: {crops}"
    );

    let (labels, root) = (data().join("liveness/labels.csv"), data().join("liveness"));
    let committed = workspace().join("crates/pipeline/src/fusion.json");
    let (ok, _, err) = facegate(&[
        "calibrate",
        path(&labels),
        "--root",
        path(&root),
        "--cache",
        path(&cache),
        "--check",
        path(&committed),
    ]);
    assert!(ok, "{err}");
}

/// Bring your own model: the third MiniFASNet (softmax inside the graph) as the operator's
/// model, described in --config, refitted into the fusion with --extra-model and evaluated
/// leave-one-source-out by the same command. A malformed description fails cleanly.
#[test]
fn an_operators_model_is_loaded_from_config_and_evaluated_held_out() {
    let model = workspace().join("../shared/models/minifasnet_v1se_apk_4.0_80x80.onnx");
    let model = if model.is_file() {
        model
    } else {
        data().join("../models/minifasnet_v1se_apk_4.0_80x80.onnx")
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let config = tmp.join("extra-model.json");
    let spec = serde_json::json!({ "extra_liveness_model": {
        "path": path(&model), "scale": 4.0, "input_size": 80, "channel_order": "bgr",
        "live_index": 1, "outputs_probabilities": true, "fusion_weight": 0.0 } });
    std::fs::write(&config, spec.to_string()).unwrap();
    let cache = tmp.join("liveness-cache-extra.json");
    let r = eval_liveness_loso(
        &cache,
        &["--config", path(&config), "--extra-model", "--ablation"],
    );
    let loso = &r["loso"];
    assert!(loso["full_inputs"]
        .as_array()
        .unwrap()
        .contains(&Value::from("extra")));
    eprintln!(
        "with the operator's model: {:#}\nwithout it: {:#}",
        loso["fusion"]["by_kind"], loso["without_input"]["extra"]
    );
    assert!(loso["fusion"]["all"]["apcer_at_bpcer_10"].is_number());

    let bad = tmp.join("bad-extra.json");
    let spec = serde_json::json!({ "extra_liveness_model": {
        "path": path(&model), "scale": 4.0, "channel_order": "yuv" } });
    std::fs::write(&bad, spec.to_string()).unwrap();
    let frame = data().join("liveness/frames/apfol_s1/live_003.jpg");
    let (ok, _, err) = facegate(&["--config", path(&bad), "liveness", path(&frame)]);
    assert!(!ok && err.contains("channel_order"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn compare_and_liveness_print_contract_items() {
    let portrait = data().join("video/enroll_portrait_apfol_s1_t9.5s.jpg");
    let frame = data().join("liveness/frames/apfol_s1/live_003.jpg");
    let (ok, r, err) = facegate(&[
        "compare",
        portrait.to_str().unwrap(),
        frame.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    assert_eq!(r["face_match"]["status"], "Approved", "{r:#}");
    let (ok, r, err) = facegate(&["liveness", portrait.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert_eq!(r["liveness_check"]["method"], "PASSIVE");
    assert_eq!(r["liveness_check"]["status"], "Approved", "{r:#}");
}

#[test]
fn unreadable_input_fails_with_a_message_not_a_panic() {
    let csv = workspace().join("Cargo.toml");
    let (ok, _, err) = facegate(&["liveness", csv.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("unsupported image format"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (ok, _, err) = facegate(&["compare", "/nonexistent/a.jpg", "/nonexistent/b.jpg"]);
    assert!(!ok && err.contains("/nonexistent/a.jpg"), "{err}");
}

#[test]
fn bench_prints_per_stage_percentiles_and_memory() {
    let (ok, r, err) = facegate(&["bench", "--iterations", "4", "--json"]);
    assert!(ok, "{err}");
    for stage in ["decode", "detect", "align", "embed", "liveness", "total"] {
        assert!(num(&r["stages_ms"][stage], "p50") > 0.0, "{stage}: {r:#}");
        assert!(num(&r["stages_ms"][stage], "p99") >= num(&r["stages_ms"][stage], "p50"));
    }
    assert!(num(&r, "peak_rss_mb") > 10.0);
}

/// Rows sharing a `clip` are judged as one burst; a "clip" whose frames differ in size (two
/// videos glued together) is refused and counted as declined, not a crash.
#[test]
fn clips_are_judged_as_multi_frame_captures() {
    let dir = std::env::temp_dir().join(format!("facegate-captures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = data().join("liveness");
    let mut csv = String::from("path,label,subject,kind,clip\n");
    for f in 1..=8 {
        csv.push_str(&format!(
            "frames/tdreal_s1/clip03_f{f:02}.jpg,live,tdreal_s1,video_frame,live-a\n"
        ));
    }
    for f in 1..=8 {
        let subject = if f % 2 == 0 {
            "tdreal_s1"
        } else {
            "tdreplay_s1"
        };
        csv.push_str(&format!(
            "frames/{subject}/clip01_f{f:02}.jpg,spoof,{subject},video_frame,glued\n"
        ));
    }
    csv.push_str("frames/apfol_s1/live_001.jpg,live,apfol_s1,video_frame,\n");
    let labels = dir.join("labels.csv");
    std::fs::write(&labels, csv).unwrap();
    let (ok, r, err) = facegate(&[
        "eval-liveness",
        labels.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--json",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "{err}");
    let c = &r["captures"];
    assert_eq!((num(c, "live"), num(c, "spoof")), (1.0, 1.0), "{c:#}");
    assert_eq!(num(c, "bpcer"), 0.0, "{c:#}");
    assert_eq!((num(c, "refused"), num(c, "apcer")), (1.0, 0.0), "{c:#}");
    assert!(c["items"][1]["refused"]
        .as_str()
        .is_some_and(|m| m.contains("same size")));
    // Per-image figures still count every row.
    assert_eq!(num(&r, "live") + num(&r, "spoof"), 17.0);
}
