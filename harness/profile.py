"""Cost of a trained model, measured the same way for every model: FLOPs per sample, latency, peak memory."""

from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from harness import native
from harness.windows import WindowSet

LATENCY_BATCH = 32
LATENCY_REPEATS = 20


class FlopCount(TorchDispatchMode):
    """Sums torch.utils.flop_counter's formulas over the aten ops a forward runs (what FlopCounterMode
    counts), without its module tracker, and without the torch._dynamo import (~1.5 s of a process) that
    every TorchDispatchMode pays on first use unless it says its dispatch need not be hidden from dynamo.
    While it counts, the project's C kernels (`harness.native`), which dispatch cannot see, are off."""

    def __init__(self):
        super().__init__()
        self.total = 0
        self._torch_only = native.torch_only()

    def __enter__(self):  # the project's C kernels run outside dispatch: torch's ops, the same arithmetic
        self._torch_only.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        super().__exit__(*exc)
        return self._torch_only.__exit__(*exc)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


@torch.no_grad()
def flops_per_sample(model: nn.Module, windows: WindowSet) -> int:
    """Forward FLOPs (a multiply-add counts 2) for one window, by torch.utils.flop_counter's formulas.

    PyTorch's fused inference path for nn.TransformerEncoder/MultiheadAttention runs its matmuls inside one
    kernel the counter cannot see into, so it is switched off while counting (the arithmetic is the same)."""
    model.eval()
    x, x_mark, _ = windows.batch(torch.zeros(1, dtype=torch.long, device=windows.device))
    fused = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCount() as counter:
            model(x, x_mark)
    finally:
        torch.backends.mha.set_fastpath_enabled(fused)
    return int(counter.total)


@torch.no_grad()
def latency_ms(model: nn.Module, windows: WindowSet) -> tuple[float, float]:
    """Median wall time of one forward pass over a batch of LATENCY_BATCH windows, after 3 warm-up passes,
    and the interquartile range of the LATENCY_REPEATS passes (their spread: a loaded machine widens it)."""
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
            times.append(1000 * (time.perf_counter() - start))
    quartiles = statistics.quantiles(times, n=4)
    return statistics.median(times), quartiles[2] - quartiles[0]


PROC_SELF = Path("/proc/self")


def reset_peak_memory(device: torch.device) -> None:
    """Start a run's peak: the CUDA allocator's on a GPU; on Linux CPU, the kernel's resident-set
    high-water mark (writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif (PROC_SELF / "clear_refs").exists():
        with contextlib.suppress(OSError):  # not permitted here: the process-wide peak is what remains
            (PROC_SELF / "clear_refs").write_text("5")


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """Peak memory since `reset_peak_memory` and what it measures: `cuda_allocated` on a GPU; `cpu_rss_run`
    on Linux, the resident set's high-water mark during the run (memory the allocator kept from earlier
    runs of the same worker counts: glibc keeps what is freed, harness/cpu.py); elsewhere `cpu_rss`, the
    process's peak since it started."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    status = PROC_SELF / "status"
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10, "cpu_rss_run"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10), "cpu_rss"
