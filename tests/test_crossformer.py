"""Crossformer against its paper and official code: parameter counts, front padding, output length,
cross-channel mixing, the `baseline` option, and that it learns."""

import math

import pytest
import torch

from harness import registry
from harness.suite import load_suite

SMALL = dict(d_model=16, d_ff=32, n_heads=2, routers=3)

# Official recipe L = 720, H = 96, C = 7, seg 24, d 256, d_ff 512, 4 heads, 3 scales, 10 routers:
# 30 input segments (scales of 30, 15, 8), 4 output segments.
#   attention (biased q, k, v, out): 4·(256² + 256) = 263,168; MLP d → 512 → d: 262,912; LayerNorm(256): 512
#   two-stage layer without routers: 3 attentions + 2 MLPs + 4 norms = 1,317,376
#   embedding Linear(24 → 256) 6,400 + position 7·30·256 = 53,760 + LayerNorm 512        =    60,672
#   encoder: 3 two-stage layers 3,952,128 + routers (30 + 15 + 8)·10·256 = 135,680
#            + 2 merges (LayerNorm(512) 1,024 + Linear(512 → 256) 131,328)             = 4,352,512
#   decoder: position 7·4·256 = 7,168 + 4 layers × (two-stage 1,317,376 + routers 4·10·256 = 10,240
#            + cross-attention 263,168 + 2 norms 1,024 + MLP d → d → d 131,584
#            + Linear(256 → 24) 6,168 = 1,729,560)                                     = 6,925,408
#   total                                                                               = 11,338,592
# At H = 720 (30 output segments) the decoder's position grows by 7·26·256 = 46,592 and each of its
# 4 layers' routers by 26·10·256 = 66,560: 11,651,424. Both equal a count of the official model
# (Thinklab-SJTU/Crossformer cross_models/cross_former.py built with the same arguments).


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: a second thread only adds contention on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


RECIPE = dict(seg_len=24, win_size=2, routers=10, d_model=256, d_ff=512, n_heads=4, e_layers=3, dropout=0.2)


@pytest.mark.parametrize(("pred_len", "expected"), [(96, 11_338_592), (720, 11_651_424)])
def test_parameter_count_matches_the_official_implementation(pred_len, expected):
    model = registry.build("crossformer", 720, pred_len, 7, **RECIPE)
    assert registry.count_params(model) == expected


@pytest.mark.parametrize(
    ("seq_len", "pred_len", "n_channels"),
    [(96, 24, 7), (100, 50, 21), (30, 7, 1), (5, 96, 3), (720, 720, 1)],
)
def test_output_shape_for_any_lookback_horizon_and_channels(seq_len, pred_len, n_channels):
    torch.manual_seed(0)
    model = registry.build("crossformer", seq_len, pred_len, n_channels, **SMALL).eval()
    with torch.no_grad():
        y = model(torch.randn(2, seq_len, n_channels))
    assert y.shape == (2, pred_len, n_channels)
    assert torch.isfinite(y).all()


