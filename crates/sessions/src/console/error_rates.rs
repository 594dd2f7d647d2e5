//! What a threshold was measured to do, at any value: the error-rate curves of
//! `facegate_pipeline::error_rates` (measured by `facegate error-rates`, CALIBRATION.md) read at
//! a workflow's thresholds, in words for the reviewer and as numbers for the editor, and the
//! curves themselves for the editor to follow a slider without asking at each step.

use facegate_pipeline::error_rates::{shipped, Rates, STEPS};
use serde_json::{json, Value};

use crate::types::Thresholds;

/// Kinds of liveness image, in the order the console lists them.
const KINDS: [(&str, &str); 3] = [
    ("sample_image", "single photos"),
    ("video_frame", "video frames"),
    ("face_crop", "face crops"),
];

/// A rate as a percentage: two decimals under 10 %, one above (CALIBRATION.md's style).
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p < 10.0 {
        format!("{p:.2} %")
    } else {
        format!("{p:.1} %")
    }
}

/// A count with thousands separators ("1,040").
fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn whole(t: f32) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t}")
    }
}

/// FMR (impostors above) and FNMR (genuine at or below) at a face-match threshold.
pub fn face_match_at(threshold: f32) -> Rates {
    shipped().face_match.at(f64::from(threshold))
}

/// APCER and BPCER of one group ("all" or a kind) at a liveness threshold, held out.
pub fn liveness_at(group: &str, threshold: f32) -> Option<Rates> {
    shipped()
        .liveness
        .groups
        .get(group)
        .map(|c| c.at(f64::from(threshold)))
}

/// The face-match figures at a workflow's two thresholds, in words.
pub fn face_match_text(t: &Thresholds) -> String {
    let (r, d) = (
        face_match_at(t.face_match_review),
        face_match_at(t.face_match_decline),
    );
    format!(
        "Approved above {}: FMR {} (of {} impostor pairs), FNMR {} (genuine pairs not approved). \
         Declined at or below {}: FNMR {} (of {} genuine pairs), FMR {} (impostor pairs not \
         declined). LFW + deepface, measured {}.",
        whole(t.face_match_review),
        percent(r.false_accept),
        count(r.negatives),
        percent(r.false_reject),
        whole(t.face_match_decline),
        percent(d.false_reject),
        count(d.positives),
        percent(d.false_accept),
        shipped().measured,
    )
}

/// The liveness figures at a workflow's threshold, in words: all images, then each kind.
pub fn liveness_text(t: &Thresholds) -> String {
    let at = t.liveness_decline;
    let Some(all) = liveness_at("all", at) else {
        return "No liveness error rates were measured.".into();
    };
    let kinds: Vec<String> = KINDS
        .iter()
        .filter_map(|(k, name)| {
            liveness_at(k, at).map(|r| {
                format!(
                    "{name} {} / {}",
                    percent(r.false_accept),
                    percent(r.false_reject)
                )
            })
        })
        .collect();
    format!(
        "At {}, leave-one-source-out on {} images: APCER {} (of {} spoof images), BPCER {} \
         (of {} live); {}. Measured {}.",
        whole(at),
        count(all.negatives + all.positives),
        percent(all.false_accept),
        count(all.negatives),
        percent(all.false_reject),
        count(all.positives),
        kinds.join(", "),
        shipped().measured,
    )
}

fn rates_json(r: Rates) -> Value {
    json!({ "false_accept": r.false_accept, "false_reject": r.false_reject })
}

/// A workflow's figures as numbers: face match at each threshold (when it has one), liveness
/// per group.
pub fn figures(t: &Thresholds, face_match: bool) -> Value {
    let groups: serde_json::Map<String, Value> = shipped()
        .liveness
        .groups
        .keys()
        .filter_map(|g| liveness_at(g, t.liveness_decline).map(|r| (g.clone(), rates_json(r))))
        .collect();
    json!({
        "face_match": face_match.then(|| json!({
            "review": rates_json(face_match_at(t.face_match_review)),
            "decline": rates_json(face_match_at(t.face_match_decline)),
            "text": face_match_text(t),
        })),
        "liveness": { "groups": groups, "text": liveness_text(t) },
    })
}

