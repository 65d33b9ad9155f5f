"""1D CNN forecaster, the classic baseline of the seed tutorial (dl-for-time-series-tutorial.txt): one
convolution over time across all C channels, ReLU, global max pooling over time, and a linear head to H × C
values (the tutorial's head predicts one value). There is no official recipe: its ETTh1 preset is a simple
one, stated, not tuned."""

import torch
from torch import nn

from baselines.layers import MultiStepHead
from harness.registry import register_model


@register_model("cnn")
class CNN1D(nn.Module):
    """Conv1d over time (C → `filters`, `kernel_size`), ReLU, max over time, Linear to H × C."""

    def __init__(self, seq_len: int, pred_len: int, n_channels: int, filters: int = 64, kernel_size: int = 3):
        super().__init__()
        if not 1 <= kernel_size <= seq_len:
            raise ValueError(f"kernel_size must be between 1 and the lookback ({seq_len}), got {kernel_size}")
        self.conv = nn.Conv1d(n_channels, filters, kernel_size)
        self.head = MultiStepHead(filters, pred_len, n_channels)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        features = torch.relu(self.conv(x.transpose(1, 2)))  # [B, filters, L − kernel_size + 1]
        return self.head(features.amax(dim=2))
