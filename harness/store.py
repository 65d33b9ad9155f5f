"""The run store: SQLite in WAL mode, one row per run keyed by the spec's content hash.

A row is written once, in one transaction, after its run finished, so a killed suite loses only its
in-flight runs. A finished ("ok") row is never overwritten; a failed one is replaced only by a retry.
Several processes may write one store: the key makes a second insert of the same run a no-op, and a run
about to start is first claimed (a lease row with its owner's host and pid and a heartbeat), so they split
the work; a lease whose owner died or stopped beating is taken over.

The live store is never committed (a writer may be mid-transaction, and a binary file that grows with every
run would be committed whole each time). `snapshot` writes each finished run as a file of its own beside
it (results/x/runs/<key>.json.gz), and opening a store takes the committed runs it lacks.

A damaged store (bytes changed on disk) or a full disk is one line naming the store and what to do, not a
traceback: the store is checked when it is opened, and every method says which store failed it.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import InputError
from harness.runner import RunResult
from harness.spec import RunSpec

# Flat columns (exported as CSV, readable by any SQLite client); the rest lives in JSON columns.
COLUMNS = (
    "key",
    "name",
    "model",
    "dataset",
    "seq_len",
    "pred_len",
    "seed",
    "protocol",
    "status",
    "error",
    "test_mse",
    "test_mae",
    "val_mse",
    "best_epoch",
    "epochs_run",
    "params",
    "flops",
    "latency_ms",
    "peak_mem_mb",
    "memory_kind",
    "train_seconds",
    "n_test_windows",
    "device",
    "started_at",
    "finished_at",
)
ROW_COLUMNS = (*COLUMNS, "spec_json", "details_json")  # everything a row holds, key first
# Upsert of a finished run: a new key is inserted; a stored ok row is never replaced.
UPSERT = "ON CONFLICT(key) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[1:])
SPEC_COLUMNS = ("name", "model", "dataset", "seq_len", "pred_len", "seed", "protocol")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "key" else "") for c in COLUMNS)},
    spec_json TEXT NOT NULL,
    details_json TEXT NOT NULL
)
"""


LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, since TEXT NOT NULL,
    heartbeat REAL NOT NULL
)
"""
HEARTBEAT_SECONDS = 30  # how often a process training a run refreshes its lease
STALE_SECONDS = 120  # a lease not refreshed for this long (or whose process on this host is gone) is free


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


RUN_FILE = ".json.gz"  # one committed run: its row as JSON, gzip'd without a timestamp (same run, same bytes)


def committed_dir(store: Path) -> Path:
    """Where a store's committed runs live, one file each: results/x/runs.sqlite → results/x/runs/."""
    return store.with_name(store.stem)


def legacy_snapshot(store: Path) -> Path:
    """The one-file snapshot of earlier versions (results/x/runs.snapshot.db): still read, never written."""
    return store.with_name(store.stem + ".snapshot.db")


def has_committed(store: Path) -> bool:
    return committed_dir(store).is_dir() or legacy_snapshot(store).is_file()


_SELECT_ROWS = f"SELECT {', '.join(ROW_COLUMNS)} FROM runs"
_INSERT_ROW = (
    f"INSERT INTO runs ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))}) {UPSERT}"
)


def _without_protocol(spec: RunSpec) -> str:
    """What a run computes: its identity without the protocol label (a name for the table it is in)."""
    identity = spec.identity()
    identity.pop("protocol")
    return json.dumps(identity, sort_keys=True)


def _encode(row: dict) -> bytes:
    return gzip.compress(json.dumps(row, sort_keys=True, separators=(",", ":")).encode(), mtime=0)


def committed_rows(store: Path, skip: set[str] = frozenset()) -> list[dict]:
    """The committed runs beside `store` (legacy snapshot first, then the run files), as dicts of
    ROW_COLUMNS; files of the keys in `skip` are not read."""
    rows = []
    legacy = legacy_snapshot(store)
    if legacy.is_file():
        rows += read_store(legacy)
    folder = committed_dir(store)
    for path in sorted(folder.glob("*" + RUN_FILE)) if folder.is_dir() else []:
        if path.name[: -len(RUN_FILE)] in skip:
            continue
        try:
            row = json.loads(gzip.decompress(path.read_bytes()))
            rows.append({c: row[c] for c in ROW_COLUMNS})
        except (OSError, EOFError, ValueError, KeyError) as e:
            raise InputError(
                f"{path}: not a committed run ({type(e).__name__}: {e}); restore it with git or delete it"
            ) from None
    return rows


