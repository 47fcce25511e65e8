#!/usr/bin/env python3
"""Static file server for the Verbatim page (development and tests).

    python3 tools/serve.py --port 8080 --root www --models models

serves ``www/`` at ``/`` and, from the models folder at ``/models/``, only the
manifest (``/models/manifest.json``) and model files (``*.gguf``, e.g. the
verified files under ``/models/cache/``): never ``fetch.py`` or anything else
kept there. It binds 127.0.0.1 only and answers only requests whose Host header
names this server (127.0.0.1, localhost or [::1] with the served port, or a
name given with ``--allow-host``), so a page on another origin cannot reach it
through DNS rebinding. It answers GET and HEAD, honours single HTTP byte ranges
(RFC 9110, section 14), sends Content-Length so the page can show download
progress, and sends a Content-Security-Policy that forbids inline script and
inline style and lets only the embed view (``embed.html``) be framed by other
sites (``frame-ancestors``), and makes the page cross-origin isolated (COOP
``same-origin``, COEP ``require-corp``), which the engine's threads need. There are no directory listings and no way out of the two roots.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import email.utils
import http.server
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# connect-src allows https: so that a model URL named in a link (outside the
# manifest) can be downloaded after the user agrees; the page never fetches it
# before that click, and verifies it against the link's sha256.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self' https:; object-src 'none'; "
    "base-uri 'none'"
)
# Who may show a response in a frame (CSP frame-ancestors, which only a header can carry): the
# embed view (embed.html, a card for other sites' <iframe>s) anyone; everything else this site only.
FRAMEABLE_FILES = ("embed.html",)
FRAME_ANY = "frame-ancestors *"
FRAME_SELF = "frame-ancestors 'self'"


def content_security_policy(file: Path | None) -> str:
    """The CSP of a response: the page's policy plus who may frame it."""
    frame = FRAME_ANY if file is not None and file.name in FRAMEABLE_FILES else FRAME_SELF
    return f"{CONTENT_SECURITY_POLICY}; {frame}"

# Cross-origin isolation (the page's shared memory: the CPU executor's threads, www/worker.js):
# no window of another origin shares the page's browsing context group (COOP), and every
# resource the page loads is same-origin, or opts in with CORP or CORS (COEP).
CROSS_ORIGIN_ISOLATION = (
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
)

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".gguf": "application/octet-stream",
}

COPY_CHUNK = 1 << 20
RANGE_RE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# A position with more digits than this is past the end of any file we serve.
MAX_POSITION_DIGITS = 18
PAST_ANY_FILE = 10**MAX_POSITION_DIGITS
# Host names that mean this machine; with the served port they are always allowed.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# The only files served from the models root besides model files (*.gguf).
MODELS_ROOT_FILES = ("manifest.json",)


@dataclass(frozen=True)
class Mount:
    """A URL prefix (ending in "/") served from a folder."""

    prefix: str
    folder: Path
    # When set, only these file names (at the mount's top level) and files whose
    # name ends with one of `suffixes` (at any depth) are served.
    only_names: tuple[str, ...] | None = None
    suffixes: tuple[str, ...] = ()

    def allows(self, segments: list[str]) -> bool:
        if self.only_names is None:
            return True
        if len(segments) == 1 and segments[0] in self.only_names:
            return True
        return any(segments[-1].endswith(suffix) for suffix in self.suffixes)


def resolve(mounts: list[Mount], raw_path: str) -> Path | None:
    """Maps a request path to a file under one of the mounts, or None.

    The check is lexical and strict: after percent-decoding, a path with an
    empty, ".", ".." or hidden segment, a backslash or a NUL is refused
    outright rather than normalised, so no spelling of a parent directory
    gets through. Symbolic links placed inside a root by its owner are followed.
    """
    path = urllib.parse.urlsplit(raw_path).path
    try:
        path = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if not path.startswith("/") or "\\" in path or "\0" in path:
        return None
    # Longest prefix first, so "/models/" wins over "/".
    for mount in sorted(mounts, key=lambda m: len(m.prefix), reverse=True):
        if path == mount.prefix.rstrip("/") and mount.prefix != "/":
            return None  # "/models" without the slash: nothing to list
        if not path.startswith(mount.prefix):
            continue
        rest = path[len(mount.prefix):]
        segments = rest.split("/") if rest else []
        if segments and segments[-1] == "":
            segments[-1] = "index.html"  # "dir/" means "dir/index.html", never a listing
        if not segments:
            segments = ["index.html"]
        if any(s in ("", ".", "..") or s.startswith(".") for s in segments):
            return None
        if not mount.allows(segments):
            return None
        candidate = mount.folder.joinpath(*segments)
        return candidate if candidate.is_file() else None
    return None


def parse_position(digits: str) -> int:
    """A range position, capped at PAST_ANY_FILE: a number with more digits than
    MAX_POSITION_DIGITS is never converted (Python refuses over 4,300 digits)."""
    digits = digits.lstrip("0") or "0"
    return PAST_ANY_FILE if len(digits) > MAX_POSITION_DIGITS else int(digits)


