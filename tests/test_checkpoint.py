"""A run cut short after an epoch resumes from its checkpoint and ends with an uninterrupted run's bits."""

import dataclasses
import functools
import logging
import re
from pathlib import Path

import pytest
import torch

import harness.train
from harness import checkpoint, executors
from harness.execute import execute
from harness.runner import run_one
from harness.store import RunStore
from harness.suite import load_suite

from conftest import tiny_suite_dict, write_suite

CPU = torch.device("cpu")
# Dropout (torch's RNG), batch order, BatchNorm buffers, Adam moments; DynoNet: two AdamWs, bi-level steps.
MODELS = {
    "tsmixer": {"name": "TSMixer", "model": "tsmixer", "seq_len": 48,
                "params": {"n_block": 1, "ff_dim": 8, "dropout": 0.3}},
    "dynonet": {"name": "DynoNet", "model": "dynonet", "seq_len": 24,
                "params": {"worker_seq_len": 8, "control_hidden": 4, "worker_hidden": 4},
                "train": {"optimizer": "adamw",
                          "options": {"controller_lr": 1e-4, "controller_weight_decay": 1e-3}}},
}  # fmt: skip


class Killed(BaseException):
    """Stands for the process being killed: not an Exception, so the run is not recorded as failed."""


def killed_at_validation(epoch: int, real_evaluate):
    """An `evaluate` that validates as usual until epoch `epoch`'s validation, where the process 'dies'."""
    calls = []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise Killed
        return real_evaluate(*args, **kwargs)

    return evaluate


@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_run_killed_after_an_epoch_resumes_to_the_same_bits(tmp_path, monkeypatch, caplog, model):
    train = {"epochs": 2, "batch_size": 2048, "lr": 0.003, "patience": 10, "lradj": "type1"}
    suite = tiny_suite_dict(models=[MODELS[model]], train=train)
    spec = load_suite(write_suite(tmp_path / "s.yaml", suite)).runs[0]
    whole = run_one(spec, CPU)
    assert whole.status == "ok", whole.error

    checkpoint = tmp_path / "checkpoints" / f"{spec.key}.pt"
    real_evaluate = harness.train.evaluate
    # epoch 2 trained, not validated: the checkpoint holds epoch 1
    monkeypatch.setattr(harness.train, "evaluate", killed_at_validation(2, real_evaluate))
    with pytest.raises(Killed):
        run_one(spec, CPU, checkpoint)
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    monkeypatch.setattr(harness.train, "evaluate", real_evaluate)

    caplog.set_level(logging.INFO, logger="harness")
    resumed = run_one(spec, CPU, checkpoint)
    assert resumed.status == "ok", resumed.error
    assert caplog.messages[0] == f"{spec.label}: resumes after epoch 1 from its checkpoint"
    assert [m.split(",")[0] for m in caplog.messages[1:]] == [f"{spec.label}: epoch 2 of ≤ 2"]
    for field in ("test_mse", "test_mae", "val_mse", "best_epoch", "epochs_run"):
        assert getattr(resumed, field) == getattr(whole, field), field
    assert resumed.details["curve"] == whole.details["curve"]


@pytest.mark.parametrize("val_mses", [(2.0, 1.0, 3.0), (1.0, 2.0, 3.0)], ids=["best-is-last", "best-earlier"])
def test_a_resumed_run_restores_its_best_weights_whether_or_not_its_best_epoch_was_the_last(
    tmp_path, monkeypatch, val_mses
):
    train = {"epochs": 3, "batch_size": 2048, "lr": 0.003, "patience": 10}
    spec = load_suite(
        write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[MODELS["tsmixer"]], train=train))
    ).runs[0]
    real_evaluate, calls = harness.train.evaluate, []

    def scripted(*args, kill_in_epoch=None, **kwargs):  # validation MSEs chosen by the test
        calls.append(1)
        if len(calls) == kill_in_epoch:
            raise Killed
        return dataclasses.replace(real_evaluate(*args, **kwargs), mse=val_mses[(len(calls) - 1) % 3])

    monkeypatch.setattr(harness.train, "evaluate", scripted)
    whole = run_one(spec, CPU)
    calls.clear()
    path = tmp_path / "checkpoints" / f"{spec.key}.pt"
    monkeypatch.setattr(harness.train, "evaluate", functools.partial(scripted, kill_in_epoch=3))
    with pytest.raises(Killed):
        run_one(spec, CPU, path)
    saved = torch.load(path, weights_only=False)
    best_epoch = 1 + val_mses.index(min(val_mses[:2]))
    assert saved["epoch"] == 2 and saved["best"][1] == best_epoch
    assert (saved["best"][2] is None) == (best_epoch == 2)  # the model's own weights are saved once
    calls[:] = [1, 1]
    monkeypatch.setattr(harness.train, "evaluate", scripted)
    resumed = run_one(spec, CPU, path)
    assert resumed.best_epoch == whole.best_epoch == best_epoch
    assert (resumed.test_mse, resumed.test_mae) == (whole.test_mse, whole.test_mae)