# How a write that fell short for want of space reads: SQLite's and the OS's own words, and torch.save's
# ("unexpected pos": its zip writer wrote fewer bytes than it asked to, as on a full disk).
DISK_FULL_SIGNS = (
    "database or disk is full",
    "No space left on device",
    "Disk quota exceeded",
    "unexpected pos",
)
DAMAGED_SIGNS = ("database disk image is malformed", "file is not a database", "Could not decode to UTF-8")


def disk_full(error: str | None) -> bool:
    return error is not None and any(sign in error for sign in DISK_FULL_SIGNS)


def disk_full_error(folder: Path, what: str) -> InputError:
    return InputError(
        f"disk full: {folder} ({what}); free space there and run the same command again: the finished runs "
        "are stored, the others pending (a run in progress resumes from its last checkpoint)"
    )


def damaged_error(store: Path, problem: str) -> InputError:
    """What to do with a damaged store: move it away (its -wal and -shm files too), and the next command
    starts a new one with the committed runs beside it."""
    committed = len(list(committed_dir(store).glob("*" + RUN_FILE))) + legacy_snapshot(store).is_file()
    restore = (
        f"re-creates it from the committed runs in {committed_dir(store)}/ (runs finished since the last "
        "`snapshot` train again)"
        if committed
        else "starts a new one (no committed runs beside it: its runs train again)"
    )
    away = store.parent / "damaged"
    return InputError(
        f"{store}: the run store is damaged ({problem}); move it away (mkdir {away} && mv {store}* {away}/) "
        f"and any command {restore}"
    )


def store_error(store: Path, e: Exception) -> InputError | None:
    """The one line an error of `store` gets when it is a full disk or damage; None for any other."""
    if disk_full(str(e)):
        written = getattr(e, "filename", None) or f"the run store {store.name}"  # or a committed run's file
        return disk_full_error(store.parent, f"{written} could not be written")
    if isinstance(e, sqlite3.DatabaseError) and any(sign in str(e) for sign in DAMAGED_SIGNS):
        return damaged_error(store, str(e).split(" with text ")[0])  # not the damaged text itself
    return None


@contextmanager
def told(store: Path):
    """Within it, a full disk or a damaged `store` is one line naming it (`store_error`)."""
    try:
        yield
    except (sqlite3.DatabaseError, OSError) as e:
        problem = store_error(store, e)
        if problem is None:
            raise
        raise problem from None


