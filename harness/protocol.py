"""The long-horizon evaluation protocol (shared/specs/protocol.md), implemented once for every model:
split bounds, a scaler fitted on the training rows alone, and the three window sets on the device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.datasets import Table
from harness.errors import InputError
from harness.timefeatures import time_features
from harness.windows import WindowSet

HOUR_MONTH = 30 * 24  # rows per "month" in the ETT hourly split


def split_bounds(rule: str, n_rows: int, seq_len: int) -> dict[str, tuple[int, int]]:
    """Row ranges [start, end) of train/val/test; val and test start `seq_len` rows early so that
    their first target is the first row of the split."""
    if rule in ("ett_hour", "ett_minute"):
        step = 1 if rule == "ett_hour" else 4
        train_end, val_end, test_end = (months * HOUR_MONTH * step for months in (12, 16, 20))
    elif rule == "ratio":
        n_train, n_test = int(0.7 * n_rows), int(0.2 * n_rows)
        train_end, val_end, test_end = n_train, n_rows - n_test, n_rows
    else:
        raise ValueError(f"unknown split rule {rule!r}")
    return {
        "train": (0, train_end),
        "val": (train_end - seq_len, val_end),
        "test": (val_end - seq_len, test_end),
    }


def window_counts(rule: str, n_rows: int, seq_len: int, pred_len: int) -> dict[str, int]:
    """Analytic number of stride-1 windows per split: segment length − L − H + 1."""
    return {
        name: max(0, end - start - seq_len - pred_len + 1)
        for name, (start, end) in split_bounds(rule, n_rows, seq_len).items()
    }


def check_fits(rule: str, n_rows: int, seq_len: int, pred_len: int, where: str) -> None:
    """Raise InputError when lookback + horizon leave a split without a single window."""
    bounds = split_bounds(rule, n_rows, seq_len)
    if bounds["test"][1] > n_rows:
        raise InputError(
            f"{where}: the dataset has {n_rows} rows, too few for its split (needs {bounds['test'][1]})"
        )
    if bounds["val"][0] < 0:
        train_rows = bounds["train"][1]
        raise InputError(
            f"{where}: lookback {seq_len} is longer than the training split ({train_rows} rows), which the "
            "validation windows' lookback reaches back into"
        )
    for name, count in window_counts(rule, n_rows, seq_len, pred_len).items():
        if count < 1:
            start, end = bounds[name]
            raise InputError(
                f"{where}: lookback {seq_len} + horizon {pred_len} is longer than the {name} split "
                f"({end - start} rows including the lookback lead-in)"
            )


@dataclass
class Splits:
    """The three window sets of one (dataset, L, H), scaled with the training rows' statistics."""

    train: WindowSet
    val: WindowSet
    test: WindowSet
    mean: np.ndarray
    std: np.ndarray


def fit_scaler(values: np.ndarray, train_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std (ddof 0) of the training rows only; a constant channel gets 1."""
    train = values[:train_end].astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def prepare(
    table: Table, rule: str, seq_len: int, pred_len: int, device: torch.device, with_time_features: bool
) -> Splits:
    bounds = split_bounds(rule, len(table.values), seq_len)
    mean, std = fit_scaler(table.values, bounds["train"][1])
    # row-major: the table comes column-major from pandas, and gathering rows of it is 4-5× slower
    scaled = torch.from_numpy(np.ascontiguousarray((table.values - mean) / std, dtype=np.float32)).to(device)
    marks = torch.from_numpy(time_features(table.dates)).to(device) if with_time_features else None

    def window_set(name: str) -> WindowSet:
        start, end = bounds[name]
        return WindowSet(scaled[start:end], None if marks is None else marks[start:end], seq_len, pred_len)

    return Splits(window_set("train"), window_set("val"), window_set("test"), mean, std)
