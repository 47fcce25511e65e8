//! `verbatim bench`: quality (exact vs the candle float reference) and native speed.
//! Benchmarks print figures; they are not tests and assert nothing about timing.

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Instant;
use verbatim::cpu::CpuExecutor;
use verbatim::engine::ExactModel;
use verbatim::gguf::GgufModel;
use verbatim::reference::{FloatAll, FloatModel};
use verbatim::tokenizer::Tokenizer;

/// log-softmax of `logits` in f64.
fn log_softmax(logits: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let max = logits.clone().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.clone().map(|l| (l - max).exp()).sum::<f64>().ln();
    logits.map(|l| l - lse).collect()
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[derive(Default)]
struct Tally {
    tokens: u64,
    bytes: u64,
    nll_exact: f64,
    nll_float: f64,
    kl: f64,
    agree: u64,
}

/// Teacher-forced comparison on LAMBADA passages until `min_tokens` are scored;
/// the float side is the f32 model on exactly dequantized weights ([`FloatAll`]: for Gemma 3 a float graph that follows llama.cpp).
pub fn quality(bytes: Vec<u8>, data: &str, min_tokens: u64, as_json: bool) -> Result<()> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let float = FloatAll::load(&gguf, &bytes)?;
    let file = Arc::new(bytes);
    let mut exact = ExactModel::load(CpuExecutor::new(), &gguf, &file)?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(data).with_context(|| format!("{data}: run `make bench-data`"))?,
    );
    let mut t = Tally::default();
    let mut passages = 0;
    let start = Instant::now();
    for line in reader.lines() {
        if t.tokens >= min_tokens {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = v["text"].as_str().context("passage without text")?;
        let ids = tok.encode(text, true)?;
        if ids.len() < 2 {
            continue;
        }
        exact.reset();
        let ex = exact.forward_all(&ids)?;
        let fl_all = float.forward_all(&ids)?;
        for i in 0..ids.len() - 1 {
            let lf = log_softmax(fl_all[i].iter().map(|&x| x as f64));
            let le = log_softmax(ex[i].iter().map(|&x| x as f64 / 65536.0));
            let next = ids[i + 1] as usize;
            t.nll_float -= lf[next];
            t.nll_exact -= le[next];
            t.kl += lf
                .iter()
                .zip(&le)
                .map(|(a, b)| a.exp() * (a - b))
                .sum::<f64>();
            t.agree += (argmax(&lf) == argmax(&le)) as u64;
            t.tokens += 1;
        }
        t.bytes += text.len() as u64;
        passages += 1;
        if passages % 20 == 0 {
            eprint!(
                "\r{passages} passages, {} tokens, {:.0} s",
                t.tokens,
                start.elapsed().as_secs_f64()
            );
            std::io::stderr().flush().ok();
        }
    }
    eprintln!();
    if t.tokens == 0 {
        bail!("no tokens scored");
    }
    let n = t.tokens as f64;
    let (ppl_e, ppl_f) = ((t.nll_exact / n).exp(), (t.nll_float / n).exp());
    let r = json!({
        "passages": passages,
        "tokens": t.tokens,
        "perplexity_float": ppl_f,
        "perplexity_exact": ppl_e,
        "perplexity_ratio": ppl_e / ppl_f,
        "bits_per_byte_float": t.nll_float / t.bytes as f64 / std::f64::consts::LN_2,
        "bits_per_byte_exact": t.nll_exact / t.bytes as f64 / std::f64::consts::LN_2,
        "mean_kl_float_exact": t.kl / n,
        "top1_agreement": t.agree as f64 / n,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("LAMBADA passages: {passages}, scored tokens: {}", t.tokens);
        println!(
            "perplexity   float {ppl_f:.4}   exact {ppl_e:.4}   ratio {:.4}",
            ppl_e / ppl_f
        );
        println!("mean KL(float || exact) per token: {:.3e} nats", t.kl / n);
        println!(
            "top-1 agreement (teacher forcing): {:.2}%",
            100.0 * t.agree as f64 / n
        );
    }
    Ok(())
}

/// A fixed English text for prompt-speed runs (public domain: Austen, 1813).
const TEXT: &str = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered as the rightful property of some one or other of their daughters. ";

fn prompt_ids(tok: &Tokenizer, n: usize) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(tok.encode(TEXT, false)?);
    }
    ids.truncate(n);
    Ok(ids)
}

