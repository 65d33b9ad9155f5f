"""Report figures: the Pareto front is exactly the non-dominated points, every figure is a readable PNG + SVG,
failed cells have no point, and a wrong shape is an error rather than a misleading picture. What a reader
needs is checked on the drawn figure: the axes fit the trained models, the naive references are lines and
on no front, labels do not overlap, a critical-difference bar appears only where the test can tell."""

import itertools
import math
from pathlib import Path

import matplotlib.colors
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from report.plots import (
    MSE_LABEL,
    NO_DIFFERENCE,
    draw_critical_difference,
    draw_forecast,
    draw_learning_curves,
    draw_pareto,
    pareto_front,
    plot_critical_difference,
    plot_forecast,
    plot_gate_heatmap,
    plot_gate_over_time,
    plot_learning_curves,
    plot_pareto,
)
from report.verdict import Verdict, verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAN = math.nan
CHANNELS = ["HUFL", "HULL", "MUFL", "OT", "LUFL"]


def assert_figure_files(paths: list[Path], out_base: Path) -> str:
    """Both files exist and are valid; returns the SVG text (its text elements appear as comments)."""
    png, svg = out_base.with_suffix(".png"), out_base.with_suffix(".svg")
    assert paths == [png, svg]
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0
    svg_text = svg.read_text()
    assert svg_text.startswith("<?xml") or "<svg" in svg_text
    assert plt.get_fignums() == []  # nothing left open in pyplot
    return svg_text


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def test_pareto_front_known_points():
    points = [
        (1.0, 5.0),  # 0: front (cheapest)
        (2.0, 3.0),  # 1: front
        (2.0, 3.0),  # 2: front (a tie: equal points do not dominate each other)
        (3.0, 3.0),  # 3: dominated by 1 (same MSE, dearer)
        (2.0, 4.0),  # 4: dominated by 1 (same cost, worse)
        (4.0, 1.0),  # 5: front (best MSE)
        (NAN, 0.0),  # 6: NaN cost, never on the front although its MSE is best
        (3.0, 3.0),  # 7: dominated duplicate of 3
        (0.5, NAN),  # 8: NaN MSE
        (5.0, 1.0),  # 9: dominated by 5
    ]
    x, y = zip(*points, strict=True)
    assert pareto_front(x, y) == [0, 1, 2, 5]
    assert pareto_front([7.0], [0.3]) == [0]
    assert pareto_front([NAN], [0.3]) == []
    assert pareto_front([], []) == []


def test_pareto_front_sorted_by_x_and_matches_definition():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.integers(0, 6, size=12).astype(float)
        y = rng.integers(0, 6, size=12).astype(float)
        x[rng.random(12) < 0.1] = NAN
        front = pareto_front(x, y)
        assert [x[i] for i in front] == sorted(x[i] for i in front)
        valid = [i for i in range(12) if not (np.isnan(x[i]) or np.isnan(y[i]))]
        for i in valid:
            beaten = any(dominates((x[j], y[j]), (x[i], y[i])) for j in valid)
            assert (i in front) == (not beaten), (i, x[i], y[i])


def test_pareto_front_rejects_unequal_lengths():
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        pareto_front([1.0, 2.0, 3.0], [1.0, 2.0])


def test_plot_pareto_skips_failed_cells_and_draws_the_front(tmp_path):
    cells = pd.DataFrame(
        {
            "model": ["DLinear", "PatchTST", "iTransformer", "Broken", "TSMixer"],
            "mse_mean": [0.40, 0.37, 0.39, 0.50, 0.38],
            "mse_ci": [0.01, NAN, 0.02, 0.01, 0.005],  # PatchTST: one seed, no CI
            "params": [1.8e4, 1.5e6, 2.5e6, NAN, 1.0e5],  # Broken: a failed cell, no cost
        }
    )
    out_base = tmp_path / "new" / "dir" / "pareto_params"
    paths = plot_pareto(cells, "params", out_base, "ETTh1, H = 96", "parameters")
    svg = assert_figure_files(paths, out_base)
    for model in ("DLinear", "PatchTST", "iTransformer", "TSMixer", "Pareto front", "test MSE (normalised)"):
        assert f"<!-- {model} -->" in svg
    assert "<!-- Broken -->" not in svg


