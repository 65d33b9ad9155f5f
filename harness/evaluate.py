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
        squared += error.square().sum(dim=(0, 1))
        absolute += error.abs().sum(dim=(0, 1))
        window_squared.append(error.square().mean(dim=(1, 2)))
        window_absolute.append(error.abs().mean(dim=(1, 2)))
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
