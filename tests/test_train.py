"""Training rules: lr schedules, early stopping on the exact validation MSE, best weights restored,
strategies registered per model, and the optional paths (OneCycle, bf16, clipping, MAE, AdamW)."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from harness.datasets import load_table, resolve
from harness.evaluate import evaluate
from harness.protocol import prepare
from harness.registry import build, register_model
from harness.schedule import epoch_lr
from harness.spec import TrainConfig
from harness.suite import preset_settings
from harness.train import DefaultStrategy, NonFiniteLoss, Strategy, adam, fit, register_strategy


@pytest.fixture(scope="module")
def splits():
    ref = resolve("ETTh1", "test")
    return prepare(load_table(ref), ref.split, 48, 24, torch.device("cpu"), False)


def lrs(lradj, epochs=6, **kw):
    cfg = TrainConfig(lr=1.0, lradj=lradj, epochs=epochs, **kw)
    return [epoch_lr(cfg, e) for e in range(1, epochs + 1)]


def test_type1_runs_epochs_one_and_two_at_lr0_then_halves():
    assert lrs("type1") == [1, 1, 0.5, 0.25, 0.125, 0.0625]


def test_type3_rule_and_patchtst_first_epoch_as_their_code_runs_it():
    # utils/tools.py type3, applied after epoch e: lr0 if e < 3 else lr0 * 0.9 ** (e - 3)
    assert lrs("type3") == pytest.approx([1, 1, 1, 1, 0.9, 0.81])
    # exp_main.py builds OneCycleLR(max_lr=lr0) before epoch 1: that alone sets the rate epoch 1 runs at
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, epochs=6, steps_per_epoch=10)
    assert lrs("patchtst") == pytest.approx([optimizer.param_groups[0]["lr"], 1, 1, 1, 0.9, 0.81])
    assert lrs("patchtst")[0] == pytest.approx(1 / 25)


def test_halve_every_k_and_constant_and_cosine():
    assert lrs("halve", halve_every=2) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    # Crossformer's utils/tools.py type1: lr0 * 0.5**k after epoch 2k for k = 1..5 only, then unchanged
    assert lrs("halve", halve_every=2, epochs=14)[8:] == [1 / 16, 1 / 16, 1 / 32, 1 / 32, 1 / 32, 1 / 32]
    assert lrs("constant") == [1] * 6
    cosine = lrs("cosine", epochs=4)
    assert cosine == pytest.approx([1] + [0.5 * (1 + math.cos(e / 4 * math.pi)) for e in (1, 2, 3)])


@register_model("test-level")
class Level(nn.Module):
    """Predicts one learnable constant everywhere."""

    def __init__(self, seq_len, pred_len, n_channels):
        super().__init__()
        self.pred_len, self.n_channels = pred_len, n_channels
        self.level = nn.Parameter(torch.zeros(()))

    def forward(self, x, x_mark=None):
        return self.level.expand(x.shape[0], self.pred_len, self.n_channels)


LEVELS = [2.0, 0.0, 1.0, 1.5, 3.0, 0.0]


@register_strategy("test-level")
class ScriptedLevels(Strategy):
    """Sets the level to LEVELS[epoch - 1]: a known sequence of validation MSEs."""

    def train_epoch(self, epoch):
        with torch.no_grad():
            self.model.level.fill_(LEVELS[epoch - 1])
        return torch.tensor(0.0)

    def current_lr(self):
        return 0.0


def val_mse_at(model, splits, level):
    with torch.no_grad():
        model.level.fill_(level)
    return evaluate(model, splits.val, 512).mse


def test_early_stopping_restores_the_best_epoch_and_uses_a_registered_strategy(splits):
    model = build("test-level", 48, 24, 7)
    mses = [val_mse_at(model, splits, level) for level in LEVELS[:4]]
    assert mses[1] < mses[2] < mses[3] < mses[0]  # the script's premise on this validation split
    result = fit(model, "test-level", TrainConfig(epochs=6, patience=2), splits, torch.Generator())
    assert result.best_epoch == 2
    assert result.epochs_run == 4  # epochs 3 and 4 did not improve: patience 2 stops there
    assert model.level.item() == 0.0  # epoch 2's weights restored
    assert result.val_mse == pytest.approx(mses[1], rel=1e-12)
    assert result.val_mse == pytest.approx(evaluate(model, splits.val, 7).mse, rel=1e-12)
    assert [c["val_mse"] for c in result.curve] == pytest.approx(mses, rel=1e-12)


def test_default_strategy_lowers_the_validation_loss(splits):
    torch.manual_seed(0)
    model = build("dlinear", 48, 24, 7)
    before = evaluate(model, splits.val, 512).mse
    cfg = TrainConfig(epochs=2, batch_size=128, lr=0.005)
    result = fit(model, "dlinear", cfg, splits, torch.Generator().manual_seed(0))
    assert result.val_mse < before
    assert [c["lr"] for c in result.curve] == [0.005, 0.005]


@pytest.mark.parametrize(
    "changes",
    [
        {"lradj": "TST", "pct_start": 0.3},
        {"bf16": True, "grad_clip": 0.5},
        {"loss": "mae", "optimizer": "adamw", "weight_decay": 0.01},
    ],
)
def test_optional_training_paths_train(splits, changes):
    torch.manual_seed(0)
    model = build("dlinear", 48, 24, 7)
    before = evaluate(model, splits.val, 512).mse
    cfg = dataclasses.replace(TrainConfig(epochs=2, batch_size=256, lr=0.005), **changes)
    result = fit(model, "dlinear", cfg, splits, torch.Generator().manual_seed(0))
    assert result.val_mse < before
    if changes.get("lradj") == "TST":  # OneCycle moves the rate within the epoch, from lr/25 upwards
        assert result.curve[0]["lr"] != 0.005 and result.curve[0]["lr"] > 0.005 / 25


@register_model("test-diverging")
class Diverging(nn.Module):
    """Outputs NaN: training must stop and say so."""

    def __init__(self, seq_len, pred_len, n_channels):
        super().__init__()
        self.linear = nn.Linear(seq_len, pred_len)

    def forward(self, x, x_mark=None):
        return self.linear(x.transpose(1, 2)).transpose(1, 2) * float("nan")


def test_non_finite_loss_stops_training(splits):
    model = build("test-diverging", 48, 24, 7)
    with pytest.raises(NonFiniteLoss, match="epoch 1"):
        fit(model, "test-diverging", TrainConfig(epochs=3, batch_size=512), splits, torch.Generator())


def test_patchtst_recipe_steps_adam_as_their_one_cycle_constructor_leaves_it(splits):
    # exp_main.py: Adam(lr), then OneCycleLR(max_lr=lr) built and, under lradj type3, never stepped
    _, _, _, cfg = preset_settings("patchtst-etth1", 96)
    params = [nn.Parameter(torch.zeros(1))]
    theirs = torch.optim.Adam(params, lr=cfg.lr)
    torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=10)
    strategy = DefaultStrategy(build("dlinear", 48, 24, 7), cfg, splits, torch.Generator().manual_seed(0))
    strategy.train_epoch(1)
    assert strategy.optimizer.steps_taken > 0
    assert (
        (strategy.optimizer.beta1, strategy.optimizer.beta2)
        == theirs.param_groups[0]["betas"]
        == (0.95, 0.999)
    )
    assert strategy.optimizer.lr == pytest.approx(theirs.param_groups[0]["lr"])


def test_tsmixer_recipe_steps_adam_with_keras_epsilon():
    _, _, _, cfg = preset_settings("tsmixer-etth1", 96)
    optimizer = adam([nn.Parameter(torch.zeros(1))], cfg, cfg.lr, cfg.weight_decay, decoupled=False)
    assert (optimizer.eps, optimizer.keras_eps, optimizer.beta1) == (1e-7, True, 0.9)