/// Positions of the long-context decode row.
const LONG_CONTEXT: usize = 1024;
/// Prompt tokens of the short-context decode row.
const SHORT_CONTEXT: usize = 8;

/// Thread counts of the exact rows: 1, 2, 4, ... up to the cores, and all cores.
fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |t| Some(t * 2))
        .take_while(|&t| t <= cores.max(2))
        .collect();
    if !v.contains(&cores) {
        v.push(cores);
    }
    v
}

/// CPU seconds the calling thread has run (Linux `/proc/thread-self/schedstat`, in
/// ns), or `None` elsewhere. On a machine shared with other work a one-thread run's
/// CPU time is steadier than its wall time.
fn thread_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Wall seconds for the prompt `ids` (one batch) and for `decode` greedy tokens
/// after it, and the calling thread's CPU seconds for each (see [`thread_cpu_s`]).
fn time_exact(m: &mut ExactModel, ids: &[u32], decode: usize) -> Result<[f64; 4]> {
    m.reset();
    let c0 = thread_cpu_s();
    let t0 = Instant::now();
    let mut logits = m.forward(ids)?;
    let p = t0.elapsed().as_secs_f64();
    let c1 = thread_cpu_s();
    let t1 = Instant::now();
    for _ in 0..decode {
        let next = verbatim::sampler::argmax(&logits);
        logits = m.forward(&[next])?;
    }
    let d = t1.elapsed().as_secs_f64();
    let c2 = thread_cpu_s();
    let cpu = |a: Option<f64>, b: Option<f64>| a.zip(b).map_or(f64::NAN, |(a, b)| b - a);
    Ok([p, d, cpu(c0, c1), cpu(c1, c2)])
}

