//! `facegate bench-search`: 1:N search latency and index memory at realistic gallery sizes.
//!
//! There are only ~2400 real embeddings, so a gallery of N is made of them repeated, each copy
//! perturbed by Gaussian noise of norm ~0.45 (cosine ~0.9 to its source, as another photo of
//! the same person): the component statistics stay those of SFace, which is what the int8
//! scales see. Probes are real embeddings perturbed afresh, so every probe has near copies in
//! the gallery and the re-ranking path is exercised (N/2400 candidates a search at least), a
//! heavier load than production's, where most captures match nobody.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use facegate_pipeline::search::FaceIndex;
use facegate_pipeline::search_thresholds::SearchThresholds;
use facegate_pipeline::Embedding;
use serde::Serialize;

use crate::metrics::percentile;

#[derive(Serialize)]
pub struct Report {
    gallery: String,
    searches: usize,
    /// Best k kept per search.
    k: usize,
    sizes: Vec<SizeFigures>,
}

#[derive(Serialize)]
struct SizeFigures {
    faces: usize,
    /// The shipped "possible" cosine threshold for this size, the lower of the two.
    min_cosine: f32,
    index_mb: f64,
    serialised_mb: f64,
    build_ms: f64,
    /// Int8 scan with estimates only.
    search_ms: Percentiles,
    /// Scan plus re-ranking on exact fp32 templates held in memory (storage reads excluded).
    search_exact_ms: Percentiles,
    mean_hits: f64,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p99: f64,
}

/// splitmix64 and Box-Muller: reproducible galleries without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn gaussian(&mut self) -> f32 {
        let mut u = || ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32;
        let (a, b) = (u(), u());
        (-2.0 * a.ln()).sqrt() * (std::f32::consts::TAU * b).cos()
    }

    fn unit(&mut self) -> Embedding {
        loop {
            let v = (0..128).map(|_| self.gaussian()).collect();
            if let Some(e) = Embedding::from_raw(v) {
                return e;
            }
        }
    }

    fn near(&mut self, of: &Embedding, noise: f32) -> Embedding {
        let v: Vec<f32> =
            of.0.iter()
                .map(|x| x + noise * self.gaussian() / (of.0.len() as f32).sqrt())
                .collect();
        Embedding::from_raw(v).unwrap_or_else(|| self.unit())
    }
}

const NOISE: f32 = 0.45;
const K: usize = 10;

pub fn run(cache: &Path, sizes: &[usize], searches: usize) -> Result<Report, String> {
    let mut rng = Rng(42);
    let (real, gallery) = match crate::search_thresholds::cached_embeddings(cache) {
        Some(r) if !r.is_empty() => (
            r,
            format!(
                "the embeddings of {} repeated with noise of norm {NOISE}",
                cache.display()
            ),
        ),
        _ => {
            eprintln!(
                "bench-search: no embeddings in {} (run `facegate search-thresholds` first); \
                 using random unit vectors",
                cache.display()
            );
            (
                (0..2_000).map(|_| rng.unit()).collect(),
                "random unit vectors repeated with noise".into(),
            )
        }
    };
    let shipped = SearchThresholds::shipped();
    let mut figures = Vec::new();
    for &n in sizes {
        let templates: HashMap<String, Embedding> = (0..n)
            .map(|i| {
                (
                    format!("user-{i:07}"),
                    rng.near(&real[i % real.len()], NOISE),
                )
            })
            .collect();
        let t0 = Instant::now();
        let mut index = FaceIndex::new();
        for (id, e) in &templates {
            index.insert(id, e).map_err(|e| e.to_string())?;
        }
        let build_ms = t0.elapsed().as_secs_f64() * 1e3;
        let min_cosine = shipped.for_gallery(n).possible_cosine;
        let probes: Vec<Embedding> = (0..searches)
            .map(|i| rng.near(&real[(i * 7919) % real.len()], NOISE))
            .collect();
        let (mut plain, mut exact, mut hits) = (Vec::new(), Vec::new(), 0usize);
        for p in &probes {
            let t = Instant::now();
            std::hint::black_box(index.search(p, K, min_cosine).map_err(|e| e.to_string())?);
            plain.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let h = index
                .search_exact(p, K, min_cosine, |id| templates.get(id).cloned())
                .map_err(|e| e.to_string())?;
            exact.push(t.elapsed().as_secs_f64() * 1e3);
            hits += h.len();
        }
        let pct = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let r = |x: f64| (x * 1000.0).round() / 1000.0;
            Percentiles {
                p50: r(percentile(&v, 50.0)),
                p99: r(percentile(&v, 99.0)),
            }
        };
        let mb = |b: usize| (b as f64 / 1e6 * 100.0).round() / 100.0;
        let fig = SizeFigures {
            faces: index.len(),
            min_cosine,
            index_mb: mb(index.memory_bytes()),
            serialised_mb: mb(index.to_bytes().len()),
            build_ms: (build_ms * 10.0).round() / 10.0,
            search_ms: pct(plain),
            search_exact_ms: pct(exact),
            mean_hits: (hits as f64 / searches.max(1) as f64 * 100.0).round() / 100.0,
        };
        eprintln!(
            "  {n} faces: search p50 {} ms, p99 {} ms, {} MB",
            fig.search_ms.p50, fig.search_ms.p99, fig.index_mb
        );
        figures.push(fig);
    }
    Ok(Report {
        gallery,
        searches,
        k: K,
        sizes: figures,
    })
}
