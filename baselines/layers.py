"""Building blocks shared by more than one model."""

import torch
from torch import nn


class SeriesDecomposition(nn.Module):
    """Split x [B, L, C] into trend (moving average over time) and seasonal = x − trend.

    The ends are padded by repeating the first and last step (kernel − 1) // 2 times, as in LTSF-Linear,
    so the trend has the input's length.
    """

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.pool = nn.AvgPool1d(kernel_size, stride=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = (self.kernel_size - 1) // 2
        padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        trend = self.pool(padded.transpose(1, 2)).transpose(1, 2)
        return x - trend, trend
