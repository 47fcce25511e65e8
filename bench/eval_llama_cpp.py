#!/usr/bin/env python3
"""llama.cpp's scoring rate on the items `verbatim eval` scores, the same way.

Scores the first N items of a multiple-choice task file (docs/tasks.md) with
llama-cpp-python (float llama.cpp on the CPU, the same GGUF file) as the exact
engine does (crate/src/eval/run.rs): lm-eval's `_encode_pair` tokenization, each
context run once, its KV cache rewound after it for every choice, each choice's
continuation tokens (all but the last) run as one batch with logits for every
position (`logits_all`), log-softmax in float64. Prints the tokens run, the wall
and CPU time, tokens per second of each and acc / acc_norm (a sanity check: float logits, so near but
not equal to the exact engine's).

    LLAMA_PY=/work/llama-venv/bin/python
    $LLAMA_PY bench/eval_llama_cpp.py --task www/tasks/arc_easy.jsonl --limit 20 --threads 1

Timing only; not a test. Needs llama-cpp-python (0.3.36 was used) and numpy.
"""

import argparse
import json
import sys
import time

import numpy as np
from llama_cpp import Llama


def read_task(path, limit):
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        if header.get("output_type") != "multiple_choice":
            sys.exit(f"{path}: only multiple_choice tasks are benchmarked here")
        items = [json.loads(line) for _, line in zip(range(limit), f)]
    return header, items


def encode_pair(llm, add_bos, context, continuation):
    """lm-eval's _encode_pair: trailing whitespace moves to the continuation."""
    trimmed = context.rstrip()
    cont = context[len(trimmed):] + continuation
    ctx = llm.tokenize(trimmed.encode(), add_bos=add_bos, special=False)
    whole = llm.tokenize((trimmed + cont).encode(), add_bos=add_bos, special=False)
    return ctx, whole[len(ctx):]


def log_softmax(rows):
    rows = np.asarray(rows, dtype=np.float64)
    m = rows.max(axis=1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=1, keepdims=True))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, help="a multiple_choice task file")
    ap.add_argument("--model", default="models/cache/smollm2-135m-instruct-q4_1.gguf")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    header, items = read_task(a.task, a.limit)
    delim = header.get("target_delimiter", " ")
    llm = Llama(
        model_path=a.model,
        n_ctx=2048,
        n_batch=512,
        n_threads=a.threads,
        n_threads_batch=a.threads,
        logits_all=True,
        verbose=False,
    )
    add_bos = str(llm.metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
    requests = []
    for it in items:
        pairs = [encode_pair(llm, add_bos, it["context"], delim + c) for c in it["choices"]]
        requests.append(pairs)

    tokens = 0
    acc = acc_norm = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    for it, pairs in zip(items, requests):
        lls = []
        last_ctx = None
        for ctx, cont in pairs:
            if ctx != last_ctx:
                llm.reset()
                llm.eval(ctx)
                tokens += len(ctx)
                last_ctx = ctx
            llm.n_tokens = len(ctx)  # rewind: eval() cuts the KV cache here
            if len(cont) > 1:
                llm.eval(cont[:-1])
                tokens += len(cont) - 1
            rows = llm.scores[len(ctx) - 1 : len(ctx) - 1 + len(cont)]
            lp = log_softmax(rows)
            lls.append(float(sum(lp[i, t] for i, t in enumerate(cont))))
        lens = [len(c) for c in it["choices"]]
        acc += int(np.argmax(lls)) == it["gold"]
        acc_norm += int(np.argmax([l / n for l, n in zip(lls, lens)])) == it["gold"]
    secs = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    out = {
        "engine": "llama.cpp (llama-cpp-python)",
        "task": header["name"],
        "items": len(items),
        "threads": a.threads,
        "tokens": tokens,
        "seconds": round(secs, 3),
        "tok_s": round(tokens / secs, 1),
        "cpu_seconds": round(cpu, 3),
        "tok_per_cpu_s": round(tokens / cpu, 1),
        "acc": acc / len(items),
        "acc_norm": acc_norm / len(items),
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(
            f"llama.cpp, {a.threads} thread(s): {len(items)} items of {header['name']}, "
            f"{tokens} tokens in {secs:.1f} s wall, {cpu:.1f} s CPU: {tokens / secs:.1f} tok/s, "
            f"{tokens / cpu:.1f} tok per CPU-s "
            f"(acc {out['acc']:.4f}, acc_norm {out['acc_norm']:.4f})"
        )


if __name__ == "__main__":
    main()
