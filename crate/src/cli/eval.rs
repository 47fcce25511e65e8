//! `verbatim eval`: lm-eval style tasks on the exact engine (docs/tasks.md), and
//! `verbatim eval merge`: shards combined into the single run's result.

use crate::{open_gpu, read_model, ExecutorArg, ModelArgs};
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use verbatim::cpu::CpuExecutor;
use verbatim::engine::ExactModel;
use verbatim::eval::builtin::{builtin_task, builtin_tasks};
use verbatim::eval::link::{compare, difference, expectation, EvalLink, EvalVerdict, TaskRef};
use verbatim::eval::metrics::headline;
use verbatim::eval::result::{merge, parse_shard, run_info, EvalResult};
use verbatim::eval::run::{score_item, subset, ExactScorer, FloatScorer, ItemResult, ScoringModel};
use verbatim::eval::score::SCORE_SPEC;
use verbatim::eval::task::Task;
use verbatim::exact::{SPEC_EXACT_1, SPEC_EXACT_2};
use verbatim::gguf::GgufModel;
use verbatim::hash::{hex, sha256_hex};
use verbatim::manifest::Manifest;
use verbatim::reference::FloatLlamaAll;
use verbatim::replay::{parse_sha256, ModelRef};
use verbatim::tokenizer::Tokenizer;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvalCommand {
    #[command(subcommand)]
    pub sub: Option<EvalSub>,
    #[command(flatten)]
    pub run: EvalArgs,
}

