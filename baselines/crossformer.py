"""Crossformer (Zhang & Yan, ICLR 2023), after the authors' Thinklab-SJTU/Crossformer code.

Shapes inside the model are [B, C, S, d]: batch, channel, segment, feature. Everything follows the official
code: post-LayerNorm residual blocks, dropout on attention weights and on residual branches, biased linear
layers, standard-normal position embeddings and routers, PyTorch's default init elsewhere.
"""

import math

import torch
from torch import nn

from baselines.layers import Dropout, MultiHeadAttention
from harness.registry import register_model


def mlp(d_model: int, d_hidden: int) -> nn.Sequential:
    """d → d_hidden → d with GELU and no dropout inside, as in the official TSA and decoder layers."""
    return nn.Sequential(nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model))


class TwoStageAttention(nn.Module):
    """Cross-time stage (self-attention over the segments of each channel) then cross-dimension stage
    (`routers` learnable vectors per segment gather from all channels and send back), so the cost of
    mixing channels grows linearly with C rather than quadratically."""

    def __init__(self, n_segments: int, routers: int, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.time_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.sender = MultiHeadAttention(d_model, n_heads, dropout)
        self.receiver = MultiHeadAttention(d_model, n_heads, dropout)
        self.router = nn.Parameter(torch.randn(n_segments, routers, d_model))
        self.dropout = Dropout(dropout)
        self.time_norm1 = nn.LayerNorm(d_model)
        self.time_norm2 = nn.LayerNorm(d_model)
        self.dim_norm1 = nn.LayerNorm(d_model)
        self.dim_norm2 = nn.LayerNorm(d_model)
        self.time_mlp = mlp(d_model, d_ff)
        self.dim_mlp = mlp(d_model, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_channels, n_segments, d_model = x.shape
        t = x.reshape(batch * n_channels, n_segments, d_model)
        t = self.time_norm1(t + self.dropout(self.time_attn(t, t, t)[0]))
        t = self.time_norm2(t + self.dropout(self.time_mlp(t)))
        # [B·C, S, d] → [B·S, C, d]: one set of routers per segment position, shared across the batch
        c = t.reshape(batch, n_channels, n_segments, d_model).transpose(1, 2)
        c = c.reshape(batch * n_segments, n_channels, d_model)
        routers = self.router.repeat(batch, 1, 1)  # row b·S + s holds the routers of segment s
        buffer = self.sender(routers, c, c)[0]
        c = self.dim_norm1(c + self.dropout(self.receiver(c, buffer, buffer)[0]))
        c = self.dim_norm2(c + self.dropout(self.dim_mlp(c)))
        return c.reshape(batch, n_segments, n_channels, d_model).transpose(1, 2)


class SegmentMerge(nn.Module):
    """Concatenate each run of `win_size` neighbouring segments, LayerNorm, Linear(win·d → d): a coarser
    scale. A ragged end is padded with the last segments again (the official code appends the last
    `pad` segments; when fewer exist, the first is repeated, which the official code cannot handle)."""

    def __init__(self, d_model: int, win_size: int):
        super().__init__()
        self.win_size = win_size
        self.norm = nn.LayerNorm(win_size * d_model)
        self.proj = nn.Linear(win_size * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_channels, n_segments, d_model = x.shape
        pad = -n_segments % self.win_size
        if pad:
            tail = torch.arange(n_segments - pad, n_segments, device=x.device).clamp(min=0)
            x = torch.cat([x, x[:, :, tail]], dim=2)
        x = x.reshape(batch, n_channels, -1, self.win_size * d_model)
        return self.proj(self.norm(x))


class ScaleBlock(nn.Module):
    """One encoder scale: optional segment merging, then one two-stage attention layer (depth 1)."""

    def __init__(
        self,
        win_size: int,
        n_segments: int,
        routers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
    ):
        super().__init__()
        self.merge = SegmentMerge(d_model, win_size) if win_size > 1 else None
        self.tsa = TwoStageAttention(n_segments, routers, d_model, n_heads, d_ff, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merge is not None:
            x = self.merge(x)
        return self.tsa(x)


class DecoderLayer(nn.Module):
    """Two-stage attention, cross-attention to one encoder scale, MLP d → d → d, then Linear(d → seg_len):
    every layer predicts every output segment at its own scale."""

    def __init__(
        self,
        seg_len: int,
        n_segments: int,
        routers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
    ):
        super().__init__()
        self.tsa = TwoStageAttention(n_segments, routers, d_model, n_heads, d_ff, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.mlp = mlp(d_model, d_model)
        self.predict = nn.Linear(d_model, seg_len)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.tsa(x)
        batch, n_channels, n_segments, d_model = x.shape
        q = x.reshape(batch * n_channels, n_segments, d_model)
        kv = memory.reshape(batch * n_channels, -1, d_model)
        q = self.norm1(q + self.dropout(self.cross_attn(q, kv, kv)[0]))
        q = self.norm2(q + self.mlp(q))  # no dropout on this branch in the official code
        x = q.reshape(batch, n_channels, n_segments, d_model)
        return x, self.predict(x)


@register_model("crossformer")
class Crossformer(nn.Module):
    """Segments of each channel as tokens, two-stage attention (time, then channels via routers), multi-scale.

    An encoder of e_layers scales (neighbouring segments merged from the second on) feeds a decoder of
    e_layers + 1 layers whose per-scale predictions are summed; there is no instance normalisation.

    The lookback is padded at the front with its first value to whole segments; the decoder predicts
    ceil(H / seg_len) segments and the first H steps are kept. `routers` is the official `factor`;
    `baseline` (off in every official script) adds the lookback's mean over time to the prediction.
    """

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        seg_len: int = 24,
        win_size: int = 2,
        routers: int = 10,
        d_model: int = 256,
        d_ff: int = 512,
        n_heads: int = 4,
        e_layers: int = 3,
        dropout: float = 0.2,
        baseline: bool = False,
    ):
        super().__init__()
        for name, value in (
            ("seg_len", seg_len),
            ("win_size", win_size),
            ("routers", routers),
            ("d_model", d_model),
            ("d_ff", d_ff),
            ("n_heads", n_heads),
            ("e_layers", e_layers),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.pred_len = pred_len
        self.seg_len = seg_len
        self.baseline = baseline
        in_segments = math.ceil(seq_len / seg_len)
        out_segments = math.ceil(pred_len / seg_len)
        self.front_pad = in_segments * seg_len - seq_len

        self.enc_pos = nn.Parameter(torch.randn(1, n_channels, in_segments, d_model))
        self.dec_pos = nn.Parameter(torch.randn(1, n_channels, out_segments, d_model))
        self.embed = nn.Linear(seg_len, d_model)
        self.pre_norm = nn.LayerNorm(d_model)
        shared = dict(routers=routers, d_model=d_model, n_heads=n_heads, d_ff=d_ff, dropout=dropout)
        self.encoder = nn.ModuleList(
            ScaleBlock(1 if i == 0 else win_size, math.ceil(in_segments / win_size**i), **shared)
            for i in range(e_layers)
        )
        # decoder layer i attends to encoder scale i, scale 0 being the embedding itself
        self.decoder = nn.ModuleList(
            DecoderLayer(seg_len, out_segments, **shared) for _ in range(e_layers + 1)
        )

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        base = x.mean(dim=1, keepdim=True) if self.baseline else 0.0
        if self.front_pad:
            x = torch.cat([x[:, :1].expand(-1, self.front_pad, -1), x], dim=1)
        batch, length, n_channels = x.shape
        segments = x.transpose(1, 2).reshape(batch, n_channels, length // self.seg_len, self.seg_len)
        h = self.pre_norm(self.embed(segments) + self.enc_pos)  # [B, C, S_in, d]
        scales = [h]
        for block in self.encoder:
            h = block(h)
            scales.append(h)
        y = self.dec_pos.expand(batch, -1, -1, -1)
        prediction = 0.0
        for layer, memory in zip(self.decoder, scales, strict=True):
            y, layer_prediction = layer(y, memory)  # [B, C, S_out, seg_len]
            prediction = prediction + layer_prediction
        prediction = prediction.reshape(batch, n_channels, -1).transpose(1, 2)  # [B, S_out·seg_len, C]
        return prediction[:, : self.pred_len] + base
