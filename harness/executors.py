"""Where runs train: in this process, in local worker processes, or as tasks on a Ray cluster.

An executor takes specs (`submit`) and hands back results as they finish (`finished`); it knows nothing of
the store, leases or progress, which `harness.execute` keeps for every executor alike. Each keeps at most
`capacity` runs in flight, so a run is claimed in the store only when it is about to start.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path

import torch

from harness.cpu import RUN_THREADS, prepare_process
from harness.errors import InputError
from harness.runner import RunResult, now, run_one
from harness.spec import RunSpec


class Executor:
    capacity: int = 1  # runs in flight at once

    def submit(self, spec: RunSpec, checkpoint: Path | None) -> None:
        raise NotImplementedError

    def finished(self) -> list[RunResult]:
        """Wait until at least one submitted run is done; return every run done by then."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the runs in flight now (each resumes from its last checkpoint), after Ctrl-C or an error."""

    def close(self) -> None:
        pass


class InProcess(Executor):
    """One run after another in this process (`--jobs 1`)."""

    def __init__(self, device: torch.device, threads: int = RUN_THREADS):
        self.device, self.threads, self.queue = device, threads, []

    def submit(self, spec: RunSpec, checkpoint: Path | None) -> None:
        self.queue.append((spec, checkpoint))

    def finished(self) -> list[RunResult]:
        spec, checkpoint = self.queue.pop(0)
        return [run_one(spec, self.device, checkpoint, self.threads)]


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


def send_logs_to(handler: logging.Handler) -> None:
    """Route this worker's run logs (a line per epoch, `harness.train`) to `handler` alone: a Ray worker
    process runs task after task, for one executor after another of its driver, each with its own queue."""
    logger = logging.getLogger("harness")
    logger.setLevel(logging.INFO)
    logger.handlers = [handler]


