"""DynoNet's model against the spec (shared/specs/dynonet.md) and the authors' code
(kvu1342009-pixel/DynoNet)."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from dynonet.model import BOUNDED_HEADS, DynoNet, adaptive_dropout
from harness import registry

from model_checks import assert_shift_equivariant, assert_training_lowers_loss

HEAD_NAMES = list(BOUNDED_HEADS)


def reported(seq_len=512, **kw):
    torch.manual_seed(0)
    return registry.build("dynonet", seq_len, 96, 7, **kw)


def small(seq_len=128, pred_len=24, n_channels=3, **kw):
    torch.manual_seed(0)
    return registry.build("dynonet", seq_len, pred_len, n_channels, **{"control_hidden": 16, **kw})


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def perturb_(params, scale=0.5, seed=1):
    """Add noise to every finite parameter (freeze_prob's bias is −inf and stays so)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            if torch.isfinite(p).all():
                p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))


@pytest.mark.parametrize(
    ("seq_len", "pred_len", "hparams", "expected"),
    [
        (512, 96, {}, 93_954),  # H96.py, the reported configuration
        (336, 96, {}, 77_058),
        # H336.py and H720.py settings; counts from the authors' code built with them
        (512, 336, {"worker_hidden": 16, "dropout": 0.15}, 279_194),
        (720, 720, {"control_hidden": 128, "worker_hidden": 32, "num_layers": 2, "dropout": 0.2}, 1_019_530),
    ],
)
def test_trainable_parameter_count_matches_the_authors_code(seq_len, pred_len, hparams, expected):
    assert registry.count_params(registry.build("dynonet", seq_len, pred_len, 7, **hparams)) == expected


def test_component_breakdown_and_optimiser_groups():
    model = reported()
    ctrl = model.controller
    assert n_params(ctrl.gru) == 14_016
    assert n_params(ctrl.film) == 7_280
    assert n_params(ctrl.heads) == 2_730
    assert n_params(ctrl.offset) == 455
    assert n_params(ctrl.gate) == 3_640
    assert n_params(ctrl.context) == 520
    assert n_params(ctrl) == 28_641
    assert n_params(model.trend) == 49_248
    assert len(model.workers) == 7 and all(n_params(w) == 2_232 for w in model.workers)
    assert n_params(model.workers) == 15_624
    assert n_params(model.mixer) == 427
    assert n_params(model.revin) == 14
    assert sum(p.numel() for p in model.worker_parameters()) == 49_248 + 15_624 + 427
    assert sum(p.numel() for p in model.controller_parameters()) == 28_641
    # the groups are disjoint and together are everything but RevIN's scale and shift
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    controller, worker = ids(model.controller_parameters()), ids(model.worker_parameters())
    assert not controller & worker
    assert ids(model.parameters()) - controller - worker == ids(model.revin.parameters())


def test_num_layers_stacks_worker_grus_and_film_maps_but_not_the_controller_gru():
    model = small(num_layers=2)
    assert model.controller.gru.num_layers == 1
    assert len(model.controller.film) == 2
    assert all(len(w.grus) == 2 and w.grus[0].num_layers == 1 for w in model.workers)
    y, signals = model.forward_with_signals(torch.randn(2, 128, 3))
    assert signals["gamma_layers"].shape == (2, 2, 3, 8)
    assert y.shape == (2, 24, 3)


def test_output_shape_at_the_reported_configuration():
    model = reported().eval()
    assert model(torch.randn(2, 512, 7)).shape == (2, 96, 7)


