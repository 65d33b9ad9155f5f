"""DynoNet's bi-level training (dynonet/training.py) against the authors' trainer and the harness protocol."""

import numpy as np
import pytest
import torch

from dynonet.training import BiLevel
from harness import registry
from harness.protocol import Splits
from harness.spec import TrainConfig
from harness.windows import WindowSet

from conftest import tiny_suite_dict, write_suite

L, H, W, C = 48, 12, 16, 3
OPTIONS = {"controller_lr": 1e-3, "controller_weight_decay": 1e-3}
NO_GRADIENT_HEADS = ("lr_scale", "wd_scale", "grad_clip", "loss_weight", "freeze_prob")


class Spy(WindowSet):
    """A WindowSet that records the window starts each batch reads (or refuses to be read at all)."""

    def __init__(self, values, forbidden=False):
        super().__init__(values, None, L, H)
        self.forbidden, self.reads = forbidden, []

    def batch(self, starts):
        if self.forbidden:
            raise AssertionError("training read a window it must never see")
        self.reads.append(starts.tolist())
        return super().batch(starts)


def splits(val_forbidden=False):
    torch.manual_seed(0)
    t = torch.arange(600, dtype=torch.float32)[:, None]
    series = torch.sin(t / 5 + torch.arange(C)) + 0.1 * torch.randn(600, C)
    train = Spy(series[:400])
    val, test = Spy(series[400 - L : 500], val_forbidden), Spy(series[500 - L :], forbidden=True)
    return Splits(train, val, test, np.zeros(C), np.ones(C))


def strategy(variant, val_forbidden=False, **cfg):
    torch.manual_seed(0)
    model = registry.build(
        "dynonet", L, H, C, worker_seq_len=W, control_hidden=8, worker_hidden=4, variant=variant
    )
    config = TrainConfig(batch_size=32, lr=1e-3, weight_decay=1e-4, options=OPTIONS, **cfg)
    return BiLevel(model, config, splits(val_forbidden), torch.Generator().manual_seed(0))


def snapshot(params):
    return [p.detach().clone() for p in params]


def changed(before, params):
    return [not torch.equal(b, p) for b, p in zip(before, params, strict=True)]


def test_a_worker_step_changes_no_controller_parameter_and_a_controller_step_no_worker_parameter():
    s = strategy("published")
    model = s.model
    model.train()
    x, _, y = s.splits.train.batch(torch.arange(32))
    controller, workers = snapshot(model.controller_parameters()), snapshot(model.worker_parameters())
    s.worker_step(x, y)
    assert not any(changed(controller, model.controller_parameters()))
    assert any(changed(workers, model.worker_parameters()))

    workers = snapshot(model.worker_parameters())
    controller = snapshot(model.controller_parameters())
    xv, _, yv = s.splits.val.batch(torch.arange(32))
    s.controller_step(xv, yv)
    assert not any(changed(workers, model.worker_parameters()))
    assert any(changed(controller, model.controller_parameters()))


def test_the_five_heads_without_gradient_stay_unchanged_after_training():
    s = strategy("published")
    heads = s.model.controller.heads
    before = {name: snapshot(heads[name].parameters()) for name in heads}
    for epoch in (1, 2):
        assert torch.isfinite(s.train_epoch(epoch))
    for name in NO_GRADIENT_HEADS:
        assert not any(changed(before[name], heads[name].parameters())), name
    assert any(changed(before["dropout_rate"], heads["dropout_rate"].parameters()))  # learns via 1/(1 − p)


def test_published_controller_reads_validation_windows_in_order():
    s = strategy("published")
    s.train_epoch(1)
    n_worker_batches = len(s.splits.train) // 32
    assert len(s.splits.val.reads) == n_worker_batches  # one controller batch per worker batch
    n_val = len(s.splits.val)
    first = [start for batch in s.splits.val.reads for start in batch][:n_val]
    assert first == list(range(n_val))  # the cycling iterator starts at the first validation window


