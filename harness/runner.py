"""One run end to end: data → model → fit → exact test metrics → profile, or a failure record."""

from __future__ import annotations

import platform
import random
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from harness import __version__, introspect, profile, registry
from harness.cpu import RUN_THREADS, prepare_process
from harness.datasets import DatasetRef, load_table
from harness.errors import InputError
from harness.evaluate import evaluate, zero_forecast_mse
from harness.protocol import prepare
from harness.spec import RunSpec
from harness.train import fit


@dataclass
class RunResult:
    """What a run produced. A failed run keeps its error and leaves the metrics empty."""

    spec: RunSpec
    status: str  # "ok" | "failed"
    error: str | None = None
    test_mse: float | None = None
    test_mae: float | None = None
    val_mse: float | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    params: int | None = None
    flops: int | None = None  # forward FLOPs per sample
    latency_ms: float | None = None
    peak_mem_mb: float | None = None
    memory_kind: str | None = None
    train_seconds: float | None = None
    n_test_windows: int | None = None
    device: str = ""
    started_at: str = ""
    finished_at: str = ""
    details: dict = field(default_factory=dict)  # per-channel metrics, learning curve, versions


def resolve_device(requested: str) -> torch.device:
    """'auto' takes a CUDA GPU when there is one; 'cuda' without one is bad input."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    return torch.device(requested)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return the generator that orders training batches."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    return {
        "harness": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def run_one(
    spec: RunSpec, device: torch.device, checkpoint_path: Path | None = None, threads: int = RUN_THREADS
) -> RunResult:
    """Train and score one spec; any exception (divergence, out of memory, a bug) becomes a failed result.
    With `checkpoint_path` the run saves its state there after every epoch and resumes from it. On CPU it
    trains on `threads` torch threads (harness/cpu.py), which its details record."""
    result = RunResult(spec, "failed", device=str(device), started_at=now())
    try:
        _train_and_score(spec, device, result, checkpoint_path, threads)
        result.status = "ok"
    except Exception as e:  # recorded, so the suite goes on
        result.error = f"{type(e).__name__}: {e}"
        result.details["traceback"] = traceback.format_exc(limit=-4)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    result.finished_at = now()
    return result


def _train_and_score(
    spec: RunSpec, device: torch.device, result: RunResult, checkpoint_path: Path | None, threads: int
) -> None:
    prepare_process(device, threads)  # a fixed thread count: the same spec gives the same bits in any process
    info = registry.get(spec.model)
    table = load_table(DatasetRef(spec.dataset, spec.dataset_path, spec.dataset_sha256, spec.split))
    splits = prepare(table, spec.split, spec.seq_len, spec.pred_len, device, info.time_features)
    profile.reset_peak_memory(device)
    generator = seed_everything(spec.seed)
    model = registry.build(spec.model, spec.seq_len, spec.pred_len, len(table.columns), **spec.params).to(
        device
    )
    result.params = registry.count_params(model)
    fitted = fit(model, spec.model, spec.train, splits, generator, checkpoint_path, spec.label)
    test = evaluate(model, splits.test, spec.train.eval_batch_size)
    result.test_mse, result.test_mae, result.n_test_windows = test.mse, test.mae, test.n_windows
    result.val_mse, result.best_epoch, result.epochs_run = (
        fitted.val_mse,
        fitted.best_epoch,
        fitted.epochs_run,
    )
    result.train_seconds = fitted.train_seconds
    result.flops = profile.flops_per_sample(model, splits.test)
    result.latency_ms, latency_iqr = profile.latency_ms(model, splits.test)
    result.peak_mem_mb, result.memory_kind = profile.peak_memory_mb(device)
    result.details.update(
        forecasts=introspect.forecasts(model, splits.test),
        signals=introspect.controller_signals(model, splits.test),
        channels=list(table.columns),
        # what `absurd` compares the run's val MSE with; a model that trains nothing cannot diverge
        val_zero_mse=zero_forecast_mse(splits.val) if result.params else None,
        latency_iqr_ms=latency_iqr,
        test_mse_per_channel=test.mse_per_channel,
        test_mae_per_channel=test.mae_per_channel,
        test_window_mse=[float(f"{v:.6g}") for v in test.window_mse],  # 6 digits: ~55 kB a run
        test_window_mae=[float(f"{v:.6g}") for v in test.window_mae],
        curve=fitted.curve,
        versions=versions(),
        threads=torch.get_num_threads(),
    )