def test_signals_start_at_their_initial_values():
    model = reported().train()
    _, signals = model.forward_with_signals(torch.randn(3, 512, 7) * 2 + 1)
    shapes = {"gamma": (3, 7, 8), "beta": (3, 7, 8), "gate": (3, 7, 8), "context": (3, 8), "offset": (3, 7)}
    shapes.update({name: (3, 7) for name in HEAD_NAMES})
    assert {name: tuple(signals[name].shape) for name in shapes} == shapes
    assert torch.equal(signals["gamma"], torch.ones(3, 7, 8))
    assert torch.equal(signals["beta"], torch.zeros(3, 7, 8))
    assert torch.equal(signals["offset"], torch.zeros(3, 7))
    for name, (_, _, initial) in BOUNDED_HEADS.items():
        # exact in float32 arithmetic for 4 heads; lr_scale and wd_scale are one float32 step off 1, as in
        # the original (sigmoid of a float32 logit)
        torch.testing.assert_close(signals[name], torch.full((3, 7), initial), rtol=0, atol=1.5e-7, msg=name)
    for name in ("dropout_rate", "grad_clip", "loss_weight", "freeze_prob"):
        assert torch.equal(signals[name], torch.full((3, 7), BOUNDED_HEADS[name][2])), name
    assert (signals["gate"] > 0).all() and (signals["gate"] < 1).all()  # default init: not constant
    assert signals["gate"].std() > 0


def test_bounded_heads_stay_in_their_ranges():
    model = small()
    perturb_(model.controller.heads.parameters(), scale=50.0)
    _, signals = model.forward_with_signals(torch.randn(8, 128, 3))
    for name, (low, high, _) in BOUNDED_HEADS.items():
        assert (signals[name] >= low).all() and (signals[name] <= high).all(), name
    assert signals["lr_scale"].std() > 0


def test_plain_mse_reaches_only_the_dropout_rate_among_the_bounded_heads():
    """The original's controller step (plain MSE, train mode): five bounded heads get no gradient,
    dropout_rate does."""
    model = small().train()
    perturb_(model.controller.parameters())
    F.mse_loss(model(torch.randn(4, 128, 3)), torch.randn(4, 24, 3)).backward()
    heads = model.controller.heads
    for name in ("lr_scale", "wd_scale", "grad_clip", "loss_weight", "freeze_prob"):
        assert all(p.grad is None for p in heads[name].parameters()), name
    assert heads["dropout_rate"].linear.weight.grad.abs().sum() > 0
    for part in (
        model.controller.film,
        model.controller.gate,
        model.controller.context,
        model.controller.offset,
    ):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_no_controller_output_does_not_depend_on_the_controller():
    model = small(variant="no_controller")
    assert registry.count_params(model) == registry.count_params(small()) - n_params(model.controller)
    x = torch.randn(4, 128, 3)
    model.eval()
    y_eval = model(x)
    model.train()
    torch.manual_seed(5)
    y_train = model(x)
    perturb_(model.controller.parameters(), scale=3.0)
    with torch.no_grad():
        model.controller.heads["dropout_rate"].linear.bias.fill_(2.0)
        model.controller.offset.bias.fill_(1.0)
    model.eval()
    assert torch.equal(model(x), y_eval)
    model.train()
    torch.manual_seed(5)
    assert torch.equal(model(x), y_train)
    assert not torch.equal(y_train, y_eval)  # the constant 0.1 dropout is active in training


def test_no_controller_signals_are_the_constants_of_the_ablation():
    model = small(variant="no_controller").train()
    _, signals = model.forward_with_signals(torch.randn(2, 128, 3))
    assert torch.equal(signals["gamma"], torch.ones(2, 3, 8))
    assert torch.equal(signals["beta"], torch.zeros(2, 3, 8))
    assert torch.equal(signals["gate"], torch.ones(2, 3, 8))
    assert torch.equal(signals["context"], torch.zeros(2, 8))
    assert torch.equal(signals["offset"], torch.zeros(2, 3))
    for name, (_, _, initial) in BOUNDED_HEADS.items():
        assert torch.equal(signals[name], torch.full((2, 3), initial)), name


def test_no_controller_shares_the_published_initialisation_apart_from_the_controller():
    published, ablation = small(), small(variant="no_controller")
    for a, b in zip(published.worker_parameters(), ablation.worker_parameters(), strict=True):
        assert torch.equal(a, b)


