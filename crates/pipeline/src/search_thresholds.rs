//! The cosine thresholds of 1:N face search (blocklist and duplicate checks), set for a
//! false-positive identification rate (FPIR) rather than the 1:1 false-match rate: a probe
//! searched against N faces meets N impostors, so FPIR = 1 - (1 - FMR)^N ≤ N·FMR, and the
//! 1:1 operating point (FMR 0.1 %) would flag about N/1000 strangers per search.
//! Written by `facegate search-thresholds` (crates/cli/src/search_thresholds.rs) into
//! `search_thresholds.json`, with the impostor tail it was read from.

use serde::{Deserialize, Serialize};

const SHIPPED_JSON: &str = include_str!("search_thresholds.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchThresholds {
    /// The day they were measured (UTC, YYYY-MM-DD).
    pub measured: String,
    /// How to measure them again.
    pub command: String,
    pub data: String,
    /// Images with a face embedded; `no_face` more had none and take part in no pair.
    pub images: usize,
    pub identities: usize,
    pub no_face: usize,
    /// Every pair of images of different identities / of the same identity.
    pub impostor_pairs: usize,
    pub genuine_pairs: usize,
    /// Pairs of images from different sources, left out: each source names its own
    /// identities, and the same person appears in both under different names.
    pub excluded_cross_source_pairs: usize,
    /// The smallest FMR these pairs can vouch for: 3 / impostor pairs, the 95 % upper bound
    /// when no impostor at all is seen above a threshold (rule of three). Targets below it
    /// come from `tail_model`.
    pub smallest_measurable_fmr: f64,
    /// The highest impostor cosine seen.
    pub max_impostor_cosine: f32,
    /// How each threshold below was chosen.
    pub policy: String,
    pub tail_model: TailModel,
    /// The int8 index's estimate against the exact fp32 cosine, over every pair here.
    pub quantisation: QuantisationError,
    /// Impostor pairs above, and genuine pairs at or below, each cosine step.
    pub tail: Vec<TailStep>,
    /// Operating points by gallery size, smallest first.
    pub galleries: Vec<GalleryThresholds>,
}

/// A generalised Pareto distribution of the impostor cosines above `threshold`:
/// FMR(t) = exceedance_rate · (1 + shape·(t - threshold)/scale)^(-1/shape) (exp(-(t-u)/scale)
/// when shape = 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailModel {
    pub description: String,
    pub threshold: f64,
    pub exceedances: usize,
    pub exceedance_rate: f64,
    pub scale: f64,
    /// The shape used (the fitted one clamped to ≥ 0).
    pub shape: f64,
    pub fitted_shape: f64,
    /// Model against measurement at cosines above `threshold`: (cosine, measured, predicted)
    /// impostor pairs above it.
    pub check: Vec<(f32, usize, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantisationError {
    pub pairs: usize,
    pub max_abs: f32,
    pub mean_abs: f32,
    /// What `search::QUANTISATION_MARGIN` allows: candidates are kept this far below the
    /// threshold asked for.
    pub margin: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TailStep {
    pub cosine: f32,
    pub impostor_above: usize,
    pub genuine_at_or_below: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryThresholds {
    pub gallery_size: usize,
    /// FACE_IN_BLOCKLIST / DUPLICATED_FACE.
    #[serde(rename = "match")]
    pub match_: OperatingPoint,
    /// POSSIBLE_FACE_IN_BLOCKLIST / POSSIBLE_DUPLICATED_FACE.
    pub possible: OperatingPoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Target false-positive identification rate per search.
    pub fpir: f64,
    /// The 1:1 FMR that meets it: fpir / gallery_size.
    pub fmr: f64,
    /// A face is reported when its cosine is above this.
    pub cosine: f32,
    /// `cosine` on the API's 0-100 face-match scale (`Calibration::match_score`).
    pub score: f64,
    /// Genuine pairs at or below `cosine`: a mate in the gallery missed (1:1 FNMR, the FNIR of
    /// a search with one mate enrolled).
    pub fnir: f64,
    /// The threshold read off the measured pairs, when they can vouch for `fmr`.
    pub measured_cosine: Option<f32>,
    /// The threshold the tail model gives.
    pub model_cosine: f32,
    /// Impostor pairs measured above `cosine`.
    pub impostors_above: usize,
    /// `measured`, `model` or `measured and model` (both agree to within 0.005).
    pub source: String,
}

/// (match, possible) cosine thresholds for one gallery size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub match_cosine: f32,
    pub possible_cosine: f32,
}

impl SearchThresholds {
    /// The shipped thresholds, parsed once.
    pub fn shipped() -> &'static SearchThresholds {
        static SHIPPED: std::sync::OnceLock<SearchThresholds> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            serde_json::from_str(SHIPPED_JSON).expect("the committed search_thresholds.json parses")
        })
    }

    /// The thresholds for a gallery of `size` faces. Below the smallest measured size, that
    /// size's (a smaller gallery could afford less, but a blocklist grows); between sizes,
    /// linear in log N (exact for an exponential tail); beyond the largest, the tail model at
    /// FPIR/size, never below the largest size's thresholds.
    pub fn for_gallery(&self, size: usize) -> Thresholds {
        let g = &self.galleries;
        let Some(first) = g.first() else {
            // An empty table cannot come from the committed file; fall back to never matching.
            return Thresholds {
                match_cosine: 1.0,
                possible_cosine: 1.0,
            };
        };
        let pick = |r: &GalleryThresholds| Thresholds {
            match_cosine: r.match_.cosine,
            possible_cosine: r.possible.cosine,
        };
        if size <= first.gallery_size {
            return pick(first);
        }
        for w in g.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if size <= b.gallery_size {
                let f = ((size as f64).ln() - (a.gallery_size as f64).ln())
                    / ((b.gallery_size as f64).ln() - (a.gallery_size as f64).ln());
                let lerp = |x: f32, y: f32| (f64::from(x) + f * f64::from(y - x)) as f32;
                return Thresholds {
                    match_cosine: lerp(a.match_.cosine, b.match_.cosine),
                    possible_cosine: lerp(a.possible.cosine, b.possible.cosine),
                };
            }
        }
        let last = g.last().unwrap_or(first);
        let n = size as f64;
        Thresholds {
            match_cosine: self
                .tail_model
                .cosine_at(last.match_.fpir / n)
                .max(last.match_.cosine),
            possible_cosine: self
                .tail_model
                .cosine_at(last.possible.fpir / n)
                .max(last.possible.cosine),
        }
    }
}

