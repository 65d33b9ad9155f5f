"""Behaviour checks shared by the per-model test files."""

from __future__ import annotations

import torch
from torch import nn


def assert_channel_independent(model: nn.Module, seq_len: int, n_channels: int, channel: int = 1) -> None:
    """Perturbing one channel's input leaves every other channel's output unchanged."""
    model.eval()
    x = torch.randn(3, seq_len, n_channels, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :, channel] += torch.randn(3, seq_len, dtype=torch.float64)
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    others = [c for c in range(n_channels) if c != channel]
    torch.testing.assert_close(y2[:, :, others], y[:, :, others])
    assert not torch.allclose(y2[:, :, channel], y[:, :, channel])


def assert_shift_equivariant(model: nn.Module, seq_len: int, n_channels: int, x_mark=None) -> None:
    """With RevIN, adding a constant to a channel's input shifts that channel's output by the constant."""
    model.eval()
    x = torch.randn(2, seq_len, n_channels, dtype=torch.float64)
    shift = torch.zeros(n_channels, dtype=torch.float64)
    shift[0] = 5.0
    with torch.no_grad():
        y, y_shifted = model(x, x_mark), model(x + shift, x_mark)
    torch.testing.assert_close(y_shifted, y + shift, rtol=1e-7, atol=1e-7)


def assert_training_lowers_loss(
    model: nn.Module,
    seq_len: int,
    pred_len: int,
    n_channels: int,
    x_mark_features=0,
    steps: int = 30,
    lr: float = 1e-3,
) -> None:
    """A few Adam steps on a learnable synthetic signal (sines with per-channel phases) lower the MSE."""
    torch.manual_seed(0)
    t = torch.arange(seq_len + pred_len, dtype=torch.float32)
    phases = torch.rand(16, 1, n_channels) * 6.28
    series = torch.sin(t[None, :, None] / 4 + phases) + 0.1 * torch.randn(16, seq_len + pred_len, n_channels)
    x, y = series[:, :seq_len], series[:, seq_len:]
    x_mark = torch.randn(16, seq_len, x_mark_features) if x_mark_features else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(x, x_mark), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