def test_eval_is_deterministic_and_train_is_reproducible_with_a_seed():
    model = small()
    perturb_(model.controller.parameters())
    x = torch.randn(4, 128, 3)
    model.eval()
    y_eval = model(x)
    assert torch.equal(model(x), y_eval)
    model.train()
    torch.manual_seed(3)
    y_train = model(x)
    torch.manual_seed(3)
    assert torch.equal(model(x), y_train)
    torch.manual_seed(4)
    assert not torch.equal(model(x), y_train)
    assert not torch.allclose(y_train, y_eval)


def test_offset_acts_in_training_only():
    model = small()
    x = torch.randn(4, 128, 3)

    def outputs():
        model.eval()
        y_eval = model(x)
        model.train()
        torch.manual_seed(3)
        return y_eval, model(x)

    eval_before, train_before = outputs()
    with torch.no_grad():
        model.controller.offset.bias.fill_(1.0)  # offset 0.5·tanh(1) ≈ 0.38 on every channel
    eval_after, train_after = outputs()
    assert torch.equal(eval_after, eval_before)
    assert not torch.allclose(train_after, train_before)


def test_offset_reaches_the_output_through_the_trend_map_only():
    """A per-channel constant c added to the workers' input moves the moving average by c and leaves the
    residual unchanged, so (mixer at its zero init) the forecast moves by c·Σ_t W_trend[h, t] times RevIN's
    σ."""
    model = small().double().train()
    x = torch.randn(4, 128, 3, dtype=torch.float64)
    torch.manual_seed(3)
    y_plain = model(x)
    with torch.no_grad():
        model.controller.offset.bias.fill_(1.0)
    torch.manual_seed(3)
    y_offset, signals = model.forward_with_signals(x)
    sigma = model.revin.normalize(x)[1][1]  # [B, 1, C]
    shift = signals["offset"][:, None, :] * model.trend.weight.sum(dim=1)[None, :, None] * sigma
    assert signals["offset"].abs().min() > 0.3
    torch.testing.assert_close(y_offset - y_plain, shift)


@pytest.mark.parametrize("n_channels", [1, 3, 21])
@pytest.mark.parametrize("seq_len", [96, 200])
def test_any_channel_count_and_lookback_at_least_the_worker_window(n_channels, seq_len):
    model = small(seq_len, 24, n_channels, control_hidden=8, worker_hidden=4)
    x = torch.randn(2, seq_len, n_channels)
    for mode in ("eval", "train"):
        getattr(model, mode)()
        y, signals = model.forward_with_signals(x)
        assert y.shape == (2, 24, n_channels)
        assert signals["gate"].shape == (2, n_channels, 4)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize(
    ("args", "hparams"),
    [
        ((95, 24, 7), {}),  # lookback shorter than the worker window
        ((64, 24, 7), {"worker_seq_len": 96}),
        ((96, 24, 7), {"variant": "tuned"}),
        ((96, 24, 7), {"dropout": 1.0}),
        ((96, 24, 7), {"num_layers": 0}),
        ((96, 0, 7), {}),
        ((96, 24, 0), {}),
    ],
)
def test_invalid_settings_are_refused(args, hparams):
    with pytest.raises(ValueError):
        DynoNet(*args, **hparams)


def test_input_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="expected input"):
        small()(torch.randn(2, 127, 3))


def test_every_hyperparameter_is_annotated():
    hparams = registry.get("dynonet").hparams()
    assert list(hparams) == [
        "worker_seq_len", "control_hidden", "worker_hidden", "num_layers", "dropout", "variant",
    ]  # fmt: skip
    assert all(p.annotation is not inspect.Parameter.empty for p in hparams.values())


def test_worker_loss_at_initialisation_is_mse_plus_the_l2_on_the_workers():
    model = reported().train()
    x, y = torch.randn(4, 512, 7), torch.randn(4, 96, 7)
    pred, signals = model.forward_with_signals(x)
    loss = model.worker_loss(pred, y, signals, l2=1e-4)
    squared_norms = sum(
        float((p.detach().double() ** 2).sum()) for w in model.workers for p in w.parameters()
    )
    expected = F.mse_loss(pred, y).item() + 0.5 * 1e-4 * squared_norms
    assert 0.5 * 1e-4 * squared_norms > 1e-4  # the L2 term is not negligible in this check
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the L2 covers the workers only, not the trend map or the mixer
    assert model.worker_loss(pred, y, signals, l2=0.0).item() == pytest.approx(
        F.mse_loss(pred, y).item(), rel=1e-6
    )


