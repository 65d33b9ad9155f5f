"""Execution of a suite's pending runs, sequentially or in worker processes, with one progress bar (ETA)
and one line per finished run. Each result is stored the moment it arrives, so an interrupted suite
resumes where it stopped; a run finished meanwhile by another process is not trained again."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
from tqdm import tqdm

from harness.cpu import prepare_process
from harness.runner import RunResult, run_one
from harness.spec import RunSpec
from harness.store import HEARTBEAT_SECONDS, RunStore, checkpoint_path


@dataclass
class Outcome:
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # claimed or finished by another process
    duplicated: int = 0  # trained here, but another process stored it first (its lease had gone stale)


def needs_run(status: str | None, retry_failed: bool) -> bool:
    return status is None or (status == "failed" and retry_failed)


def pending(runs: list[RunSpec], store: RunStore, retry_failed: bool) -> list[RunSpec]:
    """Specs to train, each key once (entries with identical settings share one run)."""
    unique = {spec.key: spec for spec in runs}
    statuses = store.statuses(unique)
    return [spec for key, spec in unique.items() if needs_run(statuses.get(key), retry_failed)]


def describe_result(result: RunResult) -> str:
    spec = result.spec
    head = f"{spec.name} {spec.dataset} L={spec.seq_len} H={spec.pred_len} seed={spec.seed}"
    if result.status != "ok":
        return f"{head}: FAILED {result.error}"
    return (
        f"{head}: test MSE {result.test_mse:.4f} MAE {result.test_mae:.4f} "
        f"(val {result.val_mse:.4f}, {result.epochs_run} epochs, best {result.best_epoch}, "
        f"{result.train_seconds:.1f}s)"
    )


_worker_store: RunStore | None = None
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the process that started it dies (killed with -9 included), instead of
    finishing its run for nobody and then blocking on a closed pipe: the kernel's parent-death signal on
    Linux, else a thread watching the parent pid."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(device: torch.device, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    prepare_process(device)


def _run_unless_done(spec: RunSpec, device: str, store_path: str, retry_failed: bool) -> RunResult | None:
    """Train `spec` unless the store holds it or another process has claimed it; while training, keep
    this process's lease on it fresh."""
    global _worker_store
    if _worker_store is None or str(_worker_store.path) != store_path:
        _worker_store = RunStore(store_path)
    if not _worker_store.claim(spec.key, retry_failed):
        return None
    done = threading.Event()

    def beat() -> None:
        beats = RunStore(store_path)  # a connection of its own: sqlite3 objects stay in their thread
        while not done.wait(HEARTBEAT_SECONDS):
            beats.heartbeat(spec.key)

    threading.Thread(target=beat, daemon=True).start()
    try:
        return run_one(spec, torch.device(device), checkpoint_path(Path(store_path), spec.key))
    finally:
        done.set()


def execute(
    runs: list[RunSpec],
    store: RunStore,
    device: torch.device,
    jobs: int = 1,
    retry_failed: bool = False,
    label: str = "suite",
) -> Outcome:
    todo = pending(runs, store, retry_failed)
    outcome = Outcome()
    # The bar shows only on a terminal; logs get the count and ETA on each run's line instead.
    bar = tqdm(total=len(todo), desc=label, unit="run", dynamic_ncols=True, disable=None, file=sys.stderr)
    started = time.monotonic()

    def record(result: RunResult | None) -> None:
        bar.update(1)
        if result is None:
            outcome.skipped += 1
            return
        if not store.put(result):
            outcome.duplicated += 1
            return
        store.release(result.spec.key)
        checkpoint_path(store.path, result.spec.key).unlink(missing_ok=True)  # stored: nothing to resume
        outcome.ok += result.status == "ok"
        outcome.failed += result.status != "ok"
        done = outcome.ok + outcome.failed + outcome.skipped + outcome.duplicated
        eta = (time.monotonic() - started) / done * (len(todo) - done)
        line = f"[{done}/{len(todo)} ETA {timedelta(seconds=round(eta))}] {describe_result(result)}"
        bar.write(line, file=sys.stderr)

    args = (str(device), str(store.path), retry_failed)
    try:
        if jobs <= 1 or len(todo) <= 1:
            for spec in todo:
                record(_run_unless_done(spec, *args))
        else:
            with ProcessPoolExecutor(
                jobs, multiprocessing.get_context("spawn"), _init_worker, (device, os.getpid())
            ) as pool:
                futures = [pool.submit(_run_unless_done, spec, *args) for spec in todo]
                try:
                    for future in as_completed(futures):
                        record(future.result())
                except BaseException:
                    # Stop the runs in progress now rather than wait hours for them: each resumes from
                    # its last checkpoint. (The executor has no public way to do this before 3.14.)
                    workers = list((getattr(pool, "_processes", None) or {}).values())
                    pool.shutdown(wait=False, cancel_futures=True)
                    for process in workers:
                        process.terminate()
                    raise
    finally:
        bar.close()
    return outcome