def test_plot_pareto_with_no_finished_cells_still_writes_a_figure(tmp_path):
    cells = pd.DataFrame(
        {"model": ["A", "B"], "mse_mean": [NAN, 0.4], "mse_ci": [NAN, 0.01], "latency_ms": [1.0, NAN]}
    )
    out_base = tmp_path / "empty"
    svg = assert_figure_files(plot_pareto(cells, "latency_ms", out_base, "t", "latency (ms)"), out_base)
    assert "<!-- no finished cells -->" in svg and "<!-- A -->" not in svg and "<!-- B -->" not in svg


def test_plot_pareto_rejects_bad_input(tmp_path):
    cells = pd.DataFrame({"model": ["A"], "mse_mean": [0.4], "mse_ci": [0.01], "params": [10.0]})
    with pytest.raises(ValueError, match="train_seconds"):
        plot_pareto(cells, "train_seconds", tmp_path / "p", "t", "seconds")
    with pytest.raises(ValueError, match="> 0 on a log axis.*nothing trained is a reference"):
        plot_pareto(cells.assign(params=0.0), "params", tmp_path / "p", "t", "parameters")
    with pytest.raises(ValueError, match="half-width"):
        plot_pareto(cells.assign(mse_ci=-0.1), "params", tmp_path / "p", "t", "parameters")


REFERENCES = {"seasonal_naive", "naive", "mean"}
# ETTh1 at H = 96 from the committed runs: three DynoNet variants and DLinear crowd one corner, the naive
# references sit far above them, PatchTST has not finished.
ETTH1_H96 = pd.DataFrame(
    {
        "model": ["DLinear", "iTransformer", "Crossformer", "DynoNet", "DynoNet-clean",
                  "DynoNet-no-controller", "seasonal_naive", "naive", "mean", "PatchTST/42"],
        "mse_mean": [0.3718, 0.3871, 0.3744, 0.3958, 0.4114, 0.3910, 0.5122, 1.2944, 0.7060, NAN],
        "mse_ci": [0.0011, 0.0017, 0.0023, 0.0089, 0.0079, 0.0042, NAN, NAN, NAN, NAN],
        "params": [64704, 841568, 11338592, 93954, 93954, 65313, 0, 0, 0, NAN],
        "train_seconds": [7.55, 256.5, 7918.7, 671.9, 346.6, 166.8, 0, 0, 0, NAN],
        "latency_ms": [0.801, 29.37, 857.0, 39.30, 26.53, 19.89, 0.015, 0.0059, 0.038, NAN],
    }
)  # fmt: skip


def main_axes(fig):
    return next(ax for ax in fig.axes if ax.get_ylabel() == MSE_LABEL)


def reference_lines(fig) -> dict[str, tuple]:
    """Reference name → (its line's y values, the axes it is on)."""
    return {line.get_label(): (tuple(line.get_ydata()), ax) for ax in fig.axes for line in ax.lines
            if line.get_label() in REFERENCES}  # fmt: skip