class Relay(logging.Handler):
    """Hands a record from a worker to this process's logger of the same name, so to its handlers."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def _init_worker(device: torch.device, threads: int, parent_pid: int, logs: multiprocessing.Queue) -> None:
    die_with_parent(parent_pid)
    prepare_process(device, threads)
    send_logs_to(QueueHandler(logs))


def worker_died(spec: RunSpec, device: str, why: str) -> RunResult:
    """The failed result of a run whose process died under it (segfault, OOM kill): recorded, not raised."""
    result = RunResult(spec, "failed", device=device, started_at=now(), finished_at=now())
    result.error = (
        f"the run's worker process died ({why}); --retry-failed trains it again from its checkpoint"
    )
    return result


class LocalPool(Executor):
    """`jobs` worker processes on this machine (spawned, so no state leaks from the parent). A worker that
    dies takes the pool down with it: every run then in flight is recorded as failed (which one crashed
    cannot be told), the pool is started afresh and the suite goes on. The workers' log lines come back
    through a queue and are logged here, where `harness.execute` shows them."""

    def __init__(self, device: torch.device, jobs: int, threads: int = RUN_THREADS):
        self.device, self.capacity, self.threads = device, jobs, threads
        self.context = multiprocessing.get_context("spawn")
        self.logs = self.context.Queue()
        self.listener = QueueListener(self.logs, Relay())
        self.listener.start()
        self.pool = self._start()
        self.futures: dict[Future, RunSpec] = {}

    def _start(self) -> ProcessPoolExecutor:
        args = (self.device, self.threads, os.getpid(), self.logs)
        return ProcessPoolExecutor(self.capacity, self.context, _init_worker, args)

    def submit(self, spec: RunSpec, checkpoint: Path | None) -> None:
        self.futures[self.pool.submit(run_one, spec, self.device, checkpoint, self.threads)] = spec

    def finished(self) -> list[RunResult]:
        done, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            spec = self.futures.pop(future)
            try:
                results.append(future.result())
            except BrokenProcessPool:
                broken = True
                results.append(worker_died(spec, str(self.device), "a worker of the local pool was killed"))
        if broken:  # the runs still in flight broke with it and come back failed from the next wait
            self.pool.shutdown(wait=False)
            self.pool = self._start()
        return results

    def cancel(self) -> None:
        # Stop the runs in progress now rather than wait hours for them. (The executor has no public way
        # to do this before Python 3.14.)
        workers = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()

    def close(self) -> None:
        self.pool.shutdown()
        self.listener.stop()


def _train_on_ray(spec: RunSpec, device: str, checkpoint: str | None, threads: int, logs) -> RunResult:
    """A Ray task: one run, its log lines sent to the driver through the queue `logs`. The checkpoint is
    kept only where this node sees the store's folder (the driver's machine, or a shared filesystem);
    elsewhere the run simply does not resume mid-way."""
    send_logs_to(QueueHandler(logs))
    path = Path(checkpoint) if checkpoint else None
    if path is not None and not path.parent.parent.is_dir():
        path = None
    return run_one(spec, torch.device(device), path, threads)


LOG_RELAY_SECONDS = 0.5  # how often the Ray driver shows the lines its tasks logged meanwhile


class RayCluster(Executor):
    """Each run a Ray task asking `cpus_per_run` CPUs and `gpus_per_run` GPUs (fractional GPUs share one).

    Connects to the cluster at `address`, to a Ray instance this process already started, or else starts a
    local one. On CPU a run trains on `threads` torch threads. Tasks are never retried by Ray: a task whose
    process dies (segfault, OOM kill) comes back as a failed result naming the reason, and the suite goes
    on. The tasks' log lines (a line per epoch, a resumed run's first) come back through a Ray queue and
    are logged here while the driver waits, where `harness.execute` shows them, as the local pool's are;
    Ray's own forwarding of a task's output is off: it prints beside the progress bar, not above it, and
    folds lines of several tasks that differ only in their numbers (the seeds' epoch lines) into one.
    """

    def __init__(
        self,
        address: str | None,
        cpus_per_run: float,
        gpus_per_run: float,
        jobs: int | None,
        threads: int = RUN_THREADS,
    ):
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise InputError(
                "--executor ray: Ray is not installed; pip install 'dynobench[ray]' (or pip install ray)"
            ) from None
        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            # Ray (2.60) turns token authentication on for a Ray it starts and says so at each start: the
            # secure default, for an instance that lives as long as this command; nothing to act on.
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
                logging.ERROR
            )
            try:
                ray.init(
                    address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING"
                )
            except ConnectionError as e:
                raise InputError(f"--address {address}: cannot reach a Ray cluster ({e})") from None
            for sig, handler in handlers.items():  # Ray's own dump-and-exit would replace a clean Ctrl-C
                signal.signal(sig, handler)
        self.device, self.threads = ("cuda" if gpus_per_run > 0 else "cpu"), threads
        self.task = ray.remote(_train_on_ray).options(
            num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0, name="dynobench-run"
        )
        resources = ray.cluster_resources()
        fits = int(resources.get("CPU", 1) // cpus_per_run) if cpus_per_run > 0 else sys.maxsize
        if gpus_per_run > 0:
            fits = min(fits, int(resources.get("GPU", 0) / gpus_per_run + 1e-9))
            if fits < 1:
                raise InputError(f"--gpus-per-run {gpus_per_run}: the Ray cluster has no GPU")
        self.capacity = max(1, min(fits, jobs or fits))
        self.in_flight: dict = {}  # object ref → spec
        self.logs, self.relay = Queue(actor_options={"num_cpus": 0}), Relay()  # the tasks' log lines

    def submit(self, spec: RunSpec, checkpoint: Path | None) -> None:
        path = str(checkpoint) if checkpoint else None
        ref = self.task.remote(spec, self.device, path, self.threads, self.logs)
        self.in_flight[ref] = spec

    def _relay_logs(self) -> None:
        while True:
            try:
                record = self.logs.get_nowait()
            except self.ray.util.queue.Empty:
                return
            self.relay.handle(record)

    def finished(self) -> list[RunResult]:
        waiting = list(self.in_flight)
        while not self.ray.wait(waiting, num_returns=1, timeout=LOG_RELAY_SECONDS)[0]:
            self._relay_logs()
        ready, _ = self.ray.wait(waiting, num_returns=len(waiting), timeout=0)
        self._relay_logs()  # a task's lines are all in the queue before its result is
        results = []
        for ref in ready:
            spec = self.in_flight.pop(ref)
            try:
                results.append(self.ray.get(ref))
            except self.ray.exceptions.RayError as e:  # the task's process died; run_one catches the rest
                reason = (str(e).strip().splitlines() or [""])[0]
                results.append(worker_died(spec, self.device, f"{type(e).__name__}: {reason}".strip(": ")))
        return results

    def cancel(self) -> None:
        # A driver that called ray.init ends its job in close(), and Ray kills the job's task processes; a
        # force-cancel there races with a task finishing and can abort the driver (ray-project/ray#54798).
        if not self.started_here:
            for ref in self.in_flight:
                self.ray.cancel(ref, force=True)
        self.in_flight.clear()

    def close(self) -> None:
        self.logs.shutdown()
        if self.started_here:
            self.ray.shutdown()


def local(device: torch.device, jobs: int, threads: int = RUN_THREADS) -> Executor:
    """This machine: in this process for one run at a time, else `jobs` worker processes; on CPU each run
    trains on `threads` torch threads."""
    return InProcess(device, threads) if jobs <= 1 else LocalPool(device, jobs, threads)
