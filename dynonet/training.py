"""DynoNet's bi-level training, as its authors' `utils/trainer.py` runs it, one batch at a time:

1. worker step on a shuffled training batch (train mode): MSE weighted by the controller's lr_scale and
   loss_weight, plus an explicit L2 on each WorkerNet scaled by wd_scale; backward; each WorkerNet's gradient
   clipped to its grad_clip (1.0); a worker is skipped with probability freeze_prob (0); AdamW step on the
   worker parameters only;
2. controller step on the next batch of a cycling, unshuffled iterator (still train mode): plain MSE; AdamW
   step on the controller only. The gradients it leaves on the workers are cleared by the next worker step.

The worker step's backward does not reach the controller here: in the original those gradients are computed
and then wiped by the controller step's zero_grad, and their backward through the 512-step GRU was ~40% of a
batch. Weights and optimiser states come out bit-identical (tests/test_dynonet_training.py). Leaving the
workers out of the controller step's backward, the other discarded half, changes the controller's gradients
in their last bits (autograd accumulates them in another order), so it is not done.

Both learning rates stay constant (the original's cosine scheduler is attached to an optimiser it never
steps). Where the controller's batches come from is the model's `variant`: `published` reads the validation
split, as the original does; `clean` reads the last 10% of the training windows, which the worker step then
never sees, so validation only selects and test only scores; `no_controller` has no controller step.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from harness.protocol import Splits
from harness.spec import TrainConfig
from harness.train import Strategy, adam, register_strategy
from harness.windows import WindowSet

CLEAN_HOLDOUT = 0.1  # share of the training windows the `clean` controller learns on


def cycle(windows: WindowSet, starts: torch.Tensor, batch_size: int) -> Iterator[tuple]:
    """Chronological batches over `starts`, restarting at the end (the original's cycling val iterator)."""
    while True:
        for i in range(0, len(starts), batch_size):
            yield windows.batch(starts[i : i + batch_size])


@register_strategy("dynonet")
class BiLevel(Strategy):
    """Worker step then controller step per batch; `train.options` holds the controller's AdamW settings."""

    OPTIONS = {"controller_lr": float, "controller_weight_decay": float}

    def __init__(self, model, cfg: TrainConfig, splits: Splits, generator: torch.Generator):
        super().__init__(model, cfg, splits, generator)
        self.worker_opt = adam(model.worker_parameters(), cfg, cfg.lr, cfg.weight_decay, decoupled=True)
        self.controller_opt = adam(
            model.controller_parameters(),
            cfg,
            cfg.options["controller_lr"],
            cfg.options["controller_weight_decay"],
            decoupled=True,
        )
        train = splits.train
        all_starts = torch.arange(len(train), device=train.device)
        self.worker_starts = all_starts
        if model.variant == "clean":
            n_worker = len(train) - max(1, int(CLEAN_HOLDOUT * len(train)))
            self.worker_starts, self.controller_starts = all_starts[:n_worker], all_starts[n_worker:]
            self.controller_windows = train
        elif model.variant == "published":
            self.controller_windows = splits.val
            self.controller_starts = torch.arange(len(splits.val), device=splits.val.device)

    def current_lr(self) -> float:
        return self.worker_opt.lr

    def epoch_windows(self) -> int:
        return len(self.worker_starts)

    def state_dict(self) -> dict:
        return {"worker": self.worker_opt.state_dict(), "controller": self.controller_opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.worker_opt.load_state_dict(state["worker"])
        self.controller_opt.load_state_dict(state["controller"])

    def controller_batches(self) -> Iterator[tuple] | None:
        if self.model.variant == "no_controller":
            return None
        return cycle(self.controller_windows, self.controller_starts, self.cfg.batch_size)

    def train_epoch(self, epoch: int) -> torch.Tensor:
        model, cfg, train = self.model, self.cfg, self.splits.train
        model.train()
        order = self.worker_starts[torch.randperm(len(self.worker_starts), generator=self.generator)]
        controller = self.controller_batches()  # restarts each epoch, as the original's iterator does
        total = torch.zeros((), device=train.device)
        n_batches = 0
        for x, _, y in train.batches(cfg.batch_size, order, cfg.drop_last):
            total += self.worker_step(x, y).detach()
            n_batches += 1
            if controller is not None:
                x_controller, _, y_controller = next(controller)
                self.controller_step(x_controller, y_controller)
        return total / n_batches

    def worker_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model = self.model
        self.worker_opt.zero_grad()
        prediction, signals = model.forward_with_signals(x, controller_grad=False)
        loss = model.worker_loss(prediction, y, signals, self.cfg.weight_decay)
        loss.backward()
        clip = signals["grad_clip"].mean(dim=0).tolist()
        frozen = torch.bernoulli(signals["freeze_prob"].mean(dim=0).detach()).bool().tolist()
        for worker, max_norm, freeze in zip(model.workers, clip, frozen, strict=True):
            torch.nn.utils.clip_grad_norm_(worker.parameters(), max_norm)
            if freeze:
                for param in worker.parameters():
                    param.grad = None
        self.worker_opt.step()
        return loss

    def controller_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.controller_opt.zero_grad()
        F.mse_loss(self.model(x), y).backward()
        self.controller_opt.step()
