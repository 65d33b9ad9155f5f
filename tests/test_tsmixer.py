"""TSMixer against its paper and official TensorFlow code: parameter counts, RevIN, the (L, C) BatchNorm with
Keras' defaults, initialisation, the ETTh1 preset, and that a few steps of training learn."""

import contextlib

import pytest
import torch
from torch import nn

from baselines import tsmixer
from baselines.tsmixer import ChannelLinear, PlaneBatchNorm
from harness import native, registry
from harness.suite import preset_settings


def formula(seq_len: int, pred_len: int, n_channels: int, n_block: int, ff_dim: int) -> int:
    """baselines.md: n_block · (L² + L + 4·L·C + 2·C·ff_dim + ff_dim + C) + L·H + H + 2·C."""
    L, H, C = seq_len, pred_len, n_channels
    return n_block * (L * L + L + 4 * L * C + 2 * C * ff_dim + ff_dim + C) + L * H + H + 2 * C


def build(seq_len=48, pred_len=12, n_channels=3, **params):
    defaults = {"n_block": 2, "ff_dim": 16, "dropout": 0.1}
    return registry.build("tsmixer", seq_len, pred_len, n_channels, **{**defaults, **params})


def test_parameter_count_at_the_official_etth1_recipe():
    # L = 512, H = 96, C = 7, n_block 6, ff_dim 512. One block:
    #   time Dense 512² + 512 = 262,656; two BatchNorms 4·512·7 = 14,336;
    #   feature Dense 7·512 + 512 + 512·7 + 7 = 7,687            → 284,679; × 6 = 1,708,074
    # head 512·96 + 96 = 49,248; RevIN 2·7 = 14                  → 1,757,336
    model = registry.build("tsmixer", 512, 96, 7, n_block=6, ff_dim=512, dropout=0.9)
    assert registry.count_params(model) == 1_757_336
    assert formula(512, 96, 7, 6, 512) == 1_757_336


def test_parameter_count_at_another_config():
    # L = 96, H = 24, C = 21, n_block 2, ff_dim 32. One block: 96² + 96 = 9,312; 4·96·21 = 8,064;
    # 21·32 + 32 + 32·21 + 21 = 1,397 → 18,773; × 2 = 37,546; head 96·24 + 24 = 2,328; RevIN 42 → 39,916
    assert registry.count_params(build(96, 24, 21, n_block=2, ff_dim=32)) == 39_916


@pytest.mark.parametrize(
    ("seq_len", "pred_len", "n_channels", "n_block", "ff_dim"),
    [(512, 720, 7, 2, 64), (512, 192, 7, 4, 256), (36, 60, 1, 3, 8), (10, 3, 21, 1, 5)],
)
def test_parameter_count_matches_the_formula(seq_len, pred_len, n_channels, n_block, ff_dim):
    model = build(seq_len, pred_len, n_channels, n_block=n_block, ff_dim=ff_dim)
    assert registry.count_params(model) == formula(seq_len, pred_len, n_channels, n_block, ff_dim)


@pytest.mark.parametrize("horizon", [96, 192, 336, 720])
def test_preset_gives_the_paper_tuned_values_per_horizon(horizon):
    tuned = {  # ETTh1, TSMixer paper appendix as transcribed by third parties: (lr, n_block, dropout, ff_dim)
        96: (1e-4, 6, 0.9, 512),
        192: (1e-3, 4, 0.9, 256),
        336: (1e-3, 4, 0.9, 256),
        720: (1e-3, 2, 0.9, 64),  # three of four transcriptions (the preset says which)
    }
    model, seq_len, params, train = preset_settings("tsmixer-etth1", horizon)
    lr, n_block, dropout, ff_dim = tuned[horizon]
    assert (model, seq_len) == ("tsmixer", 512)
    assert params == {"n_block": n_block, "ff_dim": ff_dim, "dropout": dropout}
    assert train.lr == lr
    assert (train.optimizer, train.loss, train.epochs, train.patience) == ("adam", "mse", 100, 5)
    assert (train.batch_size, train.lradj, train.drop_last) == (32, "constant", False)
    built = registry.build(model, seq_len, horizon, 7, **params)
    assert registry.count_params(built) == formula(512, horizon, 7, n_block, ff_dim)


@pytest.mark.parametrize("shape", [(4, 48, 12, 3), (2, 30, 7, 1), (3, 96, 24, 21), (2, 16, 40, 7)])
def test_output_shape(shape):
    batch, seq_len, pred_len, n_channels = shape
    model = build(seq_len, pred_len, n_channels)
    x = torch.randn(batch, seq_len, n_channels)
    assert model(x).shape == (batch, pred_len, n_channels)
    assert model.eval()(x).shape == (batch, pred_len, n_channels)


