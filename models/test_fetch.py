"""Tests for fetch.py's verify-then-move step (run: python3 -m unittest discover models)."""

import hashlib
import os
import tempfile
import unittest

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


if __name__ == "__main__":
    unittest.main()
