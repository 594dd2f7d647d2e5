//! `facegate error-rates`: the error-rate curves behind every threshold a workflow can set,
//! as counts at each whole score 0..=100 on the API's scale, so the console can show what any
//! threshold was measured to do (crates/pipeline/src/error_rates.json).
//!
//! Face match: every pair of `faces/pairs.csv`, scored as the service scores it
//! (`Calibration::match_score` of the cosine), an impostor accepted when its score is above the
//! threshold, a genuine pair refused at or below it. Liveness: leave one source out, the held-out
//! margins pooled (`loso::held_out_margins`) and mapped to the 0-100 score as the service maps a
//! fused score; a spoof accepted above the threshold, a live capture refused at or below it.
//! A threshold fitted and measured on the same source would say nothing about a new one.

use std::collections::BTreeMap;
use std::path::Path;

use facegate_pipeline::error_rates::{
    ErrorRates, FaceMatchCurve, LivenessCurve, LivenessCurves, STEPS,
};
use facegate_pipeline::spoof::fusion::sigmoid;
use facegate_pipeline::{LivenessScore, Pipeline};

use crate::calibrate::FitOptions;
use crate::eval::score_pairs;
use crate::loso::held_out_margins;
use crate::measure;

/// Per whole threshold, how many `scores` are above it and how many at or below it.
fn counts(scores: &[f64]) -> (Vec<usize>, Vec<usize>) {
    (0..STEPS)
        .map(|t| {
            let above = scores.iter().filter(|&&s| s > t as f64).count();
            (above, scores.len() - above)
        })
        .unzip()
}

pub fn measure(
    data: &Path,
    cache: Option<&Path>,
    pipeline: &Pipeline,
) -> Result<ErrorRates, String> {
    let cal = &pipeline.config.calibration;
    let faces = data.join("faces");
    let (pairs, _) = score_pairs(pipeline, &faces.join("pairs.csv"), &faces, None)?;
    let score = |same: bool| -> Vec<f64> {
        pairs
            .iter()
            .filter(|p| p.same == same)
            // No face: the service declines without a score, i.e. score 0.
            .map(|p| {
                if p.cosine == -1.0 {
                    0.0
                } else {
                    cal.match_score(p.cosine)
                }
            })
            .collect()
    };
    let (genuine, impostor) = (score(true), score(false));
    let face_match = FaceMatchCurve {
        data: "faces/pairs.csv: LFW View-2 folds 1, 4, 7 and deepface pairs".into(),
        genuine: genuine.len(),
        impostor: impostor.len(),
        no_face: pairs.iter().filter(|p| p.cosine == -1.0).count(),
        impostor_above: counts(&impostor).0,
        genuine_at_or_below: counts(&genuine).1,
    };

    let liveness = data.join("liveness");
    let rows = measure::measure(
        pipeline,
        &liveness.join("labels.csv"),
        &liveness,
        None,
        cache,
    )?;
    let (margins, _) = held_out_margins(&rows, &FitOptions::default());
    let mut scores: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (row, &m) in rows.iter().zip(&margins) {
        // A fused score as the service makes it: centred on the operating point (0.5 = 50).
        let s = row.raw.map_or(0.0, |raw| {
            cal.liveness_score(&LivenessScore {
                live: sigmoid(m),
                fused: Some(m),
                ..raw
            })
        });
        for group in ["all", row.kind.as_str()] {
            let g = scores.entry(group.to_owned()).or_default();
            if row.live {
                g.0.push(s)
            } else {
                g.1.push(s)
            }
        }
    }
    let groups = scores
        .into_iter()
        .map(|(name, (live, spoof))| {
            (
                name,
                LivenessCurve {
                    live: live.len(),
                    spoof: spoof.len(),
                    spoof_above: counts(&spoof).0,
                    live_at_or_below: counts(&live).1,
                },
            )
        })
        .collect();
    Ok(ErrorRates {
        measured: today(),
        command: "facegate error-rates ../shared/data --cache /tmp/liveness-cache.json \
                  --out crates/pipeline/src/error_rates.json"
            .into(),
        face_match,
        liveness: LivenessCurves {
            data: "liveness/labels.csv: 21 sources, video frames, face crops, single photos".into(),
            protocol: "leave one source out: each source scored by a fusion and operating points \
                       fitted without it (never on \"evaluation only\" rows); counts pooled"
                .into(),
            groups,
        },
    })
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}")
}
