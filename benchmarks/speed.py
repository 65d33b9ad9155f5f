"""Benchmark: how fast every official recipe trains on this machine, against the machine's FLOP bound, and
what a whole suite would cost.

For each preset at each horizon it runs the recipe's own training strategy (DynoNet's bi-level steps included)
on the first `--batches` batches of the real training windows (ETTh1's; with `--suite`, each dataset's own),
after one warm-up pass, and extrapolates to a full epoch (median of `--repeats`); the validation pass is timed
once on the first evaluation batch of the validation windows and extrapolated the same way (the test pass
likewise). FLOPs per training step come from `torch.utils.flop_counter` over one step (forward and backward of
everything the strategy runs; optimiser arithmetic is not counted). The FLOP bound is the time those FLOPs
take at the sustained rate of a large fp32 matmul measured in the same run, with the same thread count: "×
bound" is the measured epoch over it.

Where a recipe cannot come near that bound, the op floor says why. It is what the step's unavoidable work
costs on this machine, measured in the same run: every matmul-family op of the step (forward and backward)
replayed alone with its operands' sizes and strides (so a GRU's 512 small sequential matmuls, or a product
with 7 columns, is priced at the rate such a shape really gets), plus the random numbers dropout draws at
the measured rate of the kernel that draws them (`harness.bernoulli` for the models' `Dropout`, torch's
serial mt19937 loop for any other draw; a different generator would change the dropout masks, so the
results). Elementwise ops, dispatch and Python are what lies between the floor and the measured epoch
("× floor"). Beside it, in the same run, the epoch on torch's own kernels only (`harness.native.torch_only`:
the dropout masks by torch's serial loop, TSMixer's feature mixing by torch's ops): what the project's C
kernels save.

With `--suite`, every run of the suite is priced as epochs × (train epoch + validation pass) + one test pass.
Epochs are those stored runs really ran where exported results (`results/*/runs.csv`) or committed campaign
snapshots hold a run of the same cell (suite entry name, L, H, protocol), else the recipe's maximum. The wall
time on the machine's cores is the longest of the cores' sums when runs are dealt, longest first, to
`--jobs` single-thread workers (assuming runs on different cores do not slow each other; sharing the memory
system costs some more).

Usage: python benchmarks/speed.py [--models dlinear-etth1 ...] [--horizons 96 720] [--suite suites/etth1.yaml]
"""

from __future__ import annotations

import argparse
import copy
import csv
import heapq
import itertools
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
from tabulate import tabulate
from torch import nn
from torch.ops import aten

from harness import bernoulli, native, registry
from harness.cpu import prepare_process
from harness.datasets import load_table, resolve
from harness.evaluate import evaluate
from harness.profile import FlopCount
from harness.protocol import Splits, prepare
from harness.runner import seed_everything
from harness.spec import RunSpec, TrainConfig
from harness.store import committed_rows
from harness.suite import Suite, load_suite, preset_settings, presets
from harness.train import strategy_for
from harness.windows import WindowSet

ROOT = Path(__file__).resolve().parents[1]  # the checkout: results/ holds the stored runs this prices


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Sustained fp32 GFLOP/s of an n×n matmul: the bound a training step's FLOPs are compared with."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


MATMULS = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm}
RANDOM = {aten.bernoulli_, aten.bernoulli, aten.uniform_, aten.rand, aten.normal_}


