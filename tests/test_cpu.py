"""CPU execution: a fixed thread count per run (one unless `--threads` says more) whatever the process, so
`--jobs` never changes a run's bits."""

import os
import re

import pytest
import torch

from harness import cpu, executors
from harness.execute import execute
from harness.runner import run_one
from harness.store import RunStore
from harness.suite import load_suite

from conftest import tiny_suite_dict, write_suite

CPU = torch.device("cpu")


def test_a_run_on_cpu_trains_on_one_thread(tmp_path):
    spec = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict())).runs[0]
    torch.set_num_threads(2)
    assert run_one(spec, CPU).status == "ok"
    assert torch.get_num_threads() == cpu.RUN_THREADS == 1


def test_more_threads_train_a_run_to_within_rounding_and_each_run_records_its_count(tmp_path):
    spec = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict())).runs[0]
    one, two, again = run_one(spec, CPU), run_one(spec, CPU, threads=2), run_one(spec, CPU, threads=2)
    assert torch.get_num_threads() == 2
    assert (again.test_mse, again.val_mse) == (two.test_mse, two.val_mse)  # the same count, the same bits
    assert (one.details["threads"], two.details["threads"]) == (1, 2)
    assert [epoch["threads"] for epoch in two.details["curve"]] == [2]  # a resumed run shows each epoch's
    assert (two.test_mse, two.val_mse) == pytest.approx((one.test_mse, one.val_mse), rel=1e-5)


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_threads_reach_every_run_whether_in_process_or_in_workers(tmp_path, cli, jobs):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = tmp_path / "runs.sqlite"
    code, _, err = cli("run", suite, "--store", store, "--jobs", str(jobs), "--threads", "2")
    assert code == 0 and f"({jobs} at once, 2 threads a run)" in err
    assert ("is more threads than the" in err) == (jobs * 2 > (os.cpu_count() or 1))
    assert [row["details"]["threads"] for row in RunStore(store).rows()] == [2, 2]
    code, _, err = cli("run", suite, "--store", store, "--threads", "0")
    assert code == 2 and err.strip() == "error: --threads: must be at least 1, got 0"


def test_worker_processes_give_the_bits_of_a_sequential_run_and_its_epoch_lines(tmp_path, capsys):
    model = {"name": "iT", "model": "itransformer", "seq_len": 96, "params": {"d_model": 64, "d_ff": 64}}
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2], models=[model])))
    torch.set_num_threads(2)  # what an unpinned parent would train with
    metrics = []
    for jobs in (1, 2):
        store = RunStore(tmp_path / f"jobs{jobs}.sqlite")
        assert execute(suite.runs, store, executors.local(CPU, jobs)).ok == 2
        shown = capsys.readouterr().err  # a worker's lines come back to this process, which shows them
        for spec in suite.runs:
            assert re.search(rf"\d\d:\d\d:\d\d {re.escape(spec.label)}: epoch 1 of ≤ 1, train loss", shown)
        metrics.append(sorted((r["seed"], r["test_mse"], r["val_mse"]) for r in store.rows()))
    assert metrics[0] == metrics[1]


def test_malloc_keeps_freed_memory_on_linux_and_jobs_default_to_the_cores():
    assert cpu.keep_freed_memory() is True  # CI and every machine of this project run glibc
    assert cpu.default_jobs(CPU) == os.cpu_count()
    assert cpu.default_jobs(torch.device("cuda")) == 1


def test_flushing_subnormals_trains_a_long_gru_to_the_same_weights():
    """DynoNet's controller is a GRU over the whole window: its backward makes subnormal gradients, which
    `prepare_process` flushes for speed. Weights and loss after real steps must not change."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 512, 7), torch.randn(64, 16)
    results = []
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        torch.manual_seed(1)
        gru, head = torch.nn.GRU(7, 16, batch_first=True), torch.nn.Linear(16, 16)
        optimizer = torch.optim.Adam([*gru.parameters(), *head.parameters()], lr=1e-3)
        for _ in range(3):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(head(gru(x)[0][:, -1]), y)
            loss.backward()
            optimizer.step()
        results.append((loss.item(), [p.detach().clone() for p in [*gru.parameters(), *head.parameters()]]))
    torch.set_flush_denormal(True)
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))
