"""Stride-1 forecasting windows of one split, kept as one tensor on the training device.

A batch is an index gather of window starts, never a per-sample `__getitem__`; iterating covers every
window exactly once unless the caller asks to drop a partial last batch (training only).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class WindowSet:
    """Windows (x = rows [s, s+L), y = rows [s+L, s+L+H)) for every start s of a split segment."""

    def __init__(self, values: torch.Tensor, marks: torch.Tensor | None, seq_len: int, pred_len: int):
        self.values = values  # [S, C]
        self.marks = marks  # [S, F] or None when the model reads no time features
        self.seq_len = seq_len
        self.pred_len = pred_len
        device = values.device
        self._x_steps = torch.arange(seq_len, device=device)
        self._y_steps = torch.arange(seq_len, seq_len + pred_len, device=device)

    def __len__(self) -> int:
        return max(0, self.values.shape[0] - self.seq_len - self.pred_len + 1)

    @property
    def n_channels(self) -> int:
        return self.values.shape[1]

    @property
    def device(self) -> torch.device:
        return self.values.device

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """x [B, L, C], x_mark [B, L, F] or None, y [B, H, C] for the windows starting at `starts`."""
        x_rows, y_rows = starts[:, None] + self._x_steps, starts[:, None] + self._y_steps
        return _rows(self.values, x_rows), _rows(self.marks, x_rows), _rows(self.values, y_rows)

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None, drop_last: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        """Batches over all windows in `order` (default: chronological)."""
        starts = torch.arange(len(self), device=self.device) if order is None else order.to(self.device)
        # A split smaller than one batch still trains on its one partial batch.
        full = len(starts) - len(starts) % batch_size
        stop = full if drop_last and full > 0 else len(starts)
        for i in range(0, stop, batch_size):
            yield self.batch(starts[i : i + batch_size])


def _rows(table: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    """table[rows] for a [B, steps] index: the same copy as advanced indexing, ~3× faster on CPU."""
    if table is None:
        return None
    return table.index_select(0, rows.flatten()).view(*rows.shape, table.shape[1])