def test_worker_loss_weights_each_sample_and_channel_before_the_mean():
    model = small()
    pred, target = torch.randn(2, 24, 3), torch.randn(2, 24, 3)
    ones = torch.ones(2, 3)
    lr_scale = torch.tensor([[2.0, 1.0, 1.0], [1.0, 1.0, 0.5]])
    loss_weight = torch.tensor([[1.0, 1.5, 1.0], [1.0, 1.0, 1.0]])
    wd_scale = torch.tensor([[1.0, 3.0, 1.0], [3.0, 1.0, 1.0]])  # batch mean 2, 2, 1 per worker
    signals = {"lr_scale": lr_scale, "loss_weight": loss_weight, "wd_scale": wd_scale}
    weights = (lr_scale * loss_weight)[:, None, :]
    norms = [sum(float((p.detach() ** 2).sum()) for p in w.parameters()) for w in model.workers]
    expected = ((pred - target) ** 2 * weights).mean().item() + 0.5 * 1e-2 * (
        2 * norms[0] + 2 * norms[1] + norms[2]
    )
    assert model.worker_loss(pred, target, signals, l2=1e-2).item() == pytest.approx(expected, rel=1e-6)
    unweighted = {"lr_scale": ones, "loss_weight": ones, "wd_scale": ones}
    assert model.worker_loss(pred, target, unweighted, l2=1e-2).item() != pytest.approx(expected, rel=1e-3)


def test_adaptive_dropout_draws_a_per_sample_mask_and_rescales_by_the_keep_probability():
    torch.manual_seed(0)
    h = torch.ones(2, 400, 50)
    rate = torch.tensor([0.1, 0.6], requires_grad=True)
    out = adaptive_dropout(h, rate)
    for b, p in enumerate((0.1, 0.6)):
        dropped = (out[b] == 0).float().mean().item()
        assert dropped == pytest.approx(p, abs=0.02)
        kept = out[b][out[b] != 0]
        torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p + 1e-8)))
    out.sum().backward()  # d/dp of (kept count)/(1 − p): positive, through the rescaling only
    assert (rate.grad > 0).all()


def test_revin_makes_it_shift_equivariant():
    assert_shift_equivariant(small().double(), 128, 3)


def test_matches_the_authors_code_at_one_seed():
    """Values from the authors' code (models/ at commit ae26855) run with the same seeds: same init order,
    same forward, same dropout draws. Controller perturbed so FiLM, heads and offset are not trivial."""
    torch.manual_seed(0)
    model = DynoNet(128, 24, 3, control_hidden=16, worker_hidden=4, num_layers=2, dropout=0.1)
    perturb_(model.controller.parameters(), scale=0.5, seed=1)
    x = torch.randn(2, 128, 3, generator=torch.Generator().manual_seed(2)) * 3 + 1
    with torch.no_grad():
        y_eval = model.eval()(x)
        torch.manual_seed(3)
        y_train = model.train()(x)
    eval_head = [[2.70357800, 1.94089007, 1.40537536], [2.17170358, 1.00477600, 0.45740157]]
    train_head = [[1.39097619, 1.37469018, 0.27974308], [2.98755932, 1.18684828, 1.08375621]]
    torch.testing.assert_close(y_eval[0, :2], torch.tensor(eval_head), rtol=0, atol=1e-5)
    torch.testing.assert_close(y_train[0, :2], torch.tensor(train_head), rtol=0, atol=1e-5)
    assert y_eval.sum().item() == pytest.approx(160.82899475, abs=1e-3)
    assert y_train.sum().item() == pytest.approx(149.88052368, abs=1e-3)


def test_training_lowers_the_loss():
    model = small(48, 24, 2, worker_seq_len=24, control_hidden=4, worker_hidden=4)
    assert_training_lowers_loss(model, 48, 24, 2, lr=3e-3)
