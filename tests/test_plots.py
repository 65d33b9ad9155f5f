"""Report figures: the Pareto front is exactly the non-dominated points, every figure is a readable PNG + SVG,
failed cells have no point, and a wrong shape is an error rather than a misleading picture."""

import math
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from report.plots import pareto_front, plot_forecast, plot_gate_heatmap, plot_gate_over_time, plot_pareto

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


def test_a_model_without_parameters_sits_at_zero_on_a_symmetric_log_axis(tmp_path):
    cells = pd.DataFrame(
        {"model": ["naive", "Small", "Big"], "mse_mean": [0.6, 0.4, 0.38], "mse_ci": [0.0, 0.01, 0.01],
         "params": [0.0, 1e3, 1e6]}
    )  # fmt: skip
    out_base = tmp_path / "zero"
    svg = assert_figure_files(plot_pareto(cells, "params", out_base, "t", "parameters"), out_base)
    assert "<!-- naive -->" in svg and "<!-- Big -->" in svg


def test_plot_pareto_rejects_bad_input(tmp_path):
    cells = pd.DataFrame({"model": ["A"], "mse_mean": [0.4], "mse_ci": [0.01], "params": [10.0]})
    with pytest.raises(ValueError, match="train_seconds"):
        plot_pareto(cells, "train_seconds", tmp_path / "p", "t", "seconds")
    with pytest.raises(ValueError, match=">= 0"):
        plot_pareto(cells.assign(params=-1.0), "params", tmp_path / "p", "t", "parameters")
    with pytest.raises(ValueError, match="half-width"):
        plot_pareto(cells.assign(mse_ci=-0.1), "params", tmp_path / "p", "t", "parameters")


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
