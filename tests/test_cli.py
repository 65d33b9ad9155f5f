"""The commands a researcher types: describe, run, export, models, datasets."""

import csv
import json
import sys

import pytest
import torch

from harness import checkpoint, remaining
from harness.runner import RunResult
from harness.store import RunStore, checkpoint_path
from harness.suite import load_suite

from conftest import TINY_MODEL, tiny_suite_dict, write_suite


def test_describe_lists_every_run_with_its_parameter_count_and_status(tiny_suite, cli, tmp_path):
    suite = tiny_suite(seeds=[1, 2], horizons=[24, 48])
    code, out, _ = cli("describe", suite, "--format", "json", "--store", tmp_path / "runs.sqlite")
    assert code == 0
    plan = json.loads(out)
    assert len(plan) == 4
    for run in plan:
        assert {"name", "model", "dataset", "seq_len", "pred_len", "seed", "params", "status"} <= set(run)
        assert run["params"] == 2 * (96 * run["pred_len"] + run["pred_len"])
        assert run["status"] == "pending"
    assert not (tmp_path / "runs.sqlite").exists()  # describe creates no store


def test_run_then_describe_then_export(tiny_suite, cli, tmp_path):
    suite, store, out_csv = tiny_suite(seeds=[1, 2]), tmp_path / "runs.sqlite", tmp_path / "runs.csv"
    code, out, err = cli("run", suite, "--store", store, "--device", "cpu")
    assert code == 0, err
    assert "DLinear" in out and "2/2" in out  # the result table
    assert err.count("test MSE") == 2  # one line per finished run
    code, out, _ = cli("describe", suite, "--store", store)
    assert code == 0 and "2 done, 0 failed, 0 running, 0 pending" in out
    code, _, _ = cli("export", suite, "--store", store, "--out", out_csv)
    assert code == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2
    assert list(rows[0])[:11] == [
        "name", "model", "dataset", "seq_len", "pred_len", "seed", "status",
        "test_mse", "test_mae", "val_mse", "params",
    ]  # fmt: skip
    assert {r["seed"] for r in rows} == {"1", "2"} and all(float(r["test_mse"]) > 0 for r in rows)
    code, out, err = cli("run", suite, "--store", store)
    assert code == 0 and "0 trained" in err  # resumed: nothing left to do


def test_run_exits_1_when_a_run_failed(tiny_suite, cli, tmp_path):
    import test_store  # noqa: F401  registers the failing test model

    suite = tiny_suite(models=[{"name": "Broken", "model": "test-broken", "seq_len": 96}, dict(TINY_MODEL)])
    # one process: the failing model is registered by this test module only
    code, out, err = cli("run", suite, "--store", tmp_path / "runs.sqlite", "--jobs", "1")
    assert code == 1
    assert "FAILED RuntimeError" in err and "1 failed" in err


def test_models_and_datasets(cli):
    code, out, _ = cli("models")
    assert code == 0 and "kernel_size=25" in out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    for key, params in (("dlinear", "64,704"), ("patchtst", "81,728"), ("itransformer", "841,568")):
        assert f"{key}-etth1" in rows[key] and params in rows[key]  # size at the official ETTh1 recipe
    assert "time features" in rows["itransformer"] and "time features" not in rows["patchtst"]
    code, out, _ = cli("datasets")
    assert code == 0
    for name in ("ETTh1", "ETTh2", "ETTm1", "ETTm2"):
        assert name in out
    assert "8449/2785/2785" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_bad_input(tiny_suite, cli, tmp_path):
    code, _, err = cli("run", tiny_suite(), "--device", "cuda", "--store", tmp_path / "runs.sqlite")
    assert code == 2 and "no CUDA GPU" in err


def test_entries_with_identical_settings_train_once_and_keep_both_names(tiny_suite, cli, tmp_path):
    suite = tiny_suite(models=[dict(TINY_MODEL), {**TINY_MODEL, "name": "Same-again"}])
    store, out_csv = tmp_path / "runs.sqlite", tmp_path / "runs.csv"
    code, out, err = cli("run", suite, "--store", store)
    assert code == 0 and "1 trained" in err and "2/2 runs stored" in err
    assert "Same-again" in out and "DLinear" in out
    cli("export", suite, "--store", store, "--out", out_csv)
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == ["DLinear", "Same-again"]
    assert rows[0]["key"] == rows[1]["key"] and rows[0]["test_mse"] == rows[1]["test_mse"]


