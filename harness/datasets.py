"""Where benchmark data comes from: the bundled ETT files (checksummed) or a researcher's own CSV.

A dataset is read once per process, checked (checksum, a `date` column, every other value a finite number)
and handed on as a `Table`; the split rule that applies to it travels in its `DatasetRef`.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness import shipped
from harness.errors import InputError

# The bundled files; their split rule is the fixed-month ETT one of specs/protocol.md.
BUNDLED = {
    "ETTh1": ("ETTh1.csv", "ett_hour"),
    "ETTh2": ("ETTh2.csv", "ett_hour"),
    "ETTm1": ("ETTm1.csv", "ett_minute"),
    "ETTm2": ("ETTm2.csv", "ett_minute"),
}


def data_dir() -> Path:
    """The folder of bundled CSVs and their SHA256SUMS (`DYNOBENCH_DATA_DIR` overrides it)."""
    return Path(os.environ.get("DYNOBENCH_DATA_DIR", shipped("data")))


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as a suite names it: the file, its expected checksum and its split rule."""

    name: str
    path: str
    sha256: str
    split: str  # "ett_hour" | "ett_minute" | "ratio" (70/10/20)


@dataclass(frozen=True)
class Table:
    """A dataset's rows: timestamps, values [T, C] as float32, channel names."""

    dates: pd.DatetimeIndex
    values: np.ndarray
    columns: tuple[str, ...]


def bundled_checksums() -> dict[str, str]:
    sums_file = data_dir() / "SHA256SUMS"
    try:
        lines = sums_file.read_text().splitlines()
    except OSError as e:
        raise InputError(f"{sums_file}: cannot read the bundled checksums ({e.strerror})") from None
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def resolve(entry: str | dict, where: str) -> DatasetRef:
    """Turn a suite's dataset entry (a bundled name, or {name, path[, sha256]}) into a checked reference."""
    if isinstance(entry, str):
        if entry not in BUNDLED:
            raise InputError(
                f"{where}: unknown dataset '{entry}' (bundled: {', '.join(BUNDLED)}; "
                "or give {name: ..., path: file.csv} for your own CSV)"
            )
        file_name, split = BUNDLED[entry]
        expected = bundled_checksums().get(file_name)
        if expected is None:
            raise InputError(f"{where}: {file_name} is not listed in {data_dir() / 'SHA256SUMS'}")
        ref = DatasetRef(entry, str(data_dir() / file_name), expected, split)
    else:
        path = Path(entry["path"]).expanduser()
        ref = DatasetRef(entry["name"], str(path), entry.get("sha256") or file_sha256(path, where), "ratio")
    load_table(ref, where)  # validate now, before anything runs
    return ref


def file_sha256(path: Path, where: str) -> str:
    """The file's sha256, cached by (path, size, mtime) so that a suite hashes each file once."""
    if path.is_dir():
        raise InputError(f"{where}: cannot read data file {path} (it is a directory)")
    try:
        stat = path.stat()
        return _sha256(str(path), stat.st_size, stat.st_mtime_ns)
    except OSError as e:
        raise InputError(f"{where}: cannot read data file {path} ({e.strerror or e})") from None


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_table(ref: DatasetRef, where: str | None = None) -> Table:
    """Read and check a dataset; raises InputError naming the file and what to fix. A bundled dataset is
    read from this machine's copy when the path the suite resolved elsewhere (a Ray driver) is not here."""
    where = where or ref.name
    if ref.name in BUNDLED and not Path(ref.path).exists():
        ref = DatasetRef(ref.name, str(data_dir() / BUNDLED[ref.name][0]), ref.sha256, ref.split)
    actual = file_sha256(Path(ref.path), where)
    if actual != ref.sha256:
        raise InputError(
            f"{where}: checksum mismatch for {ref.path}: expected sha256 {ref.sha256}, got {actual} "
            "(the file was changed; restore the original)"
        )
    return _read_csv(ref.path, actual)


@functools.lru_cache(maxsize=8)
def _read_csv(path: str, sha256: str) -> Table:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if "date" not in frame.columns:
        raise InputError(f"{path}: no 'date' column (expected 'date' followed by numeric columns)")
    value_columns = [c for c in frame.columns if c != "date"]
    if not value_columns or len(frame) == 0:
        raise InputError(f"{path}: no data rows or no value columns")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError(
            f"{path}: line {row + 2} (data row {row + 1}), column 'date': "
            f"cannot parse {frame['date'].iloc[row]!r} as a date"
        )
    later = np.diff(dates.to_numpy()) > np.timedelta64(0)
    if not later.all():  # a repeated or earlier date: windows would cross the rows out of order
        row = int(np.flatnonzero(~later)[0]) + 1
        raise InputError(
            f"{path}: line {row + 2} (data row {row + 1}), column 'date': {frame['date'].iloc[row]!r} is not "
            f"after the row before it ({frame['date'].iloc[row - 1]!r}); sort the rows by date, each one once"
        )
    numeric = frame[value_columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numeric)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(
            f"{path}: line {row + 2} (data row {row + 1}), column '{value_columns[col]}': value "
            f"{frame[value_columns[col]].iloc[row]!r} is not a finite number"
        )
    return Table(pd.DatetimeIndex(dates), numeric.astype(np.float32), tuple(value_columns))
