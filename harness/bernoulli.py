"""Dropout masks from torch's own CPU random stream, drawn ~10× faster, the same bits.

torch's CPU `bernoulli_(p)` is a serial loop over one MT19937 (two words and a double per element,
~8 ns each here): 80% of a TSMixer epoch (dropout 0.9 on every block) and a third of PatchTST's. The
stream itself is cheap to make in bulk, so `bernoulli.c` twists and tempers whole blocks of
the generator's state and compares integers, then hands the state back to torch where its own kernel
would have left it: every mask, every later draw and so every result stays bit-identical
(tests/test_bernoulli.py). The C file is compiled once per machine (`harness.native`); without a compiler
(or off the CPU, or for other dtypes) torch's own kernel draws the mask.
"""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path

import torch

from harness import native

SOURCE = Path(__file__).with_name("bernoulli.c")


@functools.cache  # once per process
def _library() -> ctypes.CDLL | None:
    library = native.load(SOURCE)
    if library is not None:
        library.bernoulli_float.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64]
        library.bernoulli_float.restype = None
    return library


def available() -> bool:
    return _library() is not None


def _dense(t: torch.Tensor) -> bool:
    """Whether t's elements fill its memory without gaps or overlaps, in some order of its dimensions."""
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride(), strict=True), key=lambda dim: dim[1]):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def bernoulli_(mask: torch.Tensor, p: float) -> torch.Tensor:
    """`mask.bernoulli_(p)` on the default generator: the same values and the same generator state after.

    torch's kernel fills a dense tensor (as `torch.empty_like` makes one) in memory order, and so does this
    one; any other tensor is left to torch.
    """
    library = _library()
    usable = mask.device.type == "cpu" and mask.dtype == torch.float32 and _dense(mask) and 0 <= p <= 1
    if library is None or not usable:
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
