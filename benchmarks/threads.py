"""Benchmark: a run on more torch threads against the same run on one, side by side in one process.

`run --threads N` is for a run that must end sooner than one thread lets it: a Crossformer run at H = 720
takes longer than a session on one thread, and its checkpoint is too large to carry to the next one. For each
cell of the suite's chosen entries (an entry at one horizon) this times the recipe's own training strategy on
the first `--batches` batches of the real ETTh1 training windows (after a warm-up pass) and one evaluation
batch of validation windows, at each thread count in turn, `--repeats` rounds alternating the counts
(medians), and extrapolates to an epoch (training + validation pass) and to a whole run at the mean epochs
the cell's stored runs ran (where none has finished: the entry's at its nearest shorter horizon, else the
recipe's maximum).

"× first" is the speed-up of one run over the first thread count; "per core" is that over the ratio of the
thread counts: below 1, the machine trains less per hour than with one single-thread run per core (`--jobs`),
which is why one thread stays the default. Run it on an idle machine: a thread that waits for a core another
process holds makes every parallel region wait with it.

Usage: python benchmarks/threads.py [--suite suites/etth1.yaml] [--only Crossformer] [--horizons 336 720]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import torch
from speed import ROOT, Recipe, first_windows, median_seconds, publish, stored_epochs, time_training
from tabulate import tabulate

from harness import registry
from harness.cpu import prepare_process
from harness.datasets import load_table, resolve
from harness.evaluate import evaluate
from harness.protocol import Splits, prepare
from harness.remaining import nearest_shorter
from harness.suite import load_suite
from harness.train import strategy_for


def one_round(recipe: Recipe, splits: Splits, n_batches: int, n_channels: int) -> tuple[float, float]:
    """(seconds per training batch, seconds per validation window) at the current thread count."""
    per_batch, model, _ = time_training(recipe, recipe.cfg, splits, n_batches, 1, n_channels)
    n_eval = min(len(splits.val), recipe.cfg.eval_batch_size)
    windows = first_windows(splits.val, n_eval)
    evaluate(model, windows, recipe.cfg.eval_batch_size)  # warm-up: the first pass pages its buffers in
    per_window = median_seconds(lambda: evaluate(model, windows, recipe.cfg.eval_batch_size), 1) / n_eval
    return per_batch, per_window


def epochs_to_price(name: str, seq_len: int, horizon: int, protocol: str, stored: dict, maximum: int):
    """(epochs, where that number comes from) for a whole run of the cell."""
    cell = (name, seq_len, horizon, protocol)
    if cell in stored:
        return statistics.mean(stored[cell]), "its stored runs"
    nearest = nearest_shorter(cell, stored, horizon_at=2)
    if nearest is not None:
        return statistics.mean(stored[nearest]), f"stored runs at H = {nearest[2]}"
    return maximum, "the recipe's maximum"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default=str(ROOT / "suites" / "etth1.yaml"))
    parser.add_argument("--only", nargs="+", default=["Crossformer"], help="suite entries to time")
    parser.add_argument("--horizons", nargs="+", type=int, default=[336, 720])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts (first: base)")
    parser.add_argument("--batches", type=int, default=3, help="training batches timed per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, each timing every thread count")
    parser.add_argument("--out", default=str(ROOT / "results" / "speed" / "threads.md"))
    args = parser.parse_args()
    prepare_process(torch.device("cpu"))

    suite = load_suite(args.suite)
    ref = resolve("ETTh1", "benchmark")
    table = load_table(ref)
    stored = stored_epochs(ROOT / "results")
    chosen = [s for s in suite.runs if s.name in args.only and s.pred_len in args.horizons]
    cells = {(s.name, s.pred_len): s for s in chosen}  # one per entry and horizon: seeds share a recipe
    rows = []
    for spec in cells.values():
        recipe = Recipe.from_spec(spec)
        splits = prepare(table, ref.split, spec.seq_len, spec.pred_len, torch.device("cpu"),
                         registry.get(spec.model).time_features)  # fmt: skip
        model = registry.build(spec.model, spec.seq_len, spec.pred_len, len(table.columns), **spec.params)
        batches = strategy_for(spec.model)(model, spec.train, splits, torch.Generator()).batches_per_epoch()
        epochs, priced_by = epochs_to_price(spec.name, spec.seq_len, spec.pred_len, suite.protocol, stored,
                                            spec.train.epochs)  # fmt: skip
        timed: dict[int, list[tuple[float, float]]] = {t: [] for t in args.threads}
        for _ in range(args.repeats):
            for threads in args.threads:
                torch.set_num_threads(threads)
                timed[threads].append(one_round(recipe, splits, args.batches, len(table.columns)))
        base = None
        for threads in args.threads:
            per_batch = statistics.median(t[0] for t in timed[threads])
            per_window = statistics.median(t[1] for t in timed[threads])
            epoch_s = per_batch * batches + per_window * len(splits.val)
            base = base or epoch_s
            speedup = base / epoch_s
            rows.append([spec.name, spec.pred_len, spec.seq_len, threads, f"{epoch_s / 60:.1f}",
                         f"{epochs:.1f} ({priced_by})", f"{epochs * epoch_s / 3600:.2f}", f"{speedup:.2f}×",
                         f"{speedup * args.threads[0] / threads:.2f}"])  # fmt: skip
        print(f"{spec.name} H={spec.pred_len}: timed", flush=True)
    headers = ["entry", "H", "L", "threads", "min / epoch", "epochs", "h / run", "× first", "per core"]
    text = (
        f"## One run on more threads, {os.cpu_count()} cores, torch {torch.__version__}\n\n"
        f"First {args.batches} training batches and one evaluation batch of validation windows, median of "
        f"{args.repeats} rounds alternating the thread counts, extrapolated to an epoch and a run.\n\n"
        + tabulate(rows, headers, tablefmt="github", disable_numparse=True)
        + "\n"
    )
    publish(text, Path(args.out))


if __name__ == "__main__":
    main()