def overlapping_labels(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    boxes = [(t.get_text(), t.get_window_extent()) for ax in fig.axes for t in ax.texts if t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def test_pareto_fits_the_trained_models_and_draws_the_naive_references_as_lines():
    fig = draw_pareto(ETTH1_H96, "params", "ETTh1, H=96", "parameters", REFERENCES)
    ax = main_axes(fig)
    trained = ETTH1_H96[~ETTH1_H96["model"].isin(REFERENCES)].dropna(subset=["mse_mean"])
    lowest, highest = (
        (trained["mse_mean"] - trained["mse_ci"]).min(),
        (trained["mse_mean"] + trained["mse_ci"]).max(),
    )
    low, high = ax.get_ylim()
    assert low <= lowest and high >= highest  # every CI is in view
    assert (highest - lowest) / (high - low) > 0.8  # and the models fill the axis, not one line at its foot
    assert {c.get_label() for c in ax.containers} == set(trained["model"])  # a point with error bar each
    lines = reference_lines(fig)
    assert {name: ys for name, (ys, _) in lines.items()} == {
        "seasonal_naive": (0.5122, 0.5122), "naive": (1.2944, 1.2944), "mean": (0.7060, 0.7060)
    }  # fmt: skip
    (strip,) = {on for _, on in lines.values()}  # all far above: on the strip over the broken axis
    assert strip is not ax and strip.get_ylim()[0] < 0.5122 and strip.get_ylim()[1] > 1.2944
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [64704]  # DLinear: cheapest and best of the trained models


def test_pareto_front_skips_a_reference_that_beats_every_model():
    cells = pd.DataFrame(
        {"model": ["A", "B", "C", "D", "seasonal_naive"], "mse_mean": [0.50, 0.45, 0.40, 0.48, 0.30],
         "mse_ci": [0.01, 0.01, 0.01, 0.01, NAN], "params": [1e3, 1e4, 1e5, 1e5, 0.0]}
    )  # fmt: skip
    fig = draw_pareto(cells, "params", "t", "parameters", {"seasonal_naive"})
    (ax,) = fig.axes  # the reference is below the models: no strip, it stays in view
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [1e3, 1e4, 1e5] and list(front.get_ydata()) == [0.50, 0.45, 0.40]
    assert reference_lines(fig)["seasonal_naive"] == ((0.30, 0.30), ax)
    assert ax.get_ylim()[0] < 0.30 and ax.get_xscale() == "log"
    assert "seasonal_naive" not in {c.get_label() for c in ax.containers}


@pytest.mark.parametrize("axis", ["params", "train_seconds", "latency_ms"])
def test_pareto_labels_never_overlap_and_stay_in_the_figure(axis):
    fig = draw_pareto(ETTH1_H96, axis, "ETTh1, H=96", axis, REFERENCES)
    assert overlapping_labels(fig) == []
    page = fig.bbox
    for ax in fig.axes:
        for text in ax.texts:
            box = text.get_window_extent()
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, text


@pytest.mark.parametrize("costs", [[6.5e4, 1.1e7], [7.5, 7900.0], [0.8, 39.0], [9.1e4, 9.4e4], [5e4]])
def test_pareto_log_axis_has_at_least_three_plain_labelled_ticks(costs):
    cells = pd.DataFrame({"model": [f"m{i}" for i in range(len(costs))], "mse_mean": 0.4, "mse_ci": 0.01,
                          "cost": costs})  # fmt: skip
    ax = main_axes(draw_pareto(cells, "cost", "t", "cost"))
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    labels = [
        t.get_text() for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high
    ]
    assert ax.get_xscale() == "log" and len(labels) >= 3, labels
    assert not any("$" in label or "^" in label for label in labels), labels  # 20k, 0.5: no exponents


@pytest.mark.parametrize("n_channels", [1, 5])
def test_plot_forecast_writes_figure_with_one_shared_legend(tmp_path, n_channels):
    rng = np.random.default_rng(0)
    channels = CHANNELS[:n_channels]
    tail, truth = rng.normal(size=(48, n_channels)), rng.normal(size=(24, n_channels))
    predictions = {"DLinear": truth + 0.1, "DynoNet": truth - 0.1}
    out_base = tmp_path / "forecast"
    paths = plot_forecast(channels, tail, truth, predictions, out_base, "ETTh1 window 0")
    svg = assert_figure_files(paths, out_base)
    assert svg.count("<!-- DLinear -->") == 1 and svg.count("<!-- truth -->") == 1
    assert all(f"<!-- {channel} -->" in svg for channel in channels)


def test_plot_forecast_rejects_wrong_shapes(tmp_path):
    tail, truth = np.zeros((48, 3)), np.zeros((24, 3))
    good = {"DLinear": np.zeros((24, 3))}
    with pytest.raises(ValueError, match=r"\(48, 3\)"):
        plot_forecast(CHANNELS[:2], tail, truth, good, tmp_path / "f", "t")  # 2 names, 3 channels
    with pytest.raises(ValueError, match=r"\(48, 2\)"):
        plot_forecast(CHANNELS[:3], np.zeros((48, 2)), truth, good, tmp_path / "f", "t")
    with pytest.raises(ValueError, match=r"\(24, 3\)"):
        plot_forecast(CHANNELS[:3], tail, truth, {"DLinear": np.zeros((12, 3))}, tmp_path / "f", "t")
    with pytest.raises(ValueError, match=r"\(3, 24\)"):
        plot_forecast(CHANNELS[:3], tail, truth, {"DLinear": np.zeros((3, 24))}, tmp_path / "f", "t")
    assert not (tmp_path / "f.png").exists()


def test_forecast_with_eleven_models_colours_the_trained_apart_and_greys_the_references():
    rng = np.random.default_rng(0)
    tail, truth = rng.normal(size=(96, 2)), rng.normal(size=(720, 2))
    trained = ["DLinear", "PatchTST", "iTransformer", "Crossformer", "TSMixer", "DynoNet", "DynoNet-clean",
               "DynoNet-no-controller"]  # fmt: skip
    names = [*trained[:4], "seasonal_naive", *trained[4:], "naive", "mean"]  # references anywhere in the dict
    predictions = {name: truth + rng.normal(scale=0.1, size=truth.shape) for name in names}
    fig = draw_forecast(CHANNELS[:2], tail, truth, predictions, "ETTh1, H = 720", REFERENCES)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    colours = [matplotlib.colors.to_rgb(lines[name].get_color()) for name in trained]
    assert len(set(colours)) == len(trained) and all(len(set(rgb)) > 1 for rgb in colours)  # none grey
    for name in REFERENCES:
        r, g, b = matplotlib.colors.to_rgb(lines[name].get_color())
        assert r == g == b and lines[name].get_linestyle() != "-"  # grey and dashed
        assert lines[name].get_linewidth() < min(lines[t].get_linewidth() for t in trained)
    drawn = [line.get_label() for line in ax.get_lines()]
    assert max(drawn.index(n) for n in REFERENCES) < min(drawn.index(n) for n in trained)  # beneath them
    others = [line.get_zorder() for line in ax.get_lines() if line is not lines["truth"]]
    assert lines["truth"].get_zorder() > max(others)
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == ["lookback", "truth", *[n for n in names if n not in REFERENCES], "seasonal_naive",
                      "naive", "mean"]  # fmt: skip
    visible = [a for a in fig.axes if a.get_visible()]
    assert len({round(a.get_position().x0, 3) for a in visible}) == 1  # H = 720: one full-width column


def learning_curves(models: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Per model (seeds, epochs): seed s runs `epochs - s` epochs, its best three before its last."""
    rows = []
    for name, (seeds, epochs) in models.items():
        for seed in range(1, seeds + 1):
            n, best = epochs - seed, epochs - seed - 3
            rows += [{"name": name, "seed": seed, "epoch": e, "lr": 1e-3, "train_loss": 1 / e,
                      "val_mse": 0.5 + (e - best) ** 2 / 100 + seed / 1000, "best_epoch": best}
                     for e in range(1, n + 1)]  # fmt: skip
    return pd.DataFrame(rows)


def test_learning_curves_one_panel_per_model_a_line_per_seed_and_the_best_epoch_marked(tmp_path):
    curves = learning_curves({"DLinear": (3, 10), "DynoNet": (2, 25)})
    fig = draw_learning_curves(curves, "ETTh1, H = 96")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["DLinear (3 seeds)", "DynoNet (2 seeds)"]
    for ax, (name, seeds) in zip(panels, [("DLinear", 3), ("DynoNet", 2)], strict=True):
        by_label = {}
        for line in ax.get_lines():
            by_label.setdefault(line.get_label(), []).append(line)
        train, val = by_label["train loss (a line per seed)"], by_label["validation MSE (a line per seed)"]
        assert len(train) == len(val) == seeds
        runs = curves[curves["name"] == name]
        assert [len(line.get_xdata()) for line in val] == [len(g) for _, g in runs.groupby("seed")]
        best = runs[runs["epoch"] == runs["best_epoch"]]
        marked = by_label["best epoch (its weights are tested)"]
        assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in marked] == list(
            zip(best["epoch"], best["val_mse"], strict=True)
        )
    out_base = tmp_path / "curves"
    svg = assert_figure_files(plot_learning_curves(curves, out_base, "ETTh1, H = 96"), out_base)
    assert "<!-- DynoNet (2 seeds) -->" in svg
    with pytest.raises(ValueError, match="best_epoch"):
        draw_learning_curves(curves.drop(columns="best_epoch"), "t")


def verdict_of(scores: dict[str, list[float]], datasets: tuple, horizons=(96, 192, 336, 720)) -> Verdict:
    """The verdict of one run per (model, task); "SN" is the seasonal naive."""
    tasks = list(itertools.product(datasets, horizons))
    rows = [{"protocol": "official", "dataset": d, "pred_len": h, "name": name, "seed": 1, "status": "ok",
             "model": "seasonal_naive" if name == "SN" else name.lower(), "test_mse": mse,
             "test_mae": mse / 2}
            for name, values in scores.items()
            for (d, h), mse in zip(tasks, values, strict=True)]  # fmt: skip
    return verdict(pd.DataFrame(rows), "official")


def cd_scores(n: int) -> dict[str, list[float]]:
    """Over n tasks: A beats everyone on every task, B and C trade places (C ahead on 7 of 12), SN and D
    trail."""
    b = [0.5 + 0.01 * i for i in range(n)]
    c = [v + 0.005 * (1 + i / 10) * (-1 if i in (0, 2, 4, 6, 8, 10, 11) else 1) for i, v in enumerate(b)]
    return {"A": [0.3 + 0.01 * i for i in range(n)], "B": b, "C": c, "SN": [0.7 + 0.01 * i for i in range(n)],
            "D": [0.9 + 0.01 * i for i in range(n)]}  # fmt: skip


def crossbars(fig, ranks: pd.Series) -> list[set[str]]:
    """The models each critical-difference bar joins, read back from the ranks it spans."""
    bars = [line for ax in fig.axes for line in ax.lines if line.get_label() == NO_DIFFERENCE]
    return [
        {name for name, rank in ranks.items() if np.isclose(line.get_xdata(), rank).any()} for line in bars
    ]


def test_critical_difference_joins_only_the_models_the_test_cannot_tell_apart(tmp_path):
    v = verdict_of(cd_scores(12), ("ETTh1", "ETTh2", "ETTm1"))
    assert v.n_tasks == 12 and v.testable
    fig = draw_critical_difference(v)
    assert crossbars(fig, v.table["rank"]) == [{"B", "C"}]
    title = fig.get_suptitle()
    assert "Protocol official" in title and "12 tasks" in title and "3 datasets" in title
    assert "Wilcoxon signed-rank, Holm, α = 0.05" in title and "not testable" not in title
    out_base = tmp_path / "figures" / "cd-official"
    svg = assert_figure_files(plot_critical_difference(v, out_base), out_base)
    assert "<!-- C (2.42) -->" in svg


def test_critical_difference_below_the_power_floor_draws_no_bar_and_says_not_testable(tmp_path):
    v = verdict_of(cd_scores(4), ("ETTh1",))
    assert v.n_tasks == 4 and not v.testable and (v.p_values.to_numpy() >= 0.05).all()  # every p "no diff."
    fig = draw_critical_difference(v)
    assert crossbars(fig, v.table["rank"]) == []
    assert "not testable with 4 tasks" in fig.get_suptitle() and "1 dataset" in fig.get_suptitle()
    assert "says nothing about whether the models differ" in fig.get_supxlabel()
    labels = {text.get_text() for text in fig.axes[0].texts}
    assert all(any(name in label for label in labels) for name in v.table.index)  # every model ranked
    one = verdict_of(cd_scores(1), ("ETTh1",), (96,))
    assert one.p_values.empty and crossbars(draw_critical_difference(one), one.table["rank"]) == []
    out_base = tmp_path / "cd"
    svg = assert_figure_files(plot_critical_difference(v, out_base), out_base)
    assert "not testable with 4 tasks" in svg


def test_plot_gate_heatmap(tmp_path):
    gates = np.random.default_rng(0).random((4, 16))
    out_base = tmp_path / "gates"
    svg = assert_figure_files(plot_gate_heatmap(gates, CHANNELS[:4], out_base, "DynoNet gates"), out_base)
    assert all(f"<!-- {channel} -->" in svg for channel in CHANNELS[:4])
    with pytest.raises(ValueError, match=r"\(4, 16\)"):
        plot_gate_heatmap(gates, CHANNELS[:3], tmp_path / "g", "t")
    with pytest.raises(ValueError, match=r"\(2, 4, 8\)"):
        plot_gate_heatmap(np.zeros((2, 4, 8)), CHANNELS[:4], tmp_path / "g", "t")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_gate_heatmap(gates * 3, CHANNELS[:4], tmp_path / "g", "t")


def test_plot_gate_over_time(tmp_path):
    gates = np.random.default_rng(0).random((6, 4, 16))
    windows = [0, 100, 200, 300, 400, 2784]
    out_base = tmp_path / "gates_over_time"
    svg = assert_figure_files(plot_gate_over_time(gates, windows, CHANNELS[:4], out_base, "t"), out_base)
    assert "<!-- 2784 -->" in svg and "<!-- test window -->" in svg
    with pytest.raises(ValueError, match=r"5 entries.*\(6, 4, 16\)"):
        plot_gate_over_time(gates, windows[:5], CHANNELS[:4], tmp_path / "g", "t")
    with pytest.raises(ValueError, match=r"\(6, 4, 16\)"):
        plot_gate_over_time(gates, windows, CHANNELS[:5], tmp_path / "g", "t")
    with pytest.raises(ValueError, match=r"\(4, 16\)"):
        plot_gate_over_time(gates[0], windows, CHANNELS[:4], tmp_path / "g", "t")
