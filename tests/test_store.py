"""The run store and execution: written once, resumable after SIGKILL, failures recorded not retried,
and two processes on one store neither duplicate nor lose a run."""

import dataclasses
import io
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import torch
from torch import nn

from harness import executors
from harness.errors import InputError
from harness.execute import execute, pending
from harness.registry import register_model
from harness.runner import RunResult, run_one
from harness.store import STALE_SECONDS, RunStore, checkpoint_path
from harness.suite import load_suite

from conftest import TINY_MODEL, tiny_suite_dict, write_suite

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def launch(suite: Path, store: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_suite.py"), "run", str(suite), "--store", str(store), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored(store: Path) -> list[tuple]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        try:
            return db.execute("SELECT key, status, finished_at FROM runs ORDER BY key").fetchall()
        except sqlite3.OperationalError:  # the child has created the file but not yet its table
            return []


def test_a_killed_suite_resumes_and_stores_every_run_exactly_once(tmp_path):
    suite = write_suite(
        tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2, 3, 4], train={"epochs": 4, "batch_size": 64})
    )
    store = tmp_path / "runs.sqlite"
    proc = launch(suite, store)
    deadline = time.monotonic() + 120
    while not stored(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = stored(store)
    assert 1 <= len(before) < 4, "the kill must land mid-suite"

    proc = launch(suite, store)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    after = stored(store)
    assert len(after) == len({key for key, _, _ in after}) == 4
    assert all(status == "ok" for _, status, _ in after)
    assert set(before) <= set(after)  # runs finished before the kill were kept, not redone
    assert f"{4 - len(before)} trained" in err


def test_two_processes_on_one_store_neither_duplicate_nor_lose_a_run(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2, 3, 4]))
    store = tmp_path / "runs.sqlite"
    procs = [launch(suite, store, "--jobs", "2"), launch(suite, store)]
    trained = 0
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "also trained elsewhere" not in err
        trained += int(re.search(r"(\d+) trained", err).group(1))
    rows = stored(store)
    assert len(rows) == 4 and all(status == "ok" for _, status, _ in rows)
    assert trained == 4  # each run claimed by one process, trained once


@register_model("test-broken")
class Broken(nn.Module):
    """Fails in its forward pass, as a bug or an out-of-memory error would."""

    def __init__(self, seq_len, pred_len, n_channels):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, x_mark=None):
        raise RuntimeError("CUDA out of memory (simulated)")


@register_model("test-nan")
class NaNModel(nn.Module):
    """Diverges: its loss is NaN from the first batch."""

    def __init__(self, seq_len, pred_len, n_channels):
        super().__init__()
        self.linear = nn.Linear(seq_len, pred_len)

    def forward(self, x, x_mark=None):
        return self.linear(x.transpose(1, 2)).transpose(1, 2) / 0.0 * 0.0


def test_failed_runs_are_recorded_the_suite_goes_on_and_they_are_retried_only_on_request(tmp_path):
    models = [
        {"name": "Broken", "model": "test-broken", "seq_len": 96},
        {"name": "NaN", "model": "test-nan", "seq_len": 96},
        dict(TINY_MODEL),
    ]
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=models)))
    store = RunStore(tmp_path / "runs.sqlite")
    outcome = execute(suite.runs, store, executors.local(CPU, 1))
    assert (outcome.ok, outcome.failed) == (1, 2)
    rows = {row["name"]: row for row in store.rows()}
    assert rows["Broken"]["status"] == "failed"
    assert rows["Broken"]["error"] == "RuntimeError: CUDA out of memory (simulated)"
    assert rows["NaN"]["status"] == "failed" and "NonFiniteLoss" in rows["NaN"]["error"]
    assert rows["DLinear"]["status"] == "ok" and rows["DLinear"]["test_mse"] > 0

    assert (
        execute(suite.runs, store, executors.local(CPU, 1)) == type(outcome)()
    )  # nothing pending: failures not retried
    again = execute(suite.runs, store, executors.local(CPU, 1), retry_failed=True)
    assert (again.ok, again.failed) == (0, 2)
    assert len(store.rows()) == 3


def test_a_finished_run_is_never_overwritten(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict()))
    store = RunStore(tmp_path / "runs.sqlite")
    execute(suite.runs, store, executors.local(CPU, 1))
    original = store.rows()[0]
    assert not store.put(RunResult(suite.runs[0], "failed", error="late duplicate"))
    assert store.rows()[0]["status"] == "ok"
    assert store.rows()[0]["test_mse"] == original["test_mse"]


