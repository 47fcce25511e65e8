#!/usr/bin/env python3
"""Builds the static site: the page as plain files any static host serves (``make site``).

    python3 tools/build_site.py --out site [--releases releases] [--model-mirror URL] [--model-origin ORIGIN]

writes into ``--out`` (default ``site/``, replaced on each build):

- every file of ``www/`` (HTML, JS, CSS, SVG, the built wasm in ``pkg/``, ``tasks/``), with the
  page's Content-Security-Policy (the one ``tools/serve.py`` sends) written into each HTML file as
  ``<meta http-equiv="Content-Security-Policy">``, so that no server configuration is needed; an
  HTML file with inline script, inline style or an event-handler attribute is refused;
- ``engine/<spec>/``: the engine of this build's numeric spec (Generate's worker, the Evaluate
  view's ``eval/worker.js``, the modules they import and ``pkg/``) at a path that never changes,
  with a ``SHA256SUMS`` file; the engines of earlier releases are copied unchanged from the
  archive (``--releases``, docs/releasing.md) after their sums are checked, so a later build
  cannot alter what an older link replays;
- ``models/manifest.json``: the repository's manifest plus, per model, ``url``: its public source
  pinned to a revision (the ``url`` source), and a ``site`` object: the engines by spec, the
  default engine, the model origins allowed besides https: and the page's own, the published
  address and the DOI (from ``site.json``);
- ``_headers`` (Netlify, Cloudflare Pages): the same policy plus what a meta tag cannot carry
  (``frame-ancestors``), and the other headers serve.py sends; ``.nojekyll`` for GitHub Pages.

Every address in the site is relative, so it works at a host's root or under a sub-path.
``--model-mirror`` (tests) replaces the origin of every model URL and allows it; ``--model-origin``
allows one more origin (a mirror's redirect target). Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from serve import CONTENT_SECURITY_POLICY, CROSS_ORIGIN_ISOLATION, FRAMEABLE_FILES  # noqa: E402  (the page's policy, one definition)

# Directives a <meta> policy cannot carry (CSP3, section 3.3): they go to _headers only.
META_UNSUPPORTED = ("frame-ancestors", "report-uri", "report-to", "sandbox")
# HTML files other sites may put in an <iframe> (as serve.py says); every other page may be framed
# by this site only.
EMBEDDABLE = FRAMEABLE_FILES
FRAME_ANY = "*"
FRAME_SELF = "'self'"
# The other headers serve.py sends with every file.
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    *CROSS_ORIGIN_ISOLATION,
)
SPEC_RE = re.compile(r'pub const SPEC_VERSION: &str = "([a-z0-9-]+)";')
# Static imports (`from './x.js'`, `import './x.js'`) and dynamic ones (`import('./x.js')`).
IMPORT_RE = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}/[^'"]+)['"]""")
ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$")
MARKER = ".verbatim-site"
# The engine's workers: Generate's and the Evaluate view's (each with what it imports).
ENGINE_ENTRIES = ("worker.js", "eval/worker.js")


class SiteError(Exception):
    """A build that cannot be made, in words a person can act on."""


@dataclass
class Config:
    """site.json plus the command line's test overrides."""

    page_url: str | None = None
    doi: str | None = None
    model_origins: list[str] = field(default_factory=list)
    model_mirror: str | None = None


def read_config(path: Path, mirror: str | None, extra_origins: list[str]) -> Config:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SiteError(f"{path} cannot be read: {error}") from error
    page_url = raw.get("page_url")
    if page_url is not None and not (isinstance(page_url, str) and re.match(r"^https?://[^\s#?]+/$", page_url)):
        raise SiteError(f"{path}: page_url must be an http(s) address ending in '/', or null (got {page_url!r})")
    doi = raw.get("doi")
    if doi is not None and not (isinstance(doi, str) and re.match(r"^10\.[0-9]{4,9}/\S+$", doi)):
        raise SiteError(f"{path}: doi must look like 10.5281/zenodo.1234567, or be null (got {doi!r})")
    origins = list(raw.get("model_origins") or []) + list(extra_origins)
    if mirror is not None:
        parsed = urllib.parse.urlsplit(mirror)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or not mirror.endswith("/"):
            raise SiteError(f"--model-mirror must be an http(s) address ending in '/' (got {mirror!r})")
        origins.append(f"{parsed.scheme}://{parsed.netloc}")
    for origin in origins:
        if not isinstance(origin, str) or not ORIGIN_RE.match(origin):
            raise SiteError(f"a model origin must be scheme://host[:port] with nothing after it (got {origin!r})")
    return Config(page_url=page_url, doi=doi, model_origins=sorted(set(origins)), model_mirror=mirror)


