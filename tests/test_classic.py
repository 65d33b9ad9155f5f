"""The tutorial's classic models in the harness's form: sizes from their formulas, the whole lookback read,
the tutorial's summaries (the last hidden state; the max over time), a vanilla encoder that knows order."""

import pytest
import torch

from harness import registry

from model_checks import assert_training_lowers_loss

L, H, C = 48, 12, 3


def n_params(key: str, **params) -> int:
    return registry.count_params(registry.build(key, L, H, C, **params))


def test_parameter_counts_follow_the_layer_formulas():
    def head(d: int) -> int:  # Linear(d → H·C)
        return (d + 1) * H * C

    h = 16
    assert n_params("rnn", hidden_size=h) == (C * h + h * h + 2 * h) + head(h)
    assert n_params("gru", hidden_size=h) == 3 * (C * h + h * h + 2 * h) + head(h)
    assert n_params("lstm", hidden_size=h) == 4 * (C * h + h * h + 2 * h) + head(h)
    assert n_params("cnn", filters=8, kernel_size=5) == (C * 5 * 8 + 8) + head(8)
    d, ff = 16, 32
    layer = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 4 * d  # attention, feed-forward, two norms
    assert n_params("transformer", d_model=d, n_heads=2, e_layers=2, d_ff=ff) == (
        C * d + d
    ) + 2 * layer + head(d)


@pytest.mark.parametrize("key", ["rnn", "lstm", "gru", "transformer"])
def test_the_first_step_of_the_lookback_reaches_the_forecast(key):
    torch.manual_seed(0)
    model = registry.build(key, L, H, C).eval()
    x = torch.randn(2, L, C)
    x2 = x.clone()
    x2[:, 0] += 1.0
    with torch.no_grad():
        assert not torch.equal(model(x), model(x2))  # faded through L steps, but there


def test_the_cnn_summarises_by_the_max_over_time():
    """Moving a local pattern in time leaves the max-pooled forecast unchanged (away from the edges)."""
    torch.manual_seed(0)
    model = registry.build("cnn", L, H, C, kernel_size=3).eval()
    x = torch.zeros(1, L, C)
    early, late = x.clone(), x.clone()
    early[0, 10:13], late[0, 30:33] = 1.0, 1.0
    with torch.no_grad():
        torch.testing.assert_close(model(early), model(late))


def test_the_transformer_tells_the_order_of_the_lookback():
    torch.manual_seed(0)
    model = registry.build("transformer", L, H, C, dropout=0.0).eval()
    x = torch.randn(1, L, C)
    swapped = x.clone()
    swapped[0, [3, 20]] = x[0, [20, 3]]
    with torch.no_grad():
        assert not torch.allclose(model(x), model(swapped), atol=1e-4)


@pytest.mark.parametrize("key", ["rnn", "lstm", "gru", "cnn", "transformer"])
def test_a_few_steps_learn_a_sine(key):
    torch.manual_seed(0)
    assert_training_lowers_loss(registry.build(key, L, H, C), L, H, C, steps=60, lr=3e-3)
