"""Installed, not only editable: the wheel carries the bundled data (checksums and license), the shipped
suites and presets, the C kernels' sources, and the commands work from any directory."""

import subprocess
import sys
import zipfile
from pathlib import Path

from harness.datasets import BUNDLED

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_data_with_its_checksums_and_license_the_suites_and_the_presets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
         "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("dynobench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"harness/data/{file}" for file, _ in BUNDLED.values()}
    expected |= {"harness/data/SHA256SUMS", "harness/data/README.md", "report/published.csv"}
    expected |= {"harness/bernoulli.c", "baselines/tsmixer_mlp.c"}  # C kernels, compiled on first use
    expected |= {
        f"harness/suites/{p.relative_to(ROOT / 'suites')}" for p in (ROOT / "suites").rglob("*.yaml")
    }
    expected.add("harness/suites/ci-reference.csv")
    assert expected <= names, sorted(expected - names)


def test_a_shipped_suite_runs_by_name_from_an_empty_directory_with_its_store_there(tmp_path):
    def dynobench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "run_suite.py"), *args], cwd=tmp_path, capture_output=True, text=True
        )

    listed = dynobench("suites")
    assert listed.returncode == 0 and "| smoke " in listed.stdout and "| etth1 " in listed.stdout
    ran = dynobench("run", "smoke")
    assert ran.returncode == 0, ran.stderr
    assert "2/2 runs stored" in ran.stderr
    assert (tmp_path / "results" / "smoke" / "runs.sqlite").is_file()
    missing = dynobench("run", "smokey")
    assert missing.returncode == 2 and "smokey: no such suite file (or a shipped suite: ci," in missing.stderr
