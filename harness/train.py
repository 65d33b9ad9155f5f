"""Training: the epoch loop every model shares (exact validation MSE, early stopping with patience, best
weights restored before testing) and the strategies that do one epoch of updates.

Most models use `DefaultStrategy`; a model with its own training scheme (DynoNet's bi-level steps)
registers a `Strategy` subclass with `@register_strategy("key")` next to the model.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness import checkpoint
from harness.evaluate import evaluate
from harness.optim import Adam, OneCycle
from harness.protocol import Splits
from harness.schedule import epoch_lr
from harness.spec import TrainConfig

log = logging.getLogger(__name__)  # a line per epoch: `run` shows them (harness.execute), a library call not


class NonFiniteLoss(RuntimeError):
    """Training diverged (NaN or Inf loss); the run is recorded as failed."""


class Strategy:
    """One epoch of parameter updates. The shared loop validates, stops early and restores the best.

    `OPTIONS` names the strategy's own settings and their types; a suite sets them under
    `train: {options: {...}}` and is validated against them.
    """

    OPTIONS: dict[str, type] = {}

    def __init__(self, model: nn.Module, cfg: TrainConfig, splits: Splits, generator: torch.Generator):
        self.model, self.cfg, self.splits, self.generator = model, cfg, splits, generator

    def train_epoch(self, epoch: int) -> torch.Tensor:
        """Train epoch `epoch` (1-based); return the mean training loss as a 0-d tensor (no host sync)."""
        raise NotImplementedError

    def current_lr(self) -> float:
        raise NotImplementedError

    def epoch_windows(self) -> int:
        """How many training windows one epoch's batches cover."""
        return len(self.splits.train)

    def batches_per_epoch(self) -> int:
        """Batches of one epoch (a split smaller than one batch still gives its one partial batch)."""
        n, size = self.epoch_windows(), self.cfg.batch_size
        return max(1, n // size if self.cfg.drop_last else math.ceil(n / size))

    def state_dict(self) -> dict:
        """What the next epoch needs besides the model's weights (optimiser moments, schedule position)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(model_key: str):
    """Class decorator: the model registered as `model_key` trains with this strategy."""

    def decorate(cls: type[Strategy]) -> type[Strategy]:
        _STRATEGIES[model_key] = cls
        return cls

    return decorate


def strategy_for(model_key: str) -> type[Strategy]:
    return _STRATEGIES.get(model_key, DefaultStrategy)


def adam(params, cfg: TrainConfig, lr: float, weight_decay: float, decoupled: bool) -> Adam:
    """Adam(W) with the config's β1, ε and ε placement (every strategy's optimizers take them from here)."""
    return Adam(params, lr, weight_decay, decoupled, (cfg.beta1, 0.999), cfg.eps, cfg.keras_eps)


class DefaultStrategy(Strategy):
    """Adam(W) on the MSE (or MAE) loss, shuffled batches, an lr rule per epoch or OneCycle per batch,
    optional gradient clipping and bf16 autocast."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, splits: Splits, generator: torch.Generator):
        super().__init__(model, cfg, splits, generator)
        self.optimizer = adam(model.parameters(), cfg, cfg.lr, cfg.weight_decay, cfg.optimizer == "adamw")
        self.loss_fn = F.l1_loss if cfg.loss == "mae" else F.mse_loss
        self.one_cycle = None
        if cfg.lradj == "TST":
            steps = cfg.epochs * self.batches_per_epoch()
            self.one_cycle = OneCycle(self.optimizer, cfg.lr, steps, cfg.pct_start)

    def current_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.one_cycle is not None:
            self.one_cycle.step_num = state["optimizer"]["steps_taken"]
            self.one_cycle.apply()

    def train_epoch(self, epoch: int) -> torch.Tensor:
        cfg, train = self.cfg, self.splits.train
        if self.one_cycle is None:
            self.optimizer.lr = epoch_lr(cfg, epoch)
        self.model.train()
        order = torch.randperm(len(train), generator=self.generator)
        total = torch.zeros((), device=train.device)
        n_batches = 0
        for x, x_mark, y in train.batches(cfg.batch_size, order, cfg.drop_last):
            with torch.autocast(train.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                prediction = self.model(x, x_mark)
            loss = self.loss_fn(prediction.float(), y)
            self.optimizer.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            if self.one_cycle is not None:
                self.one_cycle.step()
            total += loss.detach()
            n_batches += 1
        return total / n_batches


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    val_mse: float  # exact validation MSE of the restored best weights
    train_seconds: float
    curve: list[dict] = field(default_factory=list)  # per epoch: epoch, lr, train_loss, val_mse, threads


def fit(
    model: nn.Module,
    model_key: str,
    cfg: TrainConfig,
    splits: Splits,
    generator: torch.Generator,
    checkpoint_path: Path | None = None,
    label: str = "run",
) -> FitResult:
    """Train up to `cfg.epochs`; stop after `cfg.patience` epochs without a strictly lower validation MSE;
    leave the model holding the best epoch's weights. With `checkpoint_path`, the run's state is saved
    there after every epoch, and a run that finds one resumes from it (harness/checkpoint.py).

    A model with nothing to train (a naive reference) runs no epoch: its validation MSE is scored as is."""
    if not any(p.requires_grad for p in model.parameters()):
        return FitResult(0, 0, evaluate(model, splits.val, cfg.eval_batch_size).mse, 0.0)
    strategy = strategy_for(model_key)(model, cfg, splits, generator)
    best_mse, best_epoch, best_state, stale = math.inf, 0, None, 0
    curve, seconds_before, first_epoch = [], 0.0, 1
    saved = checkpoint.load(checkpoint_path) if checkpoint_path else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        strategy.load_state_dict(saved["strategy"])
        checkpoint.set_rng_state(saved["rng"], generator)
        best_mse, best_epoch, best_state, stale = saved["best"]
        if best_state is None:  # saved as the model's own weights: the best epoch was the last one
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        curve, seconds_before, first_epoch = saved["curve"], saved["train_seconds"], saved["epoch"] + 1
        log.info("%s: resumes after epoch %d from its checkpoint", label, saved["epoch"])
    start = time.perf_counter()
    stopped = saved is not None and saved["stopped"]
    for epoch in range(first_epoch, 0 if stopped else cfg.epochs + 1):
        epoch_start = time.perf_counter()
        train_loss = float(strategy.train_epoch(epoch))
        lr = strategy.current_lr()  # at the end of the epoch (OneCycle moves it within one)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(f"training loss became {train_loss} in epoch {epoch}")
        val_mse = evaluate(model, splits.val, cfg.eval_batch_size).mse
        if not math.isfinite(val_mse):
            raise NonFiniteLoss(f"validation MSE became {val_mse} in epoch {epoch}")
        curve.append({
            "epoch": epoch, "lr": lr, "train_loss": train_loss, "val_mse": val_mse,
            "threads": torch.get_num_threads(),  # a run resumed on another thread count shows where
        })  # fmt: skip
        if val_mse < best_mse:
            best_mse, best_epoch, stale = val_mse, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        stopped = stale >= cfg.patience
        if checkpoint_path is not None:
            checkpoint.save(checkpoint_path, {
                "epoch": epoch, "stopped": stopped, "model": model.state_dict(),
                "strategy": strategy.state_dict(), "rng": checkpoint.rng_state(generator),
                # A best epoch that is this one is the model's own weights: saved once, not twice.
                "best": (best_mse, best_epoch, None if best_epoch == epoch else best_state, stale),
                "curve": curve,
                "train_seconds": seconds_before + time.perf_counter() - start,
            })  # fmt: skip
        seconds = time.perf_counter() - epoch_start
        took = f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
        best = " (best)" if best_epoch == epoch else ""
        end = f"; stops, best epoch {best_epoch}" if stopped else ""
        log.info(
            "%s: epoch %d of ≤ %d, train loss %.4f, val MSE %.4f%s, lr %.3g, %s%s",
            label, epoch, cfg.epochs, train_loss, val_mse, best, lr, took, end,
        )  # fmt: skip
        if stopped:
            break
    model.load_state_dict(best_state)
    return FitResult(best_epoch, len(curve), best_mse, seconds_before + time.perf_counter() - start, curve)
