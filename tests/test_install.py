"""Installed, not only editable: the wheel carries every file the package reads at run time (the bundled data
with its checksums and license, the shipped suites and presets, the C kernels' sources and the headers they
include), and, installed into a fresh environment, its commands train every registered model from an empty
directory."""

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from harness import registry
from harness.datasets import BUNDLED

from conftest import tiny_suite_dict, write_suite

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "baselines", "dynonet", "report")  # pyproject.toml's packages
LINKED = ("data", "suites")  # what harness/data and harness/suites link to in the checkout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel a fresh clone builds: from a copy of the sources, so that this checkout's build/ folder,
    which keeps every file an earlier build copied, cannot supply one the package data leaves out."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in (*PACKAGES, *LINKED):
        shutil.copytree(
            ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
         "-w", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("dynobench-*.whl")
    return built


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """An empty directory, where the installed commands run."""
    return tmp_path_factory.mktemp("workdir")


@pytest.fixture(scope="module")
def dynobench(wheel, workdir, tmp_path_factory):
    """The `dynobench` command of the wheel installed into a fresh virtual environment, run in `workdir`.
    torch and the other dependencies come from this interpreter's site-packages, listed in a .pth file:
    unlike --system-site-packages, that does not run the .pth files there, one of which puts an editable
    checkout on the path, where it would hide a module the wheel lacks."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    where = [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    purelib = Path(subprocess.run(where, check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    imported = subprocess.run(
        [str(python), "-c", "import harness; print(harness.__file__)"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert imported.stdout.startswith(str(purelib)), imported.stdout
    # a kernel cache of its own: the C kernels compile from the installed sources and headers
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("cache"))}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "dynobench"), *args], cwd=workdir, env=env, capture_output=True, text=True
        )

    return run


def test_the_wheel_ships_the_data_with_its_checksums_and_license_the_suites_the_presets_and_the_kernels(
    wheel,
):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"harness/data/{file}" for file, _ in BUNDLED.values()}
    expected |= {"harness/data/SHA256SUMS", "harness/data/README.md"}
    expected |= {"report/published.csv", "report/protocol_notes.csv"}
    expected |= {  # C kernels and their headers, compiled on first use
        str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.[ch]")
    }
    expected |= {
        f"harness/suites/{p.relative_to(ROOT / 'suites')}" for p in (ROOT / "suites").rglob("*.yaml")
    }
    expected.add("harness/suites/ci-reference.csv")
    assert {"dynonet/gru.c", "harness/vecmath.h"} <= expected
    assert expected <= names, sorted(expected - names)


def test_a_shipped_suite_runs_by_name_from_an_empty_directory_with_its_store_there(dynobench, workdir):
    listed = dynobench("suites")
    assert listed.returncode == 0 and "| smoke " in listed.stdout and "| etth1 " in listed.stdout
    ran = dynobench("run", "smoke")
    assert ran.returncode == 0, ran.stderr
    assert "2/2 runs stored" in ran.stderr
    assert (workdir / "results" / "smoke" / "runs.sqlite").is_file()
    missing = dynobench("run", "smokey")
    assert missing.returncode == 2 and "smokey: no such suite file (or a shipped suite: ci," in missing.stderr


def every_model_suite() -> dict:
    """One tiny run of every registered model (a new model's file is found by the registry, so it is here
    too): ETTh1, L = 48, H = 24, one seed, one epoch, the sizes of suites/ci.yaml (constructor defaults for
    a model it does not list)."""
    entries = yaml.safe_load((ROOT / "suites" / "ci.yaml").read_text())["models"]
    ci = {entry["model"]: entry for entry in entries if "model" in entry}
    keys = [
        key
        for key, info in registry.models().items()
        if info.cls.__module__.split(".")[0] in registry.BUILTIN_PACKAGES
    ]
    models = [{**ci.get(key, {"name": key, "model": key}), "seq_len": 48, "seeds": [1]} for key in keys]
    return tiny_suite_dict(name="every-model", models=models)


def test_the_installed_package_trains_every_registered_model_from_an_empty_directory(dynobench, workdir):
    suite = every_model_suite()
    write_suite(workdir / "every-model.yaml", suite)
    ran = dynobench("run", "every-model.yaml")
    count = len(suite["models"])
    assert ran.returncode == 0 and f"{count}/{count} runs stored, 0 failed" in ran.stderr, ran.stderr
