"""Execution of a suite's pending runs on an executor (`harness.executors`), with one progress bar (ETA),
one line per finished run and, above the bar, the runs' own lines (one per epoch, timed). Each result is
stored the moment it arrives, so an interrupted suite resumes where it stopped; a run finished meanwhile by
another process is not trained again. With a time budget (a session, a job allocation), a run that its
cell's finished runs say would not end within it is not started: cut at the end, its hours would be lost
wherever its checkpoint cannot follow the next session."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tqdm import tqdm

from harness import remaining
from harness.evaluate import absurd
from harness.executors import Executor
from harness.runner import RunResult
from harness.spec import RunSpec
from harness.store import HEARTBEAT_SECONDS, RunStore, checkpoint_path


@dataclass
class Outcome:
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # claimed or finished by another process
    duplicated: int = 0  # trained here, but another process stored it first (its lease had gone stale)
    deferred: int = 0  # not started: expected to outlast the time budget


def needs_run(status: str | None, retry_failed: bool) -> bool:
    return status is None or (status == "failed" and retry_failed)


def pending(runs: list[RunSpec], store: RunStore, retry_failed: bool) -> list[RunSpec]:
    """Specs to train, each key once (entries with identical settings share one run), in training order:
    runs with a mid-run checkpoint first (their hours are spent already), then horizon by horizon, the
    shortest first, and seed by seed within one, so that a suite cut short leaves whole leaderboard cells of
    its first horizons rather than every horizon of its first models."""
    unique = {spec.key: spec for spec in runs}
    statuses = store.statuses(unique)
    todo = [spec for key, spec in unique.items() if needs_run(statuses.get(key), retry_failed)]
    started = {spec.key for spec in todo if checkpoint_path(store.path, spec.key).exists()}
    return sorted(todo, key=lambda spec: (spec.key not in started, spec.pred_len, spec.seed))


def describe_result(result: RunResult) -> str:
    head = result.spec.label
    if result.status != "ok":
        return f"{head}: FAILED {result.error}"
    line = (
        f"{head}: test MSE {result.test_mse:.4f} MAE {result.test_mae:.4f} "
        f"(val {result.val_mse:.4f}, {result.epochs_run} epochs, best {result.best_epoch}, "
        f"{result.train_seconds:.1f}s)"
    )
    if absurd(result.val_mse, result.details):  # stored ok, but it diverged: say so where it is seen first
        zero = result.details["val_zero_mse"]
        line += f"; ABSURD: val MSE above {zero:.3g} of forecasting zeros (diverged), left out of reports"
    return line


class LinesAboveBar(logging.Handler):
    """The runs' log lines (`harness.train`: a line per epoch, however long a run takes), written above the
    progress bar on a terminal, as plain lines in a log file."""

    def __init__(self, bar: tqdm):
        super().__init__(logging.INFO)
        self.bar = bar
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.bar.write(self.format(record), file=sys.stderr)


class Heartbeats:
    """Keeps the leases of the runs in flight fresh from a thread of the driver, the one process that
    writes the store, wherever the runs train."""

    def __init__(self, store_path: Path):
        self.keys: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, args=(store_path,), daemon=True)
        self.thread.start()

    def _beat(self, store_path: Path) -> None:
        store = RunStore(store_path)  # a connection of its own: sqlite3 objects stay in their thread
        while not self.stop.wait(HEARTBEAT_SECONDS):
            for key in list(self.keys):
                store.heartbeat(key)

    def close(self) -> None:
        self.stop.set()


def execute(
    runs: list[RunSpec],
    store: RunStore,
    executor: Executor,
    retry_failed: bool = False,
    label: str = "suite",
    hours: float | None = None,
) -> Outcome:
    """Train the pending runs of `runs` on `executor`, at most its capacity at once, each claimed in the
    store just before it is submitted and stored the moment its result comes back. With `hours`, a run is
    started only if its cell's finished runs (or, where none has finished, the same entry's at its nearest
    shorter horizon) say it ends within that many hours from now; a run nothing prices always starts."""
    todo = pending(runs, store, retry_failed)
    outcome = Outcome()
    deadline = None if hours is None else time.monotonic() + hours * 3600
    # The bar shows only on a terminal; logs get the count and ETA on each run's line instead.
    bar = tqdm(total=len(todo), desc=label, unit="run", dynamic_ncols=True, disable=None, file=sys.stderr)
    started = time.monotonic()
    beats = Heartbeats(store.path)
    logger, lines = logging.getLogger("harness"), LinesAboveBar(bar)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(lines)

    priced: dict[str, dict] = {}  # the finished runs' training times, while no new run is stored

    def outlasts_budget(spec: RunSpec) -> bool:
        if deadline is None:
            return False
        if "finished" not in priced:  # read once, and again after each run this process stores
            priced["finished"] = remaining.finished_seconds(runs, store)
        expected, priced_by = remaining.seconds_left_or_guess(spec, priced["finished"], store.path)
        left = deadline - time.monotonic()
        if expected is None or expected <= left:
            return False
        outcome.deferred += 1
        bar.update(1)
        if left > 0:  # once the budget is spent, the closing count says how many were not started
            bar.write(
                f"{spec.label}: not started, ≈ {expected / 3600:.2f} h to go ({priced_by}) and "
                f"{left / 3600:.2f} h of the budget left",
                file=sys.stderr,
            )
        return True

    def record(result: RunResult | None) -> None:
        bar.update(1)
        if result is None:
            outcome.skipped += 1
            return
        beats.keys.discard(result.spec.key)
        if not store.put(result):
            outcome.duplicated += 1
            return
        store.release(result.spec.key)
        if result.status == "ok":  # nothing left to resume; a failed run keeps it for --retry-failed
            checkpoint_path(store.path, result.spec.key).unlink(missing_ok=True)
        priced.clear()
        outcome.ok += result.status == "ok"
        outcome.failed += result.status != "ok"
        done = outcome.ok + outcome.failed + outcome.skipped + outcome.duplicated + outcome.deferred
        eta = (time.monotonic() - started) / (done - outcome.deferred) * (len(todo) - done)
        line = f"[{done}/{len(todo)} ETA {timedelta(seconds=round(eta))}] {describe_result(result)}"
        bar.write(line, file=sys.stderr)

    queue, in_flight = list(reversed(todo)), 0
    try:
        while queue or in_flight:
            while queue and in_flight < executor.capacity:
                spec = queue.pop()
                if outlasts_budget(spec):
                    continue
                if not store.claim(spec.key, retry_failed):  # stored or being trained by another process
                    record(None)
                    continue
                beats.keys.add(spec.key)
                executor.submit(spec, checkpoint_path(store.path, spec.key))
                in_flight += 1
            if in_flight:
                for result in executor.finished():
                    in_flight -= 1
                    record(result)
    except BaseException:
        executor.cancel()  # the runs in flight resume from their last checkpoint next time
        raise
    finally:
        beats.close()
        executor.close()
        logger.removeHandler(lines)
        logger.setLevel(level)
        bar.close()
    return outcome
