"""Statistics over runs, as pure functions of a runs table (one row per run, the store's flat columns).

A cell is (protocol, dataset, horizon, model name): its seeds are the sample. Means come with a 95%
confidence interval (Student t on the seed values, or a percentile bootstrap); one seed gives no interval,
not a zero-width one. Failed runs are counted, never averaged; so are absurd ones (status `absurd`, see
`report.runs.runs_table`), unless a report is asked to keep them in.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

GROUP = ["protocol", "dataset", "pred_len"]  # the models compared in one leaderboard column
CELL = [*GROUP, "name"]
METRICS = ("mse", "mae")
COSTS = ("params", "flops", "latency_ms", "peak_mem_mb", "train_seconds")
CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE  # significance level of the tests


def t_half_width(values: np.ndarray) -> float:
    """Half-width of the Student t interval of the mean; NaN below two values."""
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * np.std(values, ddof=1) / math.sqrt(n))


def t_prediction_half_width(values: np.ndarray) -> float:
    """Half-width of the 95% Student t prediction interval of one more run, t·s·√(1 + 1/n): where a single
    published run of the same recipe would fall; NaN below two values."""
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * np.std(values, ddof=1) * math.sqrt(1 + 1 / n))


def first_batches_mean(window_values: list[float], batch_size: int) -> float:
    """Mean over the windows a test loader with `drop_last` scores: the first ⌊n / batch⌋ full batches in
    chronological order (every window has the same H × C values, so window means average exactly)."""
    kept = len(window_values) // batch_size * batch_size
    return float(np.mean(window_values[:kept])) if kept else math.nan


def bootstrap(values: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; (NaN, NaN) below two values."""
    if len(values) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n_resamples, len(values)), replace=True).mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def half_width(values: np.ndarray, method: str) -> float:
    if method == "bootstrap":
        low, high = bootstrap(values)
        return (high - low) / 2
    return t_half_width(values)


def aggregate(runs: pd.DataFrame, method: str = "t") -> pd.DataFrame:
    """One row per cell: seeds planned/ok/failed/absurd (`n_absurd`: left out; `n_absurd_kept`: status ok,
    counted), mean, std and CI half-width of test MSE/MAE, the cell's lookback and model key, and the mean
    cost figures of its finished runs."""
    if method not in ("t", "bootstrap"):
        raise ValueError(f"unknown interval method {method!r} (t or bootstrap)")
    rows = []
    for cell, group in runs.groupby(CELL, sort=False):
        ok = group[group["status"] == "ok"]
        row = dict(zip(CELL, cell, strict=True))
        row.update(
            model=group["model"].iloc[0],
            seq_len=int(group["seq_len"].iloc[0]),
            seeds=len(group),
            n=len(ok),
            n_failed=int((group["status"] == "failed").sum()),
            n_absurd=int((group["status"] == "absurd").sum()),
            n_absurd_kept=int(ok["absurd"].sum()) if "absurd" in ok else 0,
        )
        for metric in METRICS:
            values = ok[f"test_{metric}"].to_numpy(dtype=float)
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[f"{metric}_ci"] = half_width(values, method)
            row[f"{metric}_pi"] = t_prediction_half_width(values)
        for cost in (*COSTS, "latency_iqr_ms"):
            values = ok[cost].astype(float) if cost in ok else pd.Series(dtype=float)
            row[cost] = float(values.mean()) if len(values.dropna()) else math.nan
        kinds = ok["memory_kind"].dropna() if "memory_kind" in ok else pd.Series(dtype=str)
        row["memory_kind"] = ", ".join(sorted(set(kinds)))
        rows.append(row)
    return pd.DataFrame(rows)


def set_aside(cell: pd.Series) -> str:
    """The runs of a cell that no statistic counts, as tables show them: `failed (1/3), absurd (2/3)`;
    empty when there are none."""
    counts = {"failed": cell.get("n_failed", 0), "absurd": cell.get("n_absurd", 0)}
    return ", ".join(f"{what} ({int(k)}/{int(cell['seeds'])})" for what, k in counts.items() if k)


def pairwise_comparison(runs: pd.DataFrame, a: str, b: str, metric: str = "test_mse") -> pd.DataFrame:
    """Per cell where both models finished: mean(a) − mean(b), its 95% CI (Welch–Satterthwaite) and
    Welch's t-test p-value. Negative differences favour `a`."""
    rows = []
    for key, group in runs[runs["status"] == "ok"].groupby(GROUP, sort=False):
        x = group.loc[group["name"] == a, metric].to_numpy(dtype=float)
        y = group.loc[group["name"] == b, metric].to_numpy(dtype=float)
        if len(x) == 0 or len(y) == 0:
            continue
        diff = float(x.mean() - y.mean())
        if len(x) > 1 and len(y) > 1:
            va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
            se = math.sqrt(va + vb)
            if np.ptp(x) > 0 or np.ptp(y) > 0:
                dof = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
                ci = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se)
                p = float(2 * stats.t.sf(abs(diff) / se, dof))  # Welch's test
            else:  # both constant (deterministic references): the difference is exact
                ci, p = 0.0, float(diff == 0)
        else:
            ci, p = math.nan, math.nan
        rows.append(dict(zip(GROUP, key, strict=True), a=a, b=b, diff=diff, ci=ci, p=p))
    return pd.DataFrame(rows)


def paired_comparison(runs: pd.DataFrame, a: str, b: str, metric: str = "test_mse") -> dict | None:
    """`a` against `b` on the seeds both finished in one (protocol, dataset, horizon): mean of the per-seed
    differences a − b, its 95% t interval, the paired t-test's p and the number of pairs; None without
    a pair. Negative differences favour `a`."""
    ok = runs[runs["status"] == "ok"]
    x = ok[ok["name"] == a].set_index("seed")[metric].astype(float)
    y = ok[ok["name"] == b].set_index("seed")[metric].astype(float)
    seeds = x.index.intersection(y.index)
    if len(seeds) == 0:
        return None
    diffs = (x[seeds] - y[seeds]).to_numpy()
    p = float(stats.ttest_rel(x[seeds], y[seeds]).pvalue) if len(seeds) > 1 else math.nan
    return {"diff": float(diffs.mean()), "ci": t_half_width(diffs), "p": p, "n": len(seeds)}


def ranks(cells: pd.DataFrame, runs: pd.DataFrame, metric: str = "mse") -> pd.DataFrame:
    """Rank of each finished cell within its (protocol, dataset, horizon) by mean, and whether it is tied
    with the best: Welch's test of the difference finds no significance at 5% (the rule the comparison
    table uses). With one seed on either side there is no test, and no tie is claimed."""
    out = cells.copy()
    groups = [out[c] for c in GROUP]
    out["rank"] = out[f"{metric}_mean"].groupby(groups).rank(method="min")
    tied = []
    for _, row in out.iterrows():
        if row["rank"] != row["rank"] or row["rank"] == 1:  # unfinished, or the best itself
            tied.append(False)
            continue
        peers = out[(out[GROUP] == row[GROUP]).all(axis=1)]
        best = peers.loc[peers["rank"] == 1, "name"].iloc[0]
        in_group = runs[(runs[GROUP] == row[GROUP]).all(axis=1)]
        found = pairwise_comparison(in_group, row["name"], best, f"test_{metric}")
        p = found["p"].iloc[0] if len(found) else math.nan
        tied.append(bool(p >= ALPHA))
    out["tied_with_best"] = tied
    return out
