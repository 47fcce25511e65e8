#!/usr/bin/env python3
"""Scoring speed of the exact engine beside llama.cpp's, on the same items (`make bench-eval`).

Runs `verbatim eval --task T --limit N --threads K` (native, exact engine, CPU
executor) and, when `--llama-py PYTHON` can import llama_cpp,
bench/eval_llama_cpp.py on the same items with the same thread count; prints
tokens per second of wall time and per CPU-second for each, and llama.cpp's rate
divided by the exact engine's. Both run the same tokens (the counts are printed:
they must match). On a shared, loaded machine the wall-clock rates say little;
the per-CPU-second rates are the comparable figures. Timing only, not a test.

    python3 bench/eval_compare.py [--task arc_easy] [--limit 20] [--threads 1,2]
                                  [--llama-py /work/llama-venv/bin/python]
"""

import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_cpu():
    r = os.times()
    return r.children_user + r.children_system


def run_timed(cmd):
    """(stdout, stderr, CPU seconds) of `cmd`: the CPU time of the whole process."""
    cpu0 = child_cpu()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout, p.stderr, child_cpu() - cpu0


def exact(binary, task, limit, threads):
    _, err, cpu = run_timed(
        [binary, "eval", "--task", task, "--limit", str(limit), "--threads", str(threads)]
    )
    m = re.search(r"\[(\d+) items, (\d+) tokens in ([0-9.]+) s", err)
    if not m:
        sys.exit(f"no timing line in verbatim's output:\n{err}")
    tokens, secs = int(m.group(2)), float(m.group(3))
    return {"tokens": tokens, "seconds": secs, "cpu_seconds": cpu}


def llama(py, task_file, model, limit, threads):
    out, _, cpu = run_timed(
        [py, "bench/eval_llama_cpp.py", "--task", task_file, "--model", model,
         "--limit", str(limit), "--threads", str(threads), "--json"]
    )
    r = json.loads(out)
    r["process_cpu_seconds"] = cpu
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="arc_easy")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/verbatim"))
    ap.add_argument("--model", default="models/cache/smollm2-135m-instruct-q4_1.gguf")
    ap.add_argument("--llama-py", default=os.environ.get("LLAMA_PY"))
    a = ap.parse_args()

    have_llama = False
    if a.llama_py:
        ok = subprocess.run([a.llama_py, "-c", "import llama_cpp"], capture_output=True)
        have_llama = ok.returncode == 0
        if not have_llama:
            print(f"({a.llama_py} cannot import llama_cpp: llama.cpp is left out)")
    task_file = os.path.join("www", "tasks", f"{a.task}.jsonl")
    print(f"{a.limit} items of {a.task}, SmolLM2-135M-Instruct Q4_1, CPU")
    print(f"{'engine':<34} {'threads':>7} {'tokens':>7} {'tok/s':>8} {'tok/CPU-s':>10}")
    for k in [int(t) for t in a.threads.split(",")]:
        e = exact(a.binary, a.task, a.limit, k)
        e_rate = e["tokens"] / e["seconds"]
        e_cpu = e["tokens"] / e["cpu_seconds"]
        print(f"{'verbatim exact (exact-1 + score-1)':<34} {k:>7} {e['tokens']:>7} {e_rate:>8.1f} {e_cpu:>10.1f}")
        if have_llama:
            l = llama(a.llama_py, task_file, a.model, a.limit, k)
            l_cpu = l["tokens"] / l["process_cpu_seconds"]
            print(f"{'llama.cpp (llama-cpp-python)':<34} {k:>7} {l['tokens']:>7} {l['tok_s']:>8.1f} {l_cpu:>10.1f}")
            print(
                f"{'  llama.cpp / verbatim':<34} {k:>7} {'':>7} {l['tok_s'] / e_rate:>7.2f}x "
                f"{l_cpu / e_cpu:>9.2f}x"
            )
    print("(tok/s: tokens over the wall-clock time of the scoring, as each engine times it; tok/CPU-s:")
    print(" tokens per CPU-second of the whole process, model load included; on a loaded machine")
    print(" compare the CPU-second figures)")


if __name__ == "__main__":
    main()
