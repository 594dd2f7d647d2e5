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

#[test]
fn liveness_meets_its_targets_on_frames_and_tight_crops() {
    let keys = [
        "live",
        "spoof",
        "threshold",
        "apcer",
        "bpcer",
        "acer",
        "no_face",
    ];
    let r = eval("eval-liveness", "liveness/labels.csv", "liveness", &keys);
    let frames = &r["by_kind"]["video_frame"];
    assert!(
        num(frames, "apcer") <= 0.05 && num(frames, "bpcer") <= 0.05,
        "full frames: {frames}"
    );
    let crops = &r["by_kind"]["face_crop"];
    assert!(
        num(crops, "apcer") <= 0.10 && num(crops, "bpcer") <= 0.30,
        "tight crops: {crops}"
    );
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