/// Native prompt and decode speed: the exact engine on 1, 2, ... threads, candle
/// float on all, and decode at a short and at a [`LONG_CONTEXT`] context on one
/// thread. The JSON form carries the prompt's token ids, so that
/// `bench/llama_cpp_speed.py` runs llama.cpp on the same tokens.
pub fn speed(bytes: Vec<u8>, prompt: usize, decode: usize, as_json: bool) -> Result<()> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let ids = prompt_ids(&tok, prompt)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    let mut one_thread_cpu = None;
    let file = Arc::new(bytes.clone());
    for th in thread_counts() {
        let mut m = ExactModel::load(CpuExecutor::with_threads(th), &gguf, &file)?;
        // One untimed short run: page the weights in, start the workers.
        time_exact(&mut m, &ids[..ids.len().min(SHORT_CONTEXT)], 2)?;
        let [p, d, pc, dc] = time_exact(&mut m, &ids, decode)?;
        rows.push((
            format!("exact, {th} thread(s)"),
            th,
            prompt as f64 / p,
            decode as f64 / d,
        ));
        if th == 1 {
            one_thread_cpu = Some((prompt as f64 / pc, decode as f64 / dc));
        }
    }
    {
        let mut f = FloatModel::load(&gguf, &bytes)?;
        let t0 = Instant::now();
        let mut logits = f.forward(&ids, 0)?;
        let p = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for i in 0..decode {
            let next = verbatim::sampler::argmax(&verbatim::reference::logits_to_q16(&logits));
            logits = f.forward(&[next], prompt + i)?;
        }
        let d = t1.elapsed().as_secs_f64();
        rows.push((
            format!("candle float, {threads} thread(s)"),
            threads,
            prompt as f64 / p,
            decode as f64 / d,
        ));
    }
    // Decode retention: the same decode count after a short and a long prompt.
    let long_ids = prompt_ids(&tok, LONG_CONTEXT)?;
    let mut m = ExactModel::load(CpuExecutor::with_threads(1), &gguf, &file)?;
    let short = time_exact(&mut m, &long_ids[..SHORT_CONTEXT], decode)?;
    let long = time_exact(&mut m, &long_ids, decode)?;
    let (short_rate, long_rate) = (decode as f64 / short[1], decode as f64 / long[1]);
    let (short_cpu, long_cpu) = (decode as f64 / short[3], decode as f64 / long[3]);
    let (p1_cpu, d1_cpu) = one_thread_cpu.unwrap_or((f64::NAN, f64::NAN));

    let float = rows.last().map(|r| (r.2, r.3)).unwrap_or((1.0, 1.0));
    if as_json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, th, p, d)| json!({"engine": n, "threads": th, "prompt_tok_s": p, "decode_tok_s": d,
                                     "prompt_vs_float": p / float.0, "decode_vs_float": d / float.1}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "prompt_tokens": prompt,
                "decode_tokens": decode,
                "prompt_ids": ids,
                "rows": v,
                // per CPU second of the computing thread: steadier on a shared machine
                "one_thread_per_cpu_s": {"prompt_tok_s": p1_cpu, "decode_tok_s": d1_cpu},
                "decode_retention": {
                    "threads": 1,
                    "short_context": SHORT_CONTEXT,
                    "long_context": LONG_CONTEXT,
                    "short_decode_tok_s": short_rate,
                    "long_decode_tok_s": long_rate,
                    "long_vs_short": long_rate / short_rate,
                    "short_decode_tok_per_cpu_s": short_cpu,
                    "long_decode_tok_per_cpu_s": long_cpu,
                    "long_vs_short_cpu": long_cpu / short_cpu,
                },
            }))?
        );
    } else {
        println!("prompt {prompt} tokens, decode {decode} tokens (greedy), native, this machine");
        println!(
            "{:<28} {:>12} {:>12} {:>10} {:>10}",
            "engine", "prompt tok/s", "decode tok/s", "prompt/x", "decode/x"
        );
        for (n, _, p, d) in &rows {
            println!(
                "{n:<28} {p:>12.1} {d:>12.1} {:>10.2} {:>10.2}",
                p / float.0,
                d / float.1
            );
        }
        println!("(x = candle float with all threads)");
        println!(
            "decode on 1 thread: {short_rate:.1} tok/s after {SHORT_CONTEXT} tokens, \
             {long_rate:.1} tok/s after {LONG_CONTEXT}: {:.0}% retained",
            100.0 * long_rate / short_rate
        );
        println!(
            "per CPU second of the thread: 1 thread {p1_cpu:.1} prompt / {d1_cpu:.1} decode tok/s; \
             decode {short_cpu:.1} after {SHORT_CONTEXT}, {long_cpu:.1} after {LONG_CONTEXT}: {:.0}% retained",
            100.0 * long_cpu / short_cpu
        );
    }
    Ok(())
}

/// Bytes of the model's weight tensors as stored in the file.
fn weight_bytes(gguf: &GgufModel) -> u64 {
    gguf.content
        .tensor_infos
        .values()
        .map(|t| {
            let n = t.shape.elem_count();
            (n / t.ggml_dtype.block_size() * t.ggml_dtype.type_size()) as u64
        })
        .sum()
}

