"""DLinear against its paper and official code: parameter counts, decomposition, channel independence."""

import pytest
import torch

from baselines.layers import SeriesDecomposition
from harness import registry


@pytest.mark.parametrize(("seq_len", "pred_len", "expected"), [(336, 96, 64_704), (96, 96, 18_624)])
def test_parameter_count_matches_the_official_implementation(seq_len, pred_len, expected):
    assert registry.count_params(registry.build("dlinear", seq_len, pred_len, 7)) == expected


def test_individual_variant_has_one_pair_of_maps_per_channel():
    model = registry.build("dlinear", 336, 96, 7, individual=True)
    assert registry.count_params(model) == 7 * 64_704


@pytest.mark.parametrize("shape", [(2, 336, 7), (3, 96, 1), (1, 30, 21)])
def test_trend_and_seasonal_sum_back_to_the_input(shape):
    x = torch.randn(*shape, dtype=torch.float64)
    seasonal, trend = SeriesDecomposition(25)(x)
    assert trend.shape == x.shape
    torch.testing.assert_close(seasonal + trend, x)


def test_trend_is_a_moving_average_with_edges_padded_by_repetition():
    x = torch.arange(40, dtype=torch.float64).reshape(1, 40, 1)
    _, trend = SeriesDecomposition(25)(x)
    padded = torch.cat([torch.zeros(12), torch.arange(40.0), torch.full((12,), 39.0)])
    expected = padded.unfold(0, 25, 1).mean(dim=1)
    torch.testing.assert_close(trend[0, :, 0], expected.double())
    assert trend[0, 20, 0] == pytest.approx(20.0)  # far from the edges: the mean of a linear ramp


def test_running_sum_trend_equals_the_official_avg_pool_to_float_rounding():
    torch.manual_seed(0)
    x = (3 * torch.randn(32, 336, 7)).requires_grad_()
    _, trend = SeriesDecomposition(25)(x)
    reference = torch.nn.AvgPool1d(25, stride=1)(
        torch.cat([x[:, :1].expand(-1, 12, -1), x, x[:, -1:].expand(-1, 12, -1)], dim=1).transpose(1, 2)
    ).transpose(1, 2)
    torch.testing.assert_close(trend, reference, rtol=0, atol=2e-6)
    weights = torch.randn_like(trend)
    (grad,) = torch.autograd.grad((trend * weights).sum(), x)
    (reference_grad,) = torch.autograd.grad((reference * weights).sum(), x)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=2e-6)


def test_window_sums_give_the_bits_of_revision_one_along_either_time_axis():
    """Revision 1's trend was (S[i + k] − S[i]) / k over zero-led float64 running sums S; the faster form
    (no zero-padded copy, time on any axis) must keep those bits, or stored runs would silently change."""
    torch.manual_seed(0)
    x = 3 * torch.randn(32, 336, 7)
    sums = torch.nn.functional.pad(
        torch.cat([x[:, :1].expand(-1, 12, -1), x, x[:, -1:].expand(-1, 12, -1)], dim=1).double().cumsum(1),
        (0, 0, 1, 0),
    )
    revision_one = ((sums[:, 25:] - sums[:, :-25]) / 25).float()
    _, trend = SeriesDecomposition(25)(x)
    _, trend_time_last = SeriesDecomposition(25)(x.transpose(1, 2).contiguous(), dim=2)
    assert torch.equal(trend, revision_one)
    assert torch.equal(trend_time_last.transpose(1, 2), revision_one)


def test_forward_equals_decomposing_time_major():
    """DLinear decomposes a [B, C, L] copy of the input: its maps see exactly the values they saw when it
    decomposed [B, L, C] (the same bits), laid out contiguously. Whether MKL then gives the same bits for the
    two layouts depends on the CPU (it did on the machine where this changed; on an AMD EPYC with AVX-512
    the last bit differs), so the outputs are held to float rounding."""
    torch.manual_seed(0)
    model = registry.build("dlinear", 336, 96, 7).eval()
    x = torch.randn(8, 336, 7)
    time_major = [part.transpose(1, 2) for part in model.decompose(x)]
    time_last = model.decompose(x.transpose(1, 2).contiguous(), dim=2)
    assert all(torch.equal(a, b) for a, b in zip(time_major, time_last, strict=True))
    seasonal, trend = time_major
    expected = (model.seasonal[0](seasonal) + model.trend[0](trend)).transpose(1, 2)
    torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("individual", [False, True])
def test_output_shape_and_channel_independence(individual):
    torch.manual_seed(0)
    model = registry.build("dlinear", 96, 24, 5, individual=individual).eval()
    x = torch.randn(4, 96, 5)
    y = model(x)
    assert y.shape == (4, 24, 5)
    x2 = x.clone()
    x2[:, :, 2] += torch.randn(4, 96)
    y2 = model(x2)
    others = [0, 1, 3, 4]
    torch.testing.assert_close(y2[:, :, others], y[:, :, others])
    assert not torch.allclose(y2[:, :, 2], y[:, :, 2])


def test_default_pytorch_init_not_constant():
    torch.manual_seed(0)
    model = registry.build("dlinear", 96, 24, 7)
    weight = model.seasonal[0].weight
    assert weight.std() > 0  # TSLib's constant 1/L init would have zero spread
    assert weight.abs().max() <= 1 / 96**0.5  # kaiming-uniform bound of nn.Linear


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        registry.build("dlinear", 96, 24, 7, kernel_size=24)
