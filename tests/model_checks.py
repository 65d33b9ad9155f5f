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


# The model contract: what every registered model keeps (tests/test_contract.py runs it for each one, a test
# written by `dynobench new-model` for its model). Each check takes the model's key and the hyperparameters
# of a small configuration, and fails with a message naming the model.
CONTRACT_L, CONTRACT_H, CONTRACT_C, CONTRACT_MARKS = 51, 13, 3, 4  # odd: no model may assume round sizes


def _build(key: str, params: dict, seed: int = 0) -> nn.Module:
    from harness import registry

    torch.manual_seed(seed)
    return registry.build(key, CONTRACT_L, CONTRACT_H, CONTRACT_C, **params)


def _inputs(key: str, batch: int = 6) -> tuple[torch.Tensor, torch.Tensor | None]:
    from harness import registry

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, CONTRACT_L, CONTRACT_C, generator=generator)
    if not registry.get(key).time_features:
        return x, None
    return x, torch.rand(batch, CONTRACT_L, CONTRACT_MARKS, generator=generator) - 0.5


def check_forecast_shape_and_finite(key: str, params: dict) -> None:
    x, x_mark = _inputs(key)
    with torch.no_grad():
        y = _build(key, params).eval()(x, x_mark)
    assert y.shape == (6, CONTRACT_H, CONTRACT_C), f"{key}: output {tuple(y.shape)}, expected [B, H, C]"
    assert torch.isfinite(y).all(), f"{key}: the forecast holds NaN or Inf"


def check_batch_invariance(key: str, params: dict) -> None:
    """In eval mode a window's forecast does not depend on the other windows of its batch."""
    model, (x, x_mark) = _build(key, params).eval(), _inputs(key)
    with torch.no_grad():
        together = model(x, x_mark)
        alone = torch.cat(
            [model(x[i : i + 1], None if x_mark is None else x_mark[i : i + 1]) for i in range(6)]
        )
    torch.testing.assert_close(
        alone,
        together,
        rtol=1e-4,
        atol=1e-5,
        msg=lambda m: f"{key}: a window's forecast depends on its batch. {m}",
    )


def check_seeded_initial_weights(key: str, params: dict) -> None:
    from harness import registry

    first, again, other = (_build(key, params, seed).state_dict() for seed in (3, 3, 4))
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first), f"{key}: seed 3 built different weights twice"
    if registry.count_params(_build(key, params)):
        differs = any(not torch.equal(first[k], v) for k, v in other.items())
        assert differs, f"{key}: seeds 3 and 4 built the same weights (is the seed used?)"


def check_profiles(key: str, params: dict) -> None:
    """`describe` and a run count its parameters and profile its FLOPs and latency without error."""
    from harness import profile, registry
    from harness.windows import WindowSet

    model = _build(key, params)
    n_params = registry.count_params(model)
    assert n_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    generator = torch.Generator().manual_seed(2)
    values = torch.randn(CONTRACT_L + CONTRACT_H + 40, CONTRACT_C, generator=generator)
    marks = (
        torch.rand(len(values), CONTRACT_MARKS, generator=generator)
        if registry.get(key).time_features
        else None
    )
    windows = WindowSet(values, marks, CONTRACT_L, CONTRACT_H)
    flops = profile.flops_per_sample(model, windows)
    latency, iqr = profile.latency_ms(model, windows)
    assert flops >= 0 and latency > 0 and iqr >= 0, f"{key}: flops {flops}, latency {latency} ms (IQR {iqr})"
    assert flops > 0 or n_params == 0, f"{key}: a model with parameters counted no FLOPs"


def check_one_training_step(key: str, params: dict) -> None:
    """One Adam step on CPU gives a finite loss and moves the weights (nothing to do without parameters)."""
    model, (x, x_mark) = _build(key, params).train(), _inputs(key)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        return  # a naive reference: the harness scores it as is (tests/test_naive.py)
    before = [p.detach().clone() for p in trainable]
    y = torch.randn(6, CONTRACT_H, CONTRACT_C, generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    loss = nn.functional.mse_loss(model(x, x_mark), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss), f"{key}: training loss {loss.item()}"
    assert any(not torch.equal(b, p) for b, p in zip(before, trainable, strict=True)), (
        f"{key}: no weight moved"
    )


CONTRACT = [
    check_forecast_shape_and_finite,
    check_batch_invariance,
    check_seeded_initial_weights,
    check_profiles,
    check_one_training_step,
]