def spec_version(repo: Path) -> str:
    """The numeric spec this source tree implements (crate/src/exact/mod.rs)."""
    match = SPEC_RE.search((repo / "crate/src/exact/mod.rs").read_text())
    if not match:
        raise SiteError("crate/src/exact/mod.rs does not define SPEC_VERSION")
    return match.group(1)


# ---- the policy ------------------------------------------------------------------------------


def directives(policy: str) -> list[tuple[str, str]]:
    """A policy as (name, value) pairs, in order."""
    out = []
    for part in policy.split(";"):
        words = part.strip().split(None, 1)
        if words:
            out.append((words[0].lower(), words[1] if len(words) > 1 else ""))
    return out


def site_policy(origins: list[str]) -> list[tuple[str, str]]:
    """serve.py's policy with the allowed model origins added to connect-src."""
    out = []
    for name, value in directives(CONTENT_SECURITY_POLICY):
        if name == "connect-src" and origins:
            value = " ".join([value, *origins])
        out.append((name, value))
    return out


def render(policy: list[tuple[str, str]]) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in policy)


def meta_policy(policy: list[tuple[str, str]]) -> str:
    return render([(n, v) for n, v in policy if n not in META_UNSUPPORTED])


def header_policy(policy: list[tuple[str, str]], frame_ancestors: str | None) -> str:
    full = [(n, v) for n, v in policy if n != "frame-ancestors"]
    if frame_ancestors is not None:
        full.append(("frame-ancestors", frame_ancestors))
    return render(full)


# ---- HTML ------------------------------------------------------------------------------------

INLINE_SCRIPT_RE = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
INLINE_STYLE_RE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
HANDLER_RE = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
CHARSET_RE = re.compile(r"<meta\s+charset=[\"']?utf-8[\"']?\s*/?>", re.IGNORECASE)
ABSOLUTE_RE = re.compile(r"""\s(?:href|src|action)\s*=\s*["']/""", re.IGNORECASE)


def with_meta_policy(html: str, name: str, policy: str) -> str:
    """`html` with the policy as its first <meta> after the charset; refuses what the policy forbids."""
    if re.search(r"http-equiv\s*=\s*[\"']?content-security-policy", html, re.IGNORECASE):
        raise SiteError(f"{name} already has a Content-Security-Policy meta tag")
    for pattern, what in (
        (INLINE_SCRIPT_RE, "an inline <script> (the policy forbids it: use a file)"),
        (INLINE_STYLE_RE, "inline style (the policy forbids it: use style.css)"),
        (HANDLER_RE, "an event-handler attribute (the policy forbids it: use addEventListener)"),
        (ABSOLUTE_RE, "an address starting with '/' (the site must work under a sub-path: use a relative one)"),
    ):
        if pattern.search(html):
            raise SiteError(f"{name} has {what}")
    match = CHARSET_RE.search(html)
    if not match:
        raise SiteError(f'{name} has no <meta charset="utf-8">: the policy goes right after it')
    tag = f'\n  <meta http-equiv="Content-Security-Policy" content="{policy}">'
    return html[: match.end()] + tag + html[match.end() :]


# ---- the engine ------------------------------------------------------------------------------


THREADED_ENGINE_FILES = ("pool-worker.js", "pkg-threads/verbatim.js", "pkg-threads/verbatim_bg.wasm")


