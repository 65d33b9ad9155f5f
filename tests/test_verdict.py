"""The verdict across tasks: fev's skill score, win rate and average rank with dataset-bootstrap intervals,
the stated rule for missing cells, Wilcoxon–Holm pairwise, and the power floor."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from report.verdict import dataset_bootstrap, verdict, verdict_text

DATASETS = ("ETTh1", "ETTh2", "ETTm1")
HORIZONS = (96, 192)


def table(scores: dict, seeds=(1, 2)) -> pd.DataFrame:
    """Runs from {(name, model): {(dataset, H): mse}}; each seed ±0.001 around the score."""
    rows = []
    for (name, model), by_task in scores.items():
        for (dataset, horizon), mse in by_task.items():
            for i, seed in enumerate(seeds):
                value = None if mse is None else mse + 0.001 * (2 * i - 1)
                rows.append({"protocol": "p", "dataset": dataset, "pred_len": horizon, "name": name,
                             "model": model, "seed": seed, "status": "ok" if value else "failed",
                             "test_mse": value, "test_mae": None if value is None else value / 2,
                             "absurd": False})  # fmt: skip
    return pd.DataFrame(rows)


TASKS = list(itertools.product(DATASETS, HORIZONS))
REFERENCE = {t: 1.0 for t in TASKS}


def test_skill_win_rate_and_rank_are_fevs_definitions():
    a = {t: 0.5 for t in TASKS}  # half the reference's error everywhere
    b = {t: 0.8 if t[1] == 96 else 0.4 for t in TASKS}  # beats A on the long horizon only
    v = verdict(table({("A", "a"): a, ("B", "b"): b, ("SN", "seasonal_naive"): REFERENCE}), "p")
    assert v.n_tasks == 6 and v.datasets == list(DATASETS)
    assert v.table.loc["A", "skill"] == pytest.approx(0.5)
    assert v.table.loc["B", "skill"] == pytest.approx(1 - math.sqrt(0.8 * 0.4))  # geometric mean
    assert v.table.loc["SN", "skill"] == pytest.approx(0.0)
    assert v.table.loc["A", "win_rate"] == pytest.approx((0.5 + 1.0) / 2)  # half the tasks vs B, all vs SN
    assert v.table.loc["A", "rank"] == pytest.approx(1.5) and v.table.loc["SN", "rank"] == 3
    assert v.table.loc["A", "mae_skill"] == pytest.approx(0.5)
    assert list(v.table.index) == ["A", "B", "SN"]  # by average rank


def test_intervals_resample_whole_datasets_reproducibly():
    a = {t: 0.5 + 0.1 * DATASETS.index(t[0]) for t in TASKS}
    v = verdict(table({("A", "a"): a, ("SN", "seasonal_naive"): REFERENCE}), "p")
    low, high = v.table.loc["A", ["skill_low", "skill_high"]]
    # a resample holds whole datasets, so its skill is one of the per-dataset mixes: within [0.3, 0.5]
    assert 0.3 - 1e-9 <= low < v.table.loc["A", "skill"] < high <= 0.5 + 1e-9
    again = dataset_bootstrap(v.scores, "SN")["skill"]
    assert again.loc["A", "low"] == low and again.loc["A", "high"] == high
    four = [("ETTh1", h) for h in (96, 192, 336, 720)]
    sn = dict.fromkeys(four, 1.0)
    one = verdict(table({("A", "a"): dict.fromkeys(four, 0.5), ("SN", "seasonal_naive"): sn}), "p")
    assert math.isnan(one.table.loc["A", "skill_low"])  # one dataset: no interval
    assert "no interval: one dataset" in verdict_text(one)


def test_missing_cells_leave_out_a_model_or_a_task_never_imputed():
    a = {t: 0.5 for t in TASKS}
    late = {t: (None if t == ("ETTm1", 192) else 0.6) for t in TASKS}  # failed on one task
    runs = table({("A", "a"): a, ("Late", "b"): late, ("SN", "seasonal_naive"): REFERENCE})
    runs = pd.concat([runs, table({("Never", "c"): {("ETTh1", 96): None}})])  # nothing finished
    v = verdict(runs, "p")
    assert v.n_tasks == 5 and ("ETTm1", 192) not in v.scores.index
    assert v.left_out_tasks == {("ETTm1", 192): ["Late"]}
    assert v.left_out_models == {"Never": "no finished task"}
    text = verdict_text(v)
    assert "- ETTm1 H = 192: missing Late" in text and "- Never: no finished task" in text


def test_pairwise_wilcoxon_is_holm_adjusted_and_paired_by_task():
    rng = np.random.default_rng(3)
    tasks = list(itertools.product(DATASETS, (96, 192, 336, 720)))  # 12 tasks
    base = rng.uniform(0.3, 0.6, len(tasks))
    models = {("A", "a"): base, ("B", "b"): base * 1.1 + rng.normal(0, 0.01, len(tasks)),
              ("C", "c"): base * rng.uniform(0.9, 1.1, len(tasks)),
              ("SN", "seasonal_naive"): base * 2}  # fmt: skip
    by_task = {k: dict(zip(tasks, vals, strict=True)) for k, vals in models.items()}
    v = verdict(table(by_task, seeds=(1,)), "p")
    assert v.testable
    names = ["A", "B", "C", "SN"]
    pairs = list(itertools.combinations(names, 2))
    scores = v.scores
    raw = [stats.wilcoxon(scores[a], scores[b]).pvalue for a, b in pairs]
    holm = multipletests(raw, method="holm")[1]
    for (a, b), p in zip(pairs, holm, strict=True):
        assert v.p_values.loc[a, b] == pytest.approx(p)
    assert v.p_values.loc["A", "SN"] < 0.05  # twice the error on all 12 tasks


def test_below_the_power_floor_the_report_says_not_testable():
    four = [("ETTh1", h) for h in (96, 192, 336, 720)]
    v = verdict(
        table({("A", "a"): {t: 0.5 for t in four}, ("SN", "seasonal_naive"): dict.fromkeys(four, 1.0)}), "p"
    )
    assert not v.testable
    assert "Not testable with 4 tasks: the smallest two-sided exact p is 2/2^4 = 0.125" in verdict_text(v)
    six = verdict(table({("A", "a"): {t: 0.5 for t in TASKS}, ("SN", "seasonal_naive"): REFERENCE}), "p")
    assert six.testable and "Not testable" not in verdict_text(six)  # 2/2^6 = 0.031
