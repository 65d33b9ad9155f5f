"""A one-layer, batch-first GRU whose CPU forward and backward fuse each step's gate arithmetic in C.

DynoNet's controller GRU runs over the whole window (512 or 720 steps) twice per batch, and was most of a
DynoNet epoch: torch's CPU GRU spends a step on a dozen small ops and their autograd records, ~6× the time of
the step's one recurrent matrix product. Here each step is that product (torch's `addmm`) and one C pass over
the gates (`gru.c`); the input products of all steps, and in the backward the weight gradients of all steps,
are each one large product. Same parameters, initialisation and state_dict as `nn.GRU`; outputs and
gradients equal to nn.GRU's to float rounding (tests/test_dynonet_gru.py), not bit for bit.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import nn

from harness import native

_SIZE, _PTR = ctypes.c_int64, ctypes.c_void_p
SIGNATURES = (
    ("gru_forward_step", (_SIZE, _SIZE, *[_PTR] * 8)),
    ("gru_backward_step", (_SIZE, _SIZE, _PTR, _PTR, _SIZE, *[_PTR] * 8)),
)


def _library() -> ctypes.CDLL | None:
    return native.kernel(Path(__file__).with_name("gru.c"), SIGNATURES)


_workspace: list[torch.Tensor] = []  # the largest input-product buffer so far


def _input_products(x_steps: torch.Tensor, w_ih: torch.Tensor, b_ih: torch.Tensor) -> torch.Tensor:
    """All steps' input products [T, B, 3H], in a buffer kept between calls: an evaluation batch of 1024
    windows at L = 720 needs 1.1 GB, which glibc returns to the kernel when freed (even with harness.cpu's
    largest trim threshold), so each call page-faulted it in afresh."""
    steps, batch, _ = x_steps.shape
    size = steps * batch * w_ih.shape[0]
    if not _workspace or _workspace[0].numel() < size:
        _workspace[:] = [x_steps.new_empty(size)]
    out = _workspace[0][:size].view(steps * batch, -1)
    return torch.addmm(b_ih, x_steps.view(steps * batch, -1), w_ih.t(), out=out).view(steps, batch, -1)


class _GRUFunction(torch.autograd.Function):
    """x [B, T, I] → (outputs [B, T, H], last state [B, H]) from a zero initial state; time-major [T, B, ·]
    buffers inside. A caller that reads only the last state (DynoNet's controller) passes no gradient for the
    outputs, and the backward reads none (not a [B, T, H] tensor of zeros)."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh):
        ctx.set_materialize_grads(False)
        step = _library().gru_forward_step
        batch, steps, _ = x.shape
        hidden = w_hh.shape[1]
        x_steps = x.transpose(0, 1).contiguous()  # [T, B, I]
        gi = _input_products(x_steps, w_ih, b_ih)
        h = x.new_zeros(steps + 1, batch, hidden)  # h[0] = 0, h[t + 1] = output of step t
        saving = any(ctx.needs_input_grad)
        gates = x.new_empty(4, steps if saving else 1, batch, hidden)  # r, z, n, ghn
        gh, w_hh_t = x.new_empty(batch, 3 * hidden), w_hh.t()
        row, gate_row = batch * hidden * 4, (batch * hidden * 4 if saving else 0)
        h_at, gi_at, gh_at = h.data_ptr(), gi.data_ptr(), gh.data_ptr()
        gate_at = [g.data_ptr() for g in gates]
        for t in range(steps):
            torch.addmm(b_hh, h[t], w_hh_t, out=gh)
            step(batch, hidden, gi_at + 3 * t * row, gh_at, h_at + t * row, h_at + (t + 1) * row,
                 *(at + t * gate_row for at in gate_at))  # fmt: skip
        if saving:
            ctx.save_for_backward(x_steps, w_ih, w_hh, h, gates)
        return h[1:].transpose(0, 1), h[-1]

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        step = _library().gru_backward_step
        x_steps, w_ih, w_hh, h, gates = ctx.saved_tensors
        steps, batch, hidden = h.shape[0] - 1, h.shape[1], h.shape[2]
        grad_steps = None if grad_out is None else grad_out.transpose(0, 1).contiguous()  # [T, B, H]
        dgi = h.new_empty(steps, batch, 3 * hidden)
        dgh = torch.empty_like(dgi)
        dh = h.new_zeros(batch, hidden)  # row-major whatever the layout of grad_last
        if grad_last is not None:
            dh.copy_(grad_last)
        dh_direct = h.new_empty(batch, hidden)
        row = batch * hidden * 4
        h_at, dgi_at, dgh_at = h.data_ptr(), dgi.data_ptr(), dgh.data_ptr()
        grad_at = 0 if grad_steps is None else grad_steps.data_ptr()
        gate_at = [g.data_ptr() for g in gates]
        dh_at, direct_at = dh.data_ptr(), dh_direct.data_ptr()
        for t in range(steps - 1, -1, -1):
            gates_t = (at + t * row for at in gate_at)
            step(batch, hidden, dh_at, grad_at and grad_at + t * row, hidden, h_at + t * row, *gates_t,
                 dgi_at + 3 * t * row, dgh_at + 3 * t * row, direct_at)  # fmt: skip
            torch.addmm(dh_direct, dgh[t], w_hh, out=dh)  # gradient of h_t−1
        dgi_rows, dgh_rows = dgi.view(steps * batch, 3 * hidden), dgh.view(steps * batch, 3 * hidden)
        # Products with the I-wide input side formed as [I, ·] (MKL is ~10× slower on [·, 3H]·[3H, I] and
        # [3H, T·B]·[T·B, I] here than on their transposes).
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (w_ih.t() @ dgi_rows.t()).view(-1, steps, batch).permute(2, 1, 0)
        grad_w_ih = (x_steps.view(steps * batch, -1).t() @ dgi_rows).t()
        grad_w_hh = dgh_rows.t() @ h[:-1].reshape(steps * batch, hidden)
        return grad_x, grad_w_ih, grad_w_hh, dgi_rows.sum(0), dgh_rows.sum(0)


class GRU(nn.GRU):
    """nn.GRU(input_size, hidden_size, batch_first=True), always from a zero initial state, fused on CPU.

    Elsewhere (a GPU, no C compiler, `native.torch_only()`) it is nn.GRU itself.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.device.type != "cpu" or x.dtype != torch.float32 or _library() is None:
            return super().forward(x)
        out, last = _GRUFunction.apply(
            x, self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0
        )
        return out, last.unsqueeze(0)
