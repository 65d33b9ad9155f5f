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


_PTR, _SIZE = ctypes.c_void_p, ctypes.c_int64
SIGNATURES = (
    ("bernoulli", (_PTR, _PTR, _PTR, _SIZE, ctypes.c_uint64)),
    ("dropout", (_PTR, _PTR, _PTR, _PTR, _SIZE, ctypes.c_uint64, ctypes.c_float)),
    ("dropout_backward", (_PTR, _PTR, _PTR, _SIZE, ctypes.c_float)),
)


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
    _draw(library, mask, None, p)
    return mask


def _flat(t: torch.Tensor) -> int:
    """The address of a dense tensor's elements, in memory order."""
    return t.as_strided((t.numel(),), (1,)).data_ptr()


def _threshold(p: float) -> int:
    """A draw x of 53 bits is below p exactly when x < ceil(p · 2^53) (both sides exact in double)."""
    return math.ceil(p * 2.0**53)


def _scale(p: float) -> float:
    """What torch's dropout noise holds where it keeps an element: 1 / (1 − p) as its float32 division."""
    return torch.ones(1).div_(1 - p).item()


def _draw(library: ctypes.CDLL, floats: torch.Tensor | None, bytes_: torch.Tensor | None, p: float) -> None:
    state = torch.get_rng_state()
    out = floats if floats is not None else bytes_
    pointers = (None if t is None else _flat(t) for t in (floats, bytes_))
    library.bernoulli(state.data_ptr(), *pointers, out.numel(), _threshold(p))
    torch.set_rng_state(state)


class _Dropout(torch.autograd.Function):
    """Dropout drawn and applied in one pass (`dropout` in bernoulli.c), keeping a byte mask for the
    backward instead of torch's float noise tensor: the same multiplications, a third of the memory moved."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        out, kept, scale = torch.empty_like(x), torch.empty_like(x, dtype=torch.uint8), _scale(p)
        state = torch.get_rng_state()
        _library().dropout(
            state.data_ptr(), _flat(x), _flat(out), _flat(kept), x.numel(), _threshold(1 - p), scale
        )
        torch.set_rng_state(state)
        ctx.save_for_backward(kept)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (kept,) = ctx.saved_tensors
        library = _library()
        if (
            library is None
            or grad.dtype != torch.float32
            or grad.stride() != kept.stride()
            or not _dense(grad)
        ):
            return grad * (kept * ctx.scale), None  # kept · scale: torch's noise, value for value
        grad_x = torch.empty_like(grad)
        library.dropout_backward(_flat(grad), _flat(kept), _flat(grad_x), grad.numel(), ctx.scale)
        return grad_x, None


def keep_mask(shape: tuple[int, ...], p: float) -> tuple[torch.Tensor, float] | None:
    """Dropout at rate p as (kept, scale): `kept` a uint8 tensor, 1 where `noise_` would hold `scale`, 0
    where it would hold 0, from the same draws; a quarter of the memory, for a kernel that applies the
    dropout itself. None where the C kernel is not built (then use `noise_`)."""
    library = _library()
    if library is None:
        return None
    kept = torch.empty(shape, dtype=torch.uint8)
    _draw(library, None, kept, 1 - p)
    return kept, _scale(p)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`torch.nn.functional.dropout(x, p, training)` as torch computes it on the CPU (its `_dropout`: a
    Bernoulli(1 − p) mask divided by 1 − p, times x; the gradient times the same noise), with the mask drawn
    by this module's kernel and applied in the same pass."""
    if p == 0 or not training or x.numel() == 0 or x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, training)
    if p == 1:
        return x * torch.zeros((), dtype=x.dtype)
    if _library() is None or x.dtype != torch.float32 or not _dense(x):
        return x * noise_(torch.empty_like(x), p)
    return _Dropout.apply(x, p)


def noise_(t: torch.Tensor, p: float) -> torch.Tensor:
    """Fill t with what dropout at rate p (0 < p < 1) multiplies its input by, Bernoulli(1 − p) / (1 − p),
    drawn as torch's dropout draws it (for a kernel that applies the dropout itself)."""
    return bernoulli_(t, 1 - p).div_(1 - p)
