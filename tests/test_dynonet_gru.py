"""DynoNet's fused CPU GRU (dynonet/gru.py, gru.c) against nn.GRU: same parameters, same function."""

import pytest
import torch
from torch import nn

from dynonet import gru
from harness import native

needs_kernel = pytest.mark.skipif(gru._library() is None, reason="no C compiler: the GRU is nn.GRU itself")


def pair(input_size: int, hidden: int) -> tuple[nn.GRU, gru.GRU]:
    torch.manual_seed(0)
    reference = nn.GRU(input_size, hidden, batch_first=True)
    torch.manual_seed(0)
    return reference, gru.GRU(input_size, hidden)


def run(module: nn.Module, x: torch.Tensor, weights: torch.Tensor) -> tuple:
    """Outputs, last state, and the gradients of every parameter and of x for the loss Σ out · weights."""
    module.zero_grad()
    x = x.detach().clone().requires_grad_()
    out, last = module(x)
    (out * weights).sum().backward()
    return out.detach(), last.detach(), [p.grad for p in module.parameters()] + [x.grad]


def test_same_parameters_initialisation_and_state_dict_as_nn_gru():
    reference, fused = pair(7, 20)
    assert list(reference.state_dict()) == list(fused.state_dict())
    for a, b in zip(reference.state_dict().values(), fused.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@needs_kernel
@pytest.mark.parametrize(
    ("batch", "steps", "input_size", "hidden"), [(4, 30, 7, 64), (3, 17, 8, 8), (5, 9, 3, 20)]
)
def test_outputs_and_gradients_equal_nn_grus_to_float_rounding(batch, steps, input_size, hidden):
    """Hidden sizes on and off the kernel's 16 lanes; inputs large enough to saturate some gates."""
    reference, fused = pair(input_size, hidden)
    x = torch.randn(batch, steps, input_size, generator=torch.Generator().manual_seed(1)) * 3
    weights = torch.randn(batch, steps, hidden, generator=torch.Generator().manual_seed(2))
    expected, got = run(reference, x, weights), run(fused, x, weights)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=1e-6)
    for g_got, g_expected in zip(got[2], expected[2], strict=True):
        torch.testing.assert_close(g_got, g_expected, rtol=1e-5, atol=1e-5 * g_expected.abs().max().item())


@needs_kernel
def test_gates_saturate_and_nan_passes_through_as_in_torch():
    reference, fused = pair(2, 16)
    x = torch.tensor([[[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0], [float("inf"), 1.0]]])
    with torch.no_grad():
        torch.testing.assert_close(fused(x)[0], reference(x)[0], rtol=0, atol=1e-6)
        x[0, 2, 0] = float("nan")
        out = fused(x)[0]
    assert torch.isnan(out[0, 2:]).all() and torch.isfinite(out[0, :2]).all()


@needs_kernel
def test_without_autograd_it_computes_the_same_bits():
    _, fused = pair(7, 24)
    x = torch.randn(3, 40, 7)
    with torch.no_grad():
        inference = fused(x)[0]
    assert torch.equal(inference, fused(x.requires_grad_())[0].detach())


def test_under_torch_only_it_is_nn_gru_bit_for_bit():
    reference, fused = pair(5, 12)
    x = torch.randn(2, 10, 5)
    with native.torch_only(), torch.no_grad():
        assert torch.equal(fused(x)[0], reference(x)[0])


@needs_kernel
def test_a_gradient_on_the_last_state_alone_gives_the_bits_of_one_through_the_outputs():
    """DynoNet's controller reads the last state: its backward skips the zero gradients of the other steps."""
    _, fused = pair(7, 24)
    x = torch.randn(3, 40, 7)
    weights = torch.randn(3, 24)
    grads = []
    for read in (lambda out, last: out[:, -1], lambda out, last: last[0]):
        fused.zero_grad()
        (read(*fused(x)) * weights).sum().backward()
        grads.append([p.grad.clone() for p in fused.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


@needs_kernel
def test_the_kept_input_product_buffer_leaves_results_unchanged():
    _, fused = pair(7, 16)
    small = torch.randn(2, 30, 7)
    with torch.no_grad():
        alone = fused(small)[0]
        fused(torch.randn(64, 50, 7))  # grows the buffer
        assert torch.equal(fused(small)[0], alone)
