//! The pipeline on real photographs from ../shared/data with the real, prepared models.
//! Run `npm run setup` (or `facegate models prepare`) first; the test command does.

mod common;

use std::io::Cursor;

use common::{pipeline, read};
use facegate_pipeline::decide::verdict;
use facegate_pipeline::{CheckStatus, PipelineError, Want};
use image::{ImageFormat, RgbImage};

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn risks(warnings: &[facegate_pipeline::decide::Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.risk.as_str()).collect()
}

fn enrol(path: &str) -> facegate_pipeline::Embedding {
    let a = pipeline().analyze(&read(path), Want::ALL).unwrap();
    a.subject
        .and_then(|s| s.embedding)
        .expect("a face to enrol")
}

#[test]
fn genuine_pair_is_approved() {
    let reference = enrol("faces/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg");
    let probe = pipeline()
        .analyze(
            &read("faces/lfw/Abel_Pacheco/Abel_Pacheco_0004.jpg"),
            Want::ALL,
        )
        .unwrap();
    let m = pipeline().face_match("feature_face_match", &probe, Some(&reference));
    assert_eq!(m.status, CheckStatus::Approved, "{m:?}");
    assert!(m.score > 70.0 && m.warnings.is_empty());
}

#[test]
fn impostor_pair_is_declined() {
    let reference = enrol("faces/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg");
    let probe = pipeline()
        .analyze(&read("faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg"), Want::ALL)
        .unwrap();
    let m = pipeline().face_match("feature_face_match", &probe, Some(&reference));
    assert_eq!(m.status, CheckStatus::Declined, "{m:?}");
    assert_eq!(risks(&m.warnings), ["LOW_FACE_MATCH_SIMILARITY"]);
}

#[test]
fn live_selfie_passes_and_screen_replay_fails() {
    let live = pipeline()
        .analyze(&read("video/enroll_portrait_apfol_s1_t9.5s.jpg"), Want::ALL)
        .unwrap();
    let check = pipeline().liveness_check("feature_liveness", &live);
    assert_eq!(check.status, CheckStatus::Approved, "{check:?}");
    assert!(check.score > 90.0);

    let spoof = pipeline()
        .analyze(&read("liveness/frames/apfol_s1/spoof_005.jpg"), Want::ALL)
        .unwrap();
    let check = pipeline().liveness_check("feature_liveness", &spoof);
    assert_eq!(check.status, CheckStatus::Declined, "{check:?}");
    assert!(risks(&check.warnings).contains(&"LOW_LIVENESS_SCORE"));
}

#[test]
fn replay_of_the_enrolled_person_is_declined_whatever_the_similarity() {
    let reference = enrol("video/enroll_portrait_apfol_s1_t9.5s.jpg");
    let spoof = pipeline()
        .analyze(&read("liveness/frames/apfol_s1/spoof_005.jpg"), Want::ALL)
        .unwrap();
    let liveness = pipeline().liveness_check("feature_liveness", &spoof);
    let m = pipeline().face_match("feature_face_match", &spoof, Some(&reference));
    assert_eq!(verdict(&[liveness], &[m]), CheckStatus::Declined);
}

#[test]
fn image_without_a_face_is_declined_as_no_face() {
    let landscape = RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x / 2) as u8, (y / 2) as u8, 90])
    });
    let analysis = pipeline().analyze(&jpeg(&landscape), Want::ALL).unwrap();
    assert!(analysis.faces.is_empty());
    let check = pipeline().liveness_check("feature_liveness", &analysis);
    assert_eq!(check.status, CheckStatus::Declined);
    assert_eq!(risks(&check.warnings), ["NO_FACE_DETECTED"]);
    let m = pipeline().face_match(
        "feature_face_match",
        &analysis,
        Some(&enrol("faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg")),
    );
    assert_eq!(m.status, CheckStatus::Declined);
}

#[test]
fn two_people_side_by_side_are_flagged() {
    let a = image::load_from_memory(&read("faces/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg"))
        .unwrap()
        .to_rgb8();
    let b = image::load_from_memory(&read("faces/lfw/AJ_Lamas/AJ_Lamas_0001.jpg"))
        .unwrap()
        .to_rgb8();
    let mut both = RgbImage::new(500, 250);
    image::imageops::replace(&mut both, &a, 0, 0);
    image::imageops::replace(&mut both, &b, 250, 0);
    let analysis = pipeline().analyze(&jpeg(&both), Want::ALL).unwrap();
    assert_eq!(analysis.subject.as_ref().unwrap().presenting_faces, 2);
    let check = pipeline().liveness_check("feature_liveness", &analysis);
    assert!(
        risks(&check.warnings).contains(&"MULTIPLE_FACES_DETECTED"),
        "{check:?}"
    );
    assert_ne!(check.status, CheckStatus::Approved);
}

#[test]
fn tiny_face_is_low_quality() {
    let face = image::load_from_memory(&read("faces/lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg"))
        .unwrap()
        .to_rgb8();
    let small = image::imageops::resize(&face, 90, 90, image::imageops::FilterType::Triangle);
    let mut canvas = RgbImage::from_pixel(480, 480, image::Rgb([110, 110, 110]));
    image::imageops::replace(&mut canvas, &small, 195, 195);
    let analysis = pipeline().analyze(&jpeg(&canvas), Want::ALL).unwrap();
    let subject = analysis
        .subject
        .as_ref()
        .expect("the small face is still found");
    assert!(subject.quality.face_px < 60.0, "{:?}", subject.quality);
    let check = pipeline().liveness_check("feature_liveness", &analysis);
    assert!(
        risks(&check.warnings).contains(&"LOW_FACE_QUALITY"),
        "{check:?}"
    );
    assert_ne!(check.status, CheckStatus::Approved);
}

#[test]
fn tight_crop_is_found_and_marked_tight() {
    let analysis = pipeline()
        .analyze(&read("liveness/crops/apfol_s1/live_113.jpg"), Want::ALL)
        .unwrap();
    let live = analysis
        .subject
        .and_then(|s| s.liveness)
        .expect("face found in a tight crop");
    assert!(live.tight && live.v1se.is_none(), "{live:?}");
}

#[test]
fn bad_bytes_are_input_errors() {
    let photo = read("faces/deepface/img1.jpg");
    for bad in [
        &photo[..photo.len() / 2],
        b"GIF89a not really".as_slice(),
        &[],
    ] {
        let err = pipeline().analyze(bad, Want::ALL).unwrap_err();
        assert!(err.is_input_error(), "{err:?}");
    }
    assert!(matches!(
        pipeline().analyze(&photo[..photo.len() / 2], Want::ALL),
        Err(PipelineError::Undecodable(_))
    ));
}

#[test]
fn same_image_embeds_identically() {
    let a = enrol("faces/deepface/img1.jpg");
    let b = enrol("faces/deepface/img1.jpg");
    assert!((a.cosine(&b) - 1.0).abs() < 1e-5);
}