def test_clean_training_never_reads_validation_or_test_and_splits_train_in_two():
    s = strategy("clean", val_forbidden=True)
    s.train_epoch(1)  # the spies raise if val or test is read
    reads = s.splits.train.reads
    worker = {start for batch in reads[0::2] for start in batch}  # worker and controller batches alternate
    controller = {start for batch in reads[1::2] for start in batch}
    n = len(s.splits.train)
    n_worker = n - int(0.1 * n)
    assert max(worker) < n_worker <= min(controller)
    assert controller == set(range(n_worker, n))  # the held-out tail, all of it
    assert len(worker) == (n_worker // 32) * 32  # the worker's last partial batch is dropped


def test_no_controller_has_no_controller_step():
    s = strategy("no_controller", val_forbidden=True)
    controller = snapshot(s.model.controller_parameters())
    s.train_epoch(1)
    assert not any(changed(controller, s.model.controller_parameters()))
    assert len(s.splits.train.reads) == len(s.splits.train) // 32


def test_train_mode_is_reproducible_with_the_same_seed():
    losses = [strategy("published").train_epoch(1).item() for _ in range(2)]
    assert losses[0] == losses[1]


@pytest.mark.parametrize("variant", ["published", "clean", "no_controller"])
def test_each_variant_runs_end_to_end_through_the_harness(tmp_path, cli, variant):
    model = {
        "name": "DynoNet",
        "model": "dynonet",
        "seq_len": 96,
        "params": {"worker_seq_len": 24, "control_hidden": 8, "worker_hidden": 4, "variant": variant},
        "train": {"batch_size": 512, "optimizer": "adamw", "options": OPTIONS},
    }
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[model]))
    code, out, err = cli("run", suite, "--store", tmp_path / "runs.sqlite")
    assert code == 0, err
    assert "1/1" in out


def test_missing_strategy_options_are_bad_input(tmp_path, cli):
    model = {"name": "D", "model": "dynonet", "seq_len": 96, "params": {"worker_seq_len": 24}}
    code, _, err = cli("describe", write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[model])))
    assert code == 2 and "models[0].train.options.controller_lr: missing" in err


class FullBackward(BiLevel):
    """The authors' steps as written: every backward reaches every parameter, the unused gradients wiped."""

    def worker_step(self, x, y):
        model = self.model
        self.worker_opt.zero_grad()
        prediction, signals = model.forward_with_signals(x)
        loss = model.worker_loss(prediction, y, signals, self.cfg.weight_decay)
        loss.backward()
        assert any(p.grad is not None for p in model.controller_parameters())  # computed, then wiped
        clip = signals["grad_clip"].mean(dim=0).tolist()
        frozen = torch.bernoulli(signals["freeze_prob"].mean(dim=0).detach()).bool().tolist()
        for worker, max_norm, freeze in zip(model.workers, clip, frozen, strict=True):
            torch.nn.utils.clip_grad_norm_(worker.parameters(), max_norm)
            if freeze:
                for param in worker.parameters():
                    param.grad = None
        self.worker_opt.step()
        return loss

    def controller_step(self, x, y):
        self.controller_opt.zero_grad()
        torch.nn.functional.mse_loss(self.model(x), y).backward()
        self.controller_opt.step()


@pytest.mark.parametrize("variant", ["published", "clean"])
def test_skipping_the_discarded_gradients_trains_the_same_bits(variant):
    ours, full = strategy(variant), strategy(variant)
    full.__class__ = FullBackward
    for epoch in (1, 2):
        for s in (ours, full):
            torch.manual_seed(epoch)
            s.train_epoch(epoch)
    for (name, a), b in zip(ours.model.state_dict().items(), full.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for group in ("worker", "controller"):
        a, b = ours.state_dict()[group]["moments"], full.state_dict()[group]["moments"]
        assert a.keys() == b.keys()
        for i in a:
            assert a[i][0] == b[i][0] and torch.equal(a[i][1], b[i][1]) and torch.equal(a[i][2], b[i][2])


@pytest.mark.parametrize("variant", ["published", "clean", "no_controller"])
@pytest.mark.parametrize("drop_last", [True, False])
def test_batches_per_epoch_is_the_number_of_worker_steps_an_epoch_takes(variant, drop_last):
    s = strategy(variant, drop_last=drop_last)
    steps = []
    step = s.worker_step
    s.worker_step = lambda x, y: steps.append(len(x)) or step(x, y)
    s.train_epoch(1)
    assert len(steps) == s.batches_per_epoch()
    assert sum(steps) == (len(s.worker_starts) // 32 * 32 if drop_last else len(s.worker_starts))