def test_row_round_trips_spec_and_details(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict()))
    store = RunStore(tmp_path / "runs.sqlite")
    execute(suite.runs, store, executors.local(CPU, 1))
    row = store.rows()[0]
    assert row["spec"] == suite.runs[0] and row["key"] == suite.runs[0].key
    assert row["n_test_windows"] == 2880 - 24 + 1
    assert len(row["details"]["test_mse_per_channel"]) == 7
    assert row["details"]["curve"][0]["epoch"] == 1
    assert row["params"] == 2 * (96 * 24 + 24) and row["flops"] > 0 and row["latency_ms"] > 0


def test_a_snapshot_carries_finished_runs_to_a_fresh_clone(tiny_suite, cli, tmp_path):
    suite = tiny_suite(seeds=[1, 2])
    live = tmp_path / "a" / "runs.sqlite"
    assert cli("run", suite, "--store", live, "--jobs", "1")[0] == 0
    code, out, _ = cli("snapshot", suite, "--store", live)
    assert code == 0 and "2 runs in" in out and "2 of them written now" in out
    files = sorted((tmp_path / "a" / "runs").iterdir())
    assert [f.name for f in files] == sorted(f"{s.key}.json.gz" for s in load_suite(suite).runs)
    before = [f.read_bytes() for f in files]
    code, out, _ = cli("snapshot", suite, "--store", live)  # nothing new: no file rewritten
    assert code == 0 and "0 of them written now" in out and [f.read_bytes() for f in files] == before
    clone = tmp_path / "clone" / "runs.sqlite"  # a fresh clone: the committed run files, no store
    clone.parent.mkdir()
    (tmp_path / "a" / "runs").rename(tmp_path / "clone" / "runs")
    code, _, err = cli("run", suite, "--store", clone)
    assert code == 0 and "2 runs taken from the committed runs" in err and "0 trained" in err
    assert RunStore(clone).rows() == RunStore(live).rows()  # every column, details included
    code, _, err = cli("run", suite, "--store", clone)  # already merged: nothing taken twice
    assert code == 0 and "taken from" not in err


def test_committed_runs_never_replace_an_ok_run_but_replace_a_failed_one(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict()))
    spec = suite.runs[0]
    ok = run_one(spec, torch.device("cpu"))
    failed = RunResult(spec, "failed", error="RuntimeError: simulated")
    source = RunStore(tmp_path / "src" / "runs.sqlite")
    source.put(ok)
    assert source.snapshot() == (1, 1)
    target = RunStore(tmp_path / "src" / "other.sqlite")
    (tmp_path / "src" / "runs").rename(tmp_path / "src" / "other")
    target.put(failed)
    assert target.merge_snapshot() == 1 and target.statuses() == {spec.key: "ok"}
    changed = dataclasses.replace(ok, test_mse=123.0)
    keeper = RunStore(tmp_path / "k" / "runs.sqlite")
    keeper.put(changed)
    (tmp_path / "src" / "other").rename(tmp_path / "k" / "runs")
    assert keeper.merge_snapshot() == 0 and keeper.rows()[0]["test_mse"] == 123.0


