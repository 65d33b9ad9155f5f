"""The regression gate: compare a suite's cells with a reference (per-cell mean, std, n) and list the
cells whose mean test MSE got worse by more than the tolerance, or that failed or went missing."""

from __future__ import annotations

import math

import pandas as pd

KEY = ["protocol", "dataset", "name", "pred_len"]
REFERENCE_COLUMNS = [*KEY, "seq_len", "mse_mean", "mse_std", "n"]


def reference_from(cells: pd.DataFrame) -> pd.DataFrame:
    """The reference a passing run of the suite writes (`check --update-reference`)."""
    return cells[REFERENCE_COLUMNS].sort_values(KEY).reset_index(drop=True)


def regressions(cells: pd.DataFrame, reference: pd.DataFrame, rel_tol: float, std_tol: float) -> pd.DataFrame:
    """One row per failing reference cell. The allowed excess over the reference mean is the larger of
    `rel_tol` × mean and `std_tol` × the reference's seed standard deviation."""
    missing = sorted(set(REFERENCE_COLUMNS) - set(reference.columns))
    if missing:
        raise ValueError(
            f"reference lacks columns {', '.join(missing)} (expected {', '.join(REFERENCE_COLUMNS)})"
        )
    merged = reference.merge(cells, on=KEY, how="left", suffixes=("_ref", ""))
    rows = []
    for _, r in merged.iterrows():
        std = 0.0 if math.isnan(r["mse_std_ref"]) else r["mse_std_ref"]
        allowed = max(rel_tol * r["mse_mean_ref"], std_tol * std)
        if math.isnan(r.get("n", math.nan)):
            reason = "missing"
        elif r["n"] == 0:
            reason = f"failed ({int(r['n_failed'])}/{int(r['seeds'])})"
        elif r["mse_mean"] > r["mse_mean_ref"] + allowed:
            reason = f"MSE +{r['mse_mean'] - r['mse_mean_ref']:.4f} > allowed +{allowed:.4f}"
        else:
            continue
        rows.append({**{k: r[k] for k in KEY}, "reference": r["mse_mean_ref"], "now": r.get("mse_mean"),
                     "why": reason})  # fmt: skip
    return pd.DataFrame(rows, columns=[*KEY, "reference", "now", "why"])
