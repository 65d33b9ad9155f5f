"""iTransformer (Liu et al., ICLR 2024), after the authors' thuml/iTransformer code."""

import torch
from torch import nn

from baselines.layers import Dropout, MultiHeadAttention, RevIN
from harness.registry import register_model


class ITransformerLayer(nn.Module):
    """Post-LayerNorm encoder layer: attention across variate tokens, then a d → d_ff → d feed-forward
    (the official kernel-1 convolutions, written as the equivalent Linear layers), GELU, dropout."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, n_heads, attn_dropout=dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(d_ff, d_model),
            Dropout(dropout),
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(x, x, x)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.ff(x))


@register_model("itransformer", time_features=True)
class ITransformer(nn.Module):
    """Each variable's whole lookback is one token; attention runs across variables (and time features).

    Every series is normalised over time (no affine parameters) and embedded by `Linear(L → d_model)`;
    each time-feature series becomes one more token (4 for hourly data: 11 tokens on ETTh1). After
    `e_layers` encoder layers and a final LayerNorm, `Linear(d_model → H)` maps each token to the horizon;
    the first C tokens are kept and de-normalised. Defaults are the official run.py defaults; the ETTh1
    recipe is the preset `itransformer-etth1`.
    """

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        d_model: int = 512,
        n_heads: int = 8,
        d_ff: int = 2048,
        e_layers: int = 2,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.norm = RevIN(n_channels, affine=False)
        self.embed = nn.Linear(seq_len, d_model)
        self.dropout = Dropout(dropout)
        self.layers = nn.ModuleList(
            ITransformerLayer(d_model, n_heads, d_ff, dropout) for _ in range(e_layers)
        )
        self.final_norm = nn.LayerNorm(d_model)
        self.project = nn.Linear(d_model, pred_len)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        n_channels = x.shape[2]
        x, stats = self.norm.normalize(x)
        series = x if x_mark is None else torch.cat([x, x_mark], dim=2)  # [B, L, C + F]
        tokens = self.dropout(self.embed(series.transpose(1, 2)))  # [B, C + F, d_model]
        for layer in self.layers:
            tokens = layer(tokens)
        y = self.project(self.final_norm(tokens)).transpose(1, 2)[:, :, :n_channels]
        return self.norm.denormalize(y, stats)
