"""The Ray executor on a real local Ray instance: the local executor's metrics, a task whose process dies
recorded as failed while the suite goes on, a killed driver that resumes on the same cluster, and the tasks'
epoch lines in the driver's output."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from harness import executors
from harness.execute import execute
from harness.store import RunStore
from harness.suite import load_suite

from conftest import tiny_suite_dict, write_suite

ray = pytest.importorskip("ray")  # CI installs the extra: pip install -e ".[dev,ray]"

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module; its address lets other processes join it as a cluster."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def rows(store: Path) -> dict[str, tuple]:
    if not store.exists():
        return {}
    with sqlite3.connect(store) as db:
        try:
            found = db.execute("SELECT key, status, test_mse, val_mse, finished_at, error FROM runs")
            return {key: tuple(rest) for key, *rest in found.fetchall()}
        except sqlite3.OperationalError:  # created, no table yet
            return {}


def test_ray_tasks_give_the_metrics_of_the_local_executor(cluster, tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2])))
    on_ray, here = tmp_path / "ray.sqlite", tmp_path / "local.sqlite"
    assert execute(suite.runs, RunStore(on_ray), executors.RayCluster(None, 1, 0, None)).ok == 2
    assert execute(suite.runs, RunStore(here), executors.local(CPU, 1)).ok == 2
    ray_rows, local_rows = rows(on_ray), rows(here)
    assert ray_rows.keys() == local_rows.keys() and len(ray_rows) == 2
    for key, (status, test_mse, val_mse, *_) in ray_rows.items():
        assert (status, test_mse, val_mse) == local_rows[key][:3]  # bit-identical on CPU
    two = RunStore(tmp_path / "threads.sqlite")  # `--threads` reaches the task, and each run records it
    assert execute(suite.runs[:1], two, executors.RayCluster(None, 2, 0, None, threads=2)).ok == 1
    assert [row["details"]["threads"] for row in two.rows()] == [2]


def running_tasks() -> list[int]:
    """The processes running our task now (Ray names a worker process after the task it runs)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::dynobench-run"):
            pids.append(int(pid))
    return pids


def kill_first_running_task(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first process seen running our task."""
    while not stop.is_set():
        for pid in running_tasks()[:1]:
            time.sleep(0.5)  # well into training
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_task_whose_process_dies_is_stored_failed_and_the_suite_goes_on(cluster, tmp_path):
    long = tiny_suite_dict(seeds=[1, 2], train={"epochs": 20, "patience": 20, "batch_size": 256})
    suite = load_suite(write_suite(tmp_path / "s.yaml", long))
    store = tmp_path / "runs.sqlite"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_running_task, args=(stop, killed), daemon=True)
    killer.start()
    try:
        outcome = execute(suite.runs, RunStore(store), executors.RayCluster(None, 1, 0, None))
    finally:
        stop.set()
    assert killed, "no task was seen running"
    assert (outcome.ok, outcome.failed) == (1, 1)
    (failed,) = [row for row in rows(store).values() if row[0] == "failed"]
    assert "worker process died" in failed[-1]


def launch(suite: Path, store: Path, address: str | None) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "run_suite.py"), "run", str(suite), "--store", str(store)]
    return subprocess.Popen(
        [*command, "--executor", "ray", *(["--address", address] if address else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_ray_driver_resumes_on_the_cluster_and_keeps_its_finished_runs(cluster, tmp_path):
    seeds = [1, 2, 3, 4]
    suite = write_suite(
        tmp_path / "s.yaml", tiny_suite_dict(seeds=seeds, train={"epochs": 4, "batch_size": 128})
    )
    store = tmp_path / "runs.sqlite"
    driver = launch(suite, store, cluster)
    deadline = time.monotonic() + 180
    while not rows(store) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    driver.kill()
    driver.wait()
    before = rows(store)
    assert 1 <= len(before) < len(seeds), "the kill must land mid-suite"

    driver = launch(suite, store, cluster)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    after = rows(store)
    assert len(after) == len(seeds) and all(row[0] == "ok" for row in after.values())
    assert all(after[key] == row for key, row in before.items())  # kept, not trained again
    assert f"{len(seeds) - len(before)} trained" in err


def test_a_driver_that_starts_ray_shows_each_epoch_line_of_its_tasks_and_no_token_notice(
    cluster, tmp_path, monkeypatch
):
    """The tasks' lines reach the driver's output (Ray's own forwarding is off), each seed's though they
    differ only in numbers; Ray's notice that its token authentication is on is not shown."""
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # set by this process's ray.init: as a user starts
    suite = write_suite(
        tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2], train={"epochs": 2, "batch_size": 256})
    )
    driver = launch(suite, tmp_path / "runs.sqlite", None)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    for seed in (1, 2):
        for epoch in (1, 2):
            assert f"DLinear ETTh1 L=96 H=24 seed={seed}: epoch {epoch} of ≤ 2, train loss" in err, err
    assert "Token authentication" not in err


def test_sigterm_stops_a_driver_that_started_ray_as_ctrl_c_does(cluster, tmp_path):
    """Ray installs its own SIGTERM handler (a stack dump, exit 1); the driver keeps the harness's."""
    suite = write_suite(
        tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2, 3], train={"epochs": 6, "patience": 6})
    )
    store = tmp_path / "runs.sqlite"
    driver = launch(suite, store, None)  # no address: this driver starts (and must stop) its own Ray
    deadline = time.monotonic() + 180
    while not rows(store) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted: finished runs are stored" in err, err
    assert "SIGTERM received" not in err
    resumed = launch(suite, store, cluster)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and len(rows(store)) == 3, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_to_a_driver_on_a_cluster_stops_its_running_tasks(cluster, tmp_path):
    long = tiny_suite_dict(seeds=[1, 2], train={"epochs": 50, "patience": 50, "batch_size": 256})
    suite = write_suite(tmp_path / "s.yaml", long)
    driver = launch(suite, tmp_path / "runs.sqlite", cluster)
    deadline = time.monotonic() + 180
    while not running_tasks() and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    assert running_tasks(), "no task was seen running"
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted: finished runs are stored" in err, err
    deadline = time.monotonic() + 60
    while running_tasks() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running_tasks(), "the cluster still trains the runs of a driver that was stopped"
