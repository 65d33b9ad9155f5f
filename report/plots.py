"""Figures for the report: cost/accuracy Pareto plots, forecast examples, learning curves, the
critical-difference diagram and DynoNet gate dynamics.

Figures are built as bare `Figure` objects on an Agg canvas, never through pyplot, so no global figure state
leaks between calls or threads. A `draw_*` function builds one (tests look into it); its `plot_*` writes it
as PNG (dpi 150) + SVG and returns both paths. SVG output carries no date and a fixed hash salt, and labels
are placed in a fixed number of adjustText iterations, so regenerated committed figures only differ in git
when their content does.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import scikit_posthocs
from adjustText import adjust_text
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from report.analysis import ALPHA
from report.verdict import Verdict

MSE_LABEL = "test MSE (normalised)"
MAX_TICK_LABELS = 40  # beyond this many channels/windows, label every k-th so the labels stay legible
REFERENCE_STYLE = {"color": "0.45", "ls": "--", "lw": 0.9}  # naive references: there, not emphasised
REFERENCE_DASHES = ("--", ":", "-.")  # tell the grey references apart in a forecast
NO_DIFFERENCE = "not significantly different"  # what a critical-difference bar says
LABEL_ITERATIONS = 300  # adjustText stops after this many, not after its default second: reruns agree
MIN_TICKS = 3  # a log axis carries at least this many labelled ticks
LONG_HORIZON = 192  # a forecast longer than this gets one full-width panel per channel


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


def plot_pareto(
    cells: pd.DataFrame, x: str, out_base: Path, title: str, x_label: str, references: Collection[str] = ()
) -> list[Path]:
    """`draw_pareto`, written."""
    return _save(draw_pareto(cells, x, title, x_label, references), out_base)


def draw_pareto(
    cells: pd.DataFrame, x: str, title: str, x_label: str, references: Collection[str] = ()
) -> Figure:
    """Test MSE (± 95% CI) of the trained models against a cost on a log axis, with their Pareto front; the
    naive references (`references`: model names; nothing trained, so no cost to trade) as horizontal lines
    labelled in the right margin, on no front.

    The y-axis fits the trained models: a reference further above them than half their span goes on a strip
    above a broken axis rather than squashing them. Rows without a cost or an MSE (failed cells) are not
    drawn. adjustText moves the labels off each other, off the points and off their error bars.
    """
    missing = [c for c in ("model", "mse_mean", "mse_ci", x) if c not in cells.columns]
    if missing:
        raise ValueError(f"cells lacks columns {missing}; it has {list(cells.columns)}")
    names = cells["model"].astype(str).to_numpy()
    costs = pd.to_numeric(cells[x], errors="coerce").to_numpy(dtype=float)
    mses = pd.to_numeric(cells["mse_mean"], errors="coerce").to_numpy(dtype=float)
    cis = pd.to_numeric(cells["mse_ci"], errors="coerce").to_numpy(dtype=float)
    if (cis < 0).any():
        raise ValueError(f"mse_ci is a half-width and must be >= 0; it is not for {list(names[cis < 0])}")
    is_reference = np.isin(names, list(references))
    trained = ~is_reference & ~np.isnan(costs) & ~np.isnan(mses)
    if (costs[trained] <= 0).any():
        raise ValueError(
            f"{x} must be > 0 on a log axis; it is not for {list(names[trained & (costs <= 0)])} "
            "(a model with nothing trained is a reference)"
        )
    refs = dict(zip(names[is_reference & ~np.isnan(mses)], mses[is_reference & ~np.isnan(mses)], strict=True))
    names, costs, mses, cis = names[trained], costs[trained], mses[trained], cis[trained]

    half_widths = np.nan_to_num(cis)
    low, high = (mses - half_widths).min(initial=np.inf), (mses + half_widths).max(initial=-np.inf)
    reach = high + max(high - low, 0.05 * high) / 2  # a reference above this would squash the models
    far = {name: mse for name, mse in refs.items() if len(names) and mse > reach}
    if far:
        fig, (strip, ax) = _figure(2, 1, figsize=(7.5, 6), sharex=True, height_ratios=[1.5, 4])
        _break_axis(strip, ax)
    else:
        fig, ax = _figure(figsize=(7.5, 4.6))
        strip = None
    (strip or ax).set_title(title)
    near = [mse for name, mse in refs.items() if name not in far]
    _fit_ylim(ax, min(low, *near, np.inf), max(high, *near, -np.inf))
    if len(names):
        _log_axis(ax, costs)
    elif not refs:
        ax.text(0.5, 0.5, "no finished cells", ha="center", va="center", transform=ax.transAxes)

    for cost, mse, ci, name in zip(costs, mses, cis, names, strict=True):
        yerr = None if np.isnan(ci) else ci
        ax.errorbar(cost, mse, yerr=yerr, fmt="o", color="tab:blue", capsize=4, elinewidth=1.4, ms=5,
                    label=name)  # fmt: skip
    handles = []
    front = pareto_front(costs, mses)
    if front:
        front_style = {"color": "tab:red", "ls": "--", "lw": 1.2, "marker": "o", "mfc": "none", "ms": 10}
        handles += ax.step(costs[front], mses[front], where="post", label="Pareto front", **front_style)
    for name, mse in refs.items():
        (strip if name in far else ax).axhline(mse, label=name, **REFERENCE_STYLE)
    if refs:
        handles.append(Line2D([], [], label="naive reference (nothing trained)", **REFERENCE_STYLE))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(MSE_LABEL)
    ax.grid(True, which="major", alpha=0.3)
    if strip is not None:
        _fit_ylim(strip, min(far.values()), max(far.values()), margin=0.2)
        strip.yaxis.set_major_locator(ticker.MaxNLocator(nbins=3))
        strip.grid(True, which="major", alpha=0.3)
    # The references' labels sit in the right margin, level with their lines, moved apart only where they
    # would overlap; the points' labels keep off the points and their error bars (eleven points along each).
    for on in [panel for panel in (strip, ax) if panel is not None]:
        right = on.get_xlim()[1]
        labels = [
            on.text(right, mse, f" {name} {mse:.3f}", fontsize=8, color="0.3", va="center", clip_on=False)
            for name, mse in refs.items()
            if (name in far) == (on is strip)
        ]
        _place_labels(on, labels, only_move="y", arrows=False, ensure_inside_axes=False, avoid_self=False)
    along = np.linspace(-1, 1, 11)
    bar_x, bar_y = np.repeat(costs, len(along)), (mses[:, None] + half_widths[:, None] * along).ravel()
    points = [ax.text(c, mse, name, fontsize=8) for c, mse, name in zip(costs, mses, names, strict=True)]
    _place_labels(ax, points, bar_x, bar_y)
    return fig


def plot_forecast(
    channels: list[str],
    lookback_tail: np.ndarray,
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    out_base: Path,
    title: str,
    references: Collection[str] = (),
) -> list[Path]:
    """`draw_forecast`, written."""
    return _save(draw_forecast(channels, lookback_tail, truth, predictions, title, references), out_base)


def draw_forecast(
    channels: list[str],
    lookback_tail: np.ndarray,
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    title: str,
    references: Collection[str] = (),
) -> Figure:
    """One panel per channel: lookback tail, truth (black, on top) and each model's forecast after it.

    Each trained model has its own colour; the naive references (`references`, model names) are thin, grey
    and dashed beneath them, so eleven lines still read. Time is counted from the first forecast step, so
    the lookback sits at negative steps; truth and forecasts start from the last observed value so the
    lines read as continuations of the input.
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

    wide = len(truth) > LONG_HORIZON  # a long forecast gets the full width: its cycles need it
    n_cols = 1 if n_channels <= 3 or wide else 2
    n_rows = math.ceil(n_channels / n_cols)
    width = 14 if wide or n_cols == 2 else 7
    fig, axes = _figure(n_rows, n_cols, figsize=(width, 2.2 * n_rows + 1.0), squeeze=False)
    anchor = tail[-1:]  # the last observed step (none without a lookback) starts each forecast line
    steps_ahead = np.arange(-len(anchor), len(truth))
    truth_line = np.concatenate([anchor, truth])
    styles = _forecast_styles(list(preds), references)
    drawing_order = sorted(preds, key=lambda name: name not in references)  # references beneath
    for c, (ax, channel) in enumerate(zip(axes.flat, channels, strict=False)):
        ax.plot(np.arange(-len(tail), 0), tail[:, c], color="0.3", lw=1.0, label="lookback")
        ax.plot(steps_ahead, truth_line[:, c], color="black", lw=1.6, label="truth", zorder=3)
        for name in drawing_order:
            ax.plot(steps_ahead, np.concatenate([anchor, preds[name]])[:, c], label=name, **styles[name])
        ax.axvline(0, color="0.4", ls=":", lw=0.8)
        ax.set_title(channel, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[n_channels:]:
        ax.set_visible(False)
    for ax in axes.flat[n_channels - n_cols : n_channels]:  # the lowest visible panel of each column
        ax.set_xlabel("time step (relative to forecast start)", fontsize=8)
    handles = {line.get_label(): line for line in axes.flat[0].get_lines()}
    order = ["lookback", "truth", *sorted(preds, key=lambda name: name in references)]  # references last
    legend = {"loc": "outside lower center", "ncols": min(len(order), 7), "fontsize": 8}
    fig.legend([handles[name] for name in order], order, **legend)
    fig.suptitle(title)
    return fig


def _forecast_styles(names: list[str], references: Collection[str]) -> dict[str, dict]:
    """Line style per model: trained models in tab10's colours less its grey (the references' colour),
    in `names` order, then again dashed past nine; references grey, thin and dashed each its own way."""
    palette = [colour for i, colour in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    trained = [name for name in names if name not in references]
    naive = [name for name in names if name in references]
    styles = {
        name: {"color": palette[i % len(palette)], "ls": "-" if i < len(palette) else "--", "lw": 1.1}
        for i, name in enumerate(trained)
    }
    for i, name in enumerate(naive):
        styles[name] = {**REFERENCE_STYLE, "ls": REFERENCE_DASHES[i % len(REFERENCE_DASHES)], "lw": 0.8}
    return styles


def plot_learning_curves(curves: pd.DataFrame, out_base: Path, title: str) -> list[Path]:
    """`draw_learning_curves`, written."""
    return _save(draw_learning_curves(curves, title), out_base)


def draw_learning_curves(curves: pd.DataFrame, title: str) -> Figure:
    """One panel per model: training loss and validation MSE per epoch, a thin line per seed, and each
    seed's best epoch (whose weights are tested) marked on its validation curve.

    `curves` is long: one row per (name, seed, epoch) with train_loss, val_mse and the run's best_epoch.
    Panels keep their own scales: models stop at different epochs and start from different losses.
    """
    missing = [c for c in ("name", "seed", "epoch", "train_loss", "val_mse", "best_epoch") if c not in curves]
    if missing:
        raise ValueError(f"curves lacks columns {missing}; it has {list(curves.columns)}")
    if curves.empty:
        raise ValueError("curves is empty: no model has a stored learning curve")
    models = list(dict.fromkeys(curves["name"]))
    n_cols = min(len(models), 4)
    n_rows = math.ceil(len(models) / n_cols)
    fig, axes = _figure(n_rows, n_cols, figsize=(3.3 * n_cols, 2.4 * n_rows + 1.0), squeeze=False)
    seed_line = {"lw": 0.9, "alpha": 0.75, "marker": ".", "ms": 3}  # a dot per epoch: one epoch shows too
    for ax, model in zip(axes.flat, models, strict=False):
        for _, run in curves[curves["name"] == model].groupby("seed", sort=True):
            run = run.sort_values("epoch")
            ax.plot(run["epoch"], run["train_loss"], color="tab:blue", label="train loss (a line per seed)",
                    **seed_line)  # fmt: skip
            ax.plot(run["epoch"], run["val_mse"], color="tab:orange",
                    label="validation MSE (a line per seed)", **seed_line)  # fmt: skip
            best = run[run["epoch"] == run["best_epoch"]]
            ax.plot(best["epoch"], best["val_mse"], "o", color="tab:orange", mec="black", mew=0.6, ms=4,
                    label="best epoch (its weights are tested)")  # fmt: skip
        seeds = curves.loc[curves["name"] == model, "seed"].nunique()
        ax.set_title(f"{model} ({seeds} seed{'s' * (seeds != 1)})", fontsize=9)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(models) :]:
        ax.set_visible(False)
    for ax in axes.flat[len(models) - n_cols : len(models)]:
        ax.set_xlabel("epoch", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("loss / MSE (normalised)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    one_each = dict(zip(labels, handles, strict=True))  # every seed drew each label
    fig.legend(one_each.values(), one_each.keys(), loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle(title)
    return fig


def plot_critical_difference(v: Verdict, out_base: Path) -> list[Path]:
    """`draw_critical_difference`, written."""
    return _save(draw_critical_difference(v), out_base)


def draw_critical_difference(v: Verdict) -> Figure:
    """Demšar's critical-difference diagram of the verdict's average ranks (1 = best), drawn by
    scikit-posthocs, with bars joining the models whose Holm-adjusted Wilcoxon p is ≥ α.

    Below the power floor the figure draws the ranks alone and says they are not testable: there a bar
    would read as "no difference", which the test cannot tell.
    """
    if v.table.empty:
        raise ValueError(f"protocol {v.protocol!r} has no task every model finished: nothing to rank")
    ranks = v.table["rank"].astype(float)
    names = list(ranks.index)
    testable = v.testable and not v.p_values.empty
    # Every pair "significant" (p = 0) is how scikit-posthocs draws the ranks with no bar at all.
    p_values = v.p_values.loc[names, names] if testable else pd.DataFrame(0.0, index=names, columns=names)
    fig, ax = _figure(figsize=(7.5, 3))
    drawn = scikit_posthocs.critical_difference_diagram(
        ranks, p_values, alpha=ALPHA, ax=ax, label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}", label_props={"fontsize": 9}, text_h_margin=0.15,
        crossbar_props={"color": "black", "linewidth": 3, "solid_capstyle": "round", "label": NO_DIFFERENCE},
    )  # fmt: skip
    depth = -min(label.get_position()[1] for label in drawn["labels"])  # rows below the rank axis
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xlim(0.5, len(names) + 0.5)
    ax.set_xlabel("average rank over tasks (1 = best)", fontsize=9)
    ax.xaxis.set_label_position("top")
    datasets = len(v.datasets)
    test = f"Wilcoxon signed-rank, Holm, α = {ALPHA:g}"
    head = (f"Protocol {v.protocol}: {v.n_tasks} tasks (dataset × horizon) over {datasets} "
            f"dataset{'s' * (datasets != 1)}")  # fmt: skip
    if testable:
        fig.suptitle(f"{head}\n{test}; a bar joins models not significantly different", fontsize=10)
    else:
        fig.suptitle(f"{head}\nnot testable with {v.n_tasks} tasks ({test})", fontsize=10)
        fig.supxlabel(
            f"Ranks only, no bars: with {v.n_tasks} tasks the smallest exact p is $2/2^{{{v.n_tasks}}}$ = "
            f"{2 / 2**v.n_tasks:.3g} ≥ α. This says nothing about whether the models differ.",
            fontsize=8, style="italic",
        )  # fmt: skip
    fig.set_size_inches(7.5, 1.6 + 0.32 * depth)
    return fig


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


def _fit_ylim(ax, low: float, high: float, margin: float = 0.08) -> None:
    """Limits around [low, high] with `margin` of its span; a single value gets ± 5% of itself. No values
    (low infinite): untouched."""
    if not math.isfinite(low):
        return
    pad = margin * (high - low) if high > low else 0.05 * abs(high) or 0.05
    ax.set_ylim(low - pad, high + pad)


def _log_axis(ax, values: np.ndarray) -> None:
    """A log x-axis around `values` with at least `MIN_TICKS` labelled ticks: decades when it spans three or
    more, else 1, 2, 5 × 10^k, else every integer × 10^k; labels as plain numbers (0.5, 20, 2k, 10M)."""
    ratio = max(values.max() / values.min(), 1.0)
    pad = max(1.6, math.sqrt(4 / ratio))  # a padded span of at least ×4 holds three integer × 10^k ticks
    low, high = values.min() / pad, values.max() * pad
    decades = math.log10(high / low)
    subs = (1.0,) if decades >= MIN_TICKS else (1.0, 2.0, 5.0) if decades >= 1 else tuple(range(1, 10))
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=subs, numticks=30))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_short_number))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _short_number(value: float, _position=None) -> str:
    return f"{value:g}" if value < 1000 else ticker.EngFormatter(sep="").format_eng(value)


