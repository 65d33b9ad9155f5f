"""The command line: run, describe, models, datasets, export.

Exit codes: 0 ok, 1 some runs of the suite failed, 2 bad input (one line on stderr, nothing run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from tabulate import tabulate

from harness import checkpoint, executors, registry, remaining, scaffold
from harness.cpu import RUN_THREADS, default_jobs
from harness.datasets import BUNDLED, data_dir, load_table, resolve
from harness.errors import InputError
from harness.evaluate import absurd
from harness.execute import execute, pending
from harness.protocol import window_counts
from harness.runner import resolve_device
from harness.store import COLUMNS, RUN_FILE, RunStore, checkpoint_path, committed_dir, has_committed
from harness.suite import SUITE_DIR, Suite, load_suite, preset_settings, presets, shipped_suites
from harness.train import DefaultStrategy, strategy_for

LEADING_COLUMNS = (
    "name",
    "model",
    "dataset",
    "seq_len",
    "pred_len",
    "seed",
    "status",
    "test_mse",
    "test_mae",
    "val_mse",
    "params",
    "protocol",
)
EXPORT_COLUMNS = LEADING_COLUMNS + tuple(c for c in COLUMNS if c not in LEADING_COLUMNS)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dynobench", description="Train and benchmark forecasting models from YAML suites."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_store(cmd: argparse.ArgumentParser) -> argparse.ArgumentParser:
        cmd.add_argument(
            "suite", metavar="SUITE", help="suite YAML file, or a shipped suite's name (see suites)"
        )
        cmd.add_argument("--store", help="run store (default: results/<suite name>/runs.sqlite)")
        return cmd

    def with_execution(cmd: argparse.ArgumentParser) -> argparse.ArgumentParser:
        cmd.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        cmd.add_argument(
            "--jobs", type=int, help="runs at once in worker processes (default: 1 per CPU core, 1 on GPU)"
        )
        cmd.add_argument(
            "--executor", choices=("local", "ray"), default="local",
            help="where runs train: worker processes on this machine, or tasks on a Ray cluster",
        )  # fmt: skip
        cmd.add_argument("--address", help="Ray cluster to join (default: start Ray on this machine)")
        cmd.add_argument(
            "--threads", type=int, default=RUN_THREADS,
            help="torch threads a run trains on, on CPU (default 1: a run's bits never depend on --jobs; "
            "more make one run end sooner, change its last bits, and each run records its count)",
        )  # fmt: skip
        cmd.add_argument("--cpus-per-run", type=float, help="Ray: CPUs a run asks for (default: --threads)")
        cmd.add_argument("--gpus-per-run", type=float, help="Ray: GPUs a run asks for, e.g. 0.25 (default 0)")
        return cmd

    run = with_execution(
        with_store(sub.add_parser("run", help="train every pending run of a suite (resumable)"))
    )
    run.add_argument("--retry-failed", action="store_true", help="train runs stored as failed again")
    run.add_argument(
        "--only", nargs="+", metavar="NAME", help="train only these suite entries (one process per model)"
    )
    run.add_argument(
        "--hours", type=float,
        help="time budget (a session, a job allocation): start no run that its cell's finished runs (or the "
        "same entry's at its nearest shorter horizon) say would end later than this many hours from now; "
        "it stays pending",
    )  # fmt: skip
    describe = with_store(sub.add_parser("describe", help="the plan: every run, its parameters and status"))
    describe.add_argument("--format", choices=("table", "json"), default="table")
    report = with_store(
        sub.add_parser("report", help="leaderboard, efficiency and reproduction tables, figures")
    )
    report.add_argument("--out", help="folder (default: results/<suite name>/)")
    report.add_argument("--ci", choices=("t", "bootstrap"), default="t", help="confidence interval method")
    report.add_argument(
        "--include-absurd", action="store_true",
        help="keep absurd runs (diverged: worse on validation than forecasting zeros) in every mean, rank, "
        "mark and figure, as the leaderboard then says (by default tables show them and count them nowhere)",
    )  # fmt: skip
    report.add_argument(
        "--readme",
        help="also put the leaderboard in this Markdown file, between <!-- begin SUITE --> and "
        "<!-- end SUITE --> (with the commit and the CPU-hours that produced it)",
    )
    check = with_execution(
        with_store(
            sub.add_parser("check", help="CI gate: run what is pending, compare cells with a reference")
        )
    )
    check.add_argument("--reference", required=True, help="CSV of per-cell mean, std, n")
    check.add_argument("--tolerance", type=float, default=0.05, help="allowed relative MSE increase (0.05)")
    check.add_argument("--std-tolerance", type=float, default=3.0, help="or this many reference stds (3)")
    check.add_argument("--update-reference", action="store_true", help="write the current cells as reference")
    check.add_argument("--allow-new", action="store_true", help="suite cells the reference lacks do not fail")
    with_store(
        sub.add_parser(
            "snapshot", help="the store's finished runs as files to commit, one a run; run resumes from them"
        )
    )
    forget = with_store(
        sub.add_parser("forget", help="delete stored runs of a suite (a diverged run, a corrupt row)")
    )
    forget.add_argument("--model", help="only the runs of this suite entry name")
    forget.add_argument("--key", help="only the run with this key (describe --format json shows keys)")
    forget.add_argument("--yes", action="store_true", help="delete without asking (needed with no terminal)")
    forget.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    sub.add_parser("models", help="registered models")
    sub.add_parser("datasets", help="bundled datasets")
    sub.add_parser("suites", help="the suites that ship with dynobench (run them by name)")
    new_model = sub.add_parser(
        "new-model", help="write baselines/NAME.py and tests/test_NAME.py for a new model"
    )
    new_model.add_argument("name", metavar="NAME", help="registry key and module name, e.g. mixer_lite")
    export = with_store(sub.add_parser("export", help="a suite's stored runs as CSV, one row per run"))
    export.add_argument("--out", help="CSV file (default: results/<suite name>/runs.csv; '-' for stdout)")
    return p


def interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (kill, a CI timeout) ends a command as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return COMMANDS[args.command](args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(
            "interrupted: finished runs are stored, runs in progress resume at their last finished epoch; "
            "run the same command again",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def open_store(suite: Suite, path: str | None, create: bool = True) -> RunStore | None:
    store_path = Path(path) if path else suite.default_store()
    sources = [store_path.parent.parent / name / store_path.name for name in suite.reuse]
    reusable = any(source.exists() or has_committed(source) for source in sources)
    if not create and not store_path.exists() and not has_committed(store_path) and not reusable:
        return None
    try:
        store = RunStore(store_path)
        taken = store.merge_snapshot()
        adopted = store.adopt(suite.runs, sources)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"--store {store_path}: cannot open the run store ({e})") from None
    if taken:
        print(f"{taken} runs taken from the committed runs beside {store_path}", file=sys.stderr)
    for name, n in adopted.items():
        print(
            f"{n} runs taken from suite {name}'s store: the same training, under its protocol label",
            file=sys.stderr,
        )
    return store


def run_pending(args: argparse.Namespace, retry_failed: bool = False):
    """Load the suite and train what its store lacks (shared by `run` and `check`)."""
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs: must be at least 1, got {args.jobs}")
    if args.threads < 1:
        raise InputError(f"--threads: must be at least 1, got {args.threads}")
    ray = args.executor == "ray"
    for flag, value, unset in (
        ("--address", args.address, None), ("--cpus-per-run", args.cpus_per_run, None),
        ("--gpus-per-run", args.gpus_per_run, None),
    ):  # fmt: skip
        if value != unset and not ray:
            raise InputError(f"{flag}: only with --executor ray")
    cpus, gpus = args.cpus_per_run or float(args.threads), args.gpus_per_run or 0.0
    if cpus < 0 or gpus < 0:
        raise InputError("--cpus-per-run, --gpus-per-run: must not be negative")
    if ray and gpus == 0 and cpus < args.threads:
        raise InputError(f"--threads {args.threads}: needs --cpus-per-run of at least {args.threads}")
    if ray and args.device == "cuda" and gpus == 0:
        raise InputError("--device cuda with --executor ray: say what a run takes, e.g. --gpus-per-run 1")
    hours = getattr(args, "hours", None)
    if hours is not None and not hours > 0:
        raise InputError(f"--hours: must be a positive number of hours, got {hours:g}")
    suite = load_suite(args.suite)
    runs = suite.runs
    only = getattr(args, "only", None)
    if only:
        unknown = sorted(set(only) - {spec.name for spec in suite.runs})
        if unknown:
            names = ", ".join(sorted({spec.name for spec in suite.runs}))
            raise InputError(f"--only {' '.join(unknown)}: not an entry of suite {suite.name} ({names})")
        runs = [spec for spec in suite.runs if spec.name in only]
    store = open_store(suite, args.store)
    if ray:
        executor = executors.RayCluster(args.address, cpus, gpus, args.jobs, args.threads)
        where = f"Ray {'cluster ' + args.address if args.address else 'on this machine'}"
        where += f", {executor.device} ({executor.capacity} at once, {cpus:g} CPU {gpus:g} GPU a run)"
    else:
        device = resolve_device(args.device)
        jobs = min(args.jobs or default_jobs(device), max(1, len(pending(runs, store, retry_failed))))
        executor = executors.local(device, jobs, args.threads)
        where = f"device {device} ({jobs} at once)"
        if device.type == "cpu" and args.threads != RUN_THREADS:
            where = f"device {device} ({jobs} at once, {args.threads} threads a run)"
            if jobs * args.threads > (os.cpu_count() or 1):  # threads that wait for a core stall each other
                print(f"warning: --jobs {jobs} × --threads {args.threads} is more threads than the "
                      f"{os.cpu_count()} cores here", file=sys.stderr)  # fmt: skip
    print(
        f"suite {suite.name}: {len(suite.runs)} runs, protocol {suite.protocol}, {where}, store {store.path}",
        file=sys.stderr,
    )
    return suite, store, execute(runs, store, executor, retry_failed, suite.name, hours)


def cmd_run(args: argparse.Namespace) -> int:
    suite, store, outcome = run_pending(args, args.retry_failed)
    by_key = {row["key"]: row for row in store.rows(spec.key for spec in suite.runs)}
    print(summary_table(suite, by_key))
    statuses = [by_key[spec.key]["status"] if spec.key in by_key else "pending" for spec in suite.runs]
    n_failed, n_stored = statuses.count("failed"), len(statuses) - statuses.count("pending")
    n_absurd = sum(diverged(by_key[spec.key]) for spec in suite.runs if spec.key in by_key)
    print(
        f"{outcome.ok} trained, {outcome.failed} failed now"
        + (f", {outcome.skipped} left to other processes" if outcome.skipped else "")
        + (f", {outcome.duplicated} also trained elsewhere" if outcome.duplicated else "")
        + (f", {outcome.deferred} not started (longer than the --hours left)" if outcome.deferred else "")
        + f"; {n_stored}/{len(suite.runs)} runs stored, "
        f"{n_failed} failed{' (--retry-failed trains them again)' if n_failed else ''}"
        + (f", {n_absurd} absurd (diverged: reports leave them out)" if n_absurd else ""),
        file=sys.stderr,
    )
    return 1 if n_failed else 0


def diverged(row: dict) -> bool:
    """A stored run finished `ok` but absurd (`harness.evaluate.absurd`)."""
    return row["status"] == "ok" and absurd(row["val_mse"], row["details"])


def summary_table(suite: Suite, by_key: dict[str, dict]) -> str:
    """Per (model, dataset, L, H): seeds finished and the mean ± std of test MSE/MAE (normalised) over those
    that are not absurd (diverged: counted apart, as reports do)."""
    cells: dict[tuple, list[str]] = {}
    for spec in suite.runs:
        cells.setdefault((spec.name, spec.dataset, spec.seq_len, spec.pred_len), []).append(spec.key)
    table = []
    for (name, dataset, seq_len, pred_len), keys in cells.items():
        finished = [by_key[k] for k in keys if k in by_key and by_key[k]["status"] == "ok"]
        ok = [r for r in finished if not diverged(r)]
        n_absurd = len(finished) - len(ok)
        table.append(
            [
                name,
                dataset,
                seq_len,
                pred_len,
                f"{len(ok)}/{len(keys)}" + (f", {n_absurd} absurd" if n_absurd else ""),
                mean_std([r["test_mse"] for r in ok]),
                mean_std([r["test_mae"] for r in ok]),
                finished[0]["params"] if finished else "",
            ]
        )
    headers = ["model", "dataset", "L", "H", "seeds ok", "test MSE", "test MAE", "params"]
    return (
        f"{suite.name} (protocol {suite.protocol}; metrics on the normalised scale, mean ± std over seeds; "
        "absurd: worse on validation than forecasting zeros, diverged, in no mean)\n"
        + tabulate(table, headers, tablefmt="github")
    )


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def plan_records(suite: Suite, store: RunStore | None, store_path: Path) -> list[dict]:
    """Every planned run with its status: ok (or "ok, absurd": worse on validation than forecasting zeros),
    failed (with the first words of its error), pending, "running (pid, host, since)" (a live process
    holds its lease), or "resumable" (pending with a mid-run checkpoint beside the store: `run` continues
    it from its last finished epoch); a run with a checkpoint also shows its epochs done and their pace."""
    statuses = store.statuses(spec.key for spec in suite.runs) if store else {}
    running = store.running(spec.key for spec in suite.runs) if store else {}
    for key, (pid, host, since) in running.items():
        statuses.setdefault(key, f"running (pid {pid}, {host}, since {since})")
    for spec in suite.runs:
        if spec.key not in statuses and checkpoint_path(store_path, spec.key).exists():
            statuses[spec.key] = "resumable"
        if spec.key in running or statuses.get(spec.key) == "resumable":
            statuses[spec.key] += epochs_so_far(checkpoint_path(store_path, spec.key), spec.train.epochs)
    if store is not None:
        for row in store.rows(spec.key for spec in suite.runs):
            if row["status"] == "ok" and absurd(row["val_mse"], row["details"]):
                zero = row["details"]["val_zero_mse"]
                statuses[row["key"]] = f"ok, absurd (val MSE {row['val_mse']:.3g} > {zero:.3g} of zeros)"
            elif row["status"] == "failed":
                statuses[row["key"]] = f"failed ({shortened(row['error'] or 'no error stored')})"
    return [
        {
            "name": s.name,
            "model": s.model,
            "dataset": s.dataset,
            "seq_len": s.seq_len,
            "pred_len": s.pred_len,
            "seed": s.seed,
            "params": suite.param_counts[s.key],
            "status": statuses.get(s.key, "pending"),
            "hparams": s.params,
            "train": vars(s.train),
            "protocol": s.protocol,
            "key": s.key,
        }
        for s in suite.runs
    ]


def shortened(text: str, most: int = 60) -> str:
    """The first line of `text`, cut to `most` characters: an error beside a status in a table."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= most else line[: most - 1] + "…"


