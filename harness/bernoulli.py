"""Dropout masks from torch's own CPU random stream, drawn ~10× faster, the same bits.

torch's CPU `bernoulli_(p)` is a serial loop over one MT19937 (two words and a double per element,
~8 ns each here): 80% of a TSMixer epoch (dropout 0.9 on every block) and a third of PatchTST's. The
stream itself is cheap to make in bulk, so `bernoulli_float.c`'s C code twists and tempers whole blocks of
the generator's state and compares integers, then hands the state back to torch where its own kernel
would have left it: every mask, every later draw and so every result stays bit-identical
(tests/test_bernoulli.py). The C file is compiled once per machine with the system's C compiler into a
cache folder; without one (or off the CPU, or for other dtypes) torch's own kernel draws the mask.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("bernoulli.c")
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC")


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dynobench"


def _machine_tag() -> str:
    """What the compiled file depends on: the source, the flags and this CPU (-march=native)."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode())
    try:
        with open("/proc/cpuinfo") as info:
            digest.update(next((line for line in info if line.startswith("flags")), "").encode())
    except OSError:
        digest.update(platform.processor().encode())
    return f"{platform.machine()}-{digest.hexdigest()[:16]}"


@functools.cache  # once per process
def _library() -> ctypes.CDLL | None:
    """The compiled kernel, built on first use (atomically, so concurrent workers may race), or None."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    target = _cache_dir() / f"bernoulli-{_machine_tag()}.so"
    if not target.exists():
        if compiler is None:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp) / target.name
                subprocess.run(
                    [compiler, *FLAGS, str(SOURCE), "-o", str(built)], check=True, capture_output=True
                )
                os.replace(built, target)
        except (OSError, subprocess.CalledProcessError):
            return None
    try:
        library = ctypes.CDLL(str(target))
    except OSError:
        return None
    library.bernoulli_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64]
    library.bernoulli_float.restype = None
    return library


def available() -> bool:
    return _library() is not None


def bernoulli_(mask: torch.Tensor, p: float) -> torch.Tensor:
    """`mask.bernoulli_(p)` on the default generator: the same values and the same generator state after.

    `mask` must be dense (as `torch.empty_like` makes it); torch's kernel fills it in memory order, and so
    does this one.
    """
    library = _library()
    if library is None or mask.device.type != "cpu" or mask.dtype != torch.float32 or not 0 <= p <= 1:
        return mask.bernoulli_(p)
    state = torch.get_rng_state()
    flat = mask.as_strided((mask.numel(),), (1,))
    library.bernoulli_float(state.data_ptr(), flat.data_ptr(), mask.numel(), math.ceil(p * 2.0**53))
    torch.set_rng_state(state)
    return mask


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`torch.nn.functional.dropout(x, p, training)` as torch computes it on the CPU (its `_dropout`: a
    Bernoulli(1 − p) mask divided by 1 − p, times x), with the mask drawn by `bernoulli_`."""
    if p == 0 or not training or x.numel() == 0 or x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, training)
    if p == 1:
        return x * torch.zeros((), dtype=x.dtype)
    noise = bernoulli_(torch.empty_like(x), 1 - p)
    noise.div_(1 - p)
    return x * noise
