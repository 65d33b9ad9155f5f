"""Building blocks shared by more than one model."""

import math

import torch
from torch import nn

from harness import bernoulli


class Dropout(nn.Dropout):
    """`nn.Dropout`, its CPU mask drawn by `harness.bernoulli`: torch's own random stream and bits, ~10×
    faster (the serial mask draw was 80% of a TSMixer epoch)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bernoulli.dropout(x, self.p, self.training)


class SeriesDecomposition(nn.Module):
    """Split x [B, L, C] into trend (moving average over time) and seasonal = x − trend.

    The ends are padded by repeating the first and last step (kernel − 1) // 2 times, as in LTSF-Linear,
    so the trend has the input's length. The moving average is the official AvgPool1d's, computed as a
    difference of float64 running sums: CPU's avg_pool1d was 37% of a DLinear step, this is ~6× faster on
    that op and equals it to float32 rounding (tests/test_dlinear.py).
    """

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(x − trend, trend) with time along `dim` (DLinear decomposes a [B, C, L] view in place)."""
        k, n = self.kernel_size, x.shape[dim]
        ends = list(x.shape)
        ends[dim] = (k - 1) // 2
        padded = torch.cat([x.narrow(dim, 0, 1).expand(ends), x, x.narrow(dim, n - 1, 1).expand(ends)], dim)
        sums = padded.double().cumsum(dim)  # sums[j] = padded[:j + 1].sum()
        # trend[i] = (sums[i + k − 1] − sums[i − 1]) / k, with sums[−1] = 0
        window_sums = sums.narrow(dim, k - 1, n).clone()
        window_sums.narrow(dim, 1, n - 1).sub_(sums.narrow(dim, 0, n - 1))
        trend = (window_sums / k).to(x.dtype)
        return x - trend, trend


class RevIN(nn.Module):
    """Reversible instance normalisation over time (Kim et al., ICLR 2022), per sample and channel.

    Statistics are detached, as in the official code; `affine` adds a learnable per-channel scale and shift.
    `normalize` returns the statistics that `denormalize` needs, so the module holds no per-batch state.
    """

    def __init__(self, n_channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.affine:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean, std = stats
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps**2)
        return y * std + mean


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with biased q/k/v/output projections, the block the official PatchTST,
    iTransformer and Crossformer code share. With `prev_scores` (PatchTST's residual attention) the previous
    layer's pre-softmax scores are added to this layer's; the scores are returned for the next layer."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.attn_dropout = Dropout(attn_dropout)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        prev_scores: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n_q, d_model = query.shape
        head = d_model // self.n_heads

        def split(t: torch.Tensor) -> torch.Tensor:  # [B, N, d] → [B, heads, N, head]
            return t.view(batch, -1, self.n_heads, head).transpose(1, 2)

        q, k, v = split(self.q(query)), split(self.k(key)), split(self.v(value))
        scale = head**-0.5
        if head < k.shape[2] and math.frexp(scale)[0] == 0.5:
            # Scaling q instead of the scores is exact for a power-of-two scale (same bits) and cheaper
            # when a head is narrower than the key sequence: PatchTST (head 4, 42 patches) 1.1× a step.
            scores = (q * scale) @ k.transpose(-2, -1)
        else:
            scores = q @ k.transpose(-2, -1) * scale
        if prev_scores is not None:
            scores = scores + prev_scores
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(batch, n_q, d_model)
        return self.out(out), scores


class MultiStepHead(nn.Module):
    """The tutorial's head for a multi-step, multivariate forecast: one Linear from a summary vector [B, d]
    to all H × C values at once, reshaped to [B, H, C]."""

    def __init__(self, in_features: int, pred_len: int, n_channels: int):
        super().__init__()
        self.pred_len, self.n_channels = pred_len, n_channels
        self.linear = nn.Linear(in_features, pred_len * n_channels)

    def forward(self, summary: torch.Tensor) -> torch.Tensor:
        return self.linear(summary).view(-1, self.pred_len, self.n_channels)


class RecurrentForecaster(nn.Module):
    """A recurrent layer (`RECURRENT`: nn.RNN, nn.LSTM or nn.GRU) reads the lookback's C channels step by
    step; its last hidden state goes through `MultiStepHead`. The form of the tutorial's RNN/LSTM/GRU models
    (`fc(out[:, -1, :])`), with the head widened from one value to H × C."""

    RECURRENT: type[nn.RNNBase]

    def __init__(
        self, seq_len: int, pred_len: int, n_channels: int, hidden_size: int = 64, num_layers: int = 1
    ):
        super().__init__()
        self.recurrent = self.RECURRENT(n_channels, hidden_size, num_layers, batch_first=True)
        self.head = MultiStepHead(hidden_size, pred_len, n_channels)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        states, _ = self.recurrent(x)  # [B, L, hidden]: the last layer's state at every step
        return self.head(states[:, -1])
