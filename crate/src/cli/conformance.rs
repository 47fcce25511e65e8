//! `verbatim conformance`: does this machine compute spec exact-1 bit for bit?
//! Runs the GPU start-up self-test (`gpu::selftest`) and the golden corpus
//! (`verbatim::golden`: the quick subset, or every case with `--full`) on the
//! CPU and/or GPU executor, and prints a report (a table, or JSON with
//! `--json`) with each case's verdict and first divergent step, tokens/s per
//! executor and the adapter's description, plus a short hash to quote in an
//! issue. Nothing personal is collected: no host name, user or path, only the
//! OS and architecture, the executor's description and the adapter's.
//! The format is documented in docs/conformance.md.

use crate::{models_dir, read_model, ModelArgs};
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use verbatim::exact::SPEC_VERSION;
use verbatim::golden::{compare, Corpus, Expected, Recorder, Verdict};
use verbatim::gpu::{selftest, GpuExecutor, GpuOptions};
use verbatim::session::{LoadedModel, Session};

/// Which executors `verbatim conformance` checks.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfExecutor {
    Cpu,
    Gpu,
    Both,
}

#[derive(Serialize)]
pub struct Report {
    pub report: &'static str,
    pub verbatim: &'static str,
    pub spec: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    /// `quick`, `full` or `selected`.
    pub subset: String,
    pub executors: Vec<ExecutorReport>,
    /// `pass` when every executor passed its self-test and every case.
    pub outcome: &'static str,
}

#[derive(Serialize)]
pub struct ExecutorReport {
    /// `cpu` or `gpu`.
    pub executor: &'static str,
    /// What ran it, as the engine describes it.
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Adapter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selftest: Option<SelfTest>,
    /// Why the executor could not be checked (no device, failed self-test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cases: Vec<CaseReport>,
    pub passed: usize,
    pub prompt_tok_s: f64,
    pub decode_tok_s: f64,
}

#[derive(Serialize)]
pub struct Adapter {
    pub description: String,
    pub vendor: String,
    pub device: String,
    pub backend: String,
    pub driver: String,
    pub device_type: String,
    /// A software implementation on the CPU (lavapipe, SwiftShader, WARP).
    pub software: bool,
    pub dot4: bool,
    pub matmul: &'static str,
    pub max_storage_binding: u64,
}

#[derive(Serialize)]
pub struct SelfTest {
    pub passed: bool,
    pub failures: Vec<String>,
    pub ms: f64,
}

#[derive(Serialize)]
pub struct CaseReport {
    pub id: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub prompt_tokens: usize,
    pub tokens: usize,
    pub ms: f64,
}

/// Tokens and seconds of the prompt and decode phases.
#[derive(Default)]
struct Speed {
    prompt_tokens: usize,
    prompt_s: f64,
    tokens: usize,
    decode_s: f64,
}