#[derive(clap::Subcommand)]
pub enum EvalSub {
    /// Combine shard results (`--shard I/N` runs, every shard once) into the single run's result.
    Merge {
        /// Result files written by `verbatim eval --json --out FILE --shard I/N`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged result as JSON (else a summary).
        #[arg(long)]
        json: bool,
        /// Write the merged JSON to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A built-in task (arc_easy, arc_challenge, hellaswag, piqa, lambada_openai;
    /// `make tasks` generates their files).
    #[arg(long, conflicts_with = "task_file")]
    pub task: Option<String>,
    /// Any task file (docs/tasks.md).
    #[arg(long, value_name = "PATH")]
    pub task_file: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Only the first N items.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Shard I of N (0-based; contiguous blocks of the items); merge with `eval merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// `exact` (spec exact-1 + score-1, reproducible) or `float` (candle reference).
    #[arg(long, default_value = "exact")]
    pub engine: String,
    #[arg(long, value_enum, default_value_t = ExecutorArg::Cpu)]
    pub executor: ExecutorArg,
    /// CPU threads of the exact engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder of the built-in task files.
    #[arg(long, value_name = "DIR")]
    pub tasks_dir: Option<PathBuf>,
    /// Print an eval link that replays this score exactly (`verbatim replay`, the page).
    #[arg(long)]
    pub link: bool,
    /// The page an eval link opens [default: page_url in site.json, else http://127.0.0.1:8080/].
    #[arg(long)]
    pub base: Option<String>,
}

pub fn tasks_dir(arg: Option<&Path>) -> PathBuf {
    match (arg, std::env::var_os("VERBATIM_TASKS_DIR")) {
        (Some(d), _) => d.to_path_buf(),
        (None, Some(d)) => PathBuf::from(d),
        (None, None) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/tasks"),
    }
}

/// Reads and verifies a built-in task or a task file.
pub fn load_task(task: Option<&str>, file: Option<&Path>, dir: Option<&Path>) -> Result<Task> {
    let (bytes, what) = match (task, file) {
        (_, Some(f)) => (
            std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
            f.display().to_string(),
        ),
        (Some(name), None) => {
            let entry = builtin_task(name).with_context(|| {
                let known: Vec<String> = builtin_tasks().into_iter().map(|t| t.name).collect();
                format!(
                    "unknown task '{name}' (built-in: {}); use --task-file for your own",
                    known.join(", ")
                )
            })?;
            let path = tasks_dir(dir).join(&entry.file);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("{} is missing: run `make tasks`", path.display()))?;
            let got = sha256_hex(&bytes);
            if got != entry.sha256 {
                bail!(
                    "{} has sha256 {got}; tasks/manifest.json says {} (run `make tasks` again)",
                    path.display(),
                    entry.sha256
                );
            }
            (bytes, path.display().to_string())
        }
        (None, None) => bail!("give --task NAME or --task-file PATH"),
    };
    Task::parse(&bytes).with_context(|| format!("{what} is not a valid task file"))
}

/// A progress line on stderr: items, tokens/s, ETA (redrawn on a terminal, every
/// 10% otherwise).
struct Progress {
    start: Instant,
    total: usize,
    tty: bool,
    last_draw: Instant,
    last_decile: usize,
}

impl Progress {
    fn new(total: usize) -> Self {
        let now = Instant::now();
        Self {
            start: now,
            total,
            tty: std::io::stderr().is_terminal(),
            last_draw: now,
            last_decile: 0,
        }
    }

    fn update(&mut self, done: usize, tokens: u64, label: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        let decile = done * 10 / self.total.max(1);
        let finished = done == self.total;
        if self.tty {
            if self.last_draw.elapsed().as_millis() < 200 && !finished {
                return;
            }
        } else if decile == self.last_decile && !finished {
            return;
        }
        self.last_draw = Instant::now();
        self.last_decile = decile;
        let rate = tokens as f64 / secs.max(1e-9);
        let eta = if done > 0 {
            secs / done as f64 * (self.total - done) as f64
        } else {
            0.0
        };
        let width = 24;
        let fill = done * width / self.total.max(1);
        let bar = format!("{}{}", "#".repeat(fill), ".".repeat(width - fill));
        let line = format!(
            "{label} [{bar}] {done}/{} items  {rate:.0} tok/s  ETA {}",
            self.total,
            fmt_secs(eta)
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            if finished {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

fn fmt_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// The model id a result records: the manifest id, or the file's name.
pub fn model_id(m: &ModelArgs) -> String {
    match &m.model_file {
        Some(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into()),
        None => m.model.clone(),
    }
}

/// Loads the scorer for `engine` on `executor`.
pub fn load_scorer(
    bytes: Vec<u8>,
    exact: bool,
    executor: ExecutorArg,
    threads: Option<usize>,
) -> Result<(Box<dyn ScoringModel>, Tokenizer)> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let ctx = gguf.config.context_length();
    let scorer: Box<dyn ScoringModel> = if !exact {
        Box::new(FloatScorer::new(FloatLlamaAll::load(&gguf, &bytes)?, ctx))
    } else {
        let file = Arc::new(bytes);
        match executor {
            // `auto` times decode steps, which scoring does not run: it scores on the
            // CPU executor, the reference, unless the GPU is asked for by name.
            ExecutorArg::Cpu | ExecutorArg::Auto => {
                let cpu = threads.map_or_else(CpuExecutor::new, CpuExecutor::with_threads);
                Box::new(ExactScorer::new(ExactModel::load(cpu, &gguf, &file)?, ctx))
            }
            ExecutorArg::Gpu => Box::new(ExactScorer::new(
                ExactModel::load(open_gpu()?, &gguf, &file)?,
                ctx,
            )),
        }
    };
    Ok((scorer, tok))
}

/// Scores the chosen items of `task`; returns the result, the exact items, and
/// (tokens run, seconds).
pub fn evaluate(
    args: &EvalArgs,
    task: &Task,
    progress: bool,
) -> Result<(EvalResult, Vec<ItemResult>, u64, f64)> {
    let exact = match args.engine.as_str() {
        "exact" => true,
        "float" => false,
        e => bail!("unknown engine '{e}' (use exact or float)"),
    };
    if !exact && args.executor == ExecutorArg::Gpu {
        bail!("the float reference runs on the CPU only (--executor gpu needs --engine exact)");
    }
    let shard = match &args.shard {
        Some(s) => Some(parse_shard(s).with_context(|| {
            format!("--shard must be I/N with 0 <= I < N (e.g. 0/4), not '{s}'")
        })?),
        None => None,
    };
    if args.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    let bytes = read_model(&args.model)?;
    let model_sha = sha256_hex(&bytes);
    let (mut scorer, tok) = load_scorer(bytes, exact, args.executor, args.threads)?;
    let limit = args.limit.map(|l| l.min(task.items.len() as u64));
    let (start, end) = subset(task.items.len(), limit.map(|l| l as usize), shard);
    let label = match shard {
        Some((i, n)) => format!("{} {i}/{n}", task.name),
        None => task.name.clone(),
    };
    let mut bar = Progress::new(end - start);
    let t0 = Instant::now();
    let mut items = Vec::with_capacity(end - start);
    for i in start..end {
        items.push(score_item(scorer.as_mut(), &tok, task, i)?);
        if progress {
            bar.update(i + 1 - start, scorer.tokens_run(), &label);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let info = run_info(
        task,
        &model_id(&args.model),
        &model_sha,
        scorer.spec(),
        limit,
    );
    Ok((
        EvalResult::new(info, shard, items.clone()),
        items,
        scorer.tokens_run(),
        secs,
    ))
}

/// One line per metric.
pub fn summary(r: &EvalResult) -> String {
    let m = &r.metrics;
    let mut s = format!(
        "{} ({} engine{}, {} items{})\n",
        r.info.task,
        r.info.engine,
        r.info
            .spec
            .as_deref()
            .map(|s| format!(", {s} + {}", r.info.score_spec))
            .unwrap_or_default(),
        r.n,
        r.shard
            .as_deref()
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default()
    );
    let row = |name: &str, v: Option<f64>, se: Option<f64>| match (v, se) {
        (Some(v), Some(se)) => format!("  {name:<16} {v:.4} ± {se:.4}\n"),
        (Some(v), None) => format!("  {name:<16} {v:.4}\n"),
        _ => String::new(),
    };
    s += &row("acc", m.acc, m.acc_stderr);
    s += &row("acc_norm", m.acc_norm, m.acc_norm_stderr);
    s += &row("perplexity", m.perplexity, None);
    s += &row("word_perplexity", m.word_perplexity, None);
    s += &row("byte_perplexity", m.byte_perplexity, None);
    s += &row("bits_per_byte", m.bits_per_byte, None);
    s += &format!("  items sha256     {}", r.items_hash);
    s
}

fn emit(r: &EvalResult, json: bool, out: Option<&Path>) -> Result<()> {
    let text = serde_json::to_string(r)?;
    if let Some(p) = out {
        std::fs::write(p, format!("{text}\n"))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if json {
        println!("{text}");
    } else {
        println!("{}", summary(r));
    }
    Ok(())
}

pub fn run(cmd: EvalCommand) -> Result<()> {
    match cmd.sub {
        Some(EvalSub::Merge { files, json, out }) => {
            let mut texts = Vec::new();
            for f in &files {
                let t = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                texts.push((f.display().to_string(), t));
            }
            let r = merge(&texts)?;
            emit(&r, json, out.as_deref())
        }
        None => {
            let a = &cmd.run;
            if a.link && (a.shard.is_some() || a.engine != "exact") {
                bail!("--link is for a whole run (no --shard) on the exact engine");
            }
            let task = load_task(
                a.task.as_deref(),
                a.task_file.as_deref(),
                a.tasks_dir.as_deref(),
            )?;
            let (r, items, tokens, secs) = evaluate(a, &task, true)?;
            let (name, value) = headline(&r.metrics);
            eprintln!(
                "[{} items, {tokens} tokens in {secs:.1} s: {:.1} tok/s, {:.2} items/s; {name} {value:.4}; licence: {}]",
                r.n,
                tokens as f64 / secs.max(1e-9),
                r.n as f64 / secs.max(1e-9),
                task.licence
            );
            emit(&r, a.json, a.out.as_deref())?;
            if a.link {
                let link = make_link(&r, &task, &items)?;
                let base = crate::links::page_base(a.base.as_deref());
                if a.json {
                    eprintln!("{base}#{}", link.encode());
                } else {
                    println!("{base}#{}", link.encode());
                }
            }
            Ok(())
        }
    }
}

fn make_link(r: &EvalResult, task: &Task, items: &[ItemResult]) -> Result<EvalLink> {
    Ok(EvalLink {
        spec: r
            .info
            .spec
            .clone()
            .context("an eval link needs the exact engine")?,
        score_spec: r.info.score_spec.clone(),
        model: ModelRef {
            id: r.info.model.clone(),
            sha256: parse_sha256(&r.info.model_sha256).context("model hash")?,
            url: None,
        },
        task: TaskRef {
            name: task.name.clone(),
            version: task.version,
            items_sha256: parse_sha256(&task.items_sha256).context("task hash")?,
            output_type: task.output_type,
        },
        limit: r.info.limit,
        expect: Some(expectation(items, task.output_type)),
    })
}

/// The model file a link names: `--model-file`, or the manifest's (hash checked).
fn link_model(m: &ModelRef, model_file: Option<&Path>) -> Result<Vec<u8>> {
    let want = hex(&m.sha256);
    let bytes = match model_file {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => {
            let manifest = Manifest::builtin()?;
            let entry = manifest.get(&m.id).with_context(|| {
                format!("give the model file with --model-file (sha256 {want})")
            })?;
            read_model(&ModelArgs {
                model: entry.id.clone(),
                model_file: None,
            })?
        }
    };
    let got = sha256_hex(&bytes);
    if got != want {
        bail!("the model file has sha256 {got}; the link needs {want}");
    }
    Ok(bytes)
}

/// `verbatim replay <eval link>`: scores the link's items again and compares them
/// item by item; exits with status 1 at the first difference.
pub fn replay_link(
    text: &str,
    model_file: Option<&Path>,
    executor: ExecutorArg,
    task_file: Option<&Path>,
    tasks_dir: Option<&Path>,
) -> Result<()> {
    match replay_link_outcome(text, model_file, executor, task_file, tasks_dir)? {
        EvalReplay::Exact(message) => {
            println!("{message}");
            Ok(())
        }
        EvalReplay::Differs(message) => {
            println!("{message}");
            std::process::exit(1);
        }
    }
}

/// What replaying an eval link found, in the words `verbatim replay` prints.
pub enum EvalReplay {
    /// "Score reproduced exactly: …"
    Exact(String),
    /// The first item that differs.
    Differs(String),
}

/// Replays an eval link: its items scored again and compared item by item,
/// stopping at the first difference (used by `replay` and `replay --file`).
pub fn replay_link_outcome(
    text: &str,
    model_file: Option<&Path>,
    executor: ExecutorArg,
    task_file: Option<&Path>,
    tasks_dir: Option<&Path>,
) -> Result<EvalReplay> {
    let link = EvalLink::decode(text)?;
    if (link.spec != SPEC_EXACT_1 && link.spec != SPEC_EXACT_2) || link.score_spec != SCORE_SPEC {
        bail!(
            "the link was made with specs '{}' + '{}'; this Verbatim replays '{SPEC_EXACT_1}' or '{SPEC_EXACT_2}' + '{SCORE_SPEC}'",
            link.spec,
            link.score_spec
        );
    }
    let expect = link
        .expect
        .as_ref()
        .context("the eval link has no expected score to reproduce")?;
    let want_task = hex(&link.task.items_sha256);
    let task = match task_file {
        Some(_) => load_task(None, task_file, tasks_dir)?,
        None => {
            let entry = builtin_task(&link.task.name).with_context(|| {
                format!(
                    "'{}' is not a built-in task: give its file with --task-file (items sha256 {want_task})",
                    link.task.name
                )
            })?;
            if entry.items_sha256 != want_task {
                bail!(
                    "the link's task '{}' has items sha256 {want_task}; this Verbatim's has {}: give the link's task file with --task-file",
                    link.task.name,
                    entry.items_sha256
                );
            }
            load_task(Some(&link.task.name), None, tasks_dir)?
        }
    };
    if task.items_sha256 != want_task || task.output_type != link.task.output_type {
        bail!(
            "the task file's items sha256 is {}; the link needs {want_task}",
            task.items_sha256
        );
    }
    let n = expect.items.len();
    if n == 0 || n > task.items.len() {
        bail!(
            "the link expects {n} items; the task has {}",
            task.items.len()
        );
    }
    let bytes = link_model(&link.model, model_file)?;
    let (mut scorer, tok) = load_scorer(bytes, true, executor, None)?;
    // exact-2 is a strict superset of exact-1 (docs/numerics.md section 13): a
    // model that needs exact-2 cannot be in an exact-1 link.
    if scorer.spec() == Some(SPEC_EXACT_2) && link.spec == SPEC_EXACT_1 {
        bail!(
            "the link names numeric spec '{SPEC_EXACT_1}', which does not define this model (it needs '{SPEC_EXACT_2}')"
        );
    }
    let mut bar = Progress::new(n);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let it = score_item(scorer.as_mut(), &tok, &task, i)?;
        let differs = verbatim::eval::link::mark(&it, task.output_type) != expect.items[i];
        items.push(it);
        bar.update(i + 1, scorer.tokens_run(), &format!("replay {}", task.name));
        if differs {
            break;
        }
    }
    let ot = task.output_type;
    match compare(expect, &items, ot) {
        EvalVerdict::Exact { items: count } => {
            let r = EvalResult::new(
                run_info(
                    &task,
                    &link.model.id,
                    &hex(&link.model.sha256),
                    Some(&link.spec),
                    link.limit,
                ),
                None,
                items,
            );
            let (name, value) = headline(&r.metrics);
            Ok(EvalReplay::Exact(format!(
                "Score reproduced exactly: {name} {value:.4} on {count} items (items sha256 {})",
                r.items_hash
            )))
        }
        other => Ok(EvalReplay::Differs(
            difference(&other, ot).unwrap_or_default(),
        )),
    }
}
