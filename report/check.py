"""The regression gate: compare a suite's cells with a reference (per-cell mean, std, n) and list the
cells whose mean test MSE got worse by more than the tolerance, or that failed, diverged (a run is absurd:
see `report.runs.runs_table`) or went missing."""

from __future__ import annotations

import math

import pandas as pd

from report.analysis import set_aside

KEY = ["protocol", "dataset", "name", "pred_len"]
REFERENCE_COLUMNS = [*KEY, "seq_len", "mse_mean", "mse_std", "n"]


def reference_from(cells: pd.DataFrame) -> pd.DataFrame:
    """The reference a passing run of the suite writes (`check --update-reference`)."""
    return cells[REFERENCE_COLUMNS].sort_values(KEY).reset_index(drop=True)


def read_reference(path: str) -> pd.DataFrame:
    """The reference CSV, checked before anything trains: its columns, at least one cell, numbers where
    numbers belong. ValueError (or OSError) says what is wrong."""
    reference = pd.read_csv(path)
    missing = sorted(set(REFERENCE_COLUMNS) - set(reference.columns))
    if missing:
        raise ValueError(
            f"reference lacks columns {', '.join(missing)} (expected {', '.join(REFERENCE_COLUMNS)})"
        )
    if reference.empty:
        raise ValueError("the reference holds no cell (write one with --update-reference)")
    for column in ("mse_mean", "mse_std", "n", "pred_len", "seq_len"):
        numbers = pd.to_numeric(reference[column], errors="coerce")
        bad = reference[numbers.isna() & reference[column].notna()]
        if not bad.empty or (column == "mse_mean" and numbers.isna().any()):
            row = (bad if not bad.empty else reference[numbers.isna()]).index[0]
            raise ValueError(f"row {row + 2}, column {column}: {reference.at[row, column]!r} is not a number")
        reference[column] = numbers
    return reference


def regressions(
    cells: pd.DataFrame, reference: pd.DataFrame, rel_tol: float, std_tol: float, allow_new: bool = False
) -> pd.DataFrame:
    """One row per failing cell: a reference cell whose mean test MSE rose by more than the larger of
    `rel_tol` × mean and `std_tol` × the reference's seed standard deviation, that failed, has an absurd
    run (a diverged run never passes) or is missing; and a suite cell the reference does not know, unless
    `allow_new`."""
    merged = reference.merge(cells, on=KEY, how="left", suffixes=("_ref", ""))
    rows = []
    for _, r in merged.iterrows():
        std = 0.0 if math.isnan(r["mse_std_ref"]) else r["mse_std_ref"]
        allowed = max(rel_tol * r["mse_mean_ref"], std_tol * std)
        if math.isnan(r.get("n", math.nan)):
            reason = "missing"
        elif r["n"] == 0 or r.get("n_absurd", 0):
            reason = set_aside(r) or "pending"
        elif r["mse_mean"] > r["mse_mean_ref"] + allowed:
            reason = f"MSE +{r['mse_mean'] - r['mse_mean_ref']:.4f} > allowed +{allowed:.4f}"
        else:
            continue
        rows.append({**{k: r[k] for k in KEY}, "reference": r["mse_mean_ref"], "now": r.get("mse_mean"),
                     "why": reason})  # fmt: skip
    if not allow_new:
        known = set(map(tuple, reference[KEY].astype(str).to_numpy()))
        for _, r in cells.iterrows():
            if tuple(str(r[k]) for k in KEY) not in known:
                rows.append({**{k: r[k] for k in KEY}, "reference": math.nan, "now": r["mse_mean"],
                             "why": "not in the reference (--allow-new accepts it)"})  # fmt: skip
    return pd.DataFrame(rows, columns=[*KEY, "reference", "now", "why"])


def covered(cells: pd.DataFrame, reference: pd.DataFrame) -> int:
    """How many of the suite's cells the reference has."""
    return len(cells.merge(reference[KEY], on=KEY))
