"""Mid-run checkpoints: a run's whole state after each epoch, so a run cut short (a session's end, a kill)
resumes at its next epoch and ends with the bits it would have had uninterrupted (tests/test_checkpoint.py).

A checkpoint holds the model, the training strategy's state (optimiser moments and steps), the loop's
state (best weights unless they are the model's own, best epoch, patience count, learning curve, training
seconds so far) and every random generator a run draws from. It is written atomically (a temporary file
renamed over the last one), lives beside the store as `checkpoints/<run key>.pt`, and is deleted once the
run is stored.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch


def rng_state(generator: torch.Generator) -> dict:
    """Every generator a run draws from: torch's (dropout), the batch order's, numpy's and python's."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "batches": generator.get_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["batches"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    try:
        torch.save(state, partial)
        os.replace(partial, path)
    except BaseException:  # a full disk, a kill: no half-written file left to take the space
        partial.unlink(missing_ok=True)
        raise


def progress(path: Path) -> tuple[int, float] | None:
    """(epochs finished, training seconds so far) of the checkpoint at `path`, its tensors memory-mapped
    rather than read, so that `describe` can say how far a run of hours has gone; None when there is no
    readable checkpoint (none yet, or one being replaced)."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        return saved["epoch"], saved["train_seconds"]
    except (OSError, RuntimeError, EOFError, KeyError, pickle.UnpicklingError):
        return None


def load(path: Path) -> dict | None:
    """The checkpoint at `path`, or None when there is none."""
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
