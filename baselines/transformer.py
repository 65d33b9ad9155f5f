"""Vanilla Transformer encoder forecaster, the classic baseline of the seed tutorial
(dl-for-time-series-tutorial.txt): each time step's C values embedded by one Linear, sinusoidal positions
(Vaswani et al., 2017), post-norm encoder layers, and the last step's output through a linear head to H × C.

Two departures from the tutorial's snippet, both fixes: it feeds [B, L, d] to an encoder that expects
[L, B, d] (batch_first is off by default), so attention would run across the batch; and without positions
the encoder would see the lookback as an unordered set. There is no official recipe: its ETTh1 preset is a
simple one, stated, not tuned."""

import math

import torch
from torch import nn

from baselines.layers import MultiStepHead
from harness.registry import register_model


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """[length, d_model]: sin on even, cos on odd features, wavelengths from 2π to 10000·2π."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table


@register_model("transformer")
class TransformerEncoderForecaster(nn.Module):
    """Time steps as tokens: Linear(C → d_model) + sinusoidal positions, an encoder, last token to H × C."""

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        d_model: int = 64,
        n_heads: int = 4,
        e_layers: int = 2,
        d_ff: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.embed = nn.Linear(n_channels, d_model)
        self.register_buffer("positions", sinusoidal_positions(seq_len, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, e_layers, enable_nested_tensor=False)
        self.head = MultiStepHead(d_model, pred_len, n_channels)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.encoder(self.embed(x) + self.positions)  # [B, L, d_model]
        return self.head(tokens[:, -1])
