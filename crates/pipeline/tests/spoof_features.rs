//! The artefact features on real data: they survive re-encoding (the shared images were
//! re-encoded at JPEG q90/q95, so a feature that only learns the encoding must not count), and
//! the fused decision names its evidence.

mod common;

use std::collections::HashMap;

use common::{data, pipeline, read};
use facegate_pipeline::spoof::{self, FEATURE_NAMES};
use facegate_pipeline::{select_subject, Want};
use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

struct Labelled {
    path: String,
    live: bool,
}

/// Every other trainable row of the liveness labels (rows marked "evaluation only" are left out
/// like everywhere else a number could steer the shipped coefficients).
fn rows() -> Vec<Labelled> {
    let text = std::fs::read_to_string(data("liveness/labels.csv")).expect("labels.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (path, label) = (col("path"), col("label"));
    lines
        .filter(|l| !l.contains("evaluation only"))
        .step_by(2)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Labelled {
                path: f[path].to_owned(),
                live: f[label] == "live",
            }
        })
        .collect()
}

fn reencode(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(image)
        .unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn quantile(mut v: Vec<f32>, q: f32) -> f32 {
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * q) as usize]
}

#[test]
fn kept_features_shift_little_under_reencoding_against_their_separation() {
    let p = pipeline();
    let shipped = spoof::fusion::shipped();
    let kept: Vec<&str> = FEATURE_NAMES
        .iter()
        .copied()
        .filter(|n| {
            shipped
                .full
                .inputs
                .iter()
                .chain(&shipped.tight.inputs)
                .any(|i| i == n)
        })
        .collect();
    assert!(!kept.is_empty());
    let mut values: HashMap<(&str, bool), Vec<f32>> = HashMap::new();
    let mut shifts: HashMap<&str, Vec<f32>> = HashMap::new();
    for row in rows() {
        // A few crops are below the decoder's minimum size: not a feature question.
        let Ok(image) = p.decode(&read(&format!("liveness/{}", row.path))) else {
            continue;
        };
        let faces = p.detect(&image).unwrap();
        let Some(face) = select_subject(&faces, image.width(), image.height()) else {
            continue;
        };
        let f = spoof::measure(&image, &face);
        for (name, v) in f.named() {
            values.entry((name, row.live)).or_default().push(v);
        }
        if row.live {
            for q in [90, 95] {
                // The same face box: the question is the feature's, not the detector's.
                let g = spoof::measure(&reencode(&image, q), &face);
                for ((name, a), (_, b)) in f.named().zip(g.named()) {
                    shifts.entry(name).or_default().push((a - b).abs());
                }
            }
        }
    }
    eprintln!("feature        live median  spoof median  |gap|    shift p50  shift p90  p90/gap");
    let mut ratio = HashMap::new();
    for name in FEATURE_NAMES {
        let live = median(values[&(name, true)].clone());
        let fake = median(values[&(name, false)].clone());
        let gap = (live - fake).abs().max(1e-6);
        let (p50, p90) = (
            median(shifts[name].clone()),
            quantile(shifts[name].clone(), 0.9),
        );
        eprintln!(
            "{name:<14} {live:>11.4} {fake:>13.4} {gap:>8.4} {p50:>10.4} {p90:>10.4} {:>8.2}{}",
            p90 / gap,
            if kept.contains(&name) {
                "  (fused)"
            } else {
                ""
            }
        );
        ratio.insert(name, (p50 / gap, p90 / gap));
    }
    for name in kept {
        let (p50, p90) = ratio[name];
        // Nine in ten live images move by less than a quarter of the live/spoof gap, the typical
        // one by under a tenth: re-encoding cannot carry a live face across.
        assert!(
            p50 < 0.1 && p90 < 0.25,
            "{name}: re-encoding shift p50 {p50:.2} / p90 {p90:.2} of the gap"
        );
    }
}

#[test]
fn the_fused_decision_shows_its_signals_and_declines_a_replay() {
    let p = pipeline();
    let want = Want {
        embedding: false,
        liveness: true,
    };
    let live = p
        .analyze(&read("liveness/frames/apfol_s1/live_003.jpg"), want)
        .unwrap();
    let check = p.liveness_check("feature_liveness", &live);
    assert_eq!(check.method, "PASSIVE");
    assert_eq!(check.status.as_str(), "Approved", "{check:?}");
    let evidence = check.evidence.as_ref().expect("evidence");
    assert_eq!(evidence.method, "fusion");
    assert_eq!(evidence.operating_point, "full_frame");
    for signal in [
        "minifasnet_v2",
        "minifasnet_v1se",
        "chroma_std",
        "blue_cast",
        "moire",
    ] {
        assert!(
            evidence.signals.contains_key(signal),
            "{signal}: {evidence:?}"
        );
    }
    assert!(evidence.fused_margin.unwrap() > 0.0);
    assert_eq!(
        evidence.fusion_data_sha256.as_deref(),
        Some(spoof::fusion::shipped().data.rows_sha256.as_str())
    );
    let json = serde_json::to_value(&check).unwrap();
    assert!(json["evidence"]["signals"]["minifasnet_v2"].is_number());

    let replay = p
        .analyze(&read("liveness/frames/apfol_s1/spoof_003.jpg"), want)
        .unwrap();
    let check = p.liveness_check("feature_liveness", &replay);
    assert_eq!(check.status.as_str(), "Declined", "{check:?}");
    assert!(check.evidence.unwrap().fused_margin.unwrap() < 0.0);
}
