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
import math
from pathlib import Path

import torch

from harness import native

SOURCE = Path(__file__).with_name("bernoulli.c")


SIGNATURES = (("bernoulli", (ctypes.c_void_p,) * 3 + (ctypes.c_int64, ctypes.c_uint64)),)


def _library() -> ctypes.CDLL | None:
    return native.kernel(SOURCE, SIGNATURES)


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
    _draw(library, mask.as_strided((mask.numel(),), (1,)), None, p)
    return mask


def _draw(library: ctypes.CDLL, floats: torch.Tensor | None, bytes_: torch.Tensor | None, p: float) -> None:
    state = torch.get_rng_state()
    out = floats if floats is not None else bytes_
    pointers = (None if t is None else t.data_ptr() for t in (floats, bytes_))
    library.bernoulli(state.data_ptr(), *pointers, out.numel(), math.ceil(p * 2.0**53))
    torch.set_rng_state(state)


def keep_mask(shape: tuple[int, ...], p: float) -> tuple[torch.Tensor, float] | None:
    """Dropout at rate p as (kept, scale): `kept` a uint8 tensor, 1 where `noise_` would hold `scale`, 0
    where it would hold 0, from the same draws; a quarter of the memory, for a kernel that applies the
    dropout itself. None where the C kernel is not built (then use `noise_`)."""
    library = _library()
    if library is None:
        return None
    kept = torch.empty(shape, dtype=torch.uint8)
    _draw(library, None, kept, 1 - p)
    return kept, torch.ones(1).div_(1 - p).item()


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`torch.nn.functional.dropout(x, p, training)` as torch computes it on the CPU (its `_dropout`: a
    Bernoulli(1 − p) mask divided by 1 − p, times x), with the mask drawn by `bernoulli_`."""
    if p == 0 or not training or x.numel() == 0 or x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, training)
    if p == 1:
        return x * torch.zeros((), dtype=x.dtype)
    return x * noise_(torch.empty_like(x), p)


def noise_(t: torch.Tensor, p: float) -> torch.Tensor:
    """Fill t with what dropout at rate p (0 < p < 1) multiplies its input by, Bernoulli(1 − p) / (1 − p),
    drawn as torch's dropout draws it (for a kernel that applies the dropout itself)."""
    return bernoulli_(t, 1 - p).div_(1 - p)
