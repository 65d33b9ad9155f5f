"""How a process trains on CPU: one torch thread per run unless told more, and a malloc that keeps the memory
it frees.

Measured on 2-core machines (`benchmarks/speed.py`, shared/specs/cpu-speed.md): two runs at once with one
thread each train ~1.8× more per hour than one run with two threads, whose threads wait on each other at
every parallel region; and the thread count changes the last bits of a result, so fixing it (at one unless
`run --threads` says more) makes a run's metrics the same whatever `--jobs` is. More threads are for a run
that must end sooner than one thread allows (Crossformer at H = 720 trains 1.8× faster on two on an idle
machine, `benchmarks/threads.py`, and then fits a session); each run records the threads it trained on.

glibc's malloc returns every block over 32 MB to the kernel on free (mmap), so each training step
page-faults its large activations afresh (millions of faults per epoch, up to 40% of a TSMixer step);
keeping freed memory in the heap trains the same bits faster. Subnormal
floats are flushed to zero: backpropagation through DynoNet's 512-step GRU produces vanishing gradients
whose subnormal values make every matmul of its backward ~20× slower (a step 1.8× slower in all); results of
normal magnitude are unchanged (tests/test_cpu.py; the real recipe's weights after 3 steps are bit-identical).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

import torch

RUN_THREADS = 1
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc mallopt parameters (malloc.h)


@functools.cache  # once per process: finding libc runs a subprocess
def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never trim it (glibc only; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt
        return False
    return all(
        mallopt(param, value)
        # The trim threshold is the largest int mallopt takes: DynoNet's validation batch at L = 720 frees
        # ~1.5 GB at once, which a 1 GB threshold gave back to the kernel and the next batch page-faulted in.
        for param, value in ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 64 * 2**20))
    )


def default_jobs(device: torch.device) -> int:
    """Runs at once when the user does not say: one per core on CPU, one on a GPU."""
    return (os.cpu_count() or 1) if device.type == "cpu" else 1


def prepare_process(device: torch.device, threads: int = RUN_THREADS) -> None:
    """Settings of a process about to train on `device` with `threads` torch threads (idempotent)."""
    if device.type == "cpu":
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)
        keep_freed_memory()
