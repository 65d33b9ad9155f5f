"""Markdown tables from aggregated cells: the leaderboard, the efficiency table and the reproduction table.

A table holds one protocol only and says which; metrics are on the normalised scale, as mean ± 95% CI
half-width over seeds. A failed cell reads `failed (k/n)` and is never filled with an average; nor is an
absurd one (its runs diverged: `absurd (k/n)`), and a cell says how many absurd runs its mean leaves out.
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from report.analysis import pairwise_comparison, ranks, set_aside, t_half_width, t_prediction_half_width


def one_protocol(cells: pd.DataFrame) -> str:
    protocols = sorted(cells["protocol"].unique())
    if len(protocols) != 1:
        raise ValueError(f"a table never mixes protocols; these cells have {', '.join(protocols)}")
    return protocols[0]


def fmt(mean: float, ci: float) -> str:
    return f"{mean:.3f}" if math.isnan(ci) else f"{mean:.3f} ± {ci:.3f}"


def cell_text(row: pd.Series, metric: str, marked: bool = True) -> str:
    """Mean ± CI; where `marked`: bold if best, underlined if second, ≈ if not significantly worse than the
    best (unmarked where another model's runs are still pending, since the best may not have run yet)."""
    if row["n"] == 0:
        return set_aside(row) or "pending"
    text = fmt(row[f"{metric}_mean"], row[f"{metric}_ci"])
    if row["n"] < row["seeds"]:
        text += f" (n={row['n']}/{row['seeds']})"
    text += absurd_note(row)
    if not marked:
        return text
    if row["rank"] > 1 and row["tied_with_best"]:
        text += " ≈"
    return {1: f"**{text}**", 2: f"<u>{text}</u>"}.get(int(row["rank"]), text)


def absurd_note(row: pd.Series) -> str:
    """How many absurd runs a cell's mean leaves out (or, under `report --include-absurd`, keeps in)."""
    counts = {"left out": row.get("n_absurd", 0), "kept in": row.get("n_absurd_kept", 0)}
    return "".join(f" ⚠ {k} absurd {where}" for where, k in counts.items() if k)


def pending_horizons(cells: pd.DataFrame) -> set:
    """Horizons at which some model has no finished run yet and not all of its runs failed or diverged."""
    unfinished = (cells["n"] == 0) & (cells["n_failed"] + cells.get("n_absurd", 0) < cells["seeds"])
    return set(cells.loc[unfinished, "pred_len"])


def lookback_text(mine: pd.DataFrame) -> str:
    """One model's lookback, and each horizon whose recipe reads another (DynoNet's H = 720 reads 720)."""
    by_horizon = mine.sort_values("pred_len").set_index("pred_len")["seq_len"].astype(int)
    first = by_horizon.iloc[0]
    others = [f"L={seq_len} at H = {h}" for h, seq_len in by_horizon.items() if seq_len != first]
    return f"L={first}" + (f" ({', '.join(others)})" if others else "")


INTERVALS = {"t": "95% Student-t CI half-width", "bootstrap": "95% percentile-bootstrap CI half-width"}


def leaderboard(cells: pd.DataFrame, dataset: str, runs: pd.DataFrame, method: str = "t") -> str:
    """Rows = models, best average MSE rank first (unranked last), columns = horizons (MSE and MAE), an
    average over horizons, and parameters. A campaign in progress has horizons that only some models have
    finished: the average rank leaves those out, so that a model is not ranked on horizons others lack."""
    cells = cells[cells["dataset"] == dataset]
    protocol = one_protocol(cells)
    horizons = sorted(cells["pred_len"].unique())
    placed = {metric: ranks(cells, runs, metric) for metric in ("mse", "mae")}
    in_suite_order = list(dict.fromkeys(cells["name"]))
    # Ranks at different sets of horizons do not compare: average only over the horizons that no model
    # still has pending (every model has a finished run there, or all of its runs failed).
    pending = pending_horizons(cells)
    present = cells.groupby("pred_len")["name"].nunique()
    shared = [h for h in horizons if h not in pending and present[h] == len(in_suite_order)]
    at_shared = placed["mse"][placed["mse"]["pred_len"].isin(shared)]
    mean_rank = at_shared.groupby("name")["rank"].mean().reindex(in_suite_order)
    names = list(mean_rank.fillna(math.inf).sort_values(kind="stable").index)
    table = []
    for name in names:
        row = [name]
        for horizon in horizons:
            for metric in ("mse", "mae"):
                match = placed[metric][
                    (placed[metric]["name"] == name) & (placed[metric]["pred_len"] == horizon)
                ]
                if match.empty:
                    row.append("–")
                    continue
                r = match.iloc[0]
                row.append(cell_text(r, metric, marked=horizon in shared))
        mine = cells[cells["name"] == name]
        complete = len(mine) == len(horizons) and (mine["n"] > 0).all()
        row += (
            [f"{mine['mse_mean'].mean():.3f}", f"{mine['mae_mean'].mean():.3f}"] if complete else ["–", "–"]
        )
        row.append("–" if math.isnan(mean_rank[name]) else f"{mean_rank[name]:.1f}")
        first = mine.sort_values("pred_len").iloc[0]
        row.append(f"{int(first['params']):,}" if not math.isnan(first["params"]) else "–")
        table.append(row)
    headers = ["model"] + [f"{h} {m}" for h in horizons for m in ("MSE", "MAE")]
    headers += ["avg MSE", "avg MAE", f"avg rank (MSE, H = {', '.join(map(str, shared)) or 'none'})"]
    headers.append(f"params (H={horizons[0]})")
    lookbacks = ", ".join(f"{n} {lookback_text(cells[cells['name'] == n])}" for n in names)
    diverged = "k runs whose validation MSE is above that of forecasting zeros (diverged; `forget` them)"
    if cells.get("n_absurd_kept", pd.Series(dtype=int)).sum():
        absurd = (f"**absurd runs kept in** (`report --include-absurd`): ⚠ k absurd kept in: {diverged}, "
                  "counted in every mean, rank, mark and comparison like the others")  # fmt: skip
    else:
        absurd = f"absurd (k/m), ⚠ k absurd left out: {diverged}, in no mean, rank or mark"
    return (
        f"### {dataset}, protocol `{protocol}`\n\n"
        f"Test MSE / MAE on the normalised scale, mean ± {INTERVALS[method]} over seeds; **best**, "
        "<u>second</u>; ≈ tied with the best (Welch's test of the difference: p ≥ 0.05, as in the table "
        f"below); (n=k/m) where fewer seeds finished than planned; {absurd}; a horizon where some model is "
        f"still pending has no marks and is left out of the avg rank. Lookbacks: {lookbacks}.\n\n"
        + tabulate(table, headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )


MEMORY_KINDS = {
    "cuda_allocated": "the CUDA allocator's peak during the run",
    "cpu_rss_run": "the resident set's peak during the run (Linux high-water mark reset at its start; memory "
    "a worker's allocator kept from its earlier runs counts)",
    "cpu_rss": "the process's peak resident set since it started (runs before this one in the process count)",
}


def latency_text(r: pd.Series) -> str:
    iqr = r.get("latency_iqr_ms", math.nan)
    return f"{r['latency_ms']:.2f}" + ("" if pd.isna(iqr) else f" ({iqr:.2f})")


def efficiency(cells: pd.DataFrame) -> str:
    """Cost figures per cell, measured the same way for every model (means over finished seeds)."""
    protocol = one_protocol(cells)
    kinds = sorted(
        {k for v in cells.get("memory_kind", pd.Series(dtype=str)).dropna() for k in v.split(", ") if k}
    )
    memory = "; ".join(f"`{k}`: {MEMORY_KINDS.get(k, k)}" for k in kinds) or "no finished run"
    table = [
        [
            r["name"], r["dataset"], r["pred_len"], int(r["seq_len"]),
            *(("–",) * 5 if r["n"] == 0 else (
                f"{int(r['params']):,}", f"{r['flops'] / 1e6:,.1f}", latency_text(r),
                f"{r['peak_mem_mb']:,.0f}", f"{r['train_seconds']:,.1f}",
            )),
        ]
        for _, r in cells.iterrows()
    ]  # fmt: skip
    headers = ["model", "dataset", "H", "L", "params", "MFLOPs/sample", "latency ms (batch 32, median, IQR)",
               "peak MB", "train s"]  # fmt: skip
    return (
        f"### Efficiency, protocol `{protocol}`\n\n"
        f"Means over finished seeds. Peak MB is {memory}.\n\n"
        + tabulate(table, headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )


def inside(published: float, mean: float, half_width: float) -> str:
    if math.isnan(half_width):
        return "n/a (1 seed)"
    return "yes" if abs(mean - published) <= half_width else "no"


def loader_text(r: pd.Series, cell_runs: pd.DataFrame) -> tuple[str, str]:
    """Ours scored on the windows the authors' own test loader scores, and whether the published MSE lies
    in that score's one-run prediction interval; dashes where their loader scores every window."""
    batch = r.get("test_drop_last_batch")
    if batch is None or pd.isna(batch):
        return "–", "–"
    values = cell_runs["test_mse_loader"].dropna().to_numpy(dtype=float)
    if not len(values):
        return f"not stored (drop_last at batch {int(batch)})", "–"
    mean = float(values.mean())
    kept, total = (int(cell_runs[c].dropna().iloc[0]) for c in ("n_loader_windows", "n_test_windows"))
    text = f"{fmt(mean, t_half_width(values))} ({kept} of {total} windows)"
    return text, inside(r["mse"], mean, t_prediction_half_width(values))


def reproduction(
    cells: pd.DataFrame,
    published: pd.DataFrame,
    runs: pd.DataFrame,
    variants: dict[str, str] | None = None,
    notes: pd.DataFrame | None = None,
) -> str:
    """Published value (with its source and lookback) against ours: our mean with its 95% CI, and whether
    the published value, one run or a few, lies inside our mean's CI and inside the 95% prediction interval
    of one run of ours; of numbers published at several lookbacks, the one closest to ours. Where the
    protocol behind a published number differs from ours (its `notes`: ids of `notes` rows, each with a
    topic, the note and its source), the row names each difference and the table lists them, numbered,
    with their sources; where their test loader drops its last partial batch, ours is also scored on the
    windows it keeps (`runs` holds that per run: `test_mse_loader`). `variants` maps an entry name to its
    model variant, for published rows that name one. Published numbers and notes stay reference data."""
    protocol = one_protocol(cells)
    merged = cells.merge(published, on=["model", "dataset", "pred_len"], suffixes=("", "_published"))
    if "variant" in merged:  # a published number of one variant (DynoNet's `published`) is not another's
        ours = merged["name"].map(variants or {})
        merged = merged[merged["variant"].isna() | (merged["variant"] == ours)]
    # The number published at the lookback closest to ours is the one to compare with (PatchTST/42 at
    # L = 336, /64 at 512, the L = 96 reruns at 96)
    distance = (merged["seq_len"] - merged["seq_len_published"]).abs()
    closest = distance.groupby([merged["name"], merged["dataset"], merged["pred_len"]]).transform("min")
    merged = merged[distance == closest]
    by_id = {} if notes is None else {n.id: n for n in notes.itertuples()}
    table, numbered = [], {}  # numbered: note id → footnote number
    for _, r in merged.iterrows():
        cell_runs = runs[(runs["name"] == r["name"]) & (runs["dataset"] == r["dataset"])
                         & (runs["pred_len"] == r["pred_len"]) & (runs["status"] == "ok")]  # fmt: skip
        if r["n"] == 0:
            ours, diff, where, loader, loader_inside = cell_text(r, "mse"), "–", "–", "–", "–"
        else:
            ours = (f"{fmt(r['mse_mean'], r['mse_ci'])} / {fmt(r['mae_mean'], r['mae_ci'])} (n={r['n']})"
                    f"{absurd_note(r)}")  # fmt: skip
            diff = f"{r['mse_mean'] - r['mse']:+.3f} / {r['mae_mean'] - r['mae']:+.3f}"
            where = (f"{inside(r['mse'], r['mse_mean'], r['mse_ci'])} / "
                     f"{inside(r['mse'], r['mse_mean'], r['mse_pi'])}")  # fmt: skip
            loader, loader_inside = loader_text(r, cell_runs)
        lookback = f"{int(r['seq_len'])}" + ("" if r["seq_len"] == r["seq_len_published"] else
                                             f" (published {int(r['seq_len_published'])})")  # fmt: skip
        differs = []
        for note_id in [] if pd.isna(r.get("notes", math.nan)) else r["notes"].split(";"):
            differs.append(f"[{numbered.setdefault(note_id, len(numbered) + 1)}] {by_id[note_id].topic}")
        table.append([r["name"], r["dataset"], r["pred_len"], lookback, f"{r['mse']:.3f} / {r['mae']:.3f}",
                      r["source"], ours, diff, where, "; ".join(differs) or "–", loader,
                      loader_inside])  # fmt: skip
    headers = ["model", "dataset", "H", "L", "published MSE / MAE", "source", "ours (mean ± CI)",
               "ours − published", "published MSE in our CI / in one run's PI", "their protocol differs",
               "ours on their loader's test windows (MSE)", "published MSE in that PI"]  # fmt: skip
    footnotes = "".join(
        f"{number}. **{by_id[i].topic}**: {by_id[i].note}. Source: {by_id[i].source}.\n"
        for i, number in numbered.items()
    )
    return (
        f"### Reproduction, protocol `{protocol}`\n\n"
        "A published number is one training run (or the mean of a few), so besides our mean's 95% CI the\n"
        "table asks whether it lies in the 95% prediction interval of one run of ours,\n"
        "mean ± t·s·√(1 + 1/n) over our n seeds. MSE / MAE on the normalised scale.\n\n"
        + tabulate(table, headers, tablefmt="github", disable_numparse=True)
        + "\n"
        + (f"\n#### Where their protocol differs from ours\n\n{footnotes}" if footnotes else "")
    )


def comparisons(runs: pd.DataFrame, cells: pd.DataFrame, dataset: str) -> str:
    """Each model against the best of its horizon, closest first: difference of mean MSE with its 95% CI and
    Welch's p. Where some model is still pending, the best is only the best so far, and says so."""
    cells = cells[cells["dataset"] == dataset]
    so_far = pending_horizons(cells)
    protocol = one_protocol(cells)
    cells = cells[cells["n"] > 0]  # a failed or absurd cell has no mean to compare
    table = []
    for horizon, group in cells.groupby("pred_len", sort=True):
        best = group.loc[group["mse_mean"].idxmin(), "name"]
        best_text = f"{best} (so far)" if horizon in so_far else best
        for name in group.sort_values("mse_mean", kind="stable")["name"]:
            if name == best:
                continue
            found = pairwise_comparison(runs[runs["dataset"] == dataset], name, best)
            row = found[found["pred_len"] == horizon]
            if row.empty:
                continue
            r = row.iloc[0]
            ci = "–" if math.isnan(r["ci"]) else f"± {r['ci']:.4f}"
            p = "–" if math.isnan(r["p"]) else f"{r['p']:.3g}"
            verdict = "–" if math.isnan(r["p"]) else ("yes" if r["p"] < 0.05 else "no")
            table.append([horizon, name, best_text, f"{r['diff']:+.4f}", ci, p, verdict])
    headers = ["H", "model", "best", "Δ MSE (model − best)", "95% CI", "p (Welch)", "significant at 5%"]
    return (
        f"### {dataset}: each model against the best, protocol `{protocol}`\n\n"
        + tabulate(table, headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )
