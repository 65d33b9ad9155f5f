"""Cost of a trained model, measured the same way for every model: FLOPs per sample, latency, peak memory."""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness.windows import WindowSet

LATENCY_BATCH = 32
LATENCY_REPEATS = 20


def flops_per_sample(model: nn.Module, windows: WindowSet) -> int:
    """Forward FLOPs (a multiply-add counts 2) for one window, by torch.utils.flop_counter.

    Not under no_grad: the counter's module tracker hooks the autograd graph of module inputs, and fails
    on a parameter passed straight into a submodule (Crossformer's routers) when no graph is built."""
    model.eval()
    x, x_mark, _ = windows.batch(torch.zeros(1, dtype=torch.long, device=windows.device))
    counter = FlopCounterMode(display=False)
    with counter:
        model(x, x_mark)
    return int(counter.get_total_flops())


@torch.no_grad()
def latency_ms(model: nn.Module, windows: WindowSet) -> float:
    """Median wall time of one forward pass over a batch of LATENCY_BATCH windows, after warm-up."""
    model.eval()
    batch = min(LATENCY_BATCH, len(windows))
    x, x_mark, _ = windows.batch(torch.arange(batch, device=windows.device))
    synchronize = torch.cuda.synchronize if windows.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(LATENCY_REPEATS + 3):
        synchronize()
        start = time.perf_counter()
        model(x, x_mark)
        synchronize()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory since the last reset and what it measures: the CUDA allocator on a GPU, or the
    process's peak resident set on CPU (a process-wide high-water mark, not reset between runs)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10), "cpu_rss"