def trained_a_little(model: torch.nn.Module, seq_len: int, n_channels: int) -> torch.nn.Module:
    """Move BatchNorm running statistics and RevIN's affine parameters away from their initial values."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, seq_len, n_channels, dtype=torch.float64) * 2 + 1)
        model.revin.weight.uniform_(0.5, 2.0)
        model.revin.bias.uniform_(-1.0, 1.0)
    return model.eval()


def test_revin_a_constant_added_to_one_channel_shifts_only_that_channel_by_the_constant():
    torch.manual_seed(0)
    model = trained_a_little(build(48, 12, 4).double(), 48, 4)
    x = torch.randn(5, 48, 4, dtype=torch.float64)
    shifted = x.clone()
    shifted[:, :, 2] += 37.5
    with torch.no_grad():
        y, y_shifted = model(x), model(shifted)
    expected = y.clone()
    expected[:, :, 2] += 37.5
    torch.testing.assert_close(y_shifted, expected, rtol=1e-9, atol=1e-9)


def test_revin_scaling_one_channel_scales_that_channel_output():
    torch.manual_seed(1)
    model = trained_a_little(build(48, 12, 3).double(), 48, 3)
    x = torch.randn(4, 48, 3, dtype=torch.float64) + 3.0
    scaled = x.clone()
    scaled[:, :, 0] *= 10.0
    with torch.no_grad():
        y, y_scaled = model(x), model(scaled)
    torch.testing.assert_close(y_scaled[:, :, 0], 10.0 * y[:, :, 0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(y_scaled[:, :, 1:], y[:, :, 1:], rtol=1e-4, atol=1e-6)


def test_feature_mixing_lets_channels_interact():
    torch.manual_seed(2)
    model = trained_a_little(build(48, 12, 3).double(), 48, 3)
    x = torch.randn(2, 48, 3, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :, 0] = torch.randn(2, 48, dtype=torch.float64)  # a new shape, not a shift or scale
    with torch.no_grad():
        assert not torch.allclose(model(x)[:, :, 1], model(x2)[:, :, 1])


def test_batchnorm_normalises_each_time_channel_position_over_the_batch_with_keras_defaults():
    torch.manual_seed(3)
    norm = PlaneBatchNorm(5, 3).double()
    assert sum(p.numel() for p in norm.parameters()) == 2 * 5 * 3
    x = torch.randn(6, 5, 3, dtype=torch.float64) * 3 + 2
    out = norm(x)
    mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
    torch.testing.assert_close(out, (x - mean) / torch.sqrt(var + 1e-3))
    torch.testing.assert_close(norm.running_mean, 0.01 * mean)  # Keras momentum 0.99
    torch.testing.assert_close(norm.running_var, 0.99 + 0.01 * var)  # biased, as Keras' non-fused path
    norm.eval()
    z = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(norm(z), (z - norm.running_mean) / torch.sqrt(norm.running_var + 1e-3))


def test_a_training_batch_of_one_window_works():
    # Keras keeps the last short batch (the preset sets drop_last false); ETTh1 at L = 512, H = 96 has
    # 8,033 training windows, so the last batch of 32 holds a single window.
    model = build(48, 12, 3).train()
    assert torch.isfinite(model(torch.randn(1, 48, 3))).all()


def test_linear_layers_start_as_keras_dense_glorot_uniform_with_zero_bias():
    torch.manual_seed(4)
    model = build(96, 24, 7, ff_dim=64)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 * 3 + 1
    for layer in linears:
        fan_out, fan_in = layer.weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound  # spread over the whole Glorot range
        assert torch.count_nonzero(layer.bias) == 0


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(5)
    seq_len, pred_len, n_channels = 48, 12, 3
    t = torch.arange(seq_len + pred_len + 200, dtype=torch.float32)
    series = torch.stack([torch.sin(t / 4), torch.cos(t / 7) * 2, torch.sin(t / 3 + 1) + 0.1 * t / 50], dim=1)
    windows = series.unfold(0, seq_len + pred_len, 1).permute(0, 2, 1)  # [N, L + H, C]
    windows = windows + 0.05 * torch.randn_like(windows)
    x, y = windows[:, :seq_len], windows[:, seq_len:]
    model = build(seq_len, pred_len, n_channels, dropout=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return torch.nn.functional.mse_loss(model(x), y).item()

    before = eval_loss()
    model.train()
    for step in range(25):
        batch = torch.randint(0, len(x), (32,))
        loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss), f"step {step}"
    assert eval_loss() < 0.5 * before


@pytest.mark.parametrize(
    ("params", "message"),
    [({"n_block": 0}, "n_block"), ({"ff_dim": 0}, "ff_dim"), ({"dropout": 1.0}, "dropout")],
)
def test_invalid_hyperparameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        build(**params)


def test_registered_with_annotated_hyperparameters():
    info = registry.get("tsmixer")
    assert info.summary.startswith("Affine RevIN")
    hparams = info.hparams()
    assert list(hparams) == ["n_block", "ff_dim", "dropout"]
    assert [hparams[k].annotation for k in hparams] == [int, int, float]


@pytest.mark.parametrize(("n_in", "n_out"), [(7, 64), (64, 7), (5, 5)])
def test_channel_linear_equals_nn_linear_output_and_gradients(n_in, n_out):
    torch.manual_seed(0)
    ours = ChannelLinear(n_in, n_out)
    reference = nn.Linear(n_in, n_out)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(8, 96, n_in, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    weights = torch.randn(8, 96, n_out)
    out, out_ref = ours(x), reference(x_ref)
    assert torch.equal(out, out_ref)  # the same F.linear
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    pairs = (
        (x.grad, x_ref.grad),
        (ours.weight.grad, reference.weight.grad),
        (ours.bias.grad, reference.bias.grad),
    )
    for got, expected in pairs:  # sums of 768 products of magnitude ~1: float32 rounding is ~1e-5 of ~30
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=2e-4)


def _feature_mixing(block: nn.Module, x: torch.Tensor, kernel: bool) -> tuple:
    """The block's feature mixing through the C kernel or torch's ops: output, gradients of x and of the
    weights, and the generator state after (the kernel's dropout must draw what torch's path draws)."""
    with contextlib.nullcontext() if kernel else native.torch_only():
        block.zero_grad()
        x = x.detach().clone().requires_grad_()
        torch.manual_seed(9)
        out = block.feature_mixing(x)
        state = torch.get_rng_state()
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    weights = [
        block.feature_in.weight,
        block.feature_in.bias,
        block.feature_out.weight,
        block.feature_out.bias,
    ]
    return out.detach(), x.grad, *[w.grad.clone() for w in weights], state


@pytest.mark.skipif(tsmixer._mlp_library() is None, reason="no C compiler: torch's ops compute the mixing")
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("n_channels", "ff_dim"), [(7, 64), (7, 40), (3, 21)])  # ETT's 7: unrolled path
def test_the_feature_mixing_kernel_equals_torchs_ops_to_float_rounding(
    n_channels, ff_dim, training, monkeypatch
):
    torch.manual_seed(0)
    block = tsmixer.MixerBlock(24, n_channels, ff_dim, dropout=0.6).train(training)
    x = torch.randn(5, 24, n_channels)
    got = _feature_mixing(block, x, True)
    expected = _feature_mixing(block, x, False)
    assert torch.equal(got[-1], expected[-1])  # the same draws
    for ours, theirs in zip(got[:-1], expected[:-1], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert got[0].abs().sum() > 0 and got[1].abs().sum() > 0  # something flowed


@pytest.mark.skipif(tsmixer._mlp_library() is None, reason="no C compiler: torch's ops compute the mixing")
def test_the_feature_mixing_kernel_lets_a_nan_through_as_torch_does():
    block = tsmixer.MixerBlock(8, 7, 32, dropout=0.0).eval()
    x = torch.randn(2, 8, 7)
    x[0, 3, 2] = float("nan")
    with torch.no_grad():
        out = block.feature_mixing(x)
    assert torch.isnan(out[0, 3]).all() and torch.isfinite(out[1]).all()


@pytest.mark.skipif(tsmixer._mlp_library() is None, reason="no C compiler: torch's ops compute the mixing")
@pytest.mark.parametrize("dropout", [True, False])
@pytest.mark.parametrize(("n_channels", "ff_dim", "n_rows"), [(7, 64, 11), (7, 40, 9), (3, 21, 6)])
def test_the_feature_mixing_kernel_gives_the_same_bits_blocked_as_row_by_row(
    n_channels, ff_dim, n_rows, dropout
):
    """The kernel works on rows in blocks: one call per row must give every bit of one call for all."""
    lib, g = tsmixer._mlp_library(), torch.Generator().manual_seed(0)
    x, go = torch.randn(n_rows, n_channels, generator=g), torch.randn(n_rows, n_channels, generator=g)
    w1t, w2 = torch.randn(n_channels, ff_dim, generator=g), torch.randn(n_channels, ff_dim, generator=g)
    b1, b2 = torch.randn(ff_dim, generator=g), torch.randn(n_channels, generator=g)
    kept = (torch.rand(n_rows, ff_dim, generator=g) > 0.5).to(torch.uint8) if dropout else None

    def run(row_groups):
        out, grad_x = torch.empty_like(x), torch.empty_like(x)
        grads = torch.zeros_like(w1t), torch.zeros_like(b1), torch.zeros_like(w2)
        for rows in row_groups:
            k = None if kept is None else kept[rows].data_ptr()
            sizes = (rows.stop - rows.start, n_channels, ff_dim, n_channels)
            lib.mlp_forward(*sizes, x[rows].data_ptr(), w1t.data_ptr(), b1.data_ptr(), k, 2.0,
                            w2.data_ptr(), b2.data_ptr(), out[rows].data_ptr())  # fmt: skip
            lib.mlp_backward(*sizes, x[rows].data_ptr(), w1t.data_ptr(), b1.data_ptr(), k, 2.0,
                             w2.data_ptr(), go[rows].data_ptr(), grad_x[rows].data_ptr(),
                             *(t.data_ptr() for t in grads))  # fmt: skip
        return out, grad_x, *grads

    together = run([slice(0, n_rows)])
    one_by_one = run([slice(r, r + 1) for r in range(n_rows)])
    for a, b in zip(together, one_by_one, strict=True):
        assert torch.equal(a, b)
    assert together[2].abs().sum() > 0  # gradients flowed
