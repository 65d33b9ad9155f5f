"""`new-model`: from a name to files that pass their own test, ruff, and a one-epoch suite; bad names and
existing files refused with one line."""

import os
import subprocess
import sys

import pytest

from harness import registry

from conftest import ROOT, write_suite

NAME = f"scaffold_probe_{os.getpid()}"  # unique, so a parallel checkout's test cannot collide


@pytest.fixture
def generated():
    files = [ROOT / "baselines" / f"{NAME}.py", ROOT / "tests" / f"test_{NAME}.py"]
    yield files
    for path in files:
        path.unlink(missing_ok=True)


def test_a_new_model_passes_its_generated_test_and_trains_in_a_one_epoch_suite(generated, cli, tmp_path):
    code, out, _ = cli("new-model", NAME)
    assert code == 0 and all(path.is_file() for path in generated)
    assert f"python -m pytest -q tests/test_{NAME}.py" in out
    assert (
        NAME not in registry.models()
    )  # a running process keeps the models it started with; new ones run next
    python = [sys.executable, "-m"]
    lint = subprocess.run([*python, "ruff", "check", *map(str, generated)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    tests = subprocess.run(
        [*python, "pytest", "-q", "-p", "no:cacheprovider", str(generated[1])],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert tests.returncode == 0 and "8 passed" in tests.stdout, tests.stdout
    suite = write_suite(tmp_path / "s.yaml", {
        "name": "probe", "protocol": "try-1-epoch", "datasets": ["ETTh1"], "horizons": [24], "seeds": [1],
        "models": [{"name": NAME, "model": NAME, "seq_len": 96, "train": {"epochs": 1, "batch_size": 256}}],
    })  # fmt: skip
    store = tmp_path / "runs.sqlite"
    run = subprocess.run(
        [sys.executable, str(ROOT / "run_suite.py"), "run", str(suite), "--store", str(store)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0 and "1/1 runs stored, 0 failed" in run.stderr, run.stderr

    before = [path.read_text() for path in generated]
    code, _, err = cli("new-model", NAME)  # on disk now: nothing is overwritten
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"new-model {NAME}:" in err
    assert [path.read_text() for path in generated] == before


@pytest.mark.parametrize(("name", "message"), [
    ("", "a model name is lower-case letters"),
    ("Mixer-Lite", "a model name is lower-case letters"),
    ("class", "a model name is lower-case letters"),
    ("dlinear", "a model with this key is registered already"),
    ("layers", "baselines/layers.py exists; nothing was written"),
])  # fmt: skip
def test_bad_names_and_existing_files_are_refused(cli, name, message):
    code, _, err = cli("new-model", name)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
