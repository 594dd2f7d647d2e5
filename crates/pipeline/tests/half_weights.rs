//! The capture page's client-side checks (`FrameChecker`: YuNet + MiniFASNetV2) with the
//! half-precision browser copies of the models against the float32 models, on real photos from
//! ../shared/data: the same face, the box within 1 px, the live score within 0.02.
//!
//! Needs models/prepared (or FACEGATE_PREPARED_DIR): run `facegate models prepare` first. The
//! browser copies are read from its `client/` folder when there, else converted here with
//! `facegate_models::half_precision_weights`, which is what `prepare` writes.

mod common;

use std::path::PathBuf;

use common::{data_dir, prepared_dir};
use facegate_pipeline::decode::{decode_image, DecodeLimits};
use facegate_pipeline::guide::FrameChecker;

/// Measured on the 10 images below (the portrait, 5 live and 4 spoof frames): max |Δ live|
/// 1.96e-3 (spoof_010: 0.2746 vs 0.2726), max |Δ box| 0.082 px.
const LIVE_TOLERANCE: f32 = 0.02;
const BOX_TOLERANCE_PX: f32 = 1.0;

/// (float32, half-precision) bytes of `name`.
fn both(manifest: &facegate_models::Manifest, name: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = prepared_dir();
    let fp32_path = facegate_models::prepared_path(&dir, manifest, name).unwrap();
    let fp32 = std::fs::read(&fp32_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `facegate models prepare`",
            fp32_path.display()
        )
    });
    let client = facegate_models::client_path(&dir, manifest, name)
        .unwrap()
        .expect("the manifest gives this model a client copy");
    let f16w = match std::fs::read(&client) {
        Ok(bytes) => {
            eprintln!("{name}: using {}", client.display());
            bytes
        }
        Err(_) => {
            eprintln!("{name}: {} not prepared, converting here", client.display());
            facegate_models::half_precision_weights(&fp32).unwrap()
        }
    };
    (fp32, f16w)
}

#[test]
fn frame_checks_agree_with_half_precision_weights_on_real_photos() {
    let manifest = facegate_models::Manifest::load().unwrap();
    let (yunet32, yunet16) = both(&manifest, "yunet");
    let (fas32, fas16) = both(&manifest, "minifasnet_v2");
    let fp32 = FrameChecker::load(&yunet32, fas32).expect("float32 models load");
    let f16w = FrameChecker::load(&yunet16, fas16).expect("half-precision models load");

    let data = data_dir();
    let mut images = vec![data.join("video/enroll_portrait_apfol_s1_t9.5s.jpg")];
    let frames = data.join("liveness/frames/apfol_s1");
    let mut listed: Vec<PathBuf> = std::fs::read_dir(&frames)
        .unwrap_or_else(|e| panic!("{}: {e}", frames.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    listed.sort();
    images.extend(listed.into_iter().step_by(3));
    assert!(images.len() >= 5, "{images:?}");

    let (mut worst_live, mut worst_box) = (0f32, 0f32);
    for path in &images {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let image = decode_image(&bytes, &DecodeLimits::default()).expect("decodes");
        let (a, b) = (fp32.check(&image).unwrap(), f16w.check(&image).unwrap());
        assert_eq!(a.faces, b.faces, "{}: face count", path.display());
        let (Some(fa), Some(fb)) = (a.face, b.face) else {
            panic!(
                "{}: no subject face ({:?} / {:?})",
                path.display(),
                a.face,
                b.face
            );
        };
        let box_diff = [
            (fa.x - fb.x).abs(),
            (fa.y - fb.y).abs(),
            (fa.width - fb.width).abs(),
            (fa.height - fb.height).abs(),
        ]
        .into_iter()
        .fold(0f32, f32::max);
        let (la, lb) = (a.live.unwrap(), b.live.unwrap());
        eprintln!(
            "{}: box {:.1},{:.1} {:.1}x{:.1} Δ {box_diff:.3} px; live {la:.4} vs {lb:.4}",
            path.file_name().unwrap().to_string_lossy(),
            fa.x,
            fa.y,
            fa.width,
            fa.height
        );
        worst_box = worst_box.max(box_diff);
        worst_live = worst_live.max((la - lb).abs());
    }
    eprintln!(
        "{} images: max |Δ live| {worst_live:.2e}, max |Δ box| {worst_box:.3} px",
        images.len()
    );
    assert!(worst_live < LIVE_TOLERANCE, "live differs by {worst_live}");
    assert!(
        worst_box < BOX_TOLERANCE_PX,
        "box differs by {worst_box} px"
    );
}
