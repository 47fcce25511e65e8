"""Tests of tools/serve.py: types, headers, ranges, Host checks, and that nothing outside the two
roots (and nothing but the manifest and model files from the models root) leaks.

    python3 -m unittest discover -s tools -p 'test_*.py'
"""

from __future__ import annotations

import http.client
import os
import tempfile
import threading
import unittest
from pathlib import Path

import serve

SECRET = b"outside the served folders"


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        base = Path(cls.tmp.name)
        (base / "secret.txt").write_bytes(SECRET)
        www = base / "www"
        (www / "pkg").mkdir(parents=True)
        (www / "sub").mkdir()
        (www / "index.html").write_text("<!doctype html><title>t</title>")
        (www / "embed.html").write_text("<!doctype html><title>embed</title>")
        (www / "app.js").write_text("export {};")
        (www / "style.css").write_text("body {}")
        (www / "pkg" / "verbatim_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
        (www / ".hidden").write_text("no")
        models = base / "models"
        (models / "cache").mkdir(parents=True)
        (models / "manifest.json").write_text('{"version": 1, "models": []}')
        cls.blob = bytes(range(256)) * 40  # 10,240 bytes
        (models / "cache" / "m.gguf").write_bytes(cls.blob)
        (models / "cache" / "empty.gguf").write_bytes(b"")
        (models / "top.gguf").write_bytes(b"GGUF")
        # The models folder also holds code and notes: none of it is served.
        (models / "fetch.py").write_text("print('fetch')")
        (models / "test_fetch.py").write_text("print('test')")
        (models / "README.md").write_text("notes")
        (models / "cache" / "notes.txt").write_text("notes")
        (models / "cache" / "m.gguf.partial").write_bytes(b"partial")
        (models / "cache" / "manifest.json").write_text("{}")
        # `make models` may link files into the cache: links inside a root are served.
        (models / "cache" / "linked.gguf").symlink_to(models / "cache" / "m.gguf")

        cls.server = serve.make_server(www, models, 0, quiet=True)
        cls.port = cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.shutdown()
        cls.server.server_close()
        cls.tmp.cleanup()

    def request(self, path: str, method: str = "GET", headers: dict[str, str | None] | None = None, port: int = 0):
        """Sends `path` exactly as written (no client-side normalisation). The Host header is
        127.0.0.1:port unless `headers` sets "Host" (None: no Host header at all)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        headers = dict(headers or {})
        try:
            conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
            for name, value in headers.items():
                if value is not None:
                    conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def test_binds_loopback_only(self) -> None:
        self.assertEqual(self.server.server_address[0], "127.0.0.1")

    def test_content_types(self) -> None:
        cases = {
            "/": "text/html; charset=utf-8",
            "/app.js": "text/javascript; charset=utf-8",
            "/style.css": "text/css; charset=utf-8",
            "/pkg/verbatim_bg.wasm": "application/wasm",
            "/models/manifest.json": "application/json",
            "/models/cache/m.gguf": "application/octet-stream",
        }
        for path, expected in cases.items():
            with self.subTest(path=path):
                status, headers, _ = self.request(path)
                self.assertEqual(status, 200)
                self.assertEqual(headers["Content-Type"], expected)
                self.assertEqual(headers["X-Content-Type-Options"], "nosniff")

    def test_security_and_cache_headers(self) -> None:
        status, headers, _ = self.request("/")
        self.assertEqual(status, 200)
        csp = headers["Content-Security-Policy"]
        self.assertIn("script-src 'self' 'wasm-unsafe-eval'", csp)
        self.assertIn("style-src 'self';", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertIn("object-src 'none'", csp)
        self.assertEqual(headers["Cache-Control"], "no-cache")
        _, headers, _ = self.request("/app.js")
        self.assertEqual(headers["Cache-Control"], "no-cache")

    def test_pages_and_their_files_are_cross_origin_isolated(self) -> None:
        # The engine's threads need shared memory, which only an isolated page gets.
        for path in ("/", "/index.html", "/embed.html", "/app.js", "/models/manifest.json"):
            _, headers, _ = self.request(path)
            self.assertEqual(headers["Cross-Origin-Opener-Policy"], "same-origin", path)
            self.assertEqual(headers["Cross-Origin-Embedder-Policy"], "require-corp", path)
            self.assertEqual(headers["Cross-Origin-Resource-Policy"], "same-origin", path)

    def test_only_the_embed_view_may_be_framed_by_other_sites(self) -> None:
        for path in ("/", "/index.html", "/app.js", "/models/manifest.json", "/nonexistent"):
            _, headers, _ = self.request(path)
            csp = headers["Content-Security-Policy"]
            self.assertTrue(csp.endswith("; frame-ancestors 'self'"), (path, csp))
        _, headers, _ = self.request("/embed.html")
        csp = headers["Content-Security-Policy"]
        self.assertTrue(csp.endswith("; frame-ancestors *"), csp)
        self.assertIn("script-src 'self' 'wasm-unsafe-eval'", csp)
        self.assertNotIn("unsafe-inline", csp)

    def test_whole_file_with_length(self) -> None:
        status, headers, body = self.request("/models/cache/m.gguf")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Length"], str(len(self.blob)))
        self.assertEqual(headers["Accept-Ranges"], "bytes")
        self.assertEqual(body, self.blob)

    def test_symlink_inside_root_is_served(self) -> None:
        status, _, body = self.request("/models/cache/linked.gguf")
        self.assertEqual((status, body), (200, self.blob))

    def test_head_has_length_and_no_body(self) -> None:
        status, headers, body = self.request("/models/cache/m.gguf", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Length"], str(len(self.blob)))
        self.assertEqual(body, b"")

    def test_ranges(self) -> None:
        size = len(self.blob)
        cases = {
            "bytes=10-19": (10, 19),
            "bytes=10000-": (10000, size - 1),
            "bytes=-16": (size - 16, size - 1),
            "bytes=10000-99999": (10000, size - 1),
        }
        for header, (first, last) in cases.items():
            with self.subTest(range=header):
                status, headers, body = self.request("/models/cache/m.gguf", headers={"Range": header})
                self.assertEqual(status, 206)
                self.assertEqual(headers["Content-Range"], f"bytes {first}-{last}/{size}")
                self.assertEqual(headers["Content-Length"], str(last - first + 1))
                self.assertEqual(body, self.blob[first : last + 1])

    def test_unsatisfiable_and_ignored_ranges(self) -> None:
        size = len(self.blob)
        status, headers, body = self.request("/models/cache/m.gguf", headers={"Range": f"bytes={size}-"})
        self.assertEqual(status, 416)
        self.assertEqual(headers["Content-Range"], f"bytes */{size}")
        self.assertEqual(body, b"")
        # Several ranges, or a malformed one, get the whole file (allowed by RFC 9110).
        for header in ("bytes=0-1,5-6", "bytes=abc", "items=0-1", "bytes=9-3"):
            with self.subTest(range=header):
                status, _, body = self.request("/models/cache/m.gguf", headers={"Range": header})
                self.assertEqual((status, len(body)), (200, size))

    def test_suffix_range_on_empty_file_is_not_a_broken_206(self) -> None:
        # RFC 9110: a suffix range on an empty file selects nothing, and a 206 cannot say so
        # ("bytes 0--1/0" is not a Content-Range): the whole, empty file comes with 200.
        for header in ("bytes=-5", "bytes=-1", "bytes=-" + "9" * 40):
            with self.subTest(range=header):
                status, headers, body = self.request("/models/cache/empty.gguf", headers={"Range": header})
                self.assertEqual((status, headers["Content-Length"], body), (200, "0", b""))
                self.assertNotIn("Content-Range", headers)
        # A range that starts at or after the end, or a zero-length suffix, is unsatisfiable.
        for header in ("bytes=0-", "bytes=0-0", "bytes=-0"):
            with self.subTest(range=header):
                status, headers, body = self.request("/models/cache/empty.gguf", headers={"Range": header})
                self.assertEqual((status, headers["Content-Range"], body), (416, "bytes */0", b""))

    def test_ranges_with_thousands_of_digits(self) -> None:
        size = len(self.blob)
        huge = "9" * 5000  # int() refuses over 4,300 digits
        status, headers, _ = self.request("/models/cache/m.gguf", headers={"Range": f"bytes={huge}-"})
        self.assertEqual((status, headers["Content-Range"]), (416, f"bytes */{size}"))
        status, headers, _ = self.request("/models/cache/m.gguf", headers={"Range": f"bytes={huge}-{huge}"})
        self.assertEqual((status, headers["Content-Range"]), (416, f"bytes */{size}"))
        # A huge last position or suffix length covers the rest of the file.
        for header in (f"bytes=16-{huge}", f"bytes=16-{'0' * 5000}99999"):
            with self.subTest(range=header[:20]):
                status, headers, body = self.request("/models/cache/m.gguf", headers={"Range": header})
                self.assertEqual((status, headers["Content-Range"], body), (206, f"bytes 16-{size - 1}/{size}", self.blob[16:]))
        status, headers, body = self.request("/models/cache/m.gguf", headers={"Range": f"bytes=-{huge}"})
        self.assertEqual((status, headers["Content-Range"], body), (206, f"bytes 0-{size - 1}/{size}", self.blob))
        # A huge last position before a huger first one is an invalid range: ignored.
        status, _, body = self.request("/models/cache/m.gguf", headers={"Range": f"bytes=1{huge}-{huge}"})
        self.assertEqual((status, len(body)), (200, size))

    def test_parse_range_edges(self) -> None:
        cases = [
            ("bytes=-5", 0, None),
            ("bytes=-5", 3, (0, 2)),
            ("bytes=0-", 0, "unsatisfiable"),
            ("bytes=-0", 10, "unsatisfiable"),
            ("bytes=0-0", 10, (0, 0)),
            ("bytes=9-3", 10, None),
            ("bytes=000-009", 10, (0, 9)),
            ("bytes=" + "9" * 19 + "-", 10, "unsatisfiable"),
            ("bytes=\u0663-", 10, None),
        ]
        for header, size, expected in cases:
            with self.subTest(range=header, size=size):
                self.assertEqual(serve.parse_range(header, size), expected)

    def test_if_range_mismatch_sends_whole_file(self) -> None:
        status, _, body = self.request("/models/cache/m.gguf", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
        self.assertEqual((status, len(body)), (200, len(self.blob)))

    def test_conditional_request(self) -> None:
        _, headers, _ = self.request("/app.js")
        status, _, body = self.request("/app.js", headers={"If-None-Match": headers["ETag"]})
        self.assertEqual((status, body), (304, b""))

    def test_no_directory_listing(self) -> None:
        for path in ("/models/", "/models", "/models/cache/", "/pkg/", "/sub/", "/sub"):
            with self.subTest(path=path):
                status, _, body = self.request(path)
                self.assertEqual(status, 404)
                self.assertNotIn(b"m.gguf", body)

    def test_no_path_traversal(self) -> None:
        paths = [
            "/../secret.txt",
            "/models/../../secret.txt",
            "/models/cache/../../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/models/%2e%2e/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/models/..%2f..%2fsecret.txt",
            "/..%5csecret.txt",
            "/models/cache/..\\..\\..\\secret.txt",
            "/%252e%252e/secret.txt",
            "/./index.html",
            "//secret.txt",
            "/models//cache/m.gguf",
            "/index.html%00.js",
            "/.hidden",
            "/%c0%ae%c0%ae/secret.txt",
            f"http://127.0.0.1:{self.port}/../secret.txt",
            "/" + os.path.abspath(self.tmp.name).lstrip("/") + "/secret.txt",
        ]
        for path in paths:
            with self.subTest(path=path):
                status, _, body = self.request(path)
                self.assertEqual(status, 404)
                self.assertNotIn(SECRET, body)

    def test_models_root_serves_only_manifest_and_model_files(self) -> None:
        for path in ("/models/manifest.json", "/models/cache/m.gguf", "/models/top.gguf"):
            with self.subTest(path=path):
                self.assertEqual(self.request(path)[0], 200)
        for path in (
            "/models/fetch.py",
            "/models/test_fetch.py",
            "/models/README.md",
            "/models/cache/notes.txt",
            "/models/cache/m.gguf.partial",
            "/models/cache/manifest.json",
            "/models/cache/m.gguf/",
            "/models/%66etch.py",
        ):
            with self.subTest(path=path):
                status, _, body = self.request(path)
                self.assertEqual(status, 404)
                self.assertNotIn(b"print", body)

    def test_host_header_is_checked(self) -> None:
        for host in (f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"LocalHost:{self.port}", f"[::1]:{self.port}"):
            with self.subTest(host=host):
                self.assertEqual(self.request("/", headers={"Host": host})[0], 200)
        # DNS rebinding: a hostile name pointed at 127.0.0.1 sends its own name as Host.
        for host in ("evil.example", f"evil.example:{self.port}", "127.0.0.1", f"127.0.0.1:{self.port + 1}", "localhost", ""):
            with self.subTest(host=host):
                status, _, body = self.request("/models/cache/m.gguf", headers={"Host": host})
                self.assertEqual(status, 403)
                self.assertNotIn(self.blob[:64], body)
        status, _, _ = self.request("/", headers={"Host": None})
        self.assertEqual(status, 400)

    def test_allow_host(self) -> None:
        server = serve.make_server(
            Path(self.tmp.name) / "www", Path(self.tmp.name) / "models", 0, quiet=True, allow_hosts=["verbatim.test", "proxy.test:8443"]
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            for host, expected in (
                (f"verbatim.test:{port}", 200),
                ("proxy.test:8443", 200),
                (f"127.0.0.1:{port}", 200),
                (f"proxy.test:{port}", 403),
                ("other.test:8443", 403),
            ):
                with self.subTest(host=host):
                    self.assertEqual(self.request("/", headers={"Host": host}, port=port)[0], expected)
        finally:
            server.shutdown()
            server.server_close()

    def test_internal_error_still_answers(self) -> None:
        original = serve.resolve

        def broken(*_args: object) -> None:
            raise RuntimeError("a bug")

        serve.resolve = broken
        try:
            status, _, body = self.request("/")
        finally:
            serve.resolve = original
        self.assertEqual((status, body), (500, b"500 Internal Server Error\n"))

    def test_unsupported_method(self) -> None:
        status, _, _ = self.request("/", method="POST")
        self.assertEqual(status, 501)


if __name__ == "__main__":
    unittest.main()