impl TailModel {
    /// The predicted share of impostor pairs above `cosine`.
    pub fn fmr(&self, cosine: f64) -> f64 {
        if cosine <= self.threshold {
            return self.exceedance_rate;
        }
        let z = (cosine - self.threshold) / self.scale;
        let tail = if self.shape.abs() < 1e-9 {
            (-z).exp()
        } else {
            (1.0 + self.shape * z).max(0.0).powf(-1.0 / self.shape)
        };
        self.exceedance_rate * tail
    }

    /// The cosine above which the predicted FMR is `fmr` (the inverse of `fmr`), at most 1.
    pub fn cosine_at(&self, fmr: f64) -> f32 {
        if fmr.is_nan() || fmr <= 0.0 {
            return 1.0;
        }
        if fmr >= self.exceedance_rate {
            return self.threshold as f32;
        }
        let r = fmr / self.exceedance_rate;
        let z = if self.shape.abs() < 1e-9 {
            -r.ln()
        } else {
            (r.powf(-self.shape) - 1.0) / self.shape
        };
        (self.threshold + self.scale * z).min(1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Calibration;

    #[test]
    fn larger_galleries_need_stricter_thresholds_than_one_to_one() {
        let s = SearchThresholds::shipped();
        let one_to_one = Calibration::default().match_cosine;
        let mut previous: Option<Thresholds> = None;
        for n in [100, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000] {
            let t = s.for_gallery(n);
            assert!(t.possible_cosine > one_to_one, "{n}: {t:?}");
            assert!(t.match_cosine >= t.possible_cosine, "{n}: {t:?}");
            if let Some(p) = previous {
                assert!(t.match_cosine >= p.match_cosine, "{n}: {t:?} after {p:?}");
                assert!(
                    t.possible_cosine >= p.possible_cosine,
                    "{n}: {t:?} after {p:?}"
                );
            }
            previous = Some(t);
        }
        let rows = &s.galleries;
        assert!(rows.windows(2).all(|w| {
            w[0].gallery_size < w[1].gallery_size
                && w[0].match_.cosine < w[1].match_.cosine
                && w[0].possible.cosine < w[1].possible.cosine
        }));
        // A table row is returned as it stands.
        let r = &rows[1];
        assert_eq!(s.for_gallery(r.gallery_size).match_cosine, r.match_.cosine);
    }

    #[test]
    fn the_tail_model_inverts() {
        let m = &SearchThresholds::shipped().tail_model;
        for fmr in [1e-4, 1e-6, 1e-8] {
            let c = m.cosine_at(fmr);
            assert!((m.fmr(f64::from(c)) / fmr - 1.0).abs() < 1e-3, "{fmr}: {c}");
        }
        assert_eq!(m.cosine_at(0.0), 1.0);
        assert_eq!(m.cosine_at(f64::NAN), 1.0);
    }
}