def engine_files(www: Path, entries: tuple[str, ...] = ENGINE_ENTRIES) -> list[str]:
    """The workers and every module they import (relative imports, transitively), plus pkg/."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = www / name
        if not path.is_file():
            raise SiteError(f"the engine needs {path}, which is missing (build the engine with `make wasm`)")
        seen.add(name)
        if path.suffix == ".js":
            for target in IMPORT_RE.findall(path.read_text()):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                if resolved.startswith(".."):
                    raise SiteError(f"{name} imports {target}, outside the engine's folder")
                todo.append(resolved)
    for wasm_file in ("pkg/verbatim.js", "pkg/verbatim_bg.wasm"):
        if not (www / wasm_file).is_file():
            raise SiteError(f"{www / wasm_file} is missing: build the engine with `make wasm` first")
        seen.add(wasm_file)
    # The shared-memory engine (`make wasm-threads`) and its pool worker, when built: the worker
    # starts them by computed addresses, which the import scan above does not follow.
    threaded = THREADED_ENGINE_FILES
    if all((www / name).is_file() for name in threaded):
        seen.update(threaded)
    return sorted(seen)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sums(folder: Path) -> None:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{sha256_file(path)}  {path.relative_to(folder).as_posix()}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))


def check_sums(folder: Path) -> None:
    """Raises unless every file of an archived engine is present, listed and unchanged."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise SiteError(f"{folder} has no SHA256SUMS: it is not an engine made by tools/build_site.py")
    listed = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    if present != set(listed):
        raise SiteError(f"{folder}: the files differ from its SHA256SUMS ({sorted(present ^ set(listed))})")
    for name, digest in listed.items():
        if sha256_file(folder / name) != digest:
            raise SiteError(f"{folder / name} does not match its SHA-256 in SHA256SUMS: the archive is damaged")


def archived_engines(releases: Path | None) -> dict[str, Path]:
    """spec -> folder, from every `<releases>/**/engine/<spec>/` (an unpacked earlier site)."""
    found: dict[str, Path] = {}
    if releases is None or not releases.is_dir():
        return found
    for sums in sorted(releases.rglob("engine/*/SHA256SUMS")):
        folder = sums.parent
        spec = folder.name
        if spec in found and found[spec] != folder:
            # Two archives of the same spec must be the same bytes.
            if (found[spec] / "SHA256SUMS").read_bytes() != sums.read_bytes():
                raise SiteError(f"two archived engines for {spec} differ: {found[spec]} and {folder}")
            continue
        check_sums(folder)
        found[spec] = folder
    return found


# ---- the manifest ----------------------------------------------------------------------------


def public_url(model: dict, mirror: str | None) -> str | None:
    """The model's public source (a `url` source), its origin replaced by `mirror` if given."""
    for source in model.get("sources", []):
        if source.get("kind") == "url" and isinstance(source.get("url"), str):
            url = source["url"]
            if not url.startswith("https://"):
                raise SiteError(f"{model.get('id')}: its url source is not https: ({url})")
            if not source.get("revision"):
                print(
                    f"site: {model.get('id')}: its url source is not pinned to a revision; the sha256 still guards it",
                    file=sys.stderr,
                )
            if mirror is not None:
                parts = urllib.parse.urlsplit(url)
                url = mirror + parts.path.lstrip("/")
            return url
    return None


def site_manifest(manifest: dict, config: Config, engines: list[str], default_engine: str) -> dict:
    models = []
    for model in manifest["models"]:
        entry = dict(model)
        url = public_url(model, config.model_mirror)
        if url is None:
            raise SiteError(f"{model.get('id')} has no url source: a published page cannot download it")
        entry["url"] = url
        models.append(entry)
    return {
        **manifest,
        "models": models,
        "site": {
            "engines": {spec: f"engine/{spec}/" for spec in engines},
            "engine": default_engine,
            "model_origins": config.model_origins,
            "page_url": config.page_url,
            "doi": config.doi,
        },
    }


# ---- _headers --------------------------------------------------------------------------------


def html_paths(name: str) -> list[str]:
    """The addresses a host serves an HTML file at: its own, its folder's for index.html, and the
    one without `.html` (Cloudflare Pages redirects `/embed.html` to `/embed`; Netlify serves both)."""
    if Path(name).name == "index.html":
        return ["/" + name[: -len("index.html")], f"/{name}"]
    return [f"/{name}", f"/{name[: -len('.html')]}"]


