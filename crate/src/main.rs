//! The `verbatim` command-line tool: generate, tokenize, list models.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use verbatim::engine::{tokens_hash, EngineKind};
use verbatim::manifest::Manifest;
use verbatim::sampler::{parse_fixed, SamplingParams};
use verbatim::session::{GenerateRequest, LoadedModel, Session};

#[path = "cli/bench.rs"]
mod bench;
#[path = "cli/conformance.rs"]
mod conformance;
#[path = "cli/eval.rs"]
mod eval;
#[path = "cli/executor.rs"]
mod executor;
#[path = "cli/links.rs"]
mod links;
#[path = "cli/replay_file.rs"]
mod replay_file;

#[derive(Parser)]
#[command(
    name = "verbatim",
    version,
    about = "Language-model runs anyone can replay exactly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
pub(crate) struct ModelArgs {
    /// Model id from the manifest (see `verbatim models`).
    #[arg(long, default_value = "smollm2-135m-instruct-q4_1")]
    pub(crate) model: String,
    /// Any GGUF file instead of a manifest model.
    #[arg(long, value_name = "PATH")]
    pub(crate) model_file: Option<PathBuf>,
}

/// What to run: prompt and sampling settings; decimals are parsed exactly (no floats).
#[derive(clap::Args)]
struct RunArgs {
    #[arg(long)]
    prompt: String,
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// Apply the model's chat template to the prompt (one user message).
    #[arg(long)]
    chat: bool,
    /// 0 = greedy.
    #[arg(long, default_value = "0")]
    temperature: String,
    /// 0 = off.
    #[arg(long, default_value_t = 40)]
    top_k: u32,
    /// 1 = off.
    #[arg(long, default_value = "0.95")]
    top_p: String,
    /// 0 = off.
    #[arg(long, default_value = "0.05")]
    min_p: String,
    /// 1 = off.
    #[arg(long, default_value = "1")]
    repeat_penalty: String,
    #[arg(long, default_value_t = 64)]
    repeat_last_n: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop before this text (repeatable).
    #[arg(long)]
    stop: Vec<String>,
}

impl RunArgs {
    /// The validated request.
    fn request(&self) -> Result<GenerateRequest> {
        let req = GenerateRequest {
            prompt: self.prompt.clone(),
            chat: self.chat,
            messages: None,
            max_tokens: self.max_tokens,
            params: self.params()?,
            stop: self.stop.clone(),
        };
        req.validate()?;
        Ok(req)
    }

