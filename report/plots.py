"""Figures for the report: cost/accuracy Pareto plots, forecast examples and DynoNet gate dynamics.

Pure functions of arrays and frames that write PNG (dpi 150) + SVG and return both paths. Figures are built
as bare `Figure` objects on an Agg canvas, never through pyplot, so no global figure state leaks between
calls or threads. SVG output carries no date and a fixed hash salt, so regenerated committed figures only
differ in git when their content does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MSE_LABEL = "test MSE (normalised)"
MAX_TICK_LABELS = 40  # beyond this many channels/windows, label every k-th so the labels stay legible


def pareto_front(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (both minimised), sorted by x then y; NaNs never count.

    Equal points do not dominate each other, so ties are all on the front.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-d and of equal length, got shapes {xs.shape} and {ys.shape}")
    valid = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    vx, vy = xs[valid], ys[valid]
    no_worse = (vx[:, None] <= vx[None, :]) & (vy[:, None] <= vy[None, :])  # [j, i]: j ≤ i in both
    better = (vx[:, None] < vx[None, :]) | (vy[:, None] < vy[None, :])
    dominated = (no_worse & better).any(axis=0)
    front = valid[~dominated]
    return [int(i) for i in front[np.lexsort((front, ys[front], xs[front]))]]


def plot_pareto(cells: pd.DataFrame, x: str, out_base: Path, title: str, x_label: str) -> list[Path]:
    """Test MSE (± 95% CI) against a cost on a log axis, one labelled point per model, with the Pareto front.

    Rows without a cost or an MSE (failed cells) have no point. A zero cost (a naive reference has no
    parameters and no training) sits at 0 on a symmetric-log axis, linear below the smallest positive cost.
    """
    missing = [c for c in ("model", "mse_mean", "mse_ci", x) if c not in cells.columns]
    if missing:
        raise ValueError(f"cells lacks columns {missing}; it has {list(cells.columns)}")
    costs = pd.to_numeric(cells[x], errors="coerce").to_numpy(dtype=float)
    mses = pd.to_numeric(cells["mse_mean"], errors="coerce").to_numpy(dtype=float)
    cis = pd.to_numeric(cells["mse_ci"], errors="coerce").to_numpy(dtype=float)
    shown = ~(np.isnan(costs) | np.isnan(mses))
    costs, mses, cis = costs[shown], mses[shown], cis[shown]
    models = cells["model"].astype(str).to_numpy()[shown]
    if (costs < 0).any():
        raise ValueError(f"{x} must be >= 0; it is not for {list(models[costs < 0])}")
    if (cis < 0).any():
        raise ValueError(f"mse_ci is a half-width and must be >= 0; it is not for {list(models[cis < 0])}")

    fig, ax = _figure(figsize=(7, 4.5))
    if len(models) == 0:
        ax.text(0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes)
    for cost, mse, ci, model in zip(costs, mses, cis, models, strict=True):
        yerr = None if np.isnan(ci) else ci
        ax.errorbar(cost, mse, yerr=yerr, fmt="o", color="tab:blue", ecolor="tab:blue", capsize=3, ms=5)
        ax.annotate(model, (cost, mse), xytext=(5, 4), textcoords="offset points", fontsize=8)
    front = pareto_front(costs, mses)
    if front:
        front_style = {"color": "tab:red", "ls": "--", "lw": 1.2, "marker": "o", "mfc": "none", "ms": 10}
        ax.step(costs[front], mses[front], where="post", label="Pareto front", **front_style)
        ax.legend(loc="best", fontsize=8)
    if len(models) and (costs > 0).all():
        ax.set_xscale("log")
    elif len(models):
        positive = costs[costs > 0]
        ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        ax.set_xlim(left=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(MSE_LABEL)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, out_base)


def plot_forecast(
    channels: list[str],
    lookback_tail: np.ndarray,
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    out_base: Path,
    title: str,
) -> list[Path]:
    """One panel per channel: lookback tail (grey), truth (black) and each model's forecast after it.

    Time is counted from the first forecast step, so the lookback sits at negative steps. Truth and
    forecasts start from the last observed value so the lines read as continuations of the input.
    """
    n_channels = len(channels)
    tail, truth = np.asarray(lookback_tail, dtype=float), np.asarray(truth, dtype=float)
    if n_channels == 0:
        raise ValueError("channels is empty")
    if tail.ndim != 2 or tail.shape[1] != n_channels:
        raise ValueError(f"lookback_tail must be [T, {n_channels}], got shape {tail.shape}")
    if truth.ndim != 2 or truth.shape[1] != n_channels or truth.shape[0] == 0:
        raise ValueError(f"truth must be [H, {n_channels}] with H > 0, got shape {truth.shape}")
    preds = {name: np.asarray(p, dtype=float) for name, p in predictions.items()}
    for name, pred in preds.items():
        if pred.shape != truth.shape:
            raise ValueError(f"prediction of {name!r} has shape {pred.shape}, truth has {truth.shape}")

    n_cols = 1 if n_channels <= 3 else 2
    n_rows = math.ceil(n_channels / n_cols)
    fig, axes = _figure(n_rows, n_cols, figsize=(6 * n_cols, 2.2 * n_rows + 0.8), squeeze=False)
    anchor = tail[-1:]  # the last observed step (none without a lookback) starts each forecast line
    steps_ahead = np.arange(-len(anchor), len(truth))
    truth_line = np.concatenate([anchor, truth])
    pred_lines = {name: np.concatenate([anchor, pred]) for name, pred in preds.items()}
    colours = _colours(len(preds))
    for c, (ax, channel) in enumerate(zip(axes.flat, channels, strict=False)):
        ax.plot(np.arange(-len(tail), 0), tail[:, c], color="0.6", lw=1.2, label="lookback")
        ax.plot(steps_ahead, truth_line[:, c], color="black", lw=1.4, label="truth", zorder=3)
        for colour, (name, pred) in zip(colours, pred_lines.items(), strict=True):
            ax.plot(steps_ahead, pred[:, c], color=colour, lw=1.2, label=name)
        ax.axvline(0, color="0.4", ls=":", lw=0.8)
        ax.set_title(channel, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[n_channels:]:
        ax.set_visible(False)
    for ax in axes.flat[n_channels - n_cols : n_channels]:  # the lowest visible panel of each column
        ax.set_xlabel("time step (relative to forecast start)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize=8)
    fig.suptitle(title)
    return _save(fig, out_base)


def plot_gate_heatmap(gates: np.ndarray, channels: list[str], out_base: Path, title: str) -> list[Path]:
    """Gate values [C, hidden] as a channels × hidden-units heatmap on a fixed 0..1 colour scale."""
    gates = np.asarray(gates, dtype=float)
    if gates.ndim != 2 or gates.shape[0] != len(channels) or gates.shape[1] == 0:
        raise ValueError(f"gates must be [{len(channels)} channels, hidden > 0], got shape {gates.shape}")
    _check_unit_range(gates)
    fig, ax = _figure(figsize=(7, _heatmap_height(len(channels))))
    image = ax.imshow(gates, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=1.0)
    _label_rows(ax, channels)
    ax.set_xlabel("hidden unit")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="gate")
    return _save(fig, out_base)


def plot_gate_over_time(
    gates: np.ndarray, window_index: Sequence[int], channels: list[str], out_base: Path, title: str
) -> list[Path]:
    """Per-channel mean gate (over hidden units) across test windows: gates [K, C, hidden] → C × K heatmap."""
    gates = np.asarray(gates, dtype=float)
    windows = list(window_index)
    if gates.ndim != 3 or gates.shape[1] != len(channels) or 0 in gates.shape:
        raise ValueError(
            f"gates must be [K > 0 windows, {len(channels)} channels, hidden > 0], got shape {gates.shape}"
        )
    if len(windows) != gates.shape[0]:
        raise ValueError(f"window_index has {len(windows)} entries, gates has shape {gates.shape}")
    _check_unit_range(gates)
    mean_gate = gates.mean(axis=2).T  # [C, K]
    fig, ax = _figure(figsize=(8, _heatmap_height(len(channels))))
    image = ax.imshow(mean_gate, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=1.0)
    _label_rows(ax, channels)
    step = math.ceil(len(windows) / MAX_TICK_LABELS)
    ax.set_xticks(range(0, len(windows), step), [str(w) for w in windows[::step]], rotation=90, fontsize=7)
    ax.set_xlabel("test window")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="mean gate")
    return _save(fig, out_base)


def _figure(n_rows: int = 1, n_cols: int = 1, **subplots) -> tuple[Figure, object]:
    figsize = subplots.pop("figsize")
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(n_rows, n_cols, **subplots)


def _save(fig: Figure, out_base: Path) -> list[Path]:
    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    png, svg = out_base.with_suffix(".png"), out_base.with_suffix(".svg")
    try:
        fig.savefig(png, dpi=150)
        with matplotlib.rc_context({"svg.hashsalt": "dynobench"}):
            fig.savefig(svg, metadata={"Date": None})
    finally:
        fig.clear()
    return [png, svg]


def _colours(n: int) -> list:
    """Distinct colours, one per model, in a fixed order so a model keeps its colour in every panel."""
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _check_unit_range(gates: np.ndarray) -> None:
    finite = gates[np.isfinite(gates)]
    if finite.size and (finite.min() < -1e-6 or finite.max() > 1 + 1e-6):
        raise ValueError(f"gates must lie in [0, 1], got range [{finite.min():.4g}, {finite.max():.4g}]")


def _heatmap_height(n_rows: int) -> float:
    return min(2.0 + 0.25 * n_rows, 16.0)


def _label_rows(ax, channels: list[str]) -> None:
    step = math.ceil(len(channels) / MAX_TICK_LABELS)
    ax.set_yticks(range(0, len(channels), step), channels[::step], fontsize=8)
    ax.set_ylabel("channel")
