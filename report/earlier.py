"""Runs of an earlier recipe: stored runs of one of the suite's cells (same entry name, dataset, lookback,
horizon, protocol and seed) under another key, because a recipe value or a model's code revision changed
since. They never enter the suite's tables (those take the current keys only); this table shows how far
the change moved each cell, old beside new.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from tabulate import tabulate

from harness.evaluate import absurd
from harness.spec import LABEL_FIELDS, RunSpec
from harness.store import RunStore
from harness.suite import Suite
from report.analysis import ALPHA, pairwise_comparison, t_half_width
from report.leaderboard import fmt

CELL_FIELDS = ("name", "dataset", "seq_len", "pred_len", "protocol")


def flat(spec: RunSpec) -> dict:
    """The spec's identity as dotted keys (train.beta1, params.d_model), every setting present."""
    out = {}
    for key, value in dataclasses.asdict(spec).items():
        if key in LABEL_FIELDS:
            continue
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def what_changed(old: RunSpec, new: RunSpec) -> str:
    """`train.beta1 0.9 → 0.95; model_revision 2 → 3`: the settings that differ, sorted."""
    before, after = flat(old), flat(new)
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return "; ".join(f"{k} {before.get(k, '–')} → {after.get(k, '–')}" for k in keys)


def earlier_runs(suite: Suite, store: RunStore) -> pd.DataFrame:
    """One row per stored ok (not absurd) run of an earlier recipe of one of the suite's cells: its cell,
    seed, test MSE and what changed since (against the current spec of the same seed)."""
    current = {tuple(getattr(s, f) for f in (*CELL_FIELDS, "seed")): s for s in suite.runs}
    keys = {s.key for s in suite.runs}
    rows = []
    for row in store.rows():
        spec = row["spec"]
        now = current.get(tuple(getattr(spec, f) for f in (*CELL_FIELDS, "seed")))
        if (
            now is None
            or row["key"] in keys
            or row["status"] != "ok"
            or absurd(row["val_mse"], row["details"])
        ):
            continue
        cell = {f: getattr(spec, f) for f in CELL_FIELDS}
        rows.append(
            {**cell, "seed": spec.seed, "test_mse": row["test_mse"], "change": what_changed(spec, now)}
        )
    return pd.DataFrame(rows, columns=[*CELL_FIELDS, "seed", "test_mse", "change"])


def earlier_recipes(earlier: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Per cell and change: the earlier recipe's test MSE beside the current one's (mean ± 95% t-CI, n),
    their difference and Welch's p; empty where no earlier recipe is stored."""
    if earlier.empty:
        return ""
    table = []
    for (name, dataset, _, horizon, protocol, change), old in earlier.groupby(
        [*CELL_FIELDS, "change"], sort=False
    ):
        now = runs[(runs["name"] == name) & (runs["dataset"] == dataset) & (runs["pred_len"] == horizon)
                   & (runs["protocol"] == protocol) & (runs["status"] == "ok")]  # fmt: skip
        both = pd.concat([old.assign(name="earlier", status="ok"), now.assign(name="now")])
        found = pairwise_comparison(both, "now", "earlier")
        r = found.iloc[0] if len(found) else None
        p = math.nan if r is None else r["p"]
        table.append([
            name, dataset, horizon, change, summary(old["test_mse"]), summary(now["test_mse"]),
            "–" if r is None else fmt(r["diff"], r["ci"]), "–" if math.isnan(p) else f"{p:.3g}",
            "–" if math.isnan(p) else ("yes" if p < ALPHA else "no"),
        ])  # fmt: skip
    headers = ["model", "dataset", "H", "what changed", "earlier MSE (mean ± CI, n)", "now",
               "now − earlier", "p (Welch)", "significant at 5%"]  # fmt: skip
    return (
        "### Earlier recipes of these cells\n\n"
        "Stored runs of the same cells (entry, dataset, lookback, horizon, protocol, seeds) under an\n"
        "earlier recipe or model revision: they are in no table above; this is how far the change moved\n"
        "each cell. Test MSE, mean ± 95% t-CI over seeds; `now`: the current recipe's finished seeds.\n\n"
        + tabulate(table, headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )


def summary(values: pd.Series) -> str:
    values = values.to_numpy(dtype=float)
    if not len(values):
        return "pending"
    return f"{fmt(float(np.mean(values)), t_half_width(values))} (n={len(values)})"
