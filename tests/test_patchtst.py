"""PatchTST/42 against its paper and official code."""

import pytest
import torch

from baselines.layers import MultiHeadAttention
from harness import registry

from model_checks import assert_channel_independent, assert_shift_equivariant, assert_training_lowers_loss

ETTH1 = dict(d_model=16, n_heads=4, d_ff=128, e_layers=3, dropout=0.3, head_dropout=0.0)


def small(seq_len=64, pred_len=24, n_channels=3, **kw):
    torch.manual_seed(0)
    return registry.build("patchtst", seq_len, pred_len, n_channels, **{**ETTH1, "e_layers": 2, **kw})


def test_parameter_count_of_the_official_etth1_recipe():
    # patch embedding 16·16+16 = 272; positions 42·16 = 672; per layer: attention 4·(16·16+16) = 1088,
    # two BatchNorms 2·32, feed-forward 16·128+128 + 128·16+16 = 4240 → 5392, ×3 = 16,176;
    # head 16·42·96 + 96 = 64,608. Total 81,728 (RevIN without affine parameters).
    model = registry.build("patchtst", 336, 96, 7, **ETTH1)
    assert model.n_patches == 42
    assert registry.count_params(model) == 81_728


@pytest.mark.parametrize(("seq_len", "pred_len", "n_channels"), [(336, 96, 7), (64, 24, 1), (100, 720, 21)])
def test_output_shape(seq_len, pred_len, n_channels):
    model = small(seq_len, pred_len, n_channels)
    assert model(torch.randn(2, seq_len, n_channels)).shape == (2, pred_len, n_channels)


def test_patches_pad_the_end_with_stride_copies_of_the_last_value():
    assert small(seq_len=336).n_patches == (336 - 16) // 8 + 2
    assert small(seq_len=64, patch_len=8, stride=4).n_patches == (64 - 8) // 4 + 2


def test_channel_independent():
    assert_channel_independent(small().double(), 64, 3)


def test_revin_makes_it_shift_equivariant():
    assert_shift_equivariant(small().double(), 64, 3)


def test_residual_attention_feeds_each_layers_scores_to_the_next():
    model = small().eval()
    seen = []
    for layer in model.layers:
        layer.attention.register_forward_hook(lambda m, args, out: seen.append((args[3], out[1])))
    model(torch.randn(2, 64, 3))
    assert seen[0][0] is None
    assert seen[1][0] is seen[0][1]  # layer 2 received layer 1's pre-softmax scores


def test_normalisation_is_batchnorm():
    model = small()
    assert isinstance(model.layers[0].norm_attn.norm, torch.nn.BatchNorm1d)


def test_training_lowers_the_loss():
    assert_training_lowers_loss(small(dropout=0.0), 64, 24, 3, lr=3e-3)


def test_attention_scaling_queries_gives_the_bits_of_scaling_scores():
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 4)  # head 4 < 42 patches, scale 1/2: the queries are scaled
    x = torch.randn(6, 42, 16, requires_grad=True)
    prev = torch.randn(6, 4, 42, 42)
    out, scores = attention(x, x, x, prev)

    def split(t):
        return t.view(6, 42, 4, 4).transpose(1, 2)

    q, k, v = split(attention.q(x)), split(attention.k(x)), split(attention.v(x))
    ref_scores = q @ k.transpose(-2, -1) * 0.5 + prev  # the official order
    ref_out = attention.out((torch.softmax(ref_scores, -1) @ v).transpose(1, 2).reshape(6, 42, 16))
    assert torch.equal(scores, ref_scores) and torch.equal(out, ref_out)
    grad = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, x, grad)
    (expected,) = torch.autograd.grad(ref_out, x, grad)
    assert torch.equal(got, expected)