def headers_file(html_files: list[str], js_files: list[str], policy: list[tuple[str, str]]) -> str:
    """Netlify / Cloudflare Pages `_headers` (paths from the host's root). Rules never overlap in a
    header: both hosts join the values of every rule that matches a path, and two policies in
    one response would both apply (the embed view could then not be framed), so the policy is
    given per file, never in `/*`."""
    out = ["# Written by tools/build_site.py: the headers tools/serve.py sends, for hosts that read this file.\n"]
    out.append("/*\n")
    out += [f"  {name}: {value}\n" for name, value in COMMON_HEADERS]
    page_policy = header_policy(policy, FRAME_SELF)
    for name in html_files:
        framed = header_policy(policy, FRAME_ANY) if Path(name).name in EMBEDDABLE else page_policy
        for path in html_paths(name):
            out.append(f"{path}\n  Content-Security-Policy: {framed}\n  Cache-Control: no-cache\n")
    # A worker's policy comes with its script's response.
    worker_policy = header_policy(policy, None)
    for name in js_files:
        out.append(f"/{name}\n  Content-Security-Policy: {worker_policy}\n  Cache-Control: no-cache\n")
    out.append(f"/engine/*\n  Content-Security-Policy: {worker_policy}\n  Cache-Control: public, max-age=31536000, immutable\n")
    return "".join(out)


# ---- the build -------------------------------------------------------------------------------


def prepare_out(out: Path) -> None:
    """Empties `out`, refusing a folder this script did not make."""
    if out.exists():
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise SiteError(f"{out} exists and was not made by tools/build_site.py: remove it or choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by tools/build_site.py; replaced on each build\n")


def build(
    out: Path,
    www: Path,
    manifest_path: Path,
    config: Config,
    spec: str,
    releases: Path | None,
) -> dict:
    """Builds the site; returns a summary {files, engines, spec}."""
    archived = archived_engines(releases)
    engine = engine_files(www)
    prepare_out(out)
    policy = site_policy(config.model_origins)
    meta = meta_policy(policy)
    html_files, js_files = [], []
    for path in sorted(p for p in www.rglob("*") if p.is_file()):
        rel = path.relative_to(www).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".html":
            target.write_text(with_meta_policy(path.read_text(), rel, meta))
            html_files.append(rel)
        else:
            shutil.copyfile(path, target)
            if path.suffix == ".js" and not rel.startswith("pkg/"):
                js_files.append(rel)
    engines = {}
    for spec_name, folder in archived.items():
        shutil.copytree(folder, out / "engine" / spec_name)
        engines[spec_name] = "archived"
    fresh = out / "engine" / spec
    if spec in archived:
        built = {rel: sha256_file(www / rel) for rel in engine}
        kept = dict(
            (name, digest)
            for digest, _, name in (line.partition("  ") for line in (fresh / "SHA256SUMS").read_text().splitlines())
        )
        if built != kept:
            print(
                f"site: this build's {spec} engine differs from the released one; the released one is kept "
                "(a change of outputs needs a new spec version: docs/releasing.md)",
                file=sys.stderr,
            )
    else:
        for rel in engine:
            (fresh / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(www / rel, fresh / rel)
        write_sums(fresh)
        engines[spec] = "built"
    manifest = json.loads(manifest_path.read_text())
    (out / "models").mkdir(exist_ok=True)
    (out / "models/manifest.json").write_text(
        json.dumps(site_manifest(manifest, config, sorted(engines), spec), indent=2) + "\n"
    )
    (out / "_headers").write_text(headers_file(html_files, js_files, policy))
    (out / ".nojekyll").write_text("")
    return {"files": len([p for p in out.rglob("*") if p.is_file()]), "engines": engines, "spec": spec}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "site", help="the folder to write (replaced)")
    parser.add_argument("--www", type=Path, default=REPO / "www", help="the page's folder, with pkg/ built")
    parser.add_argument("--manifest", type=Path, default=REPO / "models/manifest.json")
    parser.add_argument("--config", type=Path, default=REPO / "site.json")
    parser.add_argument(
        "--releases",
        type=Path,
        default=REPO / "releases",
        help="earlier releases' sites (unpacked); each engine/<spec>/ found there is kept unchanged",
    )
    parser.add_argument("--model-mirror", metavar="URL", help="serve every model from this origin instead (tests)")
    parser.add_argument("--model-origin", action="append", default=[], metavar="ORIGIN", help="also allow this model origin")
    args = parser.parse_args(argv)
    try:
        config = read_config(args.config, args.model_mirror, args.model_origin)
        summary = build(args.out, args.www, args.manifest, config, spec_version(REPO), args.releases)
    except SiteError as error:
        print(f"site: {error}", file=sys.stderr)
        return 1
    engines = ", ".join(f"{spec} ({how})" for spec, how in sorted(summary["engines"].items()))
    print(f"site: {summary['files']} files in {args.out}; engines: {engines}; copy the folder to any static host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