def test_run_only_some_entries(tmp_path, cli):
    models = [dict(TINY_MODEL), {**TINY_MODEL, "name": "Other", "seq_len": 48}]
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=models))
    store = tmp_path / "runs.sqlite"
    code, _, err = cli("run", suite, "--store", store, "--only", "Other")
    assert code == 0 and "1 trained" in err
    _, out, _ = cli("describe", suite, "--store", store)
    assert "1 done, 0 failed, 0 running, 1 pending" in out
    code, _, err = cli("run", suite, "--store", store, "--only", "Typo")
    assert code == 2 and "--only Typo: not an entry of suite tiny (DLinear, Other)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "ray"], "Ray is not installed; pip install 'dynobench[ray]'"),
        (["--address", "10.0.0.1:6379"], "--address: only with --executor ray"),
        (["--gpus-per-run", "0.25"], "--gpus-per-run: only with --executor ray"),
        (
            ["--executor", "ray", "--device", "cuda"],
            "--device cuda with --executor ray: say what a run takes",
        ),
    ],
)
def test_executor_options_that_cannot_work_are_one_line_of_bad_input(
    tiny_suite, cli, tmp_path, monkeypatch, args, message
):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: importing it fails
    code, _, err = cli("run", tiny_suite(), "--store", tmp_path / "runs.sqlite", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_an_entry_may_run_its_own_seeds(tmp_path, cli):
    models = [dict(TINY_MODEL), {"name": "naive", "model": "naive", "seq_len": 96, "seeds": [1]}]
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=models, seeds=[1, 2, 3]))
    code, out, _ = cli("describe", suite, "--store", tmp_path / "runs.sqlite")
    assert code == 0 and "0 done, 0 failed, 0 running, 4 pending" in out


def test_a_dataset_may_have_its_own_seeds_and_an_entry_its_own_over_them(tmp_path):
    models = [dict(TINY_MODEL), {"name": "naive", "model": "naive", "seq_len": 96, "seeds": [1]}]
    grid = {"datasets": ["ETTh1", "ETTm1"], "seeds": [1, 2, 3], "seeds_by_dataset": {"ETTm1": [1, 2]}}
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=models, **grid)))
    assert sorted((r.name, r.dataset, r.seed) for r in suite.runs) == [
        ("DLinear", "ETTh1", 1), ("DLinear", "ETTh1", 2), ("DLinear", "ETTh1", 3),
        ("DLinear", "ETTm1", 1), ("DLinear", "ETTm1", 2), ("naive", "ETTh1", 1), ("naive", "ETTm1", 1),
    ]  # fmt: skip


def test_describe_prices_the_runs_left_by_the_finished_runs_of_their_cell(tiny_suite, cli, tmp_path):
    store = tmp_path / "runs.sqlite"
    code, _, err = cli("run", tiny_suite(seeds=[1]), "--store", store, "--jobs", "1")
    assert code == 0, err
    (seed_1,) = RunStore(store).rows()
    code, out, _ = cli("describe", tiny_suite(seeds=[1, 2, 3], horizons=[24, 48]), "--store", store)
    assert code == 0
    hours = seed_1["train_seconds"] / 3600
    assert f"Still to train: 5 runs. 2 in cells with a finished run: ≈ {2 * hours:.1f} CPU-hours" in out
    assert "3 in cells with none yet" in out
    rows = [line.split("|")[1:-1] for line in out.split("Still to train")[1].splitlines() if "ETTh1" in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["DLinear", "ETTh1", "96", "24", "2", f"{hours:.2f}", f"{2 * hours:.2f}"],
        ["DLinear", "ETTh1", "96", "48", "3", "–", "–"],
    ]


def test_a_run_in_progress_is_charged_its_cell_mean_less_what_its_checkpoint_did(tiny_suite, tmp_path):
    store_path = tmp_path / "runs.sqlite"
    suite = load_suite(tiny_suite(seeds=[1, 2, 3]))
    store = RunStore(store_path)
    for spec, seconds in zip(suite.runs[:2], (100.0, 300.0), strict=True):
        store.put(RunResult(spec, "ok", train_seconds=seconds))
    checkpoint.save(checkpoint_path(store_path, suite.runs[2].key), {"epoch": 3, "train_seconds": 150.0})
    statuses = {spec.key: "ok" for spec in suite.runs[:2]} | {suite.runs[2].key: "resumable"}
    (cell,) = remaining.cells_left(suite.runs, statuses, store, store_path)
    assert (cell.runs_left, cell.hours_per_run, cell.hours_left) == (1, 200 / 3600, 50 / 3600)


