"""TSMixer (Chen et al., TMLR 2023), after the authors' TensorFlow code (google-research/google-research,
tsmixer/tsmixer_basic/models/tsmixer_rev_in.py, tsmixer.py and rev_in.py)."""

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import Dropout, RevIN
from harness.registry import register_model


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
        hidden = self.dropout(torch.relu(self.feature_in(self.feature_norm(x))))
        return x + self.dropout(self.feature_out(hidden))


@register_model("tsmixer", revision=1)  # 1: ChannelLinear (float noise)
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
