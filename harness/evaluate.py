"""Exact metrics over every window of a split: sums, not means of batch means, so the result does not
depend on the evaluation batch size and no window is ever dropped."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.windows import WindowSet


@dataclass(frozen=True)
class Metrics:
    """MSE and MAE on the normalised scale, overall and per channel, and how many windows were scored."""

    mse: float
    mae: float
    mse_per_channel: list[float]
    mae_per_channel: list[float]
    n_windows: int
    window_mse: list[float]  # per window in chronological order: what rescoring a subset of windows needs
    window_mae: list[float]


@torch.no_grad()
def evaluate(model: nn.Module, windows: WindowSet, batch_size: int) -> Metrics:
    model.eval()
    squared = torch.zeros(windows.n_channels, dtype=torch.float64, device=windows.device)
    absolute = torch.zeros_like(squared)
    window_squared, window_absolute = [], []
    for x, x_mark, y in windows.batches(batch_size):
        error = (model(x, x_mark).float() - y).double()
        error_squared, error_absolute = error.square(), error.abs()
        squared += error_squared.sum(dim=(0, 1))
        absolute += error_absolute.sum(dim=(0, 1))
        window_squared.append(error_squared.mean(dim=(1, 2)))
        window_absolute.append(error_absolute.mean(dim=(1, 2)))
    per_value = len(windows) * windows.pred_len  # values per channel
    mse_c, mae_c = (squared / per_value).tolist(), (absolute / per_value).tolist()
    return Metrics(
        mse=float(squared.sum()) / (per_value * windows.n_channels),
        mae=float(absolute.sum()) / (per_value * windows.n_channels),
        mse_per_channel=mse_c,
        mae_per_channel=mae_c,
        n_windows=len(windows),
        window_mse=torch.cat(window_squared).tolist(),
        window_mae=torch.cat(window_absolute).tolist(),
    )


@torch.no_grad()
def zero_forecast_mse(windows: WindowSet, batch_size: int = 4096) -> float:
    """MSE of forecasting 0 everywhere (the training mean, on the normalised scale) over every window."""
    total = torch.zeros((), dtype=torch.float64, device=windows.device)
    for _, _, y in windows.batches(batch_size):
        total += y.double().square().sum()
    return float(total) / (len(windows) * windows.pred_len * windows.n_channels)


def absurd(val_mse: float | None, details: dict) -> bool:
    """A finished run whose validation MSE is above that of forecasting zeros learned nothing usable: it
    diverged without becoming NaN (say lr 1e6). It is flagged, never silently ranked. A model with nothing to
    train (a naive reference) has no such reference stored: it cannot diverge, only be bad."""
    zero = details.get("val_zero_mse")
    return val_mse is not None and zero is not None and val_mse > zero
