"""TSMixer (Chen et al., TMLR 2023), after the authors' TensorFlow code (google-research/google-research,
tsmixer/tsmixer_basic/models/tsmixer_rev_in.py, tsmixer.py and rev_in.py)."""

import ctypes
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import Dropout, RevIN
from harness import bernoulli, native
from harness.registry import register_model

MLP_KERNEL = Path(__file__).with_name("tsmixer_mlp.c")


class PlaneBatchNorm(nn.Module):
    """Batch normalisation with one mean, variance, scale and shift per (time, channel) position.

    This is Keras' `BatchNormalization(axis=[-2, -1])` on [B, L, C]: statistics over the batch only,
    2·L·C trainable parameters. It keeps Keras' defaults, which differ from `nn.BatchNorm1d`'s: epsilon 1e-3,
    running statistics updated as running · 0.99 + batch · 0.01, and the running variance fed the biased
    batch variance (Keras' non-fused path has no Bessel correction; PyTorch's has).
    """

    def __init__(self, seq_len: int, n_channels: int, momentum: float = 0.01, eps: float = 1e-3):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(seq_len, n_channels))
        self.bias = nn.Parameter(torch.zeros(seq_len, n_channels))
        self.register_buffer("running_mean", torch.zeros(seq_len, n_channels))
        self.register_buffer("running_var", torch.ones(seq_len, n_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(dim=0)
            var = x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class _ChannelLinearFunction(torch.autograd.Function):
    """F.linear whose weight gradient is formed as (xᵀ·g)ᵀ when there are fewer inputs than outputs."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        rows_x, rows_grad = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
        grad_x = (rows_grad @ weight).view(x.shape) if ctx.needs_input_grad[0] else None
        if rows_x.shape[1] < rows_grad.shape[1]:
            grad_weight = (rows_x.t() @ rows_grad).t()
        else:
            grad_weight = rows_grad.t() @ rows_x
        return grad_x, grad_weight, rows_grad.sum(0)


class ChannelLinear(nn.Linear):
    """nn.Linear over the C channels of [B, L, C] (feature mixing, C = 7 on ETT), same parameters and output.

    Its weight gradient is the product of [ff, B·L] by [B·L, C] rows; MKL forms it ~5× faster as the transpose
    of [C, B·L]·[B·L, ff], which is what autograd is given here. A TSMixer training step is ~1.3× faster;
    gradients equal nn.Linear's to float rounding (tests/test_tsmixer.py).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ChannelLinearFunction.apply(x, self.weight, self.bias)


_SIZE, _INT, _PTR, _FLOAT = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p, ctypes.c_float
MLP_SIGNATURES = (
    ("mlp_forward", (_SIZE, _INT, _INT, _INT, _PTR, _PTR, _PTR, _PTR, _FLOAT, _PTR, _PTR, _PTR)),
    ("mlp_backward", (_SIZE, _INT, _INT, _INT, _PTR, _PTR, _PTR, _PTR, _FLOAT, *[_PTR] * 6)),
)


def _mlp_library() -> ctypes.CDLL | None:
    return native.kernel(MLP_KERNEL, MLP_SIGNATURES)


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _FeatureMLPFunction(torch.autograd.Function):
    """rows [R, C] → W2·(relu(W1·x + b1) ⊙ dropout) + b2 [R, C_out] in `tsmixer_mlp.c`, which never stores
    the [R, ff] hidden activations: its backward recomputes them row by row. Dropout: `kept` [R, ff] (uint8)
    times `scale`, or None."""

    @staticmethod
    def forward(ctx, rows, w1, b1, w2, b2, kept, scale):
        w1t, w2 = w1.t().contiguous(), w2.contiguous()
        (n_rows, n_in), (n_out, width) = rows.shape, w2.shape
        out = rows.new_empty(n_rows, n_out)
        _mlp_library().mlp_forward(
            n_rows, n_in, width, n_out, *map(_ptr, (rows, w1t, b1, kept)), scale, *map(_ptr, (w2, b2, out))
        )
        ctx.save_for_backward(rows, w1t, b1, w2, kept)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        rows, w1t, b1, w2, kept = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_rows = torch.empty_like(rows)
        grad_w1t, grad_b1, grad_w2 = torch.zeros_like(w1t), torch.zeros_like(b1), torch.zeros_like(w2)
        (n_rows, n_in), (n_out, width) = rows.shape, w2.shape
        _mlp_library().mlp_backward(
            n_rows, n_in, width, n_out,
            *map(_ptr, (rows, w1t, b1, kept)), ctx.scale,
            *map(_ptr, (w2, grad_out, grad_rows, grad_w1t, grad_b1, grad_w2)),
        )  # fmt: skip
        return grad_rows, grad_w1t.t().contiguous(), grad_b1, grad_w2, grad_out.sum(0), None, None


class MixerBlock(nn.Module):
    """Time mixing (norm, Dense(L → L) per channel, ReLU, dropout, residual), then feature mixing (norm,
    Dense(C → ff_dim), ReLU, dropout, Dense(ff_dim → C), dropout, residual), as the official `res_block`."""

    def __init__(self, seq_len: int, n_channels: int, ff_dim: int, dropout: float):
        super().__init__()
        self.time_norm = PlaneBatchNorm(seq_len, n_channels)
        self.time_linear = nn.Linear(seq_len, seq_len)
        self.feature_norm = PlaneBatchNorm(seq_len, n_channels)
        self.feature_in = ChannelLinear(n_channels, ff_dim)
        self.feature_out = ChannelLinear(ff_dim, n_channels)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, L, C]
        mixed = self.time_linear(self.time_norm(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.dropout(torch.relu(mixed))
        return x + self.dropout(self.feature_mixing(self.feature_norm(x)))

    def feature_mixing(self, x: torch.Tensor) -> torch.Tensor:
        """Dense(C → ff_dim), ReLU, dropout, Dense(ff_dim → C): one C kernel on the CPU (`tsmixer_mlp.c`,
        ~10× faster at the ETTh1 recipe's ff_dim 512; its dropout noise is drawn as `self.dropout` draws
        it), torch's ops elsewhere."""
        if _mlp_library() is None or x.device.type != "cpu" or x.dtype != torch.float32:
            return self.feature_out(self.dropout(torch.relu(self.feature_in(x))))
        rows = x.reshape(-1, x.shape[-1]).contiguous()
        kept, scale = None, 1.0
        if self.training and self.dropout.p > 0:
            kept, scale = bernoulli.keep_mask((len(rows), self.feature_in.out_features), self.dropout.p)
        linears = (
            self.feature_in.weight,
            self.feature_in.bias,
            self.feature_out.weight,
            self.feature_out.bias,
        )
        out = _FeatureMLPFunction.apply(rows, *linears, kept, scale)
        return out.view(*x.shape[:-1], -1)


@register_model("tsmixer", revision=2)  # 1: ChannelLinear; 2: the feature MLP's C kernel (float noise both)
class TSMixer(nn.Module):
    """Affine RevIN, n_block time/feature mixing blocks with BatchNorm over (L, C), Linear(L → H) head.

    The variant the paper reports for the long-horizon benchmarks (`tsmixer_rev_in` in the official code).
    TSLib's "TSMixer" (no RevIN, no norms, MLP time mixing) is a different model. Every Linear starts as
    Keras' Dense does: Glorot-uniform weights and zero biases, not PyTorch's default initialisation.
    """

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        n_block: int = 2,
        ff_dim: int = 2048,
        dropout: float = 0.05,
    ):
        super().__init__()
        if n_block < 1:
            raise ValueError(f"n_block must be at least 1, got {n_block}")
        if ff_dim < 1:
            raise ValueError(f"ff_dim must be at least 1, got {ff_dim}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.revin = RevIN(n_channels, affine=True, eps=1e-5)
        self.blocks = nn.ModuleList(MixerBlock(seq_len, n_channels, ff_dim, dropout) for _ in range(n_block))
        self.head = nn.Linear(seq_len, pred_len)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        x, stats = self.revin.normalize(x)
        for block in self.blocks:
            x = block(x)
        y = self.head(x.transpose(1, 2)).transpose(1, 2)  # [B, H, C], one map shared by all channels
        return self.revin.denormalize(y, stats)
