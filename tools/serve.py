#!/usr/bin/env python3
"""Static file server for the Verbatim page (development and tests).

    python3 tools/serve.py --port 8080 --root www --models models

serves ``www/`` at ``/`` and the models folder at ``/models/`` (the manifest is
``/models/manifest.json``, verified files are under ``/models/cache/``). It binds
127.0.0.1 only, answers GET and HEAD, honours single HTTP byte ranges
(RFC 9110, section 14), sends Content-Length so the page can show download
progress, and sends a Content-Security-Policy that forbids inline script and
inline style. There are no directory listings and no way out of the two roots.

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
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Mount:
    """A URL prefix (ending in "/") served from a folder."""

    prefix: str
    folder: Path


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
        candidate = mount.folder.joinpath(*segments)
        return candidate if candidate.is_file() else None
    return None


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """Parses a single "bytes=" range against a file of `size` bytes.

    Returns (first, last) inclusive, None when the header should be ignored
    (malformed or several ranges: the whole file is sent), or "unsatisfiable".
    """
    match = RANGE_RE.match(header.strip())
    if not match:
        return None
    first_s, last_s = match.groups()
    if first_s == "" and last_s == "":
        return None
    if first_s == "":
        suffix = int(last_s)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mounts: list[Mount] = []  # set per server by make_server
    quiet = False

    def version_string(self) -> str:
        return "verbatim-serve"

    def do_GET(self) -> None:
        self.serve(send_body=True)

    def do_HEAD(self) -> None:
        self.serve(send_body=False)

    def serve(self, send_body: bool) -> None:
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
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")

    def send_error_page(self, code: int, reason: str) -> None:
        body = f"{code} {reason}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
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


def make_server(root: Path, models: Path, port: int, quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0 picks a free port) for `root` at / and `models` at /models/."""
    mounts = [Mount("/", root.resolve()), Mount("/models/", models.resolve())]
    handler = type("BoundHandler", (Handler,), {"mounts": mounts, "quiet": quiet})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0 picks a free one)")
    parser.add_argument("--root", type=Path, default=here / "www", help="folder served at /")
    parser.add_argument("--models", type=Path, default=here / "models", help="folder served at /models/")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)

    for name, folder in (("--root", args.root), ("--models", args.models)):
        if not folder.is_dir():
            parser.error(f"{name} {folder} is not a folder")

    server = make_server(args.root, args.models, args.port, args.quiet)
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