    fn params(&self) -> Result<SamplingParams> {
        let narrow = |v: u64, what: &str| -> Result<u32> {
            u32::try_from(v).with_context(|| format!("{what} is too large"))
        };
        let p = SamplingParams {
            temperature_milli: narrow(parse_fixed(&self.temperature, 3)?, "temperature")?,
            top_k: self.top_k,
            top_p_micro: narrow(parse_fixed(&self.top_p, 6)?, "top-p")?,
            min_p_micro: narrow(parse_fixed(&self.min_p, 6)?, "min-p")?,
            repeat_penalty_milli: narrow(parse_fixed(&self.repeat_penalty, 3)?, "repeat penalty")?,
            repeat_last_n: self.repeat_last_n,
            seed: self.seed,
        };
        p.validate()?;
        Ok(p)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate text and stream it (exact engine by default).
    Generate {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        run: RunArgs,
        /// `exact` (spec exact-1, reproducible) or `float` (candle reference).
        #[arg(long, default_value = "exact")]
        engine: String,
        /// Where the exact engine runs: `cpu`, `gpu` (Vulkan), or `auto` (the faster one, measured);
        /// the tokens are the same on each.
        #[arg(long, value_enum, default_value_t = ExecutorArg::Cpu)]
        executor: ExecutorArg,
        /// Print {token_ids, text, tokens_hash, timings} as JSON instead of streaming text.
        #[arg(long)]
        json: bool,
    },
    /// Print the token ids of a text.
    Tokenize {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long)]
        text: String,
        /// Prepend BOS (if the model defines one).
        #[arg(long)]
        bos: bool,
        #[arg(long)]
        json: bool,
    },
    /// Generate with the exact engine and print the replay link of the run.
    Link {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        run: RunArgs,
        /// The page the link opens [default: page_url in site.json, else http://127.0.0.1:8080/].
        #[arg(long)]
        base: Option<String>,
        #[arg(long, value_enum, default_value_t = ExecutorArg::Cpu)]
        executor: ExecutorArg,
    },
    /// Replay a link natively; exits with status 1 if the tokens differ.
    Replay {
        /// A link, its #fragment, or the fragment's payload.
        #[arg(required_unless_present = "file")]
        link: Option<String>,
        /// Replay every link in this file instead (one per line; blank lines and
        /// # comments skipped): a summary line per link, exit status 1 if any
        /// diverged or failed.
        #[arg(long, value_name = "PATH", conflicts_with = "link")]
        file: Option<PathBuf>,
        /// Use this GGUF file (its sha256 must match the link's).
        #[arg(long, value_name = "PATH")]
        model_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExecutorArg::Cpu)]
        executor: ExecutorArg,
        /// Eval links: the task file, when the task is not built in.
        #[arg(long, value_name = "PATH")]
        task_file: Option<PathBuf>,
    },
    /// Score a task (lm-eval conventions) on the exact engine; `eval merge` joins shards.
    Eval(eval::EvalCommand),
    /// List the manifest's models and which are cached.
    Models {
        #[arg(long)]
        json: bool,
    },
    /// Check that this machine computes spec exact-1 bit for bit: the GPU self-test
    /// and the golden corpus on the CPU and/or GPU executor, with a report to share.
    Conformance {
        /// Which executors to check.
        #[arg(long, value_enum, default_value_t = conformance::ConfExecutor::Both)]
        executor: conformance::ConfExecutor,
        /// Every golden case (default: the quick representative subset).
        #[arg(long)]
        full: bool,
        /// Only these golden cases (comma-separated ids).
        #[arg(long, value_delimiter = ',', conflicts_with = "full")]
        cases: Option<Vec<String>>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (print figures; never part of the tests).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Exact engine vs the candle float reference under teacher forcing on LAMBADA.
    Quality {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value = "bench/data/lambada.jsonl")]
        data: String,
        #[arg(long, default_value_t = 20_000)]
        min_tokens: u64,
        #[arg(long)]
        json: bool,
    },
    /// The GPU executor on this machine's Vulkan driver vs the CPU executor:
    /// speed and, per decoded token, dispatches, weight bytes read, bytes read
    /// back and sync points.
    Gpu {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 64)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 16)]
        decode_tokens: usize,
        #[arg(long)]
        json: bool,
    },
    /// Native prompt and decode speed, exact engine vs candle float.
    Speed {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 256)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 64)]
        decode_tokens: usize,
        #[arg(long)]
        json: bool,
    },
}

/// Where the exact engine runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExecutorArg {
    /// The CPU executor.
    Cpu,
    /// The GPU executor (Vulkan), after its self-test.
    Gpu,
    /// The faster of the two here, by measurement (a software-emulated GPU is not timed).
    Auto,
}

/// Opens the GPU executor and checks it with the start-up self-test.
pub(crate) fn open_gpu() -> Result<verbatim::gpu::GpuExecutor> {
    use verbatim::gpu::{selftest, GpuExecutor, GpuOptions};
    let mut gpu = GpuExecutor::new_blocking(GpuOptions::default())?;
    let failed = inject_selftest_fault(selftest::run(&mut gpu)?);
    if !failed.is_empty() {
        bail!(
            "{} failed the self-test ({}); use --executor cpu",
            gpu.summary().name,
            failed.join("; ")
        );
    }
    Ok(gpu)
}

/// Test-only fault injection (debug builds only; release builds ignore it):
/// `VERBATIM_TEST_SELFTEST_FAULT=1` makes the GPU self-test report a failed
/// check, so the tests can see the CLI refuse such a device.
pub(crate) fn inject_selftest_fault(mut failed: Vec<String>) -> Vec<String> {
    if cfg!(debug_assertions) && std::env::var_os("VERBATIM_TEST_SELFTEST_FAULT").is_some() {
        failed.push("attention decode: fault injected by VERBATIM_TEST_SELFTEST_FAULT".into());
    }
    failed
}

