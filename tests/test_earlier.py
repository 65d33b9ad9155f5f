"""Runs of an earlier recipe of a suite's cells are found, named by what changed, and set beside the
current recipe's runs; they never enter the suite's own table."""

import dataclasses

from harness.runner import RunResult
from harness.store import RunStore
from harness.suite import load_suite
from report.earlier import earlier_recipes, earlier_runs
from report.runs import runs_table

from conftest import tiny_suite_dict, write_suite


def test_an_earlier_recipe_is_set_beside_the_current_one_with_what_changed(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2, 3])))
    store = RunStore(tmp_path / "runs.sqlite")
    for spec, mse in zip(suite.runs, (0.40, 0.41, 0.42), strict=True):
        old = dataclasses.replace(spec, train=dataclasses.replace(spec.train, beta1=0.95, eps=1e-7))
        store.put(RunResult(old, "ok", test_mse=mse + 0.1, test_mae=0.5, val_mse=0.7, best_epoch=1))
        store.put(RunResult(spec, "ok", test_mse=mse, test_mae=0.5, val_mse=0.7, best_epoch=1))
    other = dataclasses.replace(suite.runs[0], seed=9, train=dataclasses.replace(suite.runs[0].train, lr=1.0))
    store.put(
        RunResult(other, "ok", test_mse=9.0, test_mae=9.0, val_mse=9.0, best_epoch=1)
    )  # no cell of ours
    runs, _ = runs_table(suite, store)
    assert sorted(runs["test_mse"]) == [0.40, 0.41, 0.42]  # the earlier recipe's runs are not ours

    earlier = earlier_runs(suite, store)
    assert sorted(earlier["test_mse"]) == [0.5, 0.51, 0.52] and set(earlier["seed"]) == {1, 2, 3}
    text = earlier_recipes(earlier, runs)
    row = next(line for line in text.splitlines() if line.startswith("| DLinear"))
    assert "train.beta1 0.95 → 0.9; train.eps 1e-07 → 1e-08" in row
    assert "0.510 ± 0.025 (n=3)" in row and "0.410 ± 0.025 (n=3)" in row and "-0.100 ± " in row
    assert row.rstrip(" |").endswith("yes")  # a 0.1 shift over a spread of 0.01 is significant
    assert earlier_recipes(earlier_runs(suite, RunStore(tmp_path / "empty.sqlite")), runs) == ""