/// `GET /console/api/error-rates/`: every curve as rates at each whole threshold 0..=100, with
/// its set sizes and provenance. Between steps the editor interpolates linearly, as
/// `face_match_at` does.
pub fn curves_json() -> Value {
    let r = shipped();
    let steps = |f: &dyn Fn(f64) -> Rates| -> (Vec<f64>, Vec<f64>) {
        (0..STEPS)
            .map(|t| {
                let x = f(t as f64);
                (x.false_accept, x.false_reject)
            })
            .unzip()
    };
    let (fmr, fnmr) = steps(&|t| r.face_match.at(t));
    let groups: serde_json::Map<String, Value> = r
        .liveness
        .groups
        .iter()
        .map(|(name, c)| {
            let (apcer, bpcer) = steps(&|t| c.at(t));
            let label = KINDS
                .iter()
                .find(|(k, _)| k == name)
                .map_or("all images", |(_, l)| l);
            (
                name.clone(),
                json!({ "label": label, "live": c.live, "spoof": c.spoof, "apcer": apcer, "bpcer": bpcer }),
            )
        })
        .collect();
    json!({
        "measured": r.measured,
        "command": r.command,
        "face_match": {
            "data": r.face_match.data, "genuine": r.face_match.genuine,
            "impostor": r.face_match.impostor, "fmr": fmr, "fnmr": fnmr,
        },
        "liveness": { "data": r.liveness.data, "protocol": r.liveness.protocol, "groups": groups },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CALIBRATION.md's figures at the shipped thresholds: face match at 70 (cosine 0.36)
    /// FMR 0.10 %, FNMR 1.63 %; liveness at 50, held out, all images 22.7 % / 9.2 %, single
    /// photos 4.3 % / 6.2 %.
    #[test]
    fn figures_at_the_shipped_thresholds_are_calibration_mds() {
        let close = |a: f64, b: f64| (a * 100.0 - b).abs() < 0.06;
        let t = Thresholds::default();
        let m = face_match_at(t.face_match_review);
        assert!(
            close(m.false_accept, 0.10) && close(m.false_reject, 1.63),
            "{m:?}"
        );
        assert_eq!((m.negatives, m.positives), (1040, 1040));
        let all = liveness_at("all", t.liveness_decline).unwrap();
        assert!(
            close(all.false_accept, 22.7) && close(all.false_reject, 9.2),
            "{all:?}"
        );
        assert_eq!((all.negatives, all.positives), (480, 468));
        let photos = liveness_at("sample_image", t.liveness_decline).unwrap();
        assert!(
            close(photos.false_accept, 4.3) && close(photos.false_reject, 6.2),
            "{photos:?}"
        );
        let text = face_match_text(&t);
        assert!(
            text.contains("FMR 0.10 % (of 1,040 impostor pairs)"),
            "{text}"
        );
        assert!(liveness_text(&t).contains("APCER 22.7 % (of 480 spoof images)"));
    }

    #[test]
    fn any_threshold_has_figures_and_stricter_means_fewer_false_accepts() {
        let mut last = face_match_at(0.0);
        for t in 1..=100 {
            let r = face_match_at(t as f32);
            assert!(r.false_accept <= last.false_accept && r.false_reject >= last.false_reject);
            last = r;
        }
        let moved = Thresholds {
            face_match_review: 82.5,
            ..Thresholds::default()
        };
        assert!(face_match_text(&moved).starts_with("Approved above 82.5: FMR"));
        let curves = curves_json();
        assert_eq!(curves["face_match"]["fmr"].as_array().unwrap().len(), STEPS);
        assert_eq!(
            curves["liveness"]["groups"]["all"]["apcer"][50].as_f64(),
            Some(liveness_at("all", 50.0).unwrap().false_accept)
        );
    }
}
