"""Tests of tools/build_site.py (the static site) and tools/remote_origin.py (the emulated model host).

    python3 -m unittest discover -s tools -p 'test_*.py'
"""

from __future__ import annotations

import hashlib
import http.client
import json
import tempfile
import unittest
import urllib.parse
from pathlib import Path

import build_site as site
import remote_origin

HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>t</title>
  <script type="module" src="app.js"></script>
</head>
<body></body>
</html>
"""

MANIFEST = {
    "version": 1,
    "models": [
        {
            "id": "m",
            "name": "M",
            "file": "m.gguf",
            "size": 10240,
            "sha256": "0" * 64,
            "sources": [
                {"kind": "pypi", "package": "p", "version": "1"},
                {"kind": "url", "url": "https://hub.example/org/m/resolve/abc/M.gguf", "revision": "abc"},
            ],
        }
    ],
}


class SiteTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        base = Path(self.tmp.name)
        self.www = base / "www"
        (self.www / "pkg").mkdir(parents=True)
        (self.www / "tasks").mkdir()
        (self.www / "index.html").write_text(HTML)
        (self.www / "embed.html").write_text(HTML)
        (self.www / "app.js").write_text("import { x } from './util.js';\n")
        (self.www / "util.js").write_text("export const x = 1;\n")
        (self.www / "worker.js").write_text("import { y } from './helper.js';\nconst m = import('./pkg/verbatim.js');\n")
        (self.www / "helper.js").write_text("export const y = 2;\n")
        # The Evaluate view's worker, one folder down: its imports reach back into the engine.
        (self.www / "eval").mkdir()
        (self.www / "eval/worker.js").write_text("import { y } from '../helper.js';\nconst m = import('../pkg/verbatim.js');\n")
        (self.www / "pkg/verbatim.js").write_text("export default 1;\n")
        (self.www / "pkg/verbatim_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
        (self.www / "tasks/t.jsonl").write_text("{}\n")
        (self.www / ".hidden").write_text("no")
        self.manifest = base / "manifest.json"
        self.manifest.write_text(json.dumps(MANIFEST))
        self.out = base / "out"
        self.config = site.Config()

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def build(self, releases: Path | None = None, spec: str = "exact-1") -> dict:
        return site.build(self.out, self.www, self.manifest, self.config, spec, releases)

    def test_every_file_is_copied_and_every_html_file_carries_the_policy(self) -> None:
        self.build()
        for name in ("index.html", "embed.html", "app.js", "util.js", "tasks/t.jsonl", "pkg/verbatim_bg.wasm", ".nojekyll"):
            self.assertTrue((self.out / name).is_file(), name)
        self.assertFalse((self.out / ".hidden").exists())
        for name in ("index.html", "embed.html"):
            html = (self.out / name).read_text()
            self.assertIn('<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" content="default-src', html)
            self.assertIn("script-src 'self' 'wasm-unsafe-eval'", html)
            self.assertNotIn("frame-ancestors", html)

    def test_headers_carry_the_full_policy_and_embed_pages_may_be_framed(self) -> None:
        self.build()
        headers = (self.out / "_headers").read_text()
        rules = {}
        for block in headers.split("\n/")[1:]:
            path, *lines = block.splitlines()
            rules["/" + path] = dict(line.strip().split(": ", 1) for line in lines)
        self.assertEqual(rules["/*"]["X-Content-Type-Options"], "nosniff")
        self.assertEqual(rules["/*"]["Referrer-Policy"], "no-referrer")
        self.assertEqual(rules["/*"]["Cross-Origin-Opener-Policy"], "same-origin")
        self.assertEqual(rules["/*"]["Cross-Origin-Embedder-Policy"], "require-corp")
        self.assertNotIn("Content-Security-Policy", rules["/*"])  # never two rules for one header
        for path in ("/", "/index.html"):
            self.assertTrue(rules[path]["Content-Security-Policy"].endswith("frame-ancestors 'self'"), path)
        # Cloudflare Pages serves embed.html at /embed: that address may be framed too.
        for path in ("/embed.html", "/embed"):
            self.assertTrue(rules[path]["Content-Security-Policy"].endswith("frame-ancestors *"), path)
            self.assertEqual(rules[path]["Content-Security-Policy"].count("frame-ancestors"), 1, path)
        # One rule per path: a host joins every matching rule's values, and a wildcard rule with a
        # policy would add a second one to each file.
        paths = [block.splitlines()[0] for block in headers.split("\n/")[1:]]
        self.assertEqual(len(paths), len(set(paths)))
        wildcards = [path for path, rule in rules.items() if "*" in path and "Content-Security-Policy" in rule]
        self.assertEqual(wildcards, ["/engine/*"])
        self.assertFalse(any(path.startswith("/engine/") for path in rules if path != "/engine/*"))
        self.assertIn("worker-src 'self'", rules["/app.js"]["Content-Security-Policy"])
        self.assertIn("immutable", rules["/engine/*"]["Cache-Control"])

    def test_the_engine_is_the_worker_with_its_imports_at_a_versioned_path(self) -> None:
        summary = self.build()
        engine = self.out / "engine/exact-1"
        names = sorted(p.relative_to(engine).as_posix() for p in engine.rglob("*") if p.is_file())
        self.assertEqual(names, ["SHA256SUMS", "eval/worker.js", "helper.js", "pkg/verbatim.js", "pkg/verbatim_bg.wasm", "worker.js"])
        site.check_sums(engine)
        self.assertEqual(summary["engines"], {"exact-1": "built"})

    def test_the_threaded_engine_goes_with_the_engine_when_built(self) -> None:
        (self.www / "pool-worker.js").write_text("const e = import('./pkg-threads/verbatim.js');\n")
        (self.www / "pkg-threads").mkdir()
        (self.www / "pkg-threads/verbatim.js").write_text("export default 1;\n")
        (self.www / "pkg-threads/verbatim_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
        self.build()
        engine = self.out / "engine/exact-1"
        names = sorted(p.relative_to(engine).as_posix() for p in engine.rglob("*") if p.is_file())
        self.assertEqual(
            names,
            ["SHA256SUMS", "eval/worker.js", "helper.js", "pkg-threads/verbatim.js", "pkg-threads/verbatim_bg.wasm",
             "pkg/verbatim.js", "pkg/verbatim_bg.wasm", "pool-worker.js", "worker.js"],
        )

    def test_the_manifest_points_each_model_at_its_pinned_source_and_names_the_engines(self) -> None:
        self.build()
        manifest = json.loads((self.out / "models/manifest.json").read_text())
        self.assertEqual(manifest["models"][0]["url"], "https://hub.example/org/m/resolve/abc/M.gguf")
        self.assertEqual(manifest["site"]["engines"], {"exact-1": "engine/exact-1/"})
        self.assertEqual(manifest["site"]["engine"], "exact-1")
        self.assertEqual(manifest["site"]["model_origins"], [])

    def test_a_mirror_replaces_the_model_origin_and_is_allowed_by_the_policy(self) -> None:
        self.config = site.read_config(Path(site.REPO / "site.json"), "http://127.0.0.1:9/", ["http://127.0.0.1:8"])
        self.build()
        manifest = json.loads((self.out / "models/manifest.json").read_text())
        self.assertEqual(manifest["models"][0]["url"], "http://127.0.0.1:9/org/m/resolve/abc/M.gguf")
        self.assertEqual(manifest["site"]["model_origins"], ["http://127.0.0.1:8", "http://127.0.0.1:9"])
        self.assertIn("connect-src 'self' https: http://127.0.0.1:8 http://127.0.0.1:9;", (self.out / "index.html").read_text())

    def test_bad_config_values_are_refused_in_words(self) -> None:
        config = Path(self.tmp.name) / "site.json"
        for raw, words in (
            ({"page_url": "ftp://x/"}, "page_url"),
            ({"page_url": "https://x.example/no-slash"}, "page_url"),
            ({"doi": "not a doi"}, "doi"),
            ({"model_origins": ["http://x.example/path"]}, "model origin"),
        ):
            config.write_text(json.dumps(raw))
            with self.assertRaisesRegex(site.SiteError, words):
                site.read_config(config, None, [])
        config.write_text("{")
        with self.assertRaisesRegex(site.SiteError, "cannot be read"):
            site.read_config(config, None, [])

    def test_pages_that_break_the_policy_or_a_sub_path_are_refused(self) -> None:
        for html, words in (
            (HTML.replace('src="app.js"></script>', 'src="app.js"></script><script>alert(1)</script>'), "inline <script>"),
            (HTML.replace("<body>", '<body style="color: red">'), "inline style"),
            (HTML.replace("<body>", '<body onload="x()">'), "event-handler"),
            (HTML.replace('src="app.js"', 'src="/app.js"'), "sub-path"),
            (HTML.replace('<meta charset="utf-8">', ""), "charset"),
        ):
            (self.www / "index.html").write_text(html)
            with self.assertRaisesRegex(site.SiteError, words):
                self.build()

    def test_archived_engines_are_kept_byte_for_byte_and_checked(self) -> None:
        self.build()
        releases = Path(self.tmp.name) / "releases"
        (releases / "v0.1").mkdir(parents=True)
        (self.out / "engine").rename(releases / "v0.1" / "engine")
        # A later build of another spec keeps the released exact-1 as it was.
        (self.www / "worker.js").write_text("import { y } from './helper.js';\n// changed\nconst m = import('./pkg/verbatim.js');\n")
        summary = self.build(releases, spec="exact-2")
        self.assertEqual(summary["engines"], {"exact-1": "archived", "exact-2": "built"})
        self.assertNotIn("changed", (self.out / "engine/exact-1/worker.js").read_text())
        self.assertIn("changed", (self.out / "engine/exact-2/worker.js").read_text())
        manifest = json.loads((self.out / "models/manifest.json").read_text())
        self.assertEqual(manifest["site"]["engines"], {"exact-1": "engine/exact-1/", "exact-2": "engine/exact-2/"})
        # The same spec built again: the released engine is kept.
        self.build(releases, spec="exact-1")
        self.assertNotIn("changed", (self.out / "engine/exact-1/worker.js").read_text())
        # A damaged archive is refused.
        (releases / "v0.1/engine/exact-1/worker.js").write_text("tampered")
        with self.assertRaisesRegex(site.SiteError, "damaged"):
            self.build(releases, spec="exact-2")

    def test_a_folder_not_made_by_the_build_is_never_replaced(self) -> None:
        self.out.mkdir()
        (self.out / "precious.txt").write_text("keep")
        with self.assertRaisesRegex(site.SiteError, "was not made by tools/build_site.py"):
            self.build()
        self.assertTrue((self.out / "precious.txt").is_file())

    def test_a_missing_engine_build_says_which_target_builds_it(self) -> None:
        (self.www / "pkg/verbatim_bg.wasm").unlink()
        with self.assertRaisesRegex(site.SiteError, "make wasm"):
            self.build()


class RemoteOriginTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.blob = bytes(range(256)) * 40
        path = Path(cls.tmp.name) / "m.gguf"
        path.write_bytes(cls.blob)
        cls.path = "/org/m/resolve/abc/M.gguf"
        cls.hub, cls.cdn, cls.state = remote_origin.start({cls.path: path})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.hub.shutdown()
        cls.cdn.shutdown()
        cls.tmp.cleanup()

    def request(self, server, method: str, path: str):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request(method, path)
        response = conn.getresponse()
        try:
            body = response.read()
        except http.client.IncompleteRead as cut:
            body = cut.partial
        conn.close()
        return response, body

    def set_mode(self, mode: str) -> None:
        query = urllib.parse.urlencode({"path": self.path, "mode": mode})
        response, _ = self.request(self.hub, "POST", f"/_control?{query}")
        self.assertEqual(response.status, 204)

    def fetch(self):
        """GET on the hub, following its redirect to the CDN: (hub response, cdn response, body)."""
        first, _ = self.request(self.hub, "GET", self.path)
        if first.status != 302:
            return first, None, b""
        location = urllib.parse.urlsplit(first.getheader("Location"))
        self.assertEqual(location.port, self.cdn.server_address[1])
        second, body = self.request(self.cdn, "GET", location.path)
        return first, second, body

    def test_modes(self) -> None:
        self.set_mode("ok")
        first, second, body = self.fetch()
        self.assertEqual(first.getheader("Access-Control-Allow-Origin"), "*")
        self.assertEqual(second.getheader("Access-Control-Allow-Origin"), "*")
        self.assertEqual(int(second.getheader("Content-Length")), len(self.blob))
        self.assertEqual(body, self.blob)

        self.set_mode("no-cors")
        _, second, body = self.fetch()
        self.assertIsNone(second.getheader("Access-Control-Allow-Origin"))
        self.assertEqual(body, self.blob)

        self.set_mode("404")
        first, second, _ = self.fetch()
        self.assertEqual((first.status, second), (404, None))

        self.set_mode("cut")
        _, second, body = self.fetch()
        self.assertEqual(int(second.getheader("Content-Length")), len(self.blob))
        self.assertEqual(len(body), len(self.blob) // 2)

        self.set_mode("wrong-bytes")
        _, _, body = self.fetch()
        self.assertEqual(len(body), len(self.blob))
        self.assertNotEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.blob).digest())
        self.set_mode("ok")

    def test_preflight_unknown_paths_and_bad_control_requests(self) -> None:
        response, _ = self.request(self.hub, "OPTIONS", self.path)
        self.assertEqual(response.status, 204)
        self.assertEqual(response.getheader("Access-Control-Allow-Origin"), "*")
        self.assertEqual(self.request(self.hub, "GET", "/elsewhere")[0].status, 404)
        self.assertEqual(self.request(self.cdn, "GET", "/ok/elsewhere")[0].status, 404)
        self.assertEqual(self.request(self.hub, "POST", "/_control?path=/x&mode=ok")[0].status, 400)
        self.assertEqual(self.request(self.hub, "POST", f"/_control?path={self.path}&mode=slow")[0].status, 400)
        log = json.loads(self.request(self.hub, "GET", "/_log")[1])
        self.assertIn({"server": "hub", "method": "GET", "path": "/elsewhere", "status": 404}, log)


if __name__ == "__main__":
    unittest.main()