def test_lookback_is_padded_at_the_front_with_its_first_value():
    """L = 100 with seg 24 pads 20 steps: the same weights at L = 120 on the explicitly padded input agree."""
    torch.manual_seed(0)
    short = registry.build("crossformer", 100, 24, 4, **SMALL).eval()
    full = registry.build("crossformer", 120, 24, 4, **SMALL).eval()
    full.load_state_dict(short.state_dict())
    x = torch.randn(3, 100, 4)
    padded = torch.cat([x[:, :1].expand(-1, 20, -1), x], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(short(x), full(padded))
        zero_padded = torch.cat([torch.zeros(3, 20, 4), x], dim=1)
        assert not torch.allclose(short(x), full(zero_padded))


def test_horizon_not_a_multiple_of_seg_len_keeps_the_first_steps():
    """H = 30 predicts ceil(30 / 24) = 2 segments and keeps 30 steps: the first 30 of the H = 48 model."""
    torch.manual_seed(0)
    h30 = registry.build("crossformer", 96, 30, 3, **SMALL).eval()
    h48 = registry.build("crossformer", 96, 48, 3, **SMALL).eval()
    h48.load_state_dict(h30.state_dict())
    x = torch.randn(2, 96, 3)
    with torch.no_grad():
        torch.testing.assert_close(h30(x), h48(x)[:, :30])


def test_prediction_is_the_sum_of_every_decoder_layer_without_denormalisation():
    torch.manual_seed(0)
    model = registry.build("crossformer", 48, 24, 3, e_layers=2, **SMALL).eval()
    x = torch.randn(2, 48, 3) + 3
    with torch.no_grad():
        y = model(x)
        for layer in model.decoder:  # e_layers + 1 of them, each with its own prediction head
            saved = [p.clone() for p in layer.predict.parameters()]
            for p in layer.predict.parameters():
                p.zero_()
            assert not torch.allclose(model(x), y)
            for p, value in zip(layer.predict.parameters(), saved, strict=True):
                p.copy_(value)
            bias = layer.predict.bias.clone()
            layer.predict.bias.add_(1.0)  # each layer's output is added once, with no rescaling after
            torch.testing.assert_close(model(x), y + 1.0)
            layer.predict.bias.copy_(bias)
        for layer in model.decoder:
            for p in layer.predict.parameters():
                p.zero_()
        assert len(model.decoder) == 3
        torch.testing.assert_close(model(x), torch.zeros_like(y))  # no instance normalisation to undo


def test_channels_are_mixed_through_the_routers():
    torch.manual_seed(0)
    model = registry.build("crossformer", 48, 24, 5, **SMALL).eval()
    x = torch.randn(2, 48, 5)
    x2 = x.clone()
    x2[:, :, 2] += torch.randn(2, 48)
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    for channel in (0, 1, 3, 4):
        assert not torch.allclose(y[:, :, channel], y2[:, :, channel])


def test_baseline_adds_the_lookback_mean():
    torch.manual_seed(0)
    plain = registry.build("crossformer", 50, 24, 3, **SMALL).eval()
    with_base = registry.build("crossformer", 50, 24, 3, baseline=True, **SMALL).eval()
    with_base.load_state_dict(plain.state_dict())
    x = torch.randn(2, 50, 3) + 5
    with torch.no_grad():
        torch.testing.assert_close(with_base(x) - plain(x), x.mean(dim=1, keepdim=True).expand(-1, 24, -1))


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    model = registry.build("crossformer", 48, 24, 3, **SMALL)
    x = torch.randn(2, 48, 3)
    assert not torch.allclose(model.train()(x), model(x))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(seg_len=0), "seg_len"),
        (dict(e_layers=0), "e_layers"),
        (dict(routers=0), "routers"),
        (dict(d_model=30, n_heads=4), "divisible"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_invalid_settings_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        registry.build("crossformer", 96, 24, 7, **{**SMALL, **params})


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    seq_len, pred_len, n_channels = 48, 12, 3
    t = torch.arange(seq_len + pred_len, dtype=torch.float32)
    phase = torch.rand(32, 1, n_channels) * 2 * math.pi
    period = torch.tensor([12.0, 8.0, 24.0])
    series = torch.sin(2 * math.pi * t[None, :, None] / period + phase)
    x, y = series[:, :seq_len], series[:, seq_len:]
    model = registry.build("crossformer", seq_len, pred_len, n_channels, seg_len=12, dropout=0.0, **SMALL)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(x), y)

    before = loss().item()
    for _ in range(20):
        optimiser.zero_grad()
        step_loss = loss()
        step_loss.backward()
        optimiser.step()
    after = loss().item()
    assert after < 0.5 * before


def test_official_preset_builds_the_recipe_at_every_horizon(tmp_path):
    suite_file = tmp_path / "t.yaml"
    suite_file.write_text(
        "name: t\nprotocol: official\ndatasets: [ETTh1]\nhorizons: [96, 720]\nseeds: [1]\n"
        "models: [{name: Crossformer, preset: crossformer-etth1}]\n"
    )
    suite = load_suite(suite_file)
    counts = {run.pred_len: suite.param_counts[run.key] for run in suite.runs}
    assert counts == {96: 11_338_592, 720: 11_651_424}
    run = suite.runs[0]
    assert run.seq_len == 720 and run.params["seg_len"] == 24
    assert (run.train.lr, run.train.lradj, run.train.halve_every, run.train.epochs) == (1e-5, "halve", 2, 20)