def test_a_cell_with_no_finished_run_is_priced_by_the_same_entry_at_its_nearest_shorter_horizon():
    known = [("DLinear", "ETTh1", 96, 96), ("DLinear", "ETTh1", 96, 192), ("DLinear", "ETTh1", 96, 720),
             ("PatchTST", "ETTh1", 96, 336), ("DLinear", "ETTh2", 96, 336)]  # fmt: skip
    assert remaining.nearest_shorter(("DLinear", "ETTh1", 96, 336), known, horizon_at=3) == known[1]
    assert remaining.nearest_shorter(("DLinear", "ETTh1", 96, 96), known, horizon_at=3) is None
    assert remaining.nearest_shorter(("DLinear", 96, "ETTh1"), [("DLinear", 24, "ETTh1")], horizon_at=1) == (
        "DLinear", 24, "ETTh1",
    )  # fmt: skip


def test_describe_shows_a_failed_runs_error_in_one_short_line(tiny_suite, cli, tmp_path):
    suite = tiny_suite(seeds=[1, 2])
    first, second = load_suite(suite).runs
    store = RunStore(tmp_path / "runs.sqlite")
    store.put(RunResult(first, "failed", error="RuntimeError: CUDA out of memory (simulated)"))
    store.put(RunResult(second, "failed", error="ValueError: " + "a long reason " * 20 + "\nsecond line"))
    code, out, _ = cli("describe", suite, "--store", store.path)
    assert code == 0 and "0 done, 2 failed, 0 running, 0 pending" in out
    assert "| failed (RuntimeError: CUDA out of memory (simulated))" in out
    (long,) = [line for line in out.splitlines() if "ValueError" in line]
    reason = long.split("failed (")[1].split(")")[0]
    assert len(reason) == 60 and reason.endswith("…") and "second line" not in out


def test_describe_points_to_the_speed_benchmark_only_where_there_is_one(
    tiny_suite, cli, monkeypatch, tmp_path
):
    suite = tiny_suite()
    _, out, _ = cli("describe", suite, "--store", tmp_path / "runs.sqlite")
    assert f"`python benchmarks/speed.py --suite {suite}` prices them" in out  # in this checkout
    monkeypatch.setattr("harness.cli.SPEED_SCRIPT", tmp_path / "not-installed" / "speed.py")
    _, out, _ = cli("describe", suite, "--store", tmp_path / "runs.sqlite")
    assert "python benchmarks/speed.py" not in out
    assert "1 in cells with none yet: each is priced once a run of its cell finishes" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tolerance", "-1"], "--tolerance: must be 0 or more, got -1"),
        (["--std-tolerance", "-1"], "--std-tolerance: must be 0 or more, got -1"),
        (
            ["--update-reference"],
            "--reference {ref}: cannot write the reference there (no folder {ref.parent})",
        ),
    ],
)
def test_check_refuses_what_it_cannot_use_before_training(tiny_suite, cli, tmp_path, args, message):
    ref = tmp_path / "a-file" / "ref.csv"
    ref.parent.write_text("not a folder")
    store = tmp_path / "runs.sqlite"
    code, _, err = cli("check", tiny_suite(), "--store", store, "--reference", ref, *args)
    assert code == 2 and err.strip() == f"error: {message.format(ref=ref)}"
    assert not store.exists()  # nothing trained


def test_report_checks_its_readme_before_writing_anything(tiny_suite, cli, tmp_path):
    suite, store, out_dir = tiny_suite(), tmp_path / "runs.sqlite", tmp_path / "report"
    assert cli("run", suite, "--store", store)[0] == 0
    no_block = tmp_path / "README.md"
    no_block.write_text("# no block\n")
    for readme, message in (
        (tmp_path / "nosuch" / "README.md", "cannot read it (No such file or directory)"),
        (no_block, "has no '<!-- begin tiny -->' ... '<!-- end tiny -->' block"),
    ):
        code, out, err = cli("report", suite, "--store", store, "--out", out_dir, "--readme", readme)
        assert code == 2 and err.strip() == f"error: --readme {readme}: {message}" and out == ""
        assert not out_dir.exists()  # the report was not written
