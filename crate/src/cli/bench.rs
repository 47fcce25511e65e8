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
use verbatim::reference::{FloatLlamaAll, FloatModel};
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
/// the float side is the f32 model on exactly dequantized weights ([`FloatLlamaAll`]).
pub fn quality(bytes: Vec<u8>, data: &str, min_tokens: u64, as_json: bool) -> Result<()> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let float = FloatLlamaAll::load(&gguf, &bytes)?;
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

/// Native prompt and decode speed, exact (1 thread and all threads) vs candle float.
pub fn speed(bytes: Vec<u8>, prompt: usize, decode: usize, as_json: bool) -> Result<()> {
    let gguf = GgufModel::parse(&bytes)?;
    let tok = Tokenizer::from_gguf(&gguf.content)?;
    let ids = prompt_ids(&tok, prompt)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    let file = Arc::new(bytes.clone());
    for th in [1, threads] {
        let mut m = ExactModel::load(CpuExecutor::with_threads(th), &gguf, &file)?;
        let t0 = Instant::now();
        let mut logits = m.forward(&ids)?;
        let p = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for _ in 0..decode {
            let next = verbatim::sampler::argmax(&logits);
            logits = m.forward(&[next])?;
        }
        let d = t1.elapsed().as_secs_f64();
        rows.push((
            format!("exact, {th} thread(s)"),
            prompt as f64 / p,
            decode as f64 / d,
        ));
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
            prompt as f64 / p,
            decode as f64 / d,
        ));
    }
    let float = rows.last().map(|r| (r.1, r.2)).unwrap_or((1.0, 1.0));
    if as_json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, p, d)| json!({"engine": n, "prompt_tok_s": p, "decode_tok_s": d,
                                     "prompt_vs_float": p / float.0, "decode_vs_float": d / float.1}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"prompt_tokens": prompt, "decode_tokens": decode, "rows": v})
            )?
        );
    } else {
        println!("prompt {prompt} tokens, decode {decode} tokens (greedy), native, this machine");
        println!(
            "{:<28} {:>12} {:>12} {:>10} {:>10}",
            "engine", "prompt tok/s", "decode tok/s", "prompt/x", "decode/x"
        );
        for (n, p, d) in &rows {
            println!(
                "{n:<28} {p:>12.1} {d:>12.1} {:>10.2} {:>10.2}",
                p / float.0,
                d / float.1
            );
        }
        println!("(x = candle float with all threads)");
    }
    Ok(())
}