def operand(value):
    """A hashable description of an op argument: (size, stride) for a tensor, the value otherwise."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.stride(), value.dtype)
    return value


class StepOps(FlopCount):
    """FLOPs of the ops run under it (torch's ops: FlopCount turns the C kernels off), the matmul-family
    calls by shape (with their count), and the random values drawn: `kernel_draws` for the dropout masks
    that `harness.bernoulli` draws outside this count (a scalar-rate `bernoulli_`), `draws` for the rest."""

    def __init__(self):
        super().__init__()
        self.matmuls: Counter = Counter()
        self.draws = 0
        self.kernel_draws = 0
        self._kernel = bernoulli.available()  # asked before FlopCount turns the kernels off

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = super().__torch_dispatch__(func, types, args, kwargs)
        packet = func._overloadpacket
        if packet in MATMULS:
            self.matmuls[(func, tuple(operand(a) for a in args), tuple(sorted((kwargs or {}).items())))] += 1
        elif packet in RANDOM:
            n = (args[0] if packet is aten.bernoulli_ or packet is aten.uniform_ else out).numel()
            if func is aten.bernoulli_.float and args[0].dtype == torch.float32 and self._kernel:
                self.kernel_draws += n
            else:
                self.draws += n
        return out


def replay_seconds(call: tuple) -> float:
    """Median time of one matmul-family call alone, on random operands of the recorded sizes and strides."""
    func, args, kwargs = call
    tensors = [
        torch.empty_strided(a[1], a[2], dtype=a[3]).normal_() if isinstance(a, tuple) and a[:1] == ("tensor",)
        else a
        for a in args
    ]  # fmt: skip
    func(*tensors, **dict(kwargs))
    return median_seconds(lambda: func(*tensors, **dict(kwargs)), 3)


def seconds_per_draw(draw, n: int = 2**23) -> float:
    """Time of one random value as `draw(mask, p)` fills a float32 dropout mask from torch's CPU generator."""
    values = torch.empty(n)
    draw(values, 0.5)
    return median_seconds(lambda: draw(values, 0.5), 3) / n


DRAWS = {"torch": lambda mask, p: mask.bernoulli_(p), "kernel": bernoulli.bernoulli_}


def first_windows(windows: WindowSet, n: int) -> WindowSet:
    """The first n windows of a split, as a split of their own."""
    rows = n + windows.seq_len + windows.pred_len - 1
    marks = None if windows.marks is None else windows.marks[:rows]
    return WindowSet(windows.values[:rows], marks, windows.seq_len, windows.pred_len)


def with_train(splits: Splits, n_batches: int) -> Splits:
    """The splits with training epochs cut to their first `n_batches` batches (what a timed step needs).

    The split itself is whole, so a strategy sees what a run sees: DynoNet-clean's controller holdout, a
    OneCycle schedule's length."""
    train = copy.copy(splits.train)
    batches = splits.train.batches
    train.batches = lambda *args, **kwargs: itertools.islice(batches(*args, **kwargs), n_batches)
    return Splits(train, splits.val, splits.test, splits.mean, splits.std)


@dataclass
class Speed:
    label: str  # preset or suite entry
    dataset: str
    horizon: int
    model: str
    seq_len: int
    batches: int  # training batches in a full epoch
    epoch_s: float
    val_s: float
    test_s: float
    step_gflop: float  # per training step
    val_gflop: float  # per validation pass
    matmul_s: float  # per training step: its matmul-family ops replayed alone at their shapes
    rng_s: float  # per training step: dropout's random draws at their kernel's measured rate
    torch_epoch_s: float  # the epoch on torch's own kernels (harness.native.torch_only)

    @property
    def floor_epoch_s(self) -> float:
        return (self.matmul_s + self.rng_s) * self.batches

    @property
    def epoch_gflop(self) -> float:
        return self.step_gflop * self.batches


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(frozen=True)
class Recipe:
    """One training configuration to time: a preset at a horizon, or a suite entry's cell."""

    label: str
    dataset: str
    model: str
    seq_len: int
    horizon: int
    params: dict
    cfg: TrainConfig

    @classmethod
    def from_preset(cls, preset: str, horizon: int) -> Recipe:
        model, seq_len, params, cfg = preset_settings(preset, horizon)
        return cls(preset, "ETTh1", model, seq_len, horizon, params, cfg)

    @classmethod
    def from_spec(cls, spec: RunSpec) -> Recipe:
        return cls(spec.name, spec.dataset, spec.model, spec.seq_len, spec.pred_len, spec.params, spec.train)


def time_training(
    recipe: Recipe, cfg: TrainConfig, splits: Splits, n_batches: int, repeats: int, n_channels: int
) -> tuple[float, nn.Module, torch.Generator]:
    """Seconds per training batch (median of `repeats` epochs of `n_batches`, after a warm-up epoch), the
    model and its generator."""
    short = with_train(splits, n_batches)
    generator = seed_everything(1)
    model = registry.build(recipe.model, recipe.seq_len, recipe.horizon, n_channels, **recipe.params)
    strategy = strategy_for(recipe.model)(model, cfg, short, generator)
    strategy.train_epoch(1)  # warm-up: allocator, optimiser state, lazy imports
    seconds = median_seconds(lambda: strategy.train_epoch(2), repeats)
    return seconds / min(n_batches, strategy.batches_per_epoch()), model, generator


def trains(recipe: Recipe, n_channels: int) -> bool:
    """Whether the recipe's model has parameters to train (the naive references have none)."""
    model = registry.build(recipe.model, recipe.seq_len, recipe.horizon, n_channels, **recipe.params)
    return registry.count_params(model) > 0


def measure(recipe: Recipe, table, split: str, n_batches: int, repeats: int, draw_s: dict) -> Speed:
    model_key, seq_len, horizon, cfg = recipe.model, recipe.seq_len, recipe.horizon, recipe.cfg
    info = registry.get(model_key)
    splits = prepare(table, split, seq_len, horizon, torch.device("cpu"), info.time_features)
    model = registry.build(model_key, seq_len, horizon, len(table.columns), **recipe.params)
    full_batches = strategy_for(model_key)(model, cfg, splits, torch.Generator()).batches_per_epoch()
    timing = (recipe, cfg, splits, n_batches, repeats, len(table.columns))
    with native.torch_only():
        torch_per_batch = time_training(*timing)[0]
    per_batch, model, generator = time_training(*timing)

    one_step = with_train(splits, 1)
    with StepOps() as ops:
        strategy_for(model_key)(model, cfg, one_step, generator).train_epoch(2)
    matmul_s = sum(count * replay_seconds(call) for call, count in ops.matmuls.items())

    # Evaluation: one full evaluation batch (or the whole split if smaller) of validation windows, timed once
    # after a warm-up on the same windows (a run's first pass page-faults its buffers in; later ones reuse
    # them); per window the same for the test split.
    n_eval = min(len(splits.val), cfg.eval_batch_size)
    evaluate(model, first_windows(splits.val, n_eval), cfg.eval_batch_size)
    per_window = (
        median_seconds(lambda: evaluate(model, first_windows(splits.val, n_eval), cfg.eval_batch_size), 1)
        / n_eval
    )
    model.eval()
    x, x_mark, _ = splits.val.batch(torch.arange(8))
    with torch.no_grad(), FlopCount() as flops:
        model(x, x_mark)
    val_gflop = flops.total / 8 * len(splits.val) / 1e9
    val_s, test_s = per_window * len(splits.val), per_window * len(splits.test)
    rng_s = ops.draws * draw_s["torch"] + ops.kernel_draws * draw_s["kernel"]
    return Speed(
        recipe.label, recipe.dataset, horizon, model_key, seq_len, full_batches, per_batch * full_batches,
        val_s, test_s, ops.total / 1e9, val_gflop, matmul_s, rng_s,
        torch_per_batch * full_batches,
    )  # fmt: skip


def speed_table(speeds: list[Speed], peak: float) -> str:
    rows = []
    for s in speeds:
        achieved = s.epoch_gflop / s.epoch_s
        rows.append(
            [
                s.label, s.dataset, s.horizon, s.seq_len, s.batches, f"{s.epoch_s:.1f}", f"{s.val_s:.2f}",
                f"{s.step_gflop:.2f}", f"{s.epoch_gflop:,.0f}", f"{achieved:.1f}", f"{peak / achieved:.1f}×",
                f"{s.matmul_s * s.batches:.1f} + {s.rng_s * s.batches:.1f}",
                f"{s.epoch_s / s.floor_epoch_s:.1f}×",
                f"{s.torch_epoch_s:.1f} ({s.torch_epoch_s / s.epoch_s:.2f}×)",
            ]
        )  # fmt: skip
    headers = [
        "recipe", "dataset", "H", "L", "batches", "s / train epoch", "s / val pass", "GFLOP / step",
        "GFLOP / epoch", "GFLOP/s", "× bound", "floor s: matmul + RNG", "× floor",
        "s / epoch on torch's kernels (× slower)",
    ]  # fmt: skip
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def stored_epochs(results: Path) -> dict[tuple, list[int]]:
    """Epochs that stored ok runs really ran, per (suite entry name, dataset, L, H, protocol): from exported
    results (`runs.csv`) and committed campaign runs (`runs/`, read-only)."""
    epochs: dict[tuple, list[int]] = {}
    rows: list[dict] = []
    for path in sorted(results.glob("*/runs.csv")):
        with path.open() as f:
            rows += list(csv.DictReader(f))
    for folder in sorted(p for p in results.iterdir() if p.is_dir()):
        rows += committed_rows(folder / "runs.sqlite")
    for row in rows:
        if row["status"] == "ok" and row["epochs_run"]:
            cell = (row["name"], row["dataset"], int(row["seq_len"]), int(row["pred_len"]), row["protocol"])
            epochs.setdefault(cell, []).append(int(row["epochs_run"]))
    return epochs


def lpt_wall(seconds: list[float], workers: int) -> float:
    """Wall time when jobs are dealt, longest first, to whichever worker frees first."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def suite_estimate(suite: Suite, speeds: dict[tuple, Speed], peak: float, jobs: int) -> str:
    known = stored_epochs(ROOT / "results")
    rows = []
    untrained = 0
    for spec in {spec.key: spec for spec in suite.runs}.values():
        s = speeds.get((spec.name, spec.dataset, spec.pred_len))
        if s is None:  # a naive reference: nothing to train, one test pass of ~a second
            untrained += 1
            continue
        seen = known.get((spec.name, spec.dataset, spec.seq_len, spec.pred_len, suite.protocol))
        epochs = statistics.median(seen) if seen else spec.train.epochs
        run_s = epochs * (s.epoch_s + s.val_s) + s.test_s
        bound_s = (epochs * (s.epoch_gflop + s.val_gflop)) / peak
        floor_s = epochs * (s.floor_epoch_s + s.val_gflop / peak)
        rows.append((spec.name, spec.dataset, spec.pred_len, epochs, bool(seen), run_s, bound_s, floor_s))

    def wall(subset: list[tuple]) -> tuple[str, str, str, str]:
        run_wall = lpt_wall([r[5] for r in subset], jobs)
        bound_wall, floor_wall = (sum(r[i] for r in subset) / jobs for i in (6, 7))
        ratios = (f"{run_wall / bound_wall:.1f}×", f"{run_wall / floor_wall:.1f}×")
        return f"{sum(r[5] for r in subset) / 3600:.1f}", str(timedelta(seconds=round(run_wall))), *ratios

    per_model: dict[tuple, list[tuple]] = {}
    for r in rows:
        per_model.setdefault((r[0], r[1], r[2]), []).append(r)
    table = [
        [name, dataset, h, f"{rs[0][3]:g}" + ("" if rs[0][4] else " (max)"), len(rs),
         *(f"{sum(r[i] for r in rs) / 3600:.2f}" for i in (5, 6, 7))]
        for (name, dataset, h), rs in per_model.items()
    ]  # fmt: skip
    out = [
        f"### Suite `{suite.path}`: {len(rows)} runs, priced per run on 1 thread "
        f"({untrained} runs of models without parameters train nothing and are left out)\n",
        tabulate(
            table,
            [
                "model",
                "dataset",
                "H",
                "epochs",
                "runs",
                "CPU-hours",
                "CPU-hours at bound",
                "CPU-hours at floor",
            ],
            tablefmt="github",
            disable_numparse=True,
        ),
        f"\nWall time on {jobs} cores ({jobs} runs at once, 1 thread each):\n",
    ]
    slices = {"all": rows}
    for dataset in dict.fromkeys(r[1] for r in rows):
        for h in sorted({r[2] for r in rows}):
            slices[f"{dataset} H = {h}"] = [r for r in rows if r[1] == dataset and r[2] == h]
    summary = [[name, len(subset), *wall(subset)] for name, subset in slices.items() if subset]
    headers = ["slice", "runs", "CPU-hours", "wall", "× bound", "× floor"]
    out.append(tabulate(summary, headers, tablefmt="github", disable_numparse=True))
    return "\n".join(out)


def publish(text: str, out: Path) -> None:
    """Print a benchmark's Markdown and write it to `out`."""
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=presets(), help="presets (default: all)")
    parser.add_argument("--horizons", nargs="+", type=int, default=[96, 720])
    parser.add_argument("--batches", type=int, default=3, help="training batches timed per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a run uses)")
    parser.add_argument("--suite", help="time this suite's cells instead of the presets, and price its runs")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once for --suite")
    parser.add_argument("--out", default=str(ROOT / "results" / "speed" / "speed.md"))
    args = parser.parse_args()
    prepare_process(torch.device("cpu"))  # what a run on CPU trains with
    torch.set_num_threads(args.threads)

    suite = load_suite(args.suite) if args.suite else None
    if suite is None:
        recipes = [Recipe.from_preset(p, h) for p in args.models for h in args.horizons]
    else:  # one per entry, dataset and horizon: seeds share a recipe
        recipes = list({(s.name, s.dataset, s.pred_len): Recipe.from_spec(s) for s in suite.runs}.values())
    load_before = os.getloadavg()[0]
    peak = matmul_gflops()
    draw_s = {name: seconds_per_draw(draw) for name, draw in DRAWS.items()}
    refs = {name: resolve(name, "benchmark") for name in dict.fromkeys(r.dataset for r in recipes)}
    tables = {name: load_table(ref) for name, ref in refs.items()}
    recipes = [r for r in recipes if trains(r, len(tables[r.dataset].columns))]
    speeds: dict[tuple, Speed] = {}
    for recipe in recipes:
        ref = refs[recipe.dataset]
        s = measure(recipe, tables[recipe.dataset], ref.split, args.batches, args.repeats, draw_s)
        speeds[(recipe.label, recipe.dataset, recipe.horizon)] = s
        label = f"{recipe.label} {recipe.dataset} H={recipe.horizon}"
        print(f"{label}: {s.epoch_s:.1f} s/epoch, {s.val_s:.2f} s/val", flush=True)
    shown = list(speeds.values())
    load = f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    lines = [
        f"## Training speed on {os.cpu_count()} cores, {args.threads} thread(s), torch {torch.__version__}\n",
        f"Load average (1 min) while measuring: {load} (above 0 it is other work on the same cores, which "
        "slows every time below by about as much).\n",
        f"fp32 matmul (2048²): **{peak:.1f} GFLOP/s**, the bound; a dropout mask's random value: "
        f"**{draw_s['kernel'] * 1e9:.2f} ns** by `harness.bernoulli`"
        f"{'' if bernoulli.available() else ' (not built here: torch draws)'}, "
        f"**{draw_s['torch'] * 1e9:.1f} ns** by torch's kernel. Epoch and validation times are "
        f"extrapolated from the first {args.batches} training batches and the first evaluation batch "
        f"(median of {args.repeats}).\n",
        speed_table(shown, peak),
    ]
    if args.suite:
        lines += ["", suite_estimate(suite, speeds, peak, args.jobs)]
    publish("\n".join(lines) + "\n", Path(args.out))


if __name__ == "__main__":
    main()