/// The GPU executor vs the CPU executor in the same run, with the GPU's work
/// counters per decoded token.
pub fn gpu(bytes: Vec<u8>, prompt: usize, decode: usize, as_json: bool) -> Result<()> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let ids = prompt_ids(&tok, prompt)?;
    let model_bytes = weight_bytes(&gguf);
    let file = Arc::new(bytes);

    let t = Instant::now();
    let gpu = crate::open_gpu()?;
    let adapter = gpu.summary().clone();
    let mut g = ExactModel::load(gpu, &gguf, &file)?;
    g.executor.precompile();
    let setup_s = t.elapsed().as_secs_f64();
    let before = g.executor.stats;
    let t0 = Instant::now();
    let mut logits = g.forward(&ids)?;
    let gp = t0.elapsed().as_secs_f64();
    let prompt_stats = g.executor.stats;
    let prompt_dispatches = prompt_stats.dispatches - before.dispatches;
    let prompt_submits = prompt_stats.submits - before.submits;
    let mut tokens = Vec::new();
    let t1 = Instant::now();
    for _ in 0..decode {
        let next = verbatim::sampler::argmax(&logits);
        tokens.push(next);
        logits = g.forward(&[next])?;
    }
    let gd = t1.elapsed().as_secs_f64();
    let s = g.executor.stats;
    let per = |a: u64, b: u64| (a - b) as f64 / decode.max(1) as f64;
    let dispatches = per(s.dispatches, prompt_stats.dispatches);
    let weight = per(s.weight_bytes, prompt_stats.weight_bytes);
    let readback = per(s.readback_bytes, prompt_stats.readback_bytes);
    let syncs = per(s.syncs, prompt_stats.syncs);
    let submits = per(s.submits, prompt_stats.submits);
    let upload = per(s.upload_bytes, prompt_stats.upload_bytes);

    let mut c = ExactModel::load(CpuExecutor::with_threads(1), &gguf, &file)?;
    let t0 = Instant::now();
    let mut cl = c.forward(&ids)?;
    let cp = t0.elapsed().as_secs_f64();
    let mut cpu_tokens = Vec::new();
    let t1 = Instant::now();
    for _ in 0..decode {
        let next = verbatim::sampler::argmax(&cl);
        cpu_tokens.push(next);
        cl = c.forward(&[next])?;
    }
    let cd = t1.elapsed().as_secs_f64();
    let same = cpu_tokens == tokens && cl == logits;

    let rows = [
        ("gpu", prompt as f64 / gp, decode as f64 / gd),
        ("cpu, 1 thread", prompt as f64 / cp, decode as f64 / cd),
    ];
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "adapter": adapter.to_string(),
                "prompt_tokens": prompt,
                "decode_tokens": decode,
                "setup_s": setup_s,
                "gpu": {"prompt_tok_s": rows[0].1, "decode_tok_s": rows[0].2},
                "cpu_1_thread": {"prompt_tok_s": rows[1].1, "decode_tok_s": rows[1].2},
                "prompt_dispatches": prompt_dispatches,
                "prompt_submits": prompt_submits,
                "per_decoded_token": {
                    "dispatches": dispatches,
                    "weight_bytes": weight,
                    "weight_bytes_vs_model": weight / model_bytes as f64,
                    "readback_bytes": readback,
                    "upload_bytes": upload,
                    "sync_points": syncs,
                    "submits": submits,
                },
                "model_weight_bytes": model_bytes,
                "same_tokens_and_logits_as_cpu": same,
            }))?
        );
    } else {
        println!("GPU executor on {adapter}");
        println!("prompt {prompt} tokens (one batch), decode {decode} tokens (greedy); setup {setup_s:.1} s");
        println!(
            "{:<16} {:>12} {:>12}",
            "executor", "prompt tok/s", "decode tok/s"
        );
        for (n, p, d) in &rows {
            println!("{n:<16} {p:>12.2} {d:>12.2}");
        }
        println!(
            "gpu/cpu: prompt {:.2}x, decode {:.2}x",
            rows[0].1 / rows[1].1,
            rows[0].2 / rows[1].2
        );
        println!("per decoded token:");
        println!("  dispatches         {dispatches:.0}");
        println!(
            "  weight bytes read  {:.1} MB = {:.3}x the model's weights ({:.1} MB)",
            weight / 1e6,
            weight / model_bytes as f64,
            model_bytes as f64 / 1e6
        );
        println!("  bytes read back    {readback:.0} (the logits)");
        println!("  bytes uploaded     {upload:.0}");
        println!("  sync points        {syncs:.1} ({submits:.1} submits)");
        println!("prompt: {prompt_dispatches} dispatches in {prompt_submits} submit(s)");
        println!(
            "same tokens and logits as the CPU executor: {}",
            if same { "yes" } else { "NO" }
        );
    }
    if !same {
        bail!("the GPU executor's tokens differ from the CPU executor's");
    }
    Ok(())
}