/// Loads `bytes` for the exact engine on `executor`.
pub(crate) fn load_exact(bytes: Vec<u8>, executor: ExecutorArg) -> Result<LoadedModel> {
    Ok(match executor {
        ExecutorArg::Cpu => LoadedModel::load(bytes, EngineKind::Exact)?,
        ExecutorArg::Gpu => LoadedModel::load_gpu(bytes, open_gpu()?)?,
        ExecutorArg::Auto => {
            let choice = executor::load_auto(bytes)?;
            eprintln!("executor auto: {}", choice.reason);
            choice.model
        }
    })
}

pub(crate) fn models_dir() -> PathBuf {
    match std::env::var_os("VERBATIM_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/cache"),
    }
}

/// Reads the model's bytes; manifest models are checked against their sha256.
pub(crate) fn read_model(args: &ModelArgs) -> Result<Vec<u8>> {
    if let Some(path) = &args.model_file {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    let manifest = Manifest::builtin()?;
    let entry = manifest.get(&args.model)?;
    let path = models_dir().join(&entry.file);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "model '{}' is not in the cache ({}): run `make models`",
            entry.id,
            path.display()
        )
    })?;
    let got = verbatim::hash::sha256_hex(&bytes);
    if got != entry.sha256 {
        bail!(
            "{} fails verification: sha256 {got}, manifest says {} (run `make models` again)",
            path.display(),
            entry.sha256
        );
    }
    Ok(bytes)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let on_gpu = cli.on_gpu();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if on_gpu {
                eprintln!(
                    "(the CPU executor gives the same tokens: run again with --executor cpu)"
                );
            }
            std::process::ExitCode::FAILURE
        }
    }
}

impl Cli {
    fn on_gpu(&self) -> bool {
        matches!(
            self.command,
            Command::Generate {
                executor: ExecutorArg::Gpu,
                ..
            } | Command::Link {
                executor: ExecutorArg::Gpu,
                ..
            } | Command::Replay {
                executor: ExecutorArg::Gpu,
                ..
            }
        )
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate {
            model,
            run,
            engine,
            executor,
            json,
        } => {
            let engine = EngineKind::parse(&engine)
                .with_context(|| format!("unknown engine '{engine}' (use exact or float)"))?;
            if engine == EngineKind::Float && executor == ExecutorArg::Gpu {
                bail!("the float reference runs on the CPU only (--executor gpu needs --engine exact)");
            }
            generate(&model, run.request()?, engine, executor, json)
        }
        Command::Tokenize {
            model,
            text,
            bos,
            json,
        } => {
            let bytes = read_model(&model)?;
            let gguf = verbatim::gguf::GgufModel::parse(&bytes)?;
            let tok = verbatim::tokenizer::Tokenizer::from_gguf(&gguf.content)?;
            let mut ids = tok.encode(&text, false)?;
            if bos {
                if let Some(b) = tok.bos_id() {
                    ids.insert(0, b);
                }
            }
            if json {
                println!("{}", json!({ "token_ids": ids }));
            } else {
                let s: Vec<String> = ids.iter().map(u32::to_string).collect();
                println!("{}", s.join(" "));
            }
            Ok(())
        }
        Command::Models { json } => list_models(json),
        Command::Eval(cmd) => eval::run(cmd),
        Command::Link {
            model,
            run,
            base,
            executor,
        } => links::make(
            &model,
            run.request()?,
            &links::page_base(base.as_deref()),
            executor,
        ),
        Command::Replay {
            link,
            file,
            model_file,
            executor,
            task_file,
        } => {
            let Some(link) = link else {
                let file = file.context("give a link or --file")?;
                let options = replay_file::FileOptions {
                    model_file: model_file.as_deref(),
                    executor,
                    task_file: task_file.as_deref(),
                };
                return replay_file::replay_file(&file, &options);
            };
            if verbatim::eval::link::is_eval_link(&link) {
                eval::replay_link(
                    &link,
                    model_file.as_deref(),
                    executor,
                    task_file.as_deref(),
                    None,
                )
            } else {
                links::replay(&link, model_file.as_deref(), executor)
            }
        }
        Command::Conformance {
            executor,
            full,
            cases,
            json,
        } => conformance::run(executor, full, cases.as_deref(), json),
        Command::Bench { which } => match which {
            BenchCommand::Quality {
                model,
                data,
                min_tokens,
                json,
            } => bench::quality(read_model(&model)?, &data, min_tokens, json),
            BenchCommand::Speed {
                model,
                prompt_tokens,
                decode_tokens,
                json,
            } => bench::speed(read_model(&model)?, prompt_tokens, decode_tokens, json),
            BenchCommand::Gpu {
                model,
                prompt_tokens,
                decode_tokens,
                json,
            } => bench::gpu(read_model(&model)?, prompt_tokens, decode_tokens, json),
        },
    }
}

