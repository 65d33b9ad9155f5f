"""DLinear (Zeng et al., AAAI 2023), after the authors' cure-lab/LTSF-Linear code."""

import torch
from torch import nn

from baselines.layers import SeriesDecomposition
from harness.registry import register_model


@register_model("dlinear", revision=1)  # 1: moving average as running sums
class DLinear(nn.Module):
    """Trend/seasonal decomposition, one Linear(L → H) along time per part, summed; no normalisation.

    The linear maps are shared by all channels unless `individual` (one pair per channel). They keep
    PyTorch's default initialisation, as the official code does (TSLib's constant 1/L init is not used).
    An odd `kernel_size` keeps the trend the input's length (the official code uses 25).
    """

    def __init__(
        self, seq_len: int, pred_len: int, n_channels: int, kernel_size: int = 25, individual: bool = False
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.decompose = SeriesDecomposition(kernel_size)
        self.individual = individual
        n_maps = n_channels if individual else 1
        self.seasonal = nn.ModuleList(nn.Linear(seq_len, pred_len) for _ in range(n_maps))
        self.trend = nn.ModuleList(nn.Linear(seq_len, pred_len) for _ in range(n_maps))

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        # Time last and contiguous, so that both Linear maps read their input without a copy.
        seasonal, trend = self.decompose(x.transpose(1, 2).contiguous(), dim=2)  # [B, C, L]
        if self.individual:
            out = torch.stack(
                [
                    s(seasonal[:, c]) + t(trend[:, c])
                    for c, (s, t) in enumerate(zip(self.seasonal, self.trend, strict=True))
                ],
                dim=1,
            )
        else:
            out = self.seasonal[0](seasonal) + self.trend[0](trend)
        return out.transpose(1, 2)  # [B, H, C]
