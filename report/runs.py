"""The bridge from a suite and its store to the runs table that report/ analyses: one row per planned run,
named as the suite names it now; a planned run not in the store is `pending`."""

from __future__ import annotations

import pandas as pd

from harness.store import COLUMNS, RunStore
from harness.suite import Suite


def runs_table(suite: Suite, store: RunStore | None) -> tuple[pd.DataFrame, dict[str, dict]]:
    """(runs, details by key): the flat columns of every planned run, and the stored details of each."""
    stored = {row["key"]: row for row in store.rows(spec.key for spec in suite.runs)} if store else {}
    records = []
    for spec in suite.runs:
        row = dict.fromkeys(COLUMNS)
        row.update({k: v for k, v in stored.get(spec.key, {}).items() if k in COLUMNS})
        row.update(key=spec.key, name=spec.name, model=spec.model, dataset=spec.dataset, seq_len=spec.seq_len,
                   pred_len=spec.pred_len, seed=spec.seed, protocol=spec.protocol,
                   status=row["status"] or "pending")  # fmt: skip
        records.append(row)
    details = {key: row["details"] for key, row in stored.items()}
    return pd.DataFrame.from_records(records, columns=list(COLUMNS)), details
