"""PatchTST (Nie et al., ICLR 2023), the supervised model of the authors' yuqinie98/PatchTST code."""

import torch
from torch import nn

from baselines.layers import Dropout, MultiHeadAttention, RevIN
from harness.registry import register_model


class BatchNormTokens(nn.Module):
    """BatchNorm1d over d_model for token sequences [B, N, d] (PatchTST normalises with BatchNorm)."""

    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class PatchTSTLayer(nn.Module):
    """Post-norm encoder layer with residual attention; as in the official code, the attention output
    passes two dropouts (the projection's and the residual branch's)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, n_heads)
        self.proj_dropout = Dropout(dropout)
        self.attn_dropout = Dropout(dropout)
        self.norm_attn = BatchNormTokens(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), Dropout(dropout), nn.Linear(d_ff, d_model)
        )
        self.ff_dropout = Dropout(dropout)
        self.norm_ff = BatchNormTokens(d_model)

    def forward(self, x: torch.Tensor, prev_scores: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        attended, scores = self.attention(x, x, x, prev_scores)
        x = self.norm_attn(x + self.attn_dropout(self.proj_dropout(attended)))
        x = self.norm_ff(x + self.ff_dropout(self.ff(x)))
        return x, scores


@register_model("patchtst")
class PatchTST(nn.Module):
    """Channel-independent patches of each series through a Transformer encoder, flatten head, RevIN.

    Each channel is padded at the end with `stride` copies of its last value and cut into patches of
    `patch_len` every `stride` steps: N = (L − patch_len) / stride + 2 patches (42 at L = 336). Patches are
    embedded by one Linear, plus a learnable position embedding (uniform ±0.02), through `e_layers`
    post-BatchNorm layers with residual attention (each layer adds the previous layer's pre-softmax
    scores), then `Linear(d_model · N → H)` per channel, RevIN around it all. Defaults are the official
    run_longExp.py defaults; the ETTh1 recipe is the preset `patchtst-etth1`.
    """

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        patch_len: int = 16,
        stride: int = 8,
        d_model: int = 512,
        n_heads: int = 8,
        d_ff: int = 2048,
        e_layers: int = 2,
        dropout: float = 0.05,
        head_dropout: float = 0.0,
        revin: bool = True,
        affine: bool = False,
    ):
        super().__init__()
        if patch_len < 1 or stride < 1 or seq_len < patch_len:
            raise ValueError(f"need 1 <= patch_len <= seq_len and stride >= 1, got {patch_len}, {stride}")
        self.patch_len, self.stride = patch_len, stride
        self.n_patches = (seq_len - patch_len) // stride + 2
        self.revin = RevIN(n_channels, affine) if revin else None
        self.embed = nn.Linear(patch_len, d_model)
        self.position = nn.Parameter(torch.empty(self.n_patches, d_model).uniform_(-0.02, 0.02))
        self.dropout = Dropout(dropout)
        self.layers = nn.ModuleList(PatchTSTLayer(d_model, n_heads, d_ff, dropout) for _ in range(e_layers))
        self.head = nn.Linear(d_model * self.n_patches, pred_len)
        self.head_dropout = Dropout(head_dropout)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        batch, _, n_channels = x.shape
        series = x.transpose(1, 2)  # [B, C, L]
        series = torch.cat([series, series[..., -1:].expand(-1, -1, self.stride)], dim=-1)
        patches = series.unfold(-1, self.patch_len, self.stride)  # [B, C, N, patch_len]
        tokens = self.embed(patches).reshape(batch * n_channels, self.n_patches, -1)
        tokens = self.dropout(tokens + self.position)
        scores = None
        for layer in self.layers:
            tokens, scores = layer(tokens, scores)
        # flatten as the official head does: d_model-major, patch-minor
        flat = tokens.reshape(batch, n_channels, self.n_patches, -1).transpose(2, 3).flatten(2)
        y = self.head_dropout(self.head(flat)).transpose(1, 2)  # [B, H, C]
        return self.revin.denormalize(y, stats) if self.revin is not None else y
