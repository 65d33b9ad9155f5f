"""What a finished run keeps for the report's figures, so that drawing them needs no re-training:
its forecasts for a few fixed test windows, and the controller signals of models that expose them."""

from __future__ import annotations

import torch
from torch import nn

from harness.windows import WindowSet

N_SIGNAL_WINDOWS = 16  # evenly spaced over the test split, for "signals across the test period"
SIGNAL_KEYS = ("gate", "gamma", "beta", "context", "dropout_rate")


def forecast_windows(n_windows: int) -> list[int]:
    """The fixed test windows whose forecasts every run stores: first, middle and last."""
    return sorted({0, n_windows // 2, n_windows - 1})


@torch.no_grad()
def forecasts(model: nn.Module, windows: WindowSet) -> dict:
    """Predictions [k, H, C] for `forecast_windows`; truth and lookback are rebuilt from the data."""
    model.eval()
    index = forecast_windows(len(windows))
    x, x_mark, _ = windows.batch(torch.tensor(index, device=windows.device))
    return {"windows": index, "predictions": model(x, x_mark).float().cpu().tolist()}


@torch.no_grad()
def controller_signals(model: nn.Module, windows: WindowSet) -> dict | None:
    """Signals [K, ...] of a model with `forward_with_signals` (DynoNet) on evenly spaced test windows."""
    if not hasattr(model, "forward_with_signals"):
        return None
    model.eval()
    index = torch.linspace(0, len(windows) - 1, N_SIGNAL_WINDOWS).round().long().unique().tolist()
    x, _, _ = windows.batch(torch.tensor(index, device=windows.device))
    _, signals = model.forward_with_signals(x)
    return {"windows": index, **{k: signals[k].float().cpu().tolist() for k in SIGNAL_KEYS if k in signals}}