def test_a_finished_run_leaves_no_checkpoint_behind(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = tmp_path / "runs.sqlite"
    code, _, _ = cli("run", suite, "--store", store, "--jobs", "1")
    assert code == 0
    assert not list((tmp_path / "checkpoints").glob("*.pt"))


def test_describe_shows_a_run_with_a_checkpoint_as_resumable(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = tmp_path / "runs.sqlite"
    first = load_suite(suite).runs[0]
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / f"{first.key}.pt").write_bytes(b"")
    code, out, _ = cli("describe", suite, "--store", store)
    assert code == 0
    assert "0 done, 0 failed, 0 running, 2 pending (1 resumable from a mid-run checkpoint)" in out
    assert out.count("resumable") == 2  # the summary and the run's row


def test_describe_says_how_many_epochs_a_resumable_run_has_done(tmp_path, monkeypatch, cli):
    train = {"epochs": 3, "batch_size": 2048, "lr": 0.003, "patience": 10}
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[MODELS["tsmixer"]], train=train))
    spec = load_suite(suite).runs[0]
    monkeypatch.setattr(harness.train, "evaluate", killed_at_validation(3, harness.train.evaluate))
    with pytest.raises(Killed):
        run_one(spec, CPU, tmp_path / "checkpoints" / f"{spec.key}.pt")
    code, out, _ = cli("describe", suite, "--store", tmp_path / "runs.sqlite")
    assert code == 0
    assert re.search(r"\| resumable, epoch 2 of ≤ 3 done, \d+ s an epoch \|", out)


def test_a_failed_run_keeps_its_checkpoint_so_a_retry_resumes_and_forget_starts_over(
    tmp_path, monkeypatch, cli
):
    suite_path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(train={"epochs": 2, "patience": 10}))
    spec = load_suite(suite_path).runs[0]
    whole = run_one(spec, CPU)
    store, checkpoint = RunStore(tmp_path / "runs.sqlite"), tmp_path / "checkpoints" / f"{spec.key}.pt"
    real_evaluate, calls = harness.train.evaluate, []

    def fail_in_epoch_2(*args, **kwargs):  # an error of the machine, not of the run (say an import)
        calls.append(1)
        if len(calls) == 2:
            raise ImportError("cannot import name 'X'")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(harness.train, "evaluate", fail_in_epoch_2)
    assert execute([spec], store, executors.local(CPU, 1)).failed == 1
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1  # kept beside the failed row
    validated = []
    monkeypatch.setattr(
        harness.train, "evaluate", lambda *a, **k: validated.append(1) or real_evaluate(*a, **k)
    )
    assert execute([spec], store, executors.local(CPU, 1), retry_failed=True).ok == 1
    assert len(validated) == 1  # only epoch 2 was trained and validated: the retry resumed
    (row,) = store.rows([spec.key])
    assert (row["test_mse"], row["epochs_run"]) == (
        whole.test_mse,
        whole.epochs_run,
    ) and not checkpoint.exists()

    checkpoint.write_bytes(b"stale")
    code, _, _ = cli("forget", suite_path, "--store", tmp_path / "runs.sqlite", "--yes")
    assert code == 0 and not checkpoint.exists()  # forgotten: trained again from the start


def test_a_checkpoint_that_cannot_be_written_leaves_the_last_one_whole_and_no_partial_file(
    tmp_path, monkeypatch
):
    path = tmp_path / "checkpoints" / "run.pt"
    checkpoint.save(path, {"epoch": 1})

    def disk_full(state, file):
        Path(file).write_bytes(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save(path, {"epoch": 2})
    assert checkpoint.load(path) == {"epoch": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]
