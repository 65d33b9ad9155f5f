"""Benchmark: the harness's index-gather batches against a per-sample Dataset + DataLoader (TSLib style).

Times one pass over the ETTh1 training windows (L = 336, H = 96, batch 32, shuffled): data only, and a
full DLinear training epoch. Usage: python benchmarks/batching.py [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader, Dataset

from harness import registry
from harness.datasets import load_table, resolve
from harness.protocol import prepare
from harness.windows import WindowSet


class PerSampleWindows(Dataset):
    """The common reference pattern: one `__getitem__` per window, collated by a DataLoader."""

    def __init__(self, windows: WindowSet):
        self.values = windows.values.cpu().numpy()
        self.seq_len, self.pred_len, self.n = windows.seq_len, windows.pred_len, len(windows)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        x = self.values[i : i + self.seq_len]
        y = self.values[i + self.seq_len : i + self.seq_len + self.pred_len]
        return torch.from_numpy(x), torch.from_numpy(y)


def gather_batches(windows: WindowSet, device: torch.device):
    order = torch.randperm(len(windows))
    for x, _, y in windows.batches(32, order, drop_last=True):
        yield x, y


def loader_batches(windows: WindowSet, device: torch.device):
    loader = DataLoader(PerSampleWindows(windows), batch_size=32, shuffle=True, drop_last=True)
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def timed(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    ref = resolve("ETTh1", "benchmark")
    splits = prepare(load_table(ref), ref.split, 336, 96, device, False)
    windows = splits.train

    def data_only(batches):
        return lambda: [None for _ in batches(windows, device)]

    def epoch(batches):
        torch.manual_seed(0)
        model = registry.build("dlinear", 336, 96, 7).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.005)

        def run():
            for x, y in batches(windows, device):
                loss = torch.nn.functional.mse_loss(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        return run

    rows = []
    for label, batches in (
        ("index gather (harness)", gather_batches),
        ("Dataset + DataLoader", loader_batches),
    ):
        data_s = timed(data_only(batches), args.repeats, device)
        epoch_s = timed(epoch(batches), args.repeats, device)
        rows.append([label, f"{data_s:.3f}", f"{len(windows) / data_s:,.0f}", f"{epoch_s:.3f}"])
    print(
        f"ETTh1 train split, {len(windows)} windows, L=336, H=96, batch 32, device {device}, "
        f"torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print(tabulate(rows, ["batching", "data pass (s)", "windows/s", "DLinear epoch (s)"], tablefmt="github"))


if __name__ == "__main__":
    main()