def epochs_so_far(path: Path, most: int) -> str:
    """How far a run in progress is by its checkpoint: ", epoch 3 of ≤ 20 done, 14 min an epoch"."""
    done = checkpoint.progress(path)
    if done is None:
        return ""
    epochs, seconds = done
    each = seconds / epochs
    pace = f"{each / 60:.0f} min" if each >= 90 else f"{each:.0f} s"
    return f", epoch {epochs} of ≤ {most} done, {pace} an epoch"


BOOTSTRAP_MIN_SEEDS = 5
STATUSES = ("ok", "failed", "running", "pending", "resumable")


def cmd_describe(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    store_path = Path(args.store) if args.store else suite.default_store()
    store = open_store(suite, args.store, create=False)
    records = plan_records(suite, store, store_path)
    if args.format == "json":
        print(json.dumps(records, indent=2))
        return 0
    table = [
        [
            r["name"],
            r["model"],
            r["dataset"],
            r["seq_len"],
            r["pred_len"],
            r["seed"],
            f"{r['params']:,}",
            r["train"]["epochs"],
            r["train"]["batch_size"],
            r["train"]["lr"],
            r["status"],
        ]
        for r in records
    ]
    counts = {s: sum(r["status"].split()[0].strip(",") == s for r in records) for s in STATUSES}
    print(
        f"{suite.name}: {len(records)} runs, protocol {suite.protocol}; {counts['ok']} done, "
        f"{counts['failed']} failed, {counts['running']} running, "
        f"{counts['pending'] + counts['resumable']} pending "
        f"({counts['resumable']} resumable from a mid-run checkpoint)"
    )
    store_path = (Path(args.store) if args.store else suite.default_store()).resolve()
    found = "" if store_path.exists() or has_committed(store_path) else " (no store there yet)"
    print(f"store {store_path}{found}; without --store: results/<suite name>/ under the current directory")
    print(
        tabulate(
            table,
            ["name", "model", "dataset", "L", "H", "seed", "params", "epochs", "batch", "lr", "status"],
            tablefmt="github",
        )
    )
    statuses = {r["key"]: r["status"] for r in records}
    left = remaining.cells_left(suite.runs, statuses, store, store_path)
    if left:
        print(work_left(left, args.suite))
    return 0


def runs_text(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


SPEED_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "speed.py"  # a checkout has it


def pricer(suite_arg: str) -> str:
    """What prices the cells no run has finished in: the checkout's speed benchmark, where there is one."""
    if not SPEED_SCRIPT.is_file():
        return (
            "each is priced once a run of its cell finishes (a dynobench checkout's `benchmarks/speed.py "
            "--suite` prices them ahead)"
        )
    cwd = Path.cwd()
    script = SPEED_SCRIPT.relative_to(cwd) if SPEED_SCRIPT.is_relative_to(cwd) else SPEED_SCRIPT
    return f"`python {script} --suite {suite_arg}` prices them"


def work_left(cells: list[remaining.Cell], suite_arg: str) -> str:
    """The footer of `describe`: the runs still to train, in CPU-hours where their cell has a price."""
    priced = [c for c in cells if c.hours_left is not None]
    hours = sum(c.hours_left for c in priced)
    cores = os.cpu_count() or 1
    unpriced = sum(c.runs_left for c in cells if c.hours_left is None)
    lines = [
        f"\nStill to train: {runs_text(sum(c.runs_left for c in cells))}. "
        f"{sum(c.runs_left for c in priced)} in cells with a finished run: ≈ {hours:.1f} CPU-hours at their "
        f"mean time (≥ {hours / cores:.1f} h on {cores} cores, one run per core). {unpriced} in cells with "
        f"none yet: {pricer(suite_arg)}.\n",
        tabulate(
            [
                [
                    c.name,
                    c.dataset,
                    c.seq_len,
                    c.pred_len,
                    c.runs_left,
                    "–" if c.hours_per_run is None else f"{c.hours_per_run:.2f}",
                    "–" if c.hours_left is None else f"{c.hours_left:.2f}",
                ]
                for c in cells
            ],  # fmt: skip
            ["name", "dataset", "L", "H", "runs left", "h a run (finished)", "CPU-h left"],
            tablefmt="github",
        ),
    ]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from report.build import write_report

    suite = load_suite(args.suite)
    store = open_store(suite, args.store, create=False)
    if store is None:
        raise InputError(
            f"{args.suite}: no run store yet for suite {suite.name} (run it first, or give --store)"
        )
    statuses = store.statuses(spec.key for spec in suite.runs)
    if "ok" not in statuses.values():
        n_failed = list(statuses.values()).count("failed")
        raise InputError(
            f"{args.suite}: nothing to report for suite {suite.name} in {store.path} "
            f"({len(suite.runs) - len(statuses)} pending, {n_failed} failed)"
        )
    seeds = len({spec.seed for spec in suite.runs})
    if args.ci == "bootstrap" and seeds < BOOTSTRAP_MIN_SEEDS:
        print(
            f"warning: a bootstrap over {seeds} seeds understates the spread (its interval is far narrower "
            f"than the t interval below {BOOTSTRAP_MIN_SEEDS} seeds); the tables name the method they use",
            file=sys.stderr,
        )
    if args.readme:  # a file to put the leaderboard in, with the suite's block: checked before any is written
        from report.build import replace_block

        try:
            replace_block(Path(args.readme).read_text(), suite.name, "")
        except OSError as e:
            raise InputError(f"--readme {args.readme}: cannot read it ({e.strerror})") from None
        except ValueError as e:
            raise InputError(f"--readme {args.readme}: {e}") from None
        unwritable = cannot_write(Path(args.readme))
        if unwritable:
            raise InputError(f"--readme {args.readme}: cannot write it ({unwritable})")
    out_dir = Path(args.out) if args.out else Path("results") / suite.name
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise InputError(f"--out {out_dir}: cannot write there ({e.strerror})") from None
    board, written = write_report(suite, store, out_dir, args.ci, args.include_absurd)
    print(board)
    print(f"{len(written)} files written to {out_dir}", file=sys.stderr)
    if args.readme:
        from report.build import headline, replace_block
        from report.runs import runs_table

        readme = Path(args.readme)
        try:
            commit = (
                subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=readme.parent
                ).stdout.strip()
                or "unknown (not a git checkout)"
            )
            text = readme.read_text()
            block = headline(suite, runs_table(suite, store, args.include_absurd)[0], board, commit)
            readme.write_text(replace_block(text, suite.name, block))
        except (OSError, ValueError) as e:
            raise InputError(f"--readme {readme}: {e}") from None
        print(f"leaderboard of suite {suite.name} put in {readme}", file=sys.stderr)
    return 0


def cannot_write(path: Path) -> str | None:
    """Why a file could not be written at `path` (its folder missing, not a folder, read-only), or None."""
    folder = path.parent
    if path.is_dir():
        return "it is a folder"
    if not folder.is_dir():
        return f"no folder {folder}"
    if not os.access(path if path.exists() else folder, os.W_OK):
        return "permission denied"
    return None


def cmd_check(args: argparse.Namespace) -> int:
    from report.analysis import aggregate
    from report.check import covered, read_reference, reference_from, regressions
    from report.runs import runs_table

    for flag, value in (("--tolerance", args.tolerance), ("--std-tolerance", args.std_tolerance)):
        if not value >= 0:
            raise InputError(f"{flag}: must be 0 or more, got {value:g}")
    reference = None
    if args.update_reference:  # a reference that cannot be written is found before anything trains
        unwritable = cannot_write(Path(args.reference))
        if unwritable:
            raise InputError(f"--reference {args.reference}: cannot write the reference there ({unwritable})")
    else:  # a bad reference is found before anything trains
        try:
            reference = read_reference(args.reference)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise InputError(f"--reference {args.reference}: {e}") from None
    suite, store, _ = run_pending(args)
    cells = aggregate(runs_table(suite, store)[0])
    if reference is None:
        unfinished = cells[cells["n"] < cells["seeds"]]
        if not unfinished.empty:
            names = ", ".join(unfinished["name"])
            print(f"reference not written: {names} did not finish every seed (failed, absurd or pending)")
            return 1
        reference_from(cells).to_csv(args.reference, index=False)
        print(f"reference with {len(cells)} cells written to {args.reference}")
        return 0
    if covered(cells, reference) == 0:
        print(f"check FAILED: {args.reference} covers none of the suite's {len(cells)} cells")
        return 1
    bad = regressions(cells, reference, args.tolerance, args.std_tolerance, args.allow_new)
    if bad.empty:
        print(f"check passed: {len(cells)} cells within tolerance (relative {args.tolerance}, "
              f"{args.std_tolerance} std) of {args.reference}")  # fmt: skip
        return 0
    print(f"check FAILED: {len(bad)} cells regressed, failed, have absurd runs, are missing or are new")
    print(tabulate(bad, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f"))
    return 1


def cmd_models(args: argparse.Namespace) -> int:
    """Registered models, what they read, and their size at the official ETTh1 recipe (H = 96)."""
    table, hparams = [], []
    for key, info in registry.models().items():
        strategy = "default" if strategy_for(key) is DefaultStrategy else strategy_for(key).__name__
        preset, seq_len, n_params = f"{key}-etth1", "", ""
        if preset in presets():
            _, seq_len, params, _ = preset_settings(preset, 96)
            n_params = registry.count_params(registry.build(key, seq_len, 96, 7, **params))
            strategy = strategy if n_params else "none (scored as is)"
            n_params = f"{n_params:,}"
        else:
            preset = "–"
        inputs = "x, time features" if info.time_features else "x"
        table.append([key, inputs, strategy, preset, seq_len, n_params, info.summary])
        defaults = ", ".join(f"{n}={p.default!r}" for n, p in info.hparams().items()) or "none"
        hparams.append(f"  {key}: {defaults}")
    headers = ["key", "inputs", "training", "ETTh1 preset", "L", "params (ETTh1, H=96)", "summary"]
    print(tabulate(table, headers, tablefmt="github"))
    print("\nhyperparameters (constructor defaults; presets set the official values):")
    print("\n".join(hparams))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    table = []
    for name in BUNDLED:
        ref = resolve(name, name)
        data = load_table(ref)
        step = f"{int((data.dates[1] - data.dates[0]).total_seconds() // 60)} min"
        windows = window_counts(ref.split, len(data.values), 96, 96)
        table.append(
            [
                name,
                Path(ref.path).name,
                len(data.values),
                len(data.columns),
                str(step),
                ref.split,
                "/".join(str(windows[s]) for s in ("train", "val", "test")),
                ref.sha256[:12],
            ]
        )
    print(
        tabulate(
            table,
            [
                "name",
                "file",
                "rows",
                "channels",
                "step",
                "split",
                "windows at L=H=96 (train/val/test)",
                "sha256",
            ],
            tablefmt="github",
        )
    )
    print(
        f"\nfiles in {data_dir()} (ETT: CC BY-ND 4.0, see its README.md); own CSVs: "
        "{name: ..., path: ...} in a suite, split 70/10/20"
    )
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    """The shipped suites, their size and the first line of their header comment."""
    table = []
    for path in shipped_suites():
        raw = yaml.safe_load(path.read_text())
        cells = len(raw.get("datasets", [])) * len(raw.get("horizons", []))
        runs = cells * sum(len(entry.get("seeds", raw.get("seeds", []))) for entry in raw.get("models", []))
        lines = path.read_text().splitlines()
        header = " ".join(line.lstrip("# ") for line in lines[: next(
            (i for i, line in enumerate(lines) if not line.startswith("#")), len(lines)
        )])  # fmt: skip
        about = raw.get("description") or header.split(". ")[0].split(": ")[0].rstrip(".")
        table.append([path.stem, raw.get("protocol", ""), runs, about])
    print(tabulate(table, ["suite", "protocol", "runs", "what it is"], tablefmt="github"))
    print(f"\nin {SUITE_DIR}; `dynobench run NAME` runs one, `dynobench describe NAME` shows its plan")
    return 0


def cmd_new_model(args: argparse.Namespace) -> int:
    print(scaffold.next_steps(args.name, scaffold.new_model(args.name)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    store = open_store(suite, args.store, create=False)
    by_key = {row["key"]: row for row in store.rows(spec.key for spec in suite.runs)} if store else {}
    records = [{**by_key[spec.key], "name": spec.name} for spec in suite.runs if spec.key in by_key]
    out_path = args.out or str(Path("results") / suite.name / "runs.csv")
    if out_path == "-":
        write_csv(sys.stdout, records)
        return 0
    try:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, "w", newline="") as out:
            write_csv(out, records)
    except OSError as e:
        raise InputError(f"--out {out_path}: cannot write there ({e.strerror})") from None
    print(f"{len(records)} runs of {len(suite.runs)} planned written to {out_path}", file=sys.stderr)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    store = open_store(suite, args.store, create=False)
    if store is None:
        raise InputError(f"{args.store or suite.default_store()}: no run store to forget runs in")
    chosen = [
        s
        for s in suite.runs
        if (not args.model or s.name == args.model) and (not args.key or s.key == args.key)
    ]
    if args.model and not any(s.name == args.model for s in suite.runs):
        names = sorted({s.name for s in suite.runs})
        raise InputError(f"--model {args.model}: not an entry of suite {suite.name} ({', '.join(names)})")
    if args.key and not chosen:
        raise InputError(f"--key {args.key}: no run of suite {suite.name} has this key")
    if not confirm_forget(suite, store, chosen, args):
        return 0
    removed = store.forget(spec.key for spec in chosen)
    for spec in chosen:  # forgotten means trained again from the start, not resumed
        checkpoint_path(store.path, spec.key).unlink(missing_ok=True)
    folder = committed_dir(store.path)
    also = f" and {folder}/ (commit the deletions)" if folder.is_dir() else ""
    print(f"{removed} stored runs of suite {suite.name} forgotten in {store.path}{also}; `run` trains them")
    return 0


def confirm_forget(suite: Suite, store: RunStore, chosen: list, args: argparse.Namespace) -> bool:
    """List what `forget` would delete, per entry, and ask on a terminal (`--yes`: do not ask; `--dry-run`:
    only list); without a terminal and without `--yes`, refuse. True when the deletion goes ahead."""
    stored, folder = store.statuses(spec.key for spec in chosen), committed_dir(store.path)
    found = {
        spec.key: (spec.key in stored, (folder / f"{spec.key}{RUN_FILE}").is_file(),
                   checkpoint_path(store.path, spec.key).is_file())
        for spec in chosen
    }  # fmt: skip
    counts: dict[str, list[int]] = {}  # per entry (two entries of identical settings share their runs)
    for spec in chosen:
        entry = counts.setdefault(spec.name, [0, 0, 0])
        for i, present in enumerate(found[spec.key]):
            entry[i] += present
    rows, files, checkpoints = (sum(f[i] for f in found.values()) for i in range(3))
    what = (
        f"{rows} store rows in {store.path}, {files} committed run files in {folder}/ and {checkpoints} "
        f"mid-run checkpoints of suite {suite.name}"
    )
    if not rows + files + checkpoints:
        print(f"nothing to forget: no run chosen is stored, committed or checkpointed in {store.path}")
        return False
    if not (args.yes or args.dry_run or sys.stdin.isatty()):
        raise InputError(f"forget: would delete {what}; no terminal to ask on: give --yes (--dry-run lists)")
    table = [[name, *c] for name, c in counts.items() if any(c)]
    print(tabulate(table, ["entry", "store rows", "committed run files", "checkpoints"], tablefmt="github"))
    if args.dry_run:
        print(f"would delete {what} (dry run: nothing deleted)")
        return False
    if args.yes:
        return True
    try:
        answer = input(f"delete {what}? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("nothing deleted")
    return False


BIG_CHECKPOINT_MB = 50  # a checkpoint above this is not worth committing (Crossformer's: ~175 MB)


def cmd_snapshot(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    store = open_store(suite, args.store, create=False)
    if store is None:
        where = args.store or suite.default_store()
        raise InputError(f"{where}: no run store to snapshot (run the suite first)")
    n, written = store.snapshot()
    print(
        f"{n} runs in {committed_dir(store.path)}/, {written} of them written now "
        "(commit the folder: `run` on a fresh clone resumes from it)"
    )
    checkpoints = sorted(checkpoint_path(store.path, "").parent.glob("*.pt"))
    if checkpoints:
        print(
            f"{len(checkpoints)} runs in progress have a mid-run checkpoint in {checkpoints[0].parent}: "
            "commit one (`git add -f`: they are git-ignored) to resume its run at its last epoch in a fresh "
            f"clone (each commit of it adds its whole size; over {BIG_CHECKPOINT_MB} MB, keep it here)"
        )
        specs = {spec.key: spec for spec in suite.runs}
        for path in checkpoints:
            spec = specs.get(path.stem)
            what = f"{spec.name} H={spec.pred_len} seed {spec.seed}" if spec else "not a run of this suite"
            megabytes = path.stat().st_size / 2**20
            big = " (too big to commit)" if megabytes > BIG_CHECKPOINT_MB else ""
            print(f"  {path.name}: {what}, {megabytes:.1f} MB{big}")
    return 0


def write_csv(out, records: list[dict]) -> None:
    writer = csv.DictWriter(out, EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)


COMMANDS = {
    "run": cmd_run,
    "snapshot": cmd_snapshot,
    "forget": cmd_forget,
    "describe": cmd_describe,
    "report": cmd_report,
    "check": cmd_check,
    "models": cmd_models,
    "datasets": cmd_datasets,
    "suites": cmd_suites,
    "new-model": cmd_new_model,
    "export": cmd_export,
}