def position_key(digits: str) -> tuple[int, str]:
    """Orders decimal strings of any length by value, without converting them."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """Parses a single "bytes=" range against a file of `size` bytes.

    Returns (first, last) inclusive, None when the header should be ignored
    (malformed, invalid or several ranges: the whole file is sent with 200, as
    RFC 9110 section 14.2 allows), or "unsatisfiable" (416: the first position
    is at or past the end, or the suffix length is 0). A suffix range on an
    empty file is satisfiable in RFC 9110's terms but selects no byte, which a
    206 cannot express (Content-Range has no empty form): it is ignored, so the
    answer is the whole, empty file with 200. Positions of any length are
    accepted; past MAX_POSITION_DIGITS digits they are past the end of any file.
    """
    match = RANGE_RE.match(header.strip())
    if not match:
        return None
    first_s, last_s = match.groups()
    if first_s == "" and last_s == "":
        return None
    if first_s == "":
        suffix = parse_position(last_s)
        if suffix == 0:
            return "unsatisfiable"
        if size == 0:
            return None
        return max(0, size - suffix), size - 1
    if last_s and position_key(last_s) < position_key(first_s):
        return None  # an invalid range-spec (RFC 9110 section 14.1.1): ignored
    first = parse_position(first_s)
    if first >= size:
        return "unsatisfiable"
    last = parse_position(last_s) if last_s else size - 1
    return first, min(last, size - 1)


def allowed_hosts(port: int, extra: list[str]) -> frozenset[str]:
    """The Host header values this server answers (lower case).

    Each loopback name and each `extra` name with the served port; an `extra`
    entry that names its own port ("example.test:8443", behind a proxy) as
    given. Port 80 may be left out of a Host header, so then bare names count.
    """
    hosts = set()
    for name in (*LOOPBACK_HOSTS, *extra):
        name = name.strip().lower()
        if not name:
            continue
        if re.fullmatch(r"[^\[\]]*:[0-9]+|\[[^\]]*\]:[0-9]+", name):
            hosts.add(name)
            continue
        hosts.add(f"{name}:{port}")
        if port == 80:
            hosts.add(name)
    return frozenset(hosts)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mounts: list[Mount] = []  # set per server by make_server
    hosts: frozenset[str] = frozenset()  # set per server by make_server
    quiet = False
    responded = False

    def version_string(self) -> str:
        return "verbatim-serve"

    def do_GET(self) -> None:
        self.guarded(send_body=True)

    def do_HEAD(self) -> None:
        self.guarded(send_body=False)

    def send_response(self, code: int, message: str | None = None) -> None:
        self.responded = True
        super().send_response(code, message)

    def guarded(self, send_body: bool) -> None:
        """Serves the request; a bug answers 500 (or closes the connection), never silence."""
        self.responded = False
        try:
            self.serve(send_body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - the last line of defence
            self.log_message("internal error: %r", error)
            self.close_connection = True
            if not self.responded:
                self.send_error_page(500, "Internal Server Error")

    def serve(self, send_body: bool) -> None:
        host = self.headers.get("Host")
        if host is None:
            self.send_error_page(400, "Bad Request: no Host header")
            return
        if host.strip().lower() not in self.hosts:
            # DNS rebinding: a page on another origin whose name now points here.
            self.send_error_page(403, "Forbidden: unknown Host (see --allow-host)")
            return
        file = resolve(self.mounts, self.path)
        if file is None:
            self.send_error_page(404, "Not Found")
            return
        try:
            handle = open(file, "rb")
        except OSError:
            self.send_error_page(404, "Not Found")
            return
        with handle:
            stat = os.fstat(handle.fileno())
            size = stat.st_size
            etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_common_headers(file)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return

            first, last, status = 0, size - 1, 200
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if range_header and (if_range is None or if_range == etag):
                parsed = parse_range(range_header, size)
                if parsed == "unsatisfiable":
                    self.send_response(416)
                    self.send_common_headers(file)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parsed is not None:
                    first, last = parsed
                    status = 206

            length = max(0, last - first + 1)
            self.send_response(status)
            self.send_common_headers(file)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
            if status == 206:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if not send_body:
                return
            handle.seek(first)
            remaining = length
            try:
                while remaining > 0:
                    chunk = handle.read(min(COPY_CHUNK, remaining))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away: nothing to report

    def send_common_headers(self, file: Path | None) -> None:
        suffix = file.suffix.lower() if file is not None else ".html"
        self.send_header("Content-Type", MIME_TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", content_security_policy(file))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for name, value in CROSS_ORIGIN_ISOLATION:
            self.send_header(name, value)

    def send_error_page(self, code: int, reason: str) -> None:
        body = f"{code} {reason}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", content_security_policy(None))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class calls this for malformed requests and unsupported methods.
        self.close_connection = True
        self.send_error_page(code, message or self.responses.get(code, ("Error",))[0])

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")
            sys.stderr.flush()


def make_server(
    root: Path, models: Path, port: int, quiet: bool = False, allow_hosts: list[str] | None = None
) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0 picks a free port) for `root` at / and, from
    `models`, the manifest and *.gguf files at /models/. It answers the Host names of
    `allowed_hosts` (loopback, plus `allow_hosts`)."""
    mounts = [
        Mount("/", root.resolve()),
        Mount("/models/", models.resolve(), only_names=MODELS_ROOT_FILES, suffixes=(".gguf",)),
    ]
    handler = type("BoundHandler", (Handler,), {"mounts": mounts, "quiet": quiet})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    handler.hosts = allowed_hosts(server.server_address[1], allow_hosts or [])
    return server


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0 picks a free one)")
    parser.add_argument("--root", type=Path, default=here / "www", help="folder served at /")
    parser.add_argument("--models", type=Path, default=here / "models", help="folder served at /models/")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="also answer requests for this Host (repeatable; loopback names are always answered)",
    )
    args = parser.parse_args(argv)

    for name, folder in (("--root", args.root), ("--models", args.models)):
        if not folder.is_dir():
            parser.error(f"{name} {folder} is not a folder")

    server = make_server(args.root, args.models, args.port, args.quiet, args.allow_host)
    host, port = server.server_address[:2]
    print(f"Serving {args.root} at http://{host}:{port}/ (models from {args.models})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