def _break_axis(top, bottom) -> None:
    """Join a strip above to the main axes as one broken y-axis: no spine across the cut, // marks on it."""
    top.spines["bottom"].set_visible(False)
    bottom.spines["top"].set_visible(False)
    top.tick_params(axis="x", which="both", bottom=False)
    marks = {"marker": [(-1, -0.5), (1, 0.5)], "markersize": 10, "linestyle": "none", "color": "black",
             "mew": 1, "clip_on": False, "label": "axis break"}  # fmt: skip
    top.plot([0, 1], [0, 0], transform=top.transAxes, **marks)
    bottom.plot([0, 1], [1, 1], transform=bottom.transAxes, **marks)


def _place_labels(ax, texts: list, x=(), y=(), only_move: str = "xy", arrows: bool = True, **adjust) -> None:
    """Move `texts` off each other and off the points (x, y); with `arrows`, a moved label gets a thin line
    back to where it was. `adjust`: more of adjustText's settings."""
    if texts:
        adjust_text(
            texts, x=list(x), y=list(y), ax=ax, iter_lim=LABEL_ITERATIONS,
            only_move=dict.fromkeys(("text", "static", "explode", "pull"), only_move),
            **({"arrowprops": {"arrowstyle": "-", "color": "0.5", "lw": 0.6}} if arrows else {}), **adjust,
        )  # fmt: skip


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