fn rate(n: usize, s: f64) -> f64 {
    if s > 0.0 {
        (n as f64 / s * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The CPU executor's name with the architecture and the SIMD it can use.
fn cpu_description(executor: &str) -> String {
    #[cfg(target_arch = "x86_64")]
    let simd = if std::arch::is_x86_feature_detected!("avx2") {
        "AVX2"
    } else {
        "no AVX2: scalar"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let simd = "scalar";
    format!("{executor} ({}, {simd})", std::env::consts::ARCH)
}

fn gpu_adapter(gpu: &GpuExecutor) -> Adapter {
    let s = gpu.summary();
    Adapter {
        description: s.name.clone(),
        vendor: format!("{:#06x}", s.vendor),
        device: format!("{:#06x}", s.device),
        backend: s.backend.clone(),
        driver: s.driver.clone(),
        device_type: s.device_type.clone(),
        software: s.device_type == "Cpu",
        dot4: s.dot4,
        matmul: if s.matmul_per_row { "per-row" } else { "tiled" },
        max_storage_binding: s.max_binding,
    }
}

/// Opens the GPU and runs the self-test; the executor is returned only if it passed.
fn open_gpu(rep: &mut ExecutorReport) -> Option<GpuExecutor> {
    let mut gpu = match GpuExecutor::new_blocking(GpuOptions::default()) {
        Ok(g) => g,
        Err(e) => {
            rep.error = Some(e.to_string());
            return None;
        }
    };
    rep.description = gpu.summary().to_string();
    rep.adapter = Some(gpu_adapter(&gpu));
    gpu.precompile();
    let t = Instant::now();
    let failures = match selftest::run(&mut gpu) {
        Ok(f) => crate::inject_selftest_fault(f),
        Err(e) => {
            rep.error = Some(format!("the self-test could not run: {e}"));
            return None;
        }
    };
    let passed = failures.is_empty();
    rep.selftest = Some(SelfTest {
        passed,
        failures,
        ms: (t.elapsed().as_secs_f64() * 1e4).round() / 10.0,
    });
    if !passed {
        rep.error = Some("failed the start-up self-test: its cases were not run".into());
        return None;
    }
    Some(gpu)
}

fn check_executor(
    which: &'static str,
    cases: &[&verbatim::golden::Case],
    expected: &Expected,
    models: &mut BTreeMap<String, Vec<u8>>,
) -> Result<ExecutorReport> {
    let mut rep = ExecutorReport {
        executor: which,
        description: String::new(),
        adapter: None,
        selftest: None,
        error: None,
        cases: Vec::new(),
        passed: 0,
        prompt_tok_s: 0.0,
        decode_tok_s: 0.0,
    };
    let gpu = if which == "gpu" {
        match open_gpu(&mut rep) {
            Some(g) => Some(g),
            None => return Ok(rep),
        }
    } else {
        None
    };
    let mut speed = Speed::default();
    // A failure while running (a lost device, a GPU error) is part of the report.
    if let Err(e) = run_cases(&mut rep, &mut speed, gpu, cases, expected, models) {
        rep.error = Some(format!("the run stopped: {e:#}"));
    }
    rep.prompt_tok_s = rate(speed.prompt_tokens, speed.prompt_s);
    rep.decode_tok_s = rate(speed.tokens, speed.decode_s);
    Ok(rep)
}

/// Runs `cases` on the CPU, or on `gpu` when given, recording each into `rep`.
fn run_cases(
    rep: &mut ExecutorReport,
    speed: &mut Speed,
    mut gpu: Option<GpuExecutor>,
    cases: &[&verbatim::golden::Case],
    expected: &Expected,
    models: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let which = rep.executor;
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    for case in cases {
        if !sessions.contains_key(&case.model) {
            if !models.contains_key(&case.model) {
                let bytes = read_model(&ModelArgs {
                    model: case.model.clone(),
                    model_file: None,
                })?;
                models.insert(case.model.clone(), bytes);
            }
            let bytes = models[&case.model].clone();
            let loaded = match gpu.take() {
                Some(g) => LoadedModel::load_gpu(bytes, g)?,
                None if which == "gpu" => {
                    bail!("the golden corpus uses more than one model; conformance checks one per GPU")
                }
                None => LoadedModel::load(bytes, verbatim::engine::EngineKind::Exact)?,
            };
            if which == "cpu" {
                rep.description = cpu_description(&loaded.executor());
            }
            sessions.insert(case.model.clone(), Session::new(loaded));
        }
        let session = sessions.get_mut(&case.model).expect("inserted above");
        let t0 = Instant::now();
        let prompt_tokens = session.begin(&case.options.to_request()?)?;
        let t1 = Instant::now();
        let mut rec = Recorder::new(prompt_tokens);
        while !rec.push(&session.step()?) {}
        let got = rec.finish(session);
        let (prompt_s, decode_s) = ((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64());
        speed.prompt_tokens += prompt_tokens;
        speed.prompt_s += prompt_s;
        speed.tokens += got.token_ids.len();
        speed.decode_s += decode_s;
        let verdict = compare(expected.cases.get(&case.id), &got);
        rep.passed += usize::from(verdict.passed());
        rep.cases.push(CaseReport {
            id: case.id.clone(),
            verdict,
            prompt_tokens,
            tokens: got.token_ids.len(),
            ms: ((prompt_s + decode_s) * 1e3).round(),
        });
    }
    Ok(())
}

/// Runs the check and builds the report.
pub fn build(executor: ConfExecutor, full: bool, ids: Option<&[String]>) -> Result<Report> {
    let corpus = Corpus::builtin();
    let expected = Expected::builtin();
    let (subset, cases) = match (ids, full) {
        (Some(_), true) => bail!("--cases and --full exclude each other"),
        (Some(ids), false) => ("selected", corpus.select(Some(ids))?),
        (None, true) => ("full", corpus.select(None)?),
        (None, false) => ("quick", corpus.quick()?),
    };
    // Every model the cases need must be present before anything runs.
    for case in &cases {
        let path = models_dir().join(format!("{}.gguf", case.model));
        if !path.exists() {
            bail!(
                "golden case '{}' needs model '{}' ({}): run `make models`",
                case.id,
                case.model,
                path.display()
            );
        }
    }
    let which: &[&'static str] = match executor {
        ConfExecutor::Cpu => &["cpu"],
        ConfExecutor::Gpu => &["gpu"],
        ConfExecutor::Both => &["cpu", "gpu"],
    };
    let mut models = BTreeMap::new();
    let mut executors = Vec::new();
    for w in which {
        executors.push(check_executor(w, &cases, &expected, &mut models)?);
    }
    let ok = executors
        .iter()
        .all(|e| e.error.is_none() && e.passed == e.cases.len());
    Ok(Report {
        report: "verbatim-conformance-1",
        verbatim: env!("CARGO_PKG_VERSION"),
        spec: SPEC_VERSION,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        subset: subset.to_string(),
        executors,
        outcome: if ok { "pass" } else { "fail" },
    })
}

/// The first 12 hex digits of the sha256 of the report's compact, key-sorted JSON.
pub fn short_hash(json: &str) -> String {
    verbatim::hash::sha256_hex(json.as_bytes())[..12].to_string()
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "pass".into(),
        Verdict::Missing => "no pinned outcome".into(),
        Verdict::Diverged { detail, .. } => format!("DIVERGED: {detail}"),
    }
}

/// The readable report: per executor a table, then the block to paste in an issue.
pub fn render(rep: &Report, hash: &str) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&l);
        s.push('\n');
    };
    line(format!(
        "Verbatim {} conformance, spec {} ({} subset), {}/{}",
        rep.verbatim, rep.spec, rep.subset, rep.os, rep.arch
    ));
    for e in &rep.executors {
        line(String::new());
        line(format!("{} executor: {}", e.executor, e.description));
        if let Some(st) = &e.selftest {
            line(format!(
                "  self-test: {} ({:.1} ms){}",
                if st.passed { "pass" } else { "FAIL" },
                st.ms,
                if st.failures.is_empty() {
                    String::new()
                } else {
                    format!(": {}", st.failures.join("; "))
                }
            ));
        }
        if let Some(err) = &e.error {
            line(format!("  not checked: {err}"));
            continue;
        }
        for c in &e.cases {
            line(format!(
                "  {:<22} {:>4} + {:<3} tokens {:>8.0} ms  {}",
                c.id,
                c.prompt_tokens,
                c.tokens,
                c.ms,
                verdict_text(&c.verdict)
            ));
        }
        line(format!(
            "  {}/{} cases exact; prompt {:.1} tok/s, decode {:.1} tok/s",
            e.passed,
            e.cases.len(),
            e.prompt_tok_s,
            e.decode_tok_s
        ));
    }
    line(String::new());
    line("---- copy for an issue ----".into());
    line(format!(
        "verbatim {} conformance {} ({}, {} subset, {}/{}): {}",
        rep.verbatim,
        hash,
        rep.spec,
        rep.subset,
        rep.os,
        rep.arch,
        rep.outcome.to_uppercase()
    ));
    for e in &rep.executors {
        let what = match &e.adapter {
            Some(a) => format!(
                "{} [{} {}:{}, {}{}, dot4 {}, binding {} MiB]",
                a.description,
                a.backend,
                a.vendor,
                a.device,
                a.device_type,
                if a.software { ", software" } else { "" },
                if a.dot4 { "yes" } else { "no" },
                a.max_storage_binding >> 20
            ),
            None => e.description.clone(),
        };
        let result = match &e.error {
            Some(err) => format!("not checked ({err})"),
            None => format!(
                "{}/{} exact, {:.1} decode tok/s",
                e.passed,
                e.cases.len(),
                e.decode_tok_s
            ),
        };
        line(format!("- {}: {what}: {result}", e.executor));
        for c in &e.cases {
            if let Verdict::Diverged { detail, .. } = &c.verdict {
                line(format!("  - {}: {detail}", c.id));
            }
        }
    }
    line("---------------------------".into());
    s
}

/// `verbatim conformance`: prints the report; fails unless the outcome is pass.
pub fn run(executor: ConfExecutor, full: bool, ids: Option<&[String]>, json: bool) -> Result<()> {
    let rep = build(executor, full, ids)?;
    // Keys sorted (serde_json's map), no spaces: Python's
    // json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    // of the report without "hash" gives the same text.
    let mut v = serde_json::to_value(&rep)?;
    let hash = short_hash(&serde_json::to_string(&v)?);
    if json {
        v["hash"] = serde_json::Value::String(hash);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&rep, &hash));
    }
    if rep.outcome != "pass" {
        bail!("this machine does not conform to spec {SPEC_VERSION} (see the report above)");
    }
    Ok(())
}
