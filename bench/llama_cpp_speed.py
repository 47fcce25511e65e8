#!/usr/bin/env python3
"""Native speed of the exact engine next to llama.cpp (llama-cpp-python), same run.

Reads the JSON of `verbatim bench speed --json` (the exact engine's rows and the
prompt's token ids), prints its table, and, when the Python named by --llama-py can
import llama_cpp, runs llama.cpp on the same GGUF file with the same prompt token
ids (one batch) and the same number of greedy decode steps, on 1 and 2 threads
(n_threads = n_threads_batch, CPU only), and prints the ratios exact / llama.cpp.
Without llama_cpp it says how to get it and exits 0: the column is optional.

  python3 bench/llama_cpp_speed.py --exact target/bench-speed.json \\
      --model models/cache/smollm2-135m-instruct-q4_1.gguf [--llama-py target/llama-venv/bin/python]

Figures, not tests: nothing here asserts a speed. `make bench-deps-llama` makes the
venv (llama-cpp-python==0.3.36, built from source by pip).
"""

import argparse
import json
import os
import subprocess
import sys
import time


def measure(model, ids, decode, threads, repeat):
    """Runs inside the llama_cpp venv: best-of-`repeat` prompt and decode seconds."""
    import llama_cpp  # noqa: PLC0415 (only this Python has it)
    import numpy as np  # noqa: PLC0415

    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=len(ids) + decode + 16,
        n_batch=len(ids),
        n_ubatch=len(ids),
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        logits_all=False,
        verbose=False,
    )
    n_vocab = llm.n_vocab()
    best = None
    for _ in range(repeat + 1):  # the first run is a warm-up
        llm.reset()  # eval() drops the cached positions from n_tokens on
        c0, t0 = time.process_time(), time.perf_counter()
        llm.eval(ids)
        p = time.perf_counter() - t0
        c1, t1 = time.process_time(), time.perf_counter()
        for _ in range(decode):
            # Without logits_all, the context holds the last position's logits only.
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))  # noqa: SLF001
            nxt = int(np.argmax(logits))
            llm.eval([nxt])
        d = time.perf_counter() - t1
        c2 = time.process_time()
        if best is None or p + d < best[0] + best[1]:
            best = (p, d, c1 - c0, c2 - c1)
    return {"version": llama_cpp.__version__, "prompt_s": best[0], "decode_s": best[1],
            "prompt_cpu_s": best[2], "decode_cpu_s": best[3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exact", required=True, help="JSON of `verbatim bench speed --json`")
    ap.add_argument("--model", required=True, help="the GGUF file the exact run used")
    ap.add_argument("--llama-py", default=os.environ.get("LLAMA_PY", "target/llama-venv/bin/python"))
    ap.add_argument("--threads", default="1,2", help="llama.cpp thread counts (comma-separated)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one llama.cpp run
    args = ap.parse_args()

    if args.measure:
        ids, decode, threads = json.loads(args.measure)
        print(json.dumps(measure(args.model, ids, decode, threads, args.repeat)))
        return 0

    try:
        with open(args.exact) as f:
            exact = json.load(f)
        ids, decode = exact["prompt_ids"], exact["decode_tokens"]
        rows = exact["rows"]
    except (OSError, ValueError, KeyError) as e:
        print(f"llama_cpp_speed.py: {args.exact}: not the JSON of `verbatim bench speed --json` ({e})", file=sys.stderr)
        return 2
    if not os.path.isfile(args.model):
        print(f"llama_cpp_speed.py: no model file {args.model}", file=sys.stderr)
        return 2

    print(f"prompt {len(ids)} tokens (one batch), decode {decode} tokens (greedy), native, this machine")
    print(f"{'engine':<32} {'prompt tok/s':>12} {'decode tok/s':>12}")
    for r in rows:
        print(f"{r['engine']:<32} {r['prompt_tok_s']:>12.1f} {r['decode_tok_s']:>12.1f}")
    ret = exact.get("decode_retention")
    if ret:
        print(
            f"decode on {ret['threads']} thread: {ret['short_decode_tok_s']:.1f} tok/s after {ret['short_context']} tokens, "
            f"{ret['long_decode_tok_s']:.1f} after {ret['long_context']}: {100 * ret['long_vs_short']:.0f}% retained "
            f"(per CPU second: {ret['short_decode_tok_per_cpu_s']:.1f}, {ret['long_decode_tok_per_cpu_s']:.1f}: "
            f"{100 * ret['long_vs_short_cpu']:.0f}%)"
        )

    probe = subprocess.run([args.llama_py, "-c", "import llama_cpp"], capture_output=True, text=True) if os.path.exists(args.llama_py) else None
    if probe is None or probe.returncode != 0:
        print(f"llama.cpp column skipped: {args.llama_py} cannot import llama_cpp (make bench-deps-llama, or set LLAMA_PY)")
        return 0
    by_threads = {r["threads"]: r for r in rows if r["engine"].startswith("exact")}
    print()
    print(f"{'llama.cpp (llama-cpp-python)':<32} {'prompt tok/s':>12} {'decode tok/s':>12} {'exact/llama prompt':>19} {'decode':>7}")
    for th in (int(t) for t in args.threads.split(",")):
        out = subprocess.run(
            [args.llama_py, __file__, "--exact", args.exact, "--model", args.model,
             "--repeat", str(args.repeat), "--measure", json.dumps([ids, decode, th])],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            print(f"llama_cpp_speed.py: llama.cpp on {th} thread(s) failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            return 1
        m = json.loads(out.stdout.strip().splitlines()[-1])
        p, d = len(ids) / m["prompt_s"], decode / m["decode_s"]
        ex = by_threads.get(th)
        ratio = f"{ex['prompt_tok_s'] / p:>19.2f} {ex['decode_tok_s'] / d:>7.2f}" if ex else f"{'(no exact row)':>27}"
        print(f"{'llama.cpp ' + m['version'] + ', ' + str(th) + ' thread(s)':<32} {p:>12.1f} {d:>12.1f} {ratio}")
        if th == 1 and exact.get("one_thread_per_cpu_s"):
            c = exact["one_thread_per_cpu_s"]
            pc, dc = len(ids) / m["prompt_cpu_s"], decode / m["decode_cpu_s"]
            print(
                f"{'  per CPU second (process)':<32} {pc:>12.1f} {dc:>12.1f} "
                f"{c['prompt_tok_s'] / pc:>19.2f} {c['decode_tok_s'] / dc:>7.2f}"
            )
    print("(exact/llama: the exact engine's rate over llama.cpp's at the same thread count, same run;")
    print(" per CPU second: tokens per second of CPU time, steadier than wall time on a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
