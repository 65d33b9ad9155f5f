"""iTransformer against its paper and official code."""

import pytest
import torch

from harness import registry

from model_checks import assert_shift_equivariant, assert_training_lowers_loss


def small(seq_len=48, pred_len=24, n_channels=5, **kw):
    torch.manual_seed(0)
    return registry.build("itransformer", seq_len, pred_len, n_channels, **{"d_model": 32, "d_ff": 32, **kw})


def test_parameter_count_of_the_official_etth1_recipe():
    # embedding 96·256+256 = 24,832; per layer: attention 4·(256·256+256) = 263,168, feed-forward
    # 2·(256·256+256) = 131,584, two LayerNorms 1,024 → 395,776, ×2 = 791,552; final LayerNorm 512;
    # projection 256·96+96 = 24,672. Total 841,568.
    model = registry.build("itransformer", 96, 96, 7, d_model=256, d_ff=256, n_heads=8, e_layers=2)
    assert registry.count_params(model) == 841_568


def test_registered_as_reading_time_features():
    assert registry.get("itransformer").time_features


@pytest.mark.parametrize(("seq_len", "pred_len", "n_channels"), [(96, 96, 7), (48, 24, 1), (30, 720, 21)])
def test_output_shape_with_and_without_time_features(seq_len, pred_len, n_channels):
    model = small(seq_len, pred_len, n_channels)
    assert model(torch.randn(2, seq_len, n_channels), torch.randn(2, seq_len, 4)).shape == (
        2,
        pred_len,
        n_channels,
    )
    assert model(torch.randn(2, seq_len, n_channels)).shape == (2, pred_len, n_channels)


def test_equivariant_to_permuting_channels():
    model = small().double().eval()
    x, x_mark = torch.randn(2, 48, 5, dtype=torch.float64), torch.randn(2, 48, 4, dtype=torch.float64)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, :, perm], x_mark), model(x, x_mark)[:, :, perm])


def test_time_features_are_used():
    model = small().eval()
    x, x_mark = torch.randn(2, 48, 5), torch.randn(2, 48, 4)
    with torch.no_grad():
        assert not torch.allclose(model(x, x_mark), model(x, x_mark + 0.3))


def test_normalisation_makes_it_shift_equivariant():
    assert_shift_equivariant(small().double(), 48, 5, torch.randn(2, 48, 4, dtype=torch.float64))


def test_training_lowers_the_loss():
    assert_training_lowers_loss(small(dropout=0.0), 48, 24, 5, x_mark_features=4)
