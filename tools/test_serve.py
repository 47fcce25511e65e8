"""Tests of tools/serve.py: types, headers, ranges, and that nothing outside the two roots leaks.

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
        (www / "app.js").write_text("export {};")
        (www / "style.css").write_text("body {}")
        (www / "pkg" / "verbatim_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
        (www / ".hidden").write_text("no")
        models = base / "models"
        (models / "cache").mkdir(parents=True)
        (models / "manifest.json").write_text('{"version": 1, "models": []}')
        cls.blob = bytes(range(256)) * 40  # 10,240 bytes
        (models / "cache" / "m.gguf").write_bytes(cls.blob)
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

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None):
        """Sends `path` exactly as written (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
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
            "http://127.0.0.1/../secret.txt",
            "/" + os.path.abspath(self.tmp.name).lstrip("/") + "/secret.txt",
        ]
        for path in paths:
            with self.subTest(path=path):
                status, _, body = self.request(path)
                self.assertEqual(status, 404)
                self.assertNotIn(SECRET, body)

    def test_unsupported_method(self) -> None:
        status, _, _ = self.request("/", method="POST")
        self.assertEqual(status, 501)


if __name__ == "__main__":
    unittest.main()
