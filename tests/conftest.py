"""Shared helpers: tiny suites that train in about a second on CPU, and the CLI called in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent

# DLinear on ETTh1 at L = 96, H = 24, one epoch of large batches: a real run that takes about a second.
TINY_MODEL = {
    "name": "DLinear",
    "model": "dlinear",
    "seq_len": 96,
    "params": {"kernel_size": 25},
}
TINY_TRAIN = {"epochs": 1, "batch_size": 256, "lr": 0.005, "patience": 3, "lradj": "type1"}


def tiny_suite_dict(**overrides) -> dict:
    suite = {
        "name": "tiny",
        "protocol": "tiny",
        "datasets": ["ETTh1"],
        "horizons": [24],
        "seeds": [1],
        "train": dict(TINY_TRAIN),
        "models": [dict(TINY_MODEL)],
    }
    suite.update(overrides)
    return suite


def write_suite(path: Path, suite: dict) -> Path:
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path):
    """Factory: tiny_suite(**overrides) writes a suite file in tmp_path and returns its path."""

    def make(**overrides) -> Path:
        return write_suite(tmp_path / "suite.yaml", tiny_suite_dict(**overrides))

    return make


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