def test_the_one_file_snapshot_of_earlier_versions_is_read_then_replaced_by_run_files(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    old = tmp_path / "old" / "runs.sqlite"
    assert cli("run", suite, "--store", old, "--jobs", "1")[0] == 0
    clone = tmp_path / "clone" / "runs.sqlite"
    clone.parent.mkdir()
    with (
        closing(sqlite3.connect(old)) as live,
        closing(sqlite3.connect(clone.with_name("runs.snapshot.db"))) as copy,
    ):
        live.backup(copy)  # what `snapshot` used to write
    code, _, err = cli("describe", suite, "--store", clone)
    assert code == 0 and "2 runs taken from the committed runs" in err
    assert cli("snapshot", suite, "--store", clone)[0] == 0
    assert (
        not clone.with_name("runs.snapshot.db").exists() and len(list((clone.parent / "runs").iterdir())) == 2
    )


def test_a_corrupt_committed_run_is_one_line_naming_its_file(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = tmp_path / "a" / "runs.sqlite"
    assert cli("run", suite, "--store", store)[0] == 0
    assert cli("snapshot", suite, "--store", store)[0] == 0
    (path,) = (tmp_path / "a" / "runs").iterdir()
    path.write_bytes(path.read_bytes()[:30])
    store.unlink()  # a clone with a damaged file
    code, _, err = cli("describe", suite, "--store", store)
    assert code == 2 and str(path) in err and len(err.strip().splitlines()) == 1


def children(pid: int) -> set[int]:
    """Pids of the live processes whose parent is `pid` (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path, how):
    suite = write_suite(
        tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2, 3, 4], train={"epochs": 50, "batch_size": 64})
    )
    proc = launch(suite, tmp_path / "runs.sqlite", "--jobs", "2")
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline:  # the pool's two workers (and its helper)
        workers = {
            pid for pid in children(proc.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        }
        time.sleep(0.1)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(1)  # both are training
    os.kill(proc.pid, how)
    _, err = proc.communicate(timeout=60)
    if how == signal.SIGTERM:
        assert proc.returncode == 130 and "interrupted" in err
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "a worker outlived its parent"


def test_a_run_is_claimed_once_and_a_dead_or_silent_owner_loses_its_lease(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def lease(key, owner_host, pid, age):
        store.db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, 'then', ?)",
                         (key, owner_host, pid, time.time() - age))  # fmt: skip

    lease("live", host, os.getppid(), 0)  # another live process on this host
    lease("dead", host, dead.pid, 0)  # its process has exited
    lease("far", "elsewhere", 1, 10)  # another machine, beating
    lease("silent", "elsewhere", 1, STALE_SECONDS + 1)  # another machine that stopped beating
    assert not store.claim("live") and not store.claim("far")
    assert store.claim("dead") and store.claim("silent") and store.claim("new")
    assert store.claim("new")  # its own lease
    assert set(store.running()) == {"live", "far", "dead", "silent", "new"}
    store.release("new")
    assert "new" not in store.running()


def test_forget_makes_runs_pending_again_in_the_store_and_its_committed_runs(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store, "--jobs", "1")[0] == 0
    assert cli("snapshot", suite, "--store", store)[0] == 0
    first = load_suite(suite).runs[0]
    code, out, _ = cli("forget", suite, "--store", store, "--key", first.key, "--yes")
    assert code == 0 and out.splitlines()[-1].startswith("1 stored runs")
    assert not (tmp_path / "runs" / f"{first.key}.json.gz").exists()
    _, out, _ = cli("describe", suite, "--store", store)  # opening the store merges its committed runs
    assert "1 done, 0 failed, 0 running, 1 pending" in out
    code, _, err = cli("forget", suite, "--store", store, "--model", "Nope")
    assert code == 2 and "--model Nope: not an entry" in err


class Terminal(io.StringIO):
    """Standard input on a terminal, where someone types `answer`."""

    def isatty(self) -> bool:
        return True


def test_forget_lists_what_it_deletes_and_asks_first(tmp_path, cli, monkeypatch):
    models = [dict(TINY_MODEL), {**TINY_MODEL, "name": "Other", "seq_len": 48}]
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2], models=models))
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store, "--only", "DLinear")[0] == 0
    assert cli("snapshot", suite, "--store", store)[0] == 0
    checkpoint_path(store, load_suite(suite).runs[-1].key).parent.mkdir(exist_ok=True)
    checkpoint_path(store, load_suite(suite).runs[-1].key).write_bytes(b"a run of Other in progress")
    code, out, err = cli("forget", suite, "--store", store)  # no terminal: refused, nothing deleted
    assert code == 2 and err.strip() == (
        f"error: forget: would delete 2 store rows in {store}, 2 committed run files in {tmp_path / 'runs'}/ "
        "and 1 mid-run checkpoints of suite tiny; no terminal to ask on: give --yes (--dry-run lists)"
    )
    code, out, _ = cli("forget", suite, "--store", store, "--dry-run")
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines() if "| " in line]
    assert code == 0 and rows[1:] == [["DLinear", "2", "2", "0"], ["Other", "0", "0", "1"]]
    assert "dry run: nothing deleted" in out
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, _ = cli("forget", suite, "--store", store)
    assert code == 0 and "[y/N]" in out and out.strip().endswith("nothing deleted")
    assert len(RunStore(store).statuses()) == 2 and len(list((tmp_path / "runs").iterdir())) == 2
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, out, _ = cli("forget", suite, "--store", store, "--model", "DLinear")
    assert code == 0 and "2 stored runs of suite tiny forgotten" in out
    assert RunStore(store).statuses() == {} and not list((tmp_path / "runs").iterdir())


def test_a_corrupt_row_is_one_line_naming_the_store_and_the_run(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store)[0] == 0
    key = load_suite(suite).runs[0].key
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET details_json = substr(details_json, 1, 40) WHERE key = ?", (key,))
    for command in ("run", "export", "report"):
        code, _, err = cli(
            command, suite, "--store", store, *(["--out", tmp_path / "o"] if command != "run" else [])
        )
        assert code == 2, command
        assert f"{store}: the row of run {key} is corrupt" in err and "Traceback" not in err
    assert cli("forget", suite, "--store", store, "--key", key, "--yes")[0] == 0
    assert cli("run", suite, "--store", store)[0] == 0


def test_describe_shows_a_run_another_process_is_training(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = RunStore(tmp_path / "runs.sqlite")
    first = load_suite(suite).runs[0]
    store.db.execute("INSERT INTO leases VALUES (?, ?, ?, '2026-12-01T10:00:00+00:00', ?)",
                     (first.key, socket.gethostname(), os.getppid(), time.time()))  # fmt: skip
    code, out, _ = cli("describe", suite, "--store", tmp_path / "runs.sqlite")
    assert code == 0 and "1 running" in out
    assert f"running (pid {os.getppid()}, {socket.gethostname()}, since 2026-12-01T10:00:00+00:00)" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_local_worker_fails_its_runs_and_the_suite_goes_on(tmp_path):
    suite = write_suite(
        tmp_path / "s.yaml",
        tiny_suite_dict(seeds=[1, 2, 3], train={"epochs": 40, "patience": 40, "batch_size": 256}),
    )
    store = tmp_path / "runs.sqlite"
    proc = launch(suite, store, "--jobs", "2")
    deadline, workers = time.monotonic() + 60, set()
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = {
            pid for pid in children(proc.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        }
        time.sleep(0.1)
    assert workers, "the workers did not start"
    time.sleep(1)
    os.kill(min(workers), signal.SIGKILL)  # as the kernel's OOM killer would
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err, err
    rows = stored(store)
    assert len(rows) == 3 and any(status == "ok" for _, status, _ in rows)  # the suite went on after the kill
    assert "the run's worker process died" in err
    again = launch(suite, store, "--retry-failed")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and all(status == "ok" for _, status, _ in stored(store)), err


def test_snapshot_lists_each_mid_run_checkpoint_with_its_run_and_size(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store, "--jobs", "1")[0] == 0
    first, second = load_suite(suite).runs
    folder = tmp_path / "checkpoints"  # where runs keep them: the finished runs left it empty
    (folder / f"{first.key}.pt").write_bytes(b"x" * 2**20)
    with open(folder / f"{second.key}.pt", "wb") as big:
        big.truncate(60 * 2**20)  # sparse: 60 MB without writing them
    code, out, _ = cli("snapshot", suite, "--store", store)
    assert code == 0
    assert f"{first.key}.pt: {first.name} H=24 seed 1, 1.0 MB\n" in out
    assert f"{second.key}.pt: {second.name} H=24 seed 2, 60.0 MB (too big to commit)" in out


def test_a_suite_reuses_another_suites_identical_runs_instead_of_training_them_again(tmp_path, cli):
    first = write_suite(tmp_path / "a.yaml", tiny_suite_dict(name="a", protocol="pa"))
    assert cli("run", first, "--store", tmp_path / "a" / "runs.sqlite")[0] == 0
    other_lookback = dict(TINY_MODEL, name="longer", seq_len=TINY_MODEL["seq_len"] + 8)
    second = write_suite(
        tmp_path / "b.yaml",
        tiny_suite_dict(name="b", protocol="pb", reuse=["a"], models=[dict(TINY_MODEL), other_lookback]),
    )
    store = tmp_path / "b" / "runs.sqlite"
    code, out, err = cli("describe", second, "--store", store)
    assert code == 0 and "1 runs taken from suite a's store" in err
    assert "1 done, 0 failed, 0 running, 1 pending" in out  # the other lookback is another training
    (reused,) = RunStore(store).rows()
    (original,) = RunStore(tmp_path / "a" / "runs.sqlite").rows()
    spec = load_suite(second).runs[0]
    assert reused["key"] == spec.key != original["key"] and reused["protocol"] == "pb"
    assert reused["test_mse"] == original["test_mse"] and reused["spec"] == spec
    assert reused["details"]["reused_from"]["key"] == original["key"]
    code, _, err = cli("describe", second, "--store", store)  # taken once
    assert code == 0 and "taken from" not in err
    code, out, _ = cli("snapshot", second, "--store", store)  # it lives in suite a's committed runs
    assert code == 0 and "0 runs in" in out


def test_a_suite_cannot_reuse_itself(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(name="s", reuse=["s"]))
    code, _, err = cli("describe", suite)
    assert code == 2 and "reuse[0]: 's' must be the name of another suite" in err


def test_pending_runs_go_started_first_then_horizon_by_horizon_and_seed_by_seed(tmp_path):
    models = [dict(TINY_MODEL, name="A"), dict(TINY_MODEL, name="B", params={"kernel_size": 5})]
    suite_path = tmp_path / "s.yaml"
    suite = load_suite(
        write_suite(suite_path, tiny_suite_dict(horizons=[48, 24], seeds=[1, 2], models=models))
    )
    store = RunStore(tmp_path / "runs.sqlite")
    started = next(s for s in suite.runs if (s.name, s.pred_len, s.seed) == ("B", 48, 2))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / f"{started.key}.pt").write_bytes(b"")
    order = [(s.name, s.pred_len, s.seed) for s in pending(suite.runs, store, retry_failed=False)]
    assert order == [
        ("B", 48, 2),
        ("A", 24, 1), ("B", 24, 1), ("A", 24, 2), ("B", 24, 2),
        ("A", 48, 1), ("B", 48, 1), ("A", 48, 2),
    ]  # fmt: skip


def test_a_time_budget_starts_no_run_its_cell_says_would_outlast_it(tmp_path, cli):
    suite_path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(horizons=[24, 48, 96], seeds=[1, 2, 3]))
    suite, store = load_suite(suite_path), RunStore(tmp_path / "runs.sqlite")
    first = next(s for s in suite.runs if (s.pred_len, s.seed) == (48, 1))
    store.put(RunResult(first, "ok", test_mse=0.4, test_mae=0.4, train_seconds=3600.0))  # an hour a run
    outcome = execute(suite.runs, store, executors.local(CPU, 1), hours=0.5)
    assert (outcome.ok, outcome.deferred) == (3, 5)  # H = 24: nothing prices it; H = 96: guessed from 48
    statuses = store.statuses()
    assert {(s.pred_len, s.seed) for s in suite.runs if s.key not in statuses} == {
        (48, 2),
        (48, 3),
        (96, 1),
        (96, 2),
        (96, 3),
    }
    code, _, err = cli("run", str(suite_path), "--store", str(store.path), "--hours", "0.5")
    assert code == 0 and "5 not started (longer than the --hours left)" in err
    assert "H=48 seed=2: not started, ≈ 1.00 h to go (its cell's mean) and 0.50 h of the budget left" in err
    assert "H=96 seed=1: not started, ≈ 1.00 h to go (guessed from H = 48)" in err
    code, _, err = cli("run", str(suite_path), "--store", str(store.path), "--hours", "1.1")
    assert code == 0 and len(store.statuses()) == 9
    code, _, err = cli("run", str(suite_path), "--store", str(store.path), "--hours", "0")
    assert code == 2 and err.strip() == "error: --hours: must be a positive number of hours, got 0"


def damage(path: Path) -> None:
    """8 KB of random bytes written into the middle of a file, as a bad disk or a stray write would."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = random.Random(0).randbytes(8192)
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_one_line_naming_it_and_what_to_do_in_every_command(tmp_path, cli):
    suite_path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=list(range(1, 13))))
    store_path = tmp_path / "a" / "runs.sqlite"
    store = RunStore(store_path)
    for spec in load_suite(suite_path).runs[:10]:  # rows of ~60 kB, as real ones: two left pending
        store.put(
            RunResult(
                spec, "ok", test_mse=0.4, val_mse=0.4, train_seconds=1.0, details={"curve": "x" * 60_000}
            )
        )
    assert cli("snapshot", suite_path, "--store", store_path)[0] == 0
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the file itself, none in its -wal
    damage(store_path)
    for command, *extra in (
        ["describe"], ["run", "--jobs", "1"], ["report", "--out", tmp_path / "r"],
        ["export", "--out", tmp_path / "runs.csv"], ["snapshot"], ["forget", "--yes"],
        ["check", "--reference", tmp_path / "ref.csv", "--update-reference"],
    ):  # fmt: skip
        code, _, err = cli(command, suite_path, "--store", store_path, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1, (command, err)
        assert err.startswith(f"error: {store_path}: the run store is damaged ("), command
        assert (
            f"mv {store_path}* " in err
            and f"re-creates it from the committed runs in {store_path.parent}/runs/" in err
        )
    assert not (tmp_path / "r").exists() and not (tmp_path / "ref.csv").exists()  # nothing trained or written
    away = tmp_path / "a" / "damaged"  # what the line says to do
    away.mkdir()
    for path in store_path.parent.glob("runs.sqlite*"):
        path.rename(away / path.name)
    code, out, err = cli("describe", suite_path, "--store", store_path)
    assert code == 0 and "10 runs taken from the committed runs" in err and "10 done" in out


def test_a_row_whose_text_was_damaged_is_one_line_naming_the_store(tmp_path, cli):
    suite_path = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = RunStore(tmp_path / "runs.sqlite")
    store.put(
        RunResult(load_suite(suite_path).runs[0], "ok", train_seconds=1.0, details={"curve": "x" * 9000})
    )
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = store.path.read_bytes()
    at = data.index(b"x" * 100)
    store.path.write_bytes(data[:at] + b"\xff" * 20 + data[at + 20 :])  # no longer UTF-8 text
    for command, *out in (
        ["describe"],
        ["export", "--out", tmp_path / "o.csv"],
        ["report", "--out", tmp_path],
    ):
        code, _, err = cli(command, suite_path, "--store", store.path, *out)
        assert code == 2 and err.startswith(
            f"error: {store.path}: the run store is damaged (Could not decode"
        )
        assert len(err.strip().splitlines()) == 1 and "xxx" not in err


class FullDisk:
    """A store connection on a disk that fills up when a run's row is written."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, sql: str, *args):
        if sql.startswith(("INSERT INTO runs", "UPDATE leases")):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_a_store_on_a_full_disk_stops_with_one_line_and_keeps_what_it_had(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2])))
    store = RunStore(tmp_path / "runs.sqlite")
    first, second = suite.runs
    store.put(RunResult(first, "ok", test_mse=0.4))
    store.db = FullDisk(store.db)
    with pytest.raises(InputError, match=rf"^disk full: {tmp_path} \(the run store runs.sqlite could not be"):
        execute(suite.runs, store, executors.local(CPU, 1))
    assert store.statuses() == {first.key: "ok"}  # the finished run kept, the other pending, none failed
    store.heartbeat(second.key)  # a beat that cannot be written waits for the next: no traceback in a thread


def test_a_run_that_fills_the_disk_stays_pending_with_its_checkpoint_and_the_command_says_so(
    tmp_path, cli, monkeypatch
):
    suite_path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2], train={"epochs": 2}))
    store_path = tmp_path / "runs.sqlite"
    first, second = load_suite(suite_path).runs
    real_save, saves = torch.save, []

    def fills_up(state, path):  # the fourth checkpoint (run 2, epoch 2) meets a full disk, as torch says it
        saves.append(path)
        if len(saves) == 4:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
        real_save(state, path)

    monkeypatch.setattr(torch, "save", fills_up)
    code, _, err = cli("run", suite_path, "--store", store_path, "--jobs", "1")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: disk full: {tmp_path / 'checkpoints'} (DLinear ETTh1")
    assert "Traceback" not in err
    assert RunStore(store_path).statuses() == {first.key: "ok"}  # the second is pending, not failed
    assert torch.load(checkpoint_path(store_path, second.key), weights_only=False)["epoch"] == 1  # kept
    monkeypatch.setattr(torch, "save", real_save)  # space freed
    code, _, err = cli("run", suite_path, "--store", store_path, "--jobs", "1")
    assert code == 0 and "resumes after epoch 1" in err and "1 trained" in err