fn generate(
    model: &ModelArgs,
    req: GenerateRequest,
    engine: EngineKind,
    executor: ExecutorArg,
    json: bool,
) -> Result<()> {
    req.validate()?;
    let t0 = Instant::now();
    let bytes = read_model(model)?;
    let loaded = match engine {
        EngineKind::Exact => load_exact(bytes, executor)?,
        EngineKind::Float => LoadedModel::load(bytes, engine)?,
    };
    let executor_name = loaded.executor();
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut session = Session::new(loaded);
    let t1 = Instant::now();
    let prompt_tokens = session.begin(&req)?;
    let prompt_ms = t1.elapsed().as_secs_f64() * 1e3;
    let t2 = Instant::now();
    let mut text = String::new();
    let mut logits_hashes = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let reason = loop {
        let step = session.step()?;
        if let Some(h) = step.logits_hash {
            logits_hashes.push(format!("{h:016x}"));
        }
        if !json {
            write!(stdout, "{}", step.text)?;
            stdout.flush()?;
        }
        text.push_str(&step.text);
        if let Some(r) = step.stop {
            break r;
        }
    };
    let decode_ms = t2.elapsed().as_secs_f64() * 1e3;
    let ids = session.generated().to_vec();
    if json {
        let out = json!({
            "token_ids": ids,
            "text": text,
            "prompt_tokens": prompt_tokens,
            "stop_reason": reason.as_str(),
            "engine": engine.as_str(),
            "executor": executor_name,
            "spec": session.model.spec(),
            "tokens_hash": tokens_hash(&ids),
            "logits_hashes": logits_hashes,
            "timings": {
                "load_ms": load_ms,
                "prompt_ms": prompt_ms,
                "decode_ms": decode_ms,
                "prompt_tok_s": prompt_tokens as f64 / (prompt_ms / 1e3),
                "decode_tok_s": ids.len() as f64 / (decode_ms / 1e3),
            },
        });
        writeln!(stdout, "{out}")?;
    } else {
        writeln!(stdout)?;
        eprintln!(
            "[{} engine on {executor_name}; {} prompt tokens in {prompt_ms:.0} ms; {} tokens in {decode_ms:.0} ms, {:.1} tok/s; stop: {}; tokens sha256 {}]",
            engine.as_str(),
            prompt_tokens,
            ids.len(),
            ids.len() as f64 / (decode_ms / 1e3),
            reason.as_str(),
            &tokens_hash(&ids)[..16]
        );
    }
    Ok(())
}

fn list_models(json: bool) -> Result<()> {
    let manifest = Manifest::builtin()?;
    let dir = models_dir();
    let rows: Vec<_> = manifest
        .models
        .iter()
        .map(|m| {
            let cached = dir
                .join(&m.file)
                .metadata()
                .map(|md| md.len() == m.size)
                .unwrap_or(false);
            (m, cached)
        })
        .collect();
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(m, cached)| {
                json!({"id": m.id, "name": m.name, "architecture": m.architecture,
                       "quantization": m.quantization, "size": m.size, "sha256": m.sha256,
                       "license": m.license, "cached": cached})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (m, cached) in rows {
            println!(
                "{:<28} {:>7.1} MB  {:<8} {:<16} {}",
                m.id,
                m.size as f64 / 1e6,
                m.quantization,
                m.license,
                if cached {
                    "cached"
                } else {
                    "not cached (make models)"
                }
            );
        }
    }
    Ok(())
}
