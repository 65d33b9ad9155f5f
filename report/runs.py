"""The bridge from a suite and its store to the runs table that report/ analyses: one row per planned run,
named as the suite names it now; a planned run not in the store is `pending`."""

from __future__ import annotations

import math

import pandas as pd

from harness.evaluate import absurd
from harness.store import COLUMNS, RunStore
from harness.suite import Suite
from report.analysis import first_batches_mean


def runs_table(
    suite: Suite, store: RunStore | None, include_absurd: bool = False
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """(runs, details by key): the flat columns of every planned run, and the stored details of each. An
    absurd run (`harness.evaluate.absurd`: it diverged) has status `absurd`, so that no mean, rank or test
    counts it while every table can show it; `include_absurd` keeps it `ok` (column `absurd` says which)."""
    stored = {row["key"]: row for row in store.rows(spec.key for spec in suite.runs)} if store else {}
    records = []
    for spec in suite.runs:
        row = dict.fromkeys(COLUMNS)
        row.update({k: v for k, v in stored.get(spec.key, {}).items() if k in COLUMNS})
        row.update(key=spec.key, name=spec.name, model=spec.model, dataset=spec.dataset, seq_len=spec.seq_len,
                   pred_len=spec.pred_len, seed=spec.seed, protocol=spec.protocol,
                   status=row["status"] or "pending")  # fmt: skip
        records.append(row)
    details = {key: row["details"] for key, row in stored.items()}
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    table["latency_iqr_ms"] = [details.get(key, {}).get("latency_iqr_ms") for key in table["key"]]
    # torch threads a run trained on (runs stored before `--threads` existed trained on one)
    table["threads"] = [details.get(key, {}).get("threads", 1) for key in table["key"]]
    table["absurd"] = [
        r.status == "ok" and absurd(r.val_mse, details.get(r.key, {})) for r in table.itertuples()
    ]
    if not include_absurd:
        table.loc[table["absurd"].astype(bool), "status"] = "absurd"
    return table, details


def with_loader_scores(runs: pd.DataFrame, details: dict[str, dict], published: pd.DataFrame) -> pd.DataFrame:
    """`runs` plus, where the published row of a run's (model, dataset, H) says the authors' test loader
    drops its last partial batch (`test_drop_last_batch`), the run's test MSE over the windows that loader
    keeps (`test_mse_loader`, from the stored per-window errors) and their number; NaN elsewhere and for
    runs stored before per-window errors were kept."""
    batches = {
        (r.model, r.dataset, r.pred_len): r.test_drop_last_batch
        for r in published.itertuples()
        if not pd.isna(getattr(r, "test_drop_last_batch", math.nan))
    }
    scores, kept = [], []
    for r in runs.itertuples():
        batch = batches.get((r.model, r.dataset, r.pred_len))
        windows = details.get(r.key, {}).get("test_window_mse") if r.status == "ok" else None
        if batch is None or windows is None:
            scores.append(math.nan)
            kept.append(math.nan)
        else:
            scores.append(first_batches_mean(windows, int(batch)))
            kept.append(len(windows) // int(batch) * int(batch))
    return runs.assign(test_mse_loader=scores, n_loader_windows=kept)
