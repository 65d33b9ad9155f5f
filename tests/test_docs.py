"""The README's suite example is a valid suite (documentation that cannot drift from the code)."""

import re
from pathlib import Path

from harness.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


def test_readme_suite_example_validates(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "models:" in b)
    path = tmp_path / "example.yaml"
    path.write_text(example)
    suite = load_suite(path)
    names = ["DLinear", "DLinear-official", "DLinear-own"]
    assert [s.name for s in suite.runs] == [name for name in names for _ in (1, 2)]
    official, own = suite.runs[2], suite.runs[4]
    assert (official.seq_len, official.train.lr, official.train.epochs) == (336, 0.005, 2)
    assert (own.seq_len, own.train.lr, own.train.epochs) == (336, 0.005, 10)  # dlinear-etth1 over the suite


def test_shipped_suites_validate():
    for path in sorted((ROOT / "suites").glob("*.yaml")):
        assert load_suite(path).runs, path
