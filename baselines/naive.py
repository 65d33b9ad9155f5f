"""Naive references: forecasts with no trainable parameters, which tell whether a model learned anything.

Every leaderboard of fev, GIFT-Eval and the M competitions reports a seasonal naive. The harness trains
nothing for a model without parameters: it scores the validation and test windows directly.
"""

import torch
from torch import nn

from harness.registry import register_model


@register_model("naive")
class Naive(nn.Module):
    """Repeat the last observed value of each channel over the whole horizon."""

    def __init__(self, seq_len: int, pred_len: int, n_channels: int):
        super().__init__()
        self.pred_len = pred_len

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, -1:].expand(-1, self.pred_len, -1)


@register_model("seasonal_naive")
class SeasonalNaive(nn.Module):
    """Repeat the last observed season (the last `period` steps of the lookback) over the horizon.

    Step h of the horizon is the lookback's value at the same phase of the last period: for hourly ETT with
    period 24, the same hour of the last observed day."""

    def __init__(self, seq_len: int, pred_len: int, n_channels: int, period: int = 24):
        super().__init__()
        if not 1 <= period <= seq_len:
            raise ValueError(f"period must be between 1 and the lookback ({seq_len}), got {period}")
        steps = seq_len - period + torch.arange(pred_len) % period
        self.register_buffer("steps", steps, persistent=False)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        return x.index_select(1, self.steps)


@register_model("mean")
class LookbackMean(nn.Module):
    """Forecast each channel's mean over the lookback at every step of the horizon."""

    def __init__(self, seq_len: int, pred_len: int, n_channels: int):
        super().__init__()
        self.pred_len = pred_len

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True).expand(-1, self.pred_len, -1)