def guarded(method):
    """A RunStore method whose full disk or damaged store is one line naming the store."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with told(self.path):
            return method(self, *args, **kwargs)

    return wrapper


def read_store(path: Path) -> list[dict]:
    """The rows of the store file at `path` as dicts of ROW_COLUMNS, read-only (another suite's store, the
    one-file snapshot of earlier versions)."""
    with told(path), closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [dict(zip(ROW_COLUMNS, values, strict=True)) for values in db.execute(_SELECT_ROWS)]


def checkpoint_path(store: Path, key: str) -> Path:
    """A run in progress keeps its checkpoint beside its store: results/x/checkpoints/<key>.pt."""
    return Path(store).parent / "checkpoints" / f"{key}.pt"


class RunStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        with told(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # the pages' structure (under a second for tens of MB): damage is found before anything trains
            problems = "\n".join(text for (text,) in self.db.execute("PRAGMA quick_check")).splitlines()
            if problems != ["ok"]:
                raise damaged_error(self.path, next(p for p in problems if not p.startswith("***")))
            self.db.execute(SCHEMA)
            self.db.execute(LEASE_SCHEMA)

    @guarded
    def snapshot(self) -> tuple[int, int]:
        """Write each stored run that `committed_dir` lacks, or holds otherwise (a failed run since retried),
        as one file there: the files to commit, each written once and never changed after it is ok, so a
        commit adds only the runs that finished since the last one. The rows are read in one transaction
        (safe while other processes write). Returns (runs there, files written now)."""
        folder = committed_dir(self.path)
        folder.mkdir(exist_ok=True)
        written = 0
        for values in self.db.execute(_SELECT_ROWS).fetchall():
            row = dict(zip(ROW_COLUMNS, values, strict=True))
            if '"reused_from"' in row["details_json"]:
                continue  # another suite's run: taken from its store again on open, not committed twice
            data, target = _encode(row), folder / f"{row['key']}{RUN_FILE}"
            if target.is_file() and target.read_bytes() == data:
                continue
            tmp = target.with_name(target.name + ".partial")
            tmp.write_bytes(data)
            tmp.replace(target)
            written += 1
        legacy = legacy_snapshot(self.path)  # merged into this store on open: now in files
        for path in (legacy, legacy.with_name(legacy.name + "-wal"), legacy.with_name(legacy.name + "-shm")):
            path.unlink(missing_ok=True)
        return len(list(folder.glob("*" + RUN_FILE))), written

    @guarded
    def merge_snapshot(self) -> int:
        """Take the committed runs beside this store that it lacks (or holds only as failed); return how
        many. A fresh clone resumes a campaign this way without retraining."""
        done = {key for key, status in self.statuses().items() if status == "ok"}
        rows = committed_rows(self.path, skip=done)
        if not rows:
            return 0
        before = self.db.total_changes
        self.db.executemany(
            f"{_INSERT_ROW} WHERE runs.status != 'ok' AND excluded.status = 'ok'",
            [[row[c] for c in ROW_COLUMNS] for row in rows],
        )
        return self.db.total_changes - before

    @guarded
    def adopt(self, specs: Iterable[RunSpec], sources: Iterable[Path]) -> dict[str, int]:
        """Store, for each of `specs` not stored ok here, an ok run of a source store (its live rows and
        committed files) whose spec is the same but for the protocol label: the same training, so it is not
        repeated; the row keeps this spec and notes where it came from (`details.reused_from`). Returns how
        many were taken from each source."""
        wanted = {
            _without_protocol(spec): spec for spec in specs if self.statuses([spec.key]).get(spec.key) != "ok"
        }
        taken: dict[str, int] = {}
        for source in sources:
            rows = committed_rows(source) + (read_store(source) if source.is_file() else [])
            for row in rows:
                if row["status"] != "ok":
                    continue
                spec = wanted.pop(_without_protocol(RunSpec.from_json(row["spec_json"])), None)
                if spec is None:
                    continue
                details = json.loads(row["details_json"])
                details["reused_from"] = {
                    "store": str(source),
                    "key": row["key"],
                    "protocol": row["protocol"],
                }
                values = {**row, "key": spec.key, "name": spec.name, "protocol": spec.protocol}
                values.update(spec_json=spec.to_json(), details_json=json.dumps(details))
                self.db.execute(f"{_INSERT_ROW} WHERE runs.status != 'ok'", [values[c] for c in ROW_COLUMNS])
                taken[source.parent.name] = taken.get(source.parent.name, 0) + 1
        return taken

    @guarded
    def statuses(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """key → "ok" | "failed" for the stored runs among `keys` (all when None)."""
        rows = self.db.execute("SELECT key, status FROM runs").fetchall()
        wanted = None if keys is None else set(keys)
        return {k: s for k, s in rows if wanted is None or k in wanted}

    @guarded
    def claim(self, key: str, retry_failed: bool = False) -> bool:
        """Take run `key` for this process before training it, in one transaction: False when it is stored
        (ok, or failed unless `retry_failed`) or a live process holds its lease, so that several processes
        (or machines) on one store split the work instead of training every run twice."""
        host, pid = socket.gethostname(), os.getpid()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[0] == "ok" or not retry_failed):
                self.db.execute("ROLLBACK")
                return False
            lease = self.db.execute(
                "SELECT host, pid, heartbeat FROM leases WHERE key = ?", (key,)
            ).fetchone()
            if lease is not None and (lease[0], lease[1]) != (host, pid) and not self._stale(*lease):
                self.db.execute("ROLLBACK")
                return False
            self.db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                (key, host, pid, datetime.now(timezone.utc).isoformat(timespec="seconds"), time.time()),
            )
            self.db.execute("COMMIT")
            return True
        except BaseException:
            if self.db.in_transaction:  # a full disk or damage may have ended it already
                self.db.execute("ROLLBACK")
            raise

    @staticmethod
    def _stale(host: str, pid: int, heartbeat: float) -> bool:
        gone = host == socket.gethostname() and not pid_alive(pid)
        return gone or time.time() - heartbeat > STALE_SECONDS

    def heartbeat(self, key: str) -> None:
        """Refresh this process's lease of `key`; a beat that cannot be written (a busy or full disk) waits
        for the next one, and the run's own result says what went wrong."""
        with suppress(sqlite3.OperationalError):
            self.db.execute(
                "UPDATE leases SET heartbeat = ? WHERE key = ? AND host = ? AND pid = ?",
                (time.time(), key, socket.gethostname(), os.getpid()),
            )

    @guarded
    def release(self, key: str) -> None:
        self.db.execute("DELETE FROM leases WHERE key = ?", (key,))

    @guarded
    def running(self, keys: Iterable[str] | None = None) -> dict[str, tuple[int, str, str]]:
        """key → (pid, host, since) of the runs a live process is training now."""
        rows = self.db.execute("SELECT key, host, pid, since, heartbeat FROM leases").fetchall()
        wanted = None if keys is None else set(keys)
        return {
            k: (pid, host, since)
            for k, host, pid, since, beat in rows
            if (wanted is None or k in wanted) and not self._stale(host, pid, beat)
        }

    @guarded
    def put(self, result: RunResult) -> bool:
        """Store a finished run; False when an ok row for the same spec is already there (kept as is). A run
        that failed for want of disk space is not stored (it stays pending, its last checkpoint kept): its
        error stops the command with one line, as a store that cannot be written does."""
        spec = result.spec
        if result.status == "failed" and disk_full(result.error):
            folder = checkpoint_path(self.path, spec.key).parent
            raise disk_full_error(folder, f"{spec.label} could not write its checkpoint")
        values = {c: getattr(spec, c) if c in SPEC_COLUMNS else getattr(result, c) for c in COLUMNS[1:]}
        row = [spec.key, *values.values(), spec.to_json(), json.dumps(result.details)]
        cursor = self.db.execute(f"{_INSERT_ROW} WHERE runs.status != 'ok'", row)
        return cursor.rowcount == 1

    @guarded
    def forget(self, keys: Iterable[str]) -> int:
        """Delete the rows (and leases) of `keys` from the store and its committed runs, so that their runs
        are pending again and no merge brings them back; return how many store rows went."""
        params = [(k,) for k in keys]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            before = self.db.total_changes
            self.db.executemany("DELETE FROM runs WHERE key = ?", params)
            removed = self.db.total_changes - before
            self.db.executemany("DELETE FROM leases WHERE key = ?", params)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a full disk or damage may have ended it already
                self.db.execute("ROLLBACK")
            raise
        for (key,) in params:
            (committed_dir(self.path) / f"{key}{RUN_FILE}").unlink(missing_ok=True)
        if legacy_snapshot(self.path).is_file():
            with closing(sqlite3.connect(legacy_snapshot(self.path))) as snapshot, snapshot:
                snapshot.executemany("DELETE FROM runs WHERE key = ?", params)
        return removed

    @guarded
    def rows(self, keys: Iterable[str] | None = None) -> list[dict]:
        """Stored runs as dicts of the flat columns plus `spec` (RunSpec) and `details` (dict)."""
        self.db.row_factory = sqlite3.Row
        try:
            rows = self.db.execute("SELECT * FROM runs ORDER BY started_at, key").fetchall()
        finally:
            self.db.row_factory = None
        wanted = None if keys is None else set(keys)
        out = []
        for row in rows:
            if wanted is not None and row["key"] not in wanted:
                continue
            record = {c: row[c] for c in COLUMNS}
            try:
                record["spec"] = RunSpec.from_json(row["spec_json"])
                record["details"] = json.loads(row["details_json"])
            except (ValueError, TypeError, KeyError) as e:  # bytes changed inside the JSON columns
                raise InputError(
                    f"{self.path}: the row of run {row['key']} is corrupt ({type(e).__name__}: {e}); "
                    f"`forget SUITE --key {row['key']}`, or restore it from {committed_dir(self.path)}"
                ) from None
            out.append(record)
        return out
