"""What a suite's unfinished runs still cost, priced by the finished runs of their own cells.

A campaign that spans sessions is planned by this: how many CPU-hours are left, and which cells take longer
per run than a session lasts (such a run resumes in a later session from its checkpoint: committed if it is
small enough, else only on the machine that wrote it). A cell is a suite entry at one dataset, lookback and
horizon; its runs differ only by seed, so the mean training time of its finished runs is the best guess for
the others (measured on this kind of machine, with whatever else ran beside them). A run in progress is
charged that mean less what its checkpoint has done. Cells with no finished run are counted, not guessed:
`benchmarks/speed.py --suite` prices those.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness import checkpoint
from harness.spec import RunSpec
from harness.store import RunStore, checkpoint_path


@dataclass
class Cell:
    """The unfinished runs of one cell and what they cost."""

    name: str
    dataset: str
    seq_len: int
    pred_len: int
    runs_left: int
    hours_per_run: float | None  # mean training time of the cell's finished runs; None when none finished
    hours_left: float | None


def cell_of(spec: RunSpec) -> tuple:
    return spec.name, spec.dataset, spec.seq_len, spec.pred_len


def finished_seconds(runs: list[RunSpec], store: RunStore | None) -> dict[tuple, list[float]]:
    """Training seconds of each cell's finished runs."""
    rows = store.rows(spec.key for spec in runs) if store else []
    seconds = {row["key"]: row["train_seconds"] for row in rows if row["status"] == "ok"}
    out: dict[tuple, list[float]] = {}
    for spec in runs:
        if spec.key in seconds:
            out.setdefault(cell_of(spec), []).append(seconds[spec.key])
    return out


def seconds_left(spec: RunSpec, finished: dict[tuple, list[float]], store_path: Path) -> float | None:
    """What `spec` should still take: its cell's mean finished training time less what its checkpoint has
    done; None when no run of its cell has finished."""
    done = finished.get(cell_of(spec))
    if not done:
        return None
    spent = checkpoint.progress(checkpoint_path(store_path, spec.key))
    return max(statistics.mean(done) - (spent[1] if spent else 0.0), 0.0)


def seconds_left_or_guess(
    spec: RunSpec, finished: dict[tuple, list[float]], store_path: Path
) -> tuple[float | None, str]:
    """`seconds_left`, or where no run of its cell has finished, a guess: the mean finished time of the same
    entry at its nearest shorter horizon (more steps to forecast rarely train faster, but the number of
    epochs varies), with what it was priced by."""
    left = seconds_left(spec, finished, store_path)
    if left is not None:
        return left, "its cell's mean"
    nearest = nearest_shorter(cell_of(spec), finished, horizon_at=3)
    if nearest is None:
        return None, "no finished run to price it"
    return statistics.mean(finished[nearest]), f"guessed from H = {nearest[3]}"


def nearest_shorter(cell: tuple, known: Iterable[tuple], horizon_at: int) -> tuple | None:
    """Of the `known` cells, the one equal to `cell` but for a shorter horizon (at index `horizon_at`), the
    nearest such: what prices a cell none of whose runs has finished, since more steps to forecast rarely
    train faster (though the number of epochs varies)."""

    def but_horizon(c: tuple) -> tuple:
        return c[:horizon_at] + c[horizon_at + 1 :]

    shorter = [c for c in known if c[horizon_at] < cell[horizon_at] and but_horizon(c) == but_horizon(cell)]
    return max(shorter, key=lambda c: c[horizon_at], default=None)


def cells_left(
    runs: list[RunSpec], statuses: dict[str, str], store: RunStore | None, store_path: Path
) -> list[Cell]:
    """Every cell with a run neither finished nor failed, in suite order, priced where it can be.
    `statuses` maps each run's key to its `describe` status ("ok", "pending", "running (…)", …)."""
    finished = finished_seconds(runs, store)
    cells: dict[tuple, list[RunSpec]] = {}
    for spec in runs:
        cells.setdefault(cell_of(spec), []).append(spec)
    out = []
    for (name, dataset, seq_len, pred_len), specs in cells.items():
        left = [s for s in specs if statuses[s.key].split()[0].strip(",") not in ("ok", "failed")]
        if not left:
            continue
        per_run = hours_left = None
        done = finished.get((name, dataset, seq_len, pred_len))
        if done:
            per_run = statistics.mean(done) / 3600
            hours_left = sum(seconds_left(s, finished, store_path) for s in left) / 3600
        out.append(Cell(name, dataset, seq_len, pred_len, len(left), per_run, hours_left))
    return out
