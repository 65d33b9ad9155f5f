"""DynoNet as its authors' code (kvu1342009-pixel/DynoNet, `H96.py` and `models/`) actually runs it.

A GRU controller reads the whole RevIN-normalised window and emits per-channel signals; a DLinear-style trend
map and one tiny GRU worker per channel (on the last `worker_seq_len` residual steps) consume them; a
channel mixer fuses the result. The bi-level training that goes with it lives in the strategy, not here; this
module provides what that strategy needs: the signals, the two parameter groups and the worker loss.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines.layers import Dropout, RevIN, SeriesDecomposition
from dynonet.gru import GRU
from harness.registry import register_model

VARIANTS = ("published", "clean", "no_controller")

# The six bounded controller heads: (low, high, initial value), as the authors' ControlNet sets them.
BOUNDED_HEADS: dict[str, tuple[float, float, float]] = {
    "lr_scale": (0.01, 5.0, 1.0),
    "wd_scale": (0.1, 10.0, 1.0),
    "dropout_rate": (0.0, 0.7, 0.1),
    "grad_clip": (0.1, 2.0, 1.0),
    "loss_weight": (0.5, 1.5, 1.0),
    "freeze_prob": (0.0, 1.0, 0.0),
}
FILM_RANGE = 0.1  # γ = 1 + 0.1·tanh, β = 0.1·tanh: FiLM can move a unit by at most ±10 %
OFFSET_RANGE = 0.5  # the "noise" offset is 0.5·tanh
DECOMPOSITION_KERNEL = 25
MIXER_EXPANSION = 4
KEEP_EPS = 1e-8  # the adaptive dropout rescales by 1 / (keep + 1e-8)


class BoundedHead(nn.Module):
    """Linear → low + (high − low)·sigmoid, starting at `initial` whatever the input.

    Zero weights and a bias at the logit of the initial fraction, computed in float32 as the original does:
    so lr_scale starts at 0.99999994 and wd_scale at 1.0000001 (one float32 step from 1), and freeze_prob's
    bias is logit(0) = −inf, which makes it exactly 0.
    """

    def __init__(self, in_features: int, out_features: int, low: float, high: float, initial: float):
        super().__init__()
        self.low, self.high = low, high
        self.linear = nn.Linear(in_features, out_features)
        nn.init.zeros_(self.linear.weight)
        nn.init.constant_(self.linear.bias, torch.logit(torch.tensor((initial - low) / (high - low))).item())

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.low + (self.high - self.low) * torch.sigmoid(self.linear(state))


class Controller(nn.Module):
    """One-layer GRU over the normalised window; its last output drives every signal.

    The authors pass dropout 0.2 to this single-layer GRU, where PyTorch ignores it; it is left out. The
    GRU has one layer whatever `num_layers` is: `num_layers` sets the worker GRU stack and the number of
    FiLM maps (one per worker layer). Module creation order follows the original, so one seed gives the
    same initial weights.
    """

    def __init__(self, n_channels: int, control_hidden: int, worker_hidden: int, num_layers: int):
        super().__init__()
        self.n_channels, self.worker_hidden = n_channels, worker_hidden
        self.gru = GRU(n_channels, control_hidden)
        self.film = nn.ModuleList(
            nn.Linear(control_hidden, n_channels * worker_hidden * 2) for _ in range(num_layers)
        )
        for film in self.film:  # zero: every worker starts unmodulated (γ = 1, β = 0)
            nn.init.zeros_(film.weight)
            nn.init.zeros_(film.bias)
        self.heads = nn.ModuleDict(
            {name: BoundedHead(control_hidden, n_channels, *bounds) for name, bounds in BOUNDED_HEADS.items()}
        )
        self.offset = nn.Linear(control_hidden, n_channels)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.gate = nn.Linear(control_hidden, n_channels * worker_hidden)  # default init: gates start ≈ 0.5
        self.context = nn.Linear(control_hidden, worker_hidden)

    def forward(self, x_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, hidden = x_norm.shape[0], self.worker_hidden
        _, last = self.gru(x_norm)
        state = last[0]  # [B, control_hidden]: the output of the last step
        film = torch.stack([f(state).view(batch, self.n_channels, 2 * hidden) for f in self.film], dim=1)
        gamma = 1.0 + FILM_RANGE * torch.tanh(film[..., :hidden])  # [B, layers, C, hidden]
        beta = FILM_RANGE * torch.tanh(film[..., hidden:])
        signals = {
            "gamma": gamma[:, 0],
            "beta": beta[:, 0],
            "gamma_layers": gamma,
            "beta_layers": beta,
            "gate": torch.sigmoid(self.gate(state)).view(batch, self.n_channels, hidden),
            "context": self.context(state),
            "offset": OFFSET_RANGE * torch.tanh(self.offset(state)),
        }
        signals.update({name: head(state) for name, head in self.heads.items()})
        return signals


def adaptive_dropout(h: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Element-wise Bernoulli mask over h [B, T, D] with each sample's own rate [B], rescaled by
    1/(keep + 1e-8).

    The mask's draw carries no gradient, so the rate learns only through the rescaling.
    """
    keep = (1.0 - rate).view(-1, 1, 1)
    mask = torch.bernoulli(keep.detach().expand_as(h))
    return h * mask * (1.0 / (keep + KEEP_EPS))


class WorkerNet(nn.Module):
    """One channel's residual specialist: residual [B, W, 1] → forecast [B, H, 1].

    Order as in the original: input projection + position embedding, times the gate (once, before the
    stack); per GRU layer: GRU, FiLM on its output, LayerNorm, adaptive dropout (training only), and from
    the second layer on a residual connection; then [last hidden state; shared context] → MLP → H steps.
    The original sizes the position embedding at 96 rows whatever `worker_seq_len` is (so a longer worker
    window crashes there); here it has `worker_seq_len` rows, the same thing at the authors' W = 96.
    """

    def __init__(self, worker_seq_len: int, pred_len: int, hidden: int, num_layers: int):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(1, worker_seq_len, hidden))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.input_proj = nn.Linear(1, hidden)
        self.grus = nn.ModuleList(GRU(hidden, hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, pred_len))

    def forward(
        self,
        residual: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        gate: torch.Tensor,
        context: torch.Tensor,
        dropout_rate: torch.Tensor,
    ) -> torch.Tensor:
        """residual [B, W, 1]; gamma, beta [B, layers, hidden]; gate, context [B, hidden]; rate [B]."""
        h = (self.input_proj(residual) + self.position) * gate.unsqueeze(1)
        for layer, (gru, norm) in enumerate(zip(self.grus, self.norms, strict=True)):
            out, _ = gru(h)
            out = norm(out * gamma[:, layer].unsqueeze(1) + beta[:, layer].unsqueeze(1))
            if self.training:
                out = adaptive_dropout(out, dropout_rate)
            h = out + h if layer > 0 else out
        return self.head(torch.cat([h[:, -1], context], dim=-1)).unsqueeze(-1)


# revision 1: trend by running sums (baselines.layers); 2: the fused CPU GRU (dynonet.gru)
@register_model("dynonet", revision=2)
class DynoNet(nn.Module):
    """DynoNet: a GRU controller modulating one GRU worker per channel, plus a shared trend map.

    Forward: RevIN → controller on the whole window → (training only) the controller's per-channel offset
    added to the workers' input → decomposition (moving average 25) → Linear(L → H) on the trend, shared by
    the channels, and WorkerNet c on the last `worker_seq_len` residual steps of channel c → sum → plus a
    residual channel-mixer MLP → RevIN de-normalisation. RevIN's affine scale and shift count as trainable
    parameters but, as in the original, belong to neither optimiser group, so they stay 1 and 0.

    The controller's six bounded heads (lr_scale, wd_scale, dropout_rate, grad_clip, loss_weight,
    freeze_prob) start at 1, 1, 0.1, 1, 1, 0. In the original bi-level scheme the controller learns only
    from the plain MSE of step 2, which none of lr_scale, wd_scale, grad_clip, loss_weight and freeze_prob
    reaches: these five receive no gradient and stay constant for the whole training. dropout_rate learns
    only through the 1/(1 − p) rescaling of the adaptive dropout (the Bernoulli draw carries no gradient).
    The offset's only effect is through the trend branch: a constant per-channel shift of the input moves
    the moving average by the same constant and leaves the residual unchanged.

    `variant`: "published" and "clean" build the same model (they differ only in where the controller's
    training batches come from). "no_controller" is the ablation: γ = 1, β = 0, gate = 1, context = 0,
    offset = 0, dropout rate 0.1 and the other heads at their initial values, all constant. Its controller
    is still built, so one seed gives the same trend, worker and mixer weights as "published" (a paired
    ablation), but it is frozen (requires_grad False) and never run: the output cannot depend on it and the
    trainable-parameter count is that of what the output uses.
    """

    def __init__(
        self,
        seq_len: int,
        pred_len: int,
        n_channels: int,
        worker_seq_len: int = 96,
        control_hidden: int = 64,
        worker_hidden: int = 8,
        num_layers: int = 1,
        dropout: float = 0.1,
        variant: str = "published",
    ):
        super().__init__()
        for name, value in [
            ("seq_len", seq_len),
            ("pred_len", pred_len),
            ("n_channels", n_channels),
            ("worker_seq_len", worker_seq_len),
            ("control_hidden", control_hidden),
            ("worker_hidden", worker_hidden),
            ("num_layers", num_layers),
        ]:
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if seq_len < worker_seq_len:
            raise ValueError(f"seq_len {seq_len} is shorter than worker_seq_len {worker_seq_len}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        self.seq_len, self.pred_len, self.n_channels = seq_len, pred_len, n_channels
        self.worker_seq_len, self.worker_hidden, self.num_layers = worker_seq_len, worker_hidden, num_layers
        self.variant = variant
        self.uses_controller = variant != "no_controller"

        # Creation order is the original's (RevIN, controller, trend, workers, mixer): same seed, same init.
        self.revin = RevIN(n_channels, affine=True, eps=1e-5)
        self.controller = Controller(n_channels, control_hidden, worker_hidden, num_layers)
        if not self.uses_controller:
            self.controller.requires_grad_(False)
        self.decompose = SeriesDecomposition(DECOMPOSITION_KERNEL)
        self.trend = nn.Linear(seq_len, pred_len)
        self.workers = nn.ModuleList(
            WorkerNet(worker_seq_len, pred_len, worker_hidden, num_layers) for _ in range(n_channels)
        )
        mixer_width = n_channels * MIXER_EXPANSION
        self.mixer = nn.Sequential(
            nn.Linear(n_channels, mixer_width),
            nn.GELU(),
            Dropout(dropout),  # the only place `dropout` acts; the workers' rate comes from the controller
            nn.Linear(mixer_width, n_channels),
        )
        nn.init.zeros_(self.mixer[-1].weight)  # the mixer starts as the identity (residual branch at zero)
        nn.init.zeros_(self.mixer[-1].bias)

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_with_signals(x)[0]

    def forward_with_signals(
        self, x: torch.Tensor, controller_grad: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x [B, L, C] → (forecast [B, H, C], the controller's signals).

        `controller_grad=False` runs the controller without recording it for backpropagation: for a caller
        that discards the controller's gradients (the worker step), the same forecast and the same gradients
        on everything else, without a backward pass through the controller's 512-step GRU.

        Signals: gamma, beta, gate [B, C, worker_hidden] (gamma/beta of the first worker layer;
        gamma_layers/beta_layers [B, num_layers, C, worker_hidden] hold all layers), context
        [B, worker_hidden], offset and the six bounded heads [B, C]. The offset and dropout_rate are what the
        controller proposes; they act only in training mode, so eval mode is deterministic and offset-free.
        """
        if x.shape[1:] != (self.seq_len, self.n_channels):
            raise ValueError(f"expected input [B, {self.seq_len}, {self.n_channels}], got {list(x.shape)}")
        x_norm, stats = self.revin.normalize(x)
        if self.uses_controller:
            with torch.set_grad_enabled(controller_grad and torch.is_grad_enabled()):
                signals = self.controller(x_norm)
        else:
            signals = self.fixed_signals(x_norm)
        x_workers = x_norm + signals["offset"].unsqueeze(1) if self.training else x_norm
        residual, trend = self.decompose(x_workers)
        trend_out = self.trend(trend.transpose(1, 2)).transpose(1, 2)  # [B, H, C]
        residual = residual[:, -self.worker_seq_len :]
        worker_out = torch.cat(
            [
                worker(
                    residual[:, :, c : c + 1],
                    signals["gamma_layers"][:, :, c],
                    signals["beta_layers"][:, :, c],
                    signals["gate"][:, c],
                    signals["context"],
                    signals["dropout_rate"][:, c],
                )
                for c, worker in enumerate(self.workers)
            ],
            dim=-1,
        )
        combined = trend_out + worker_out
        y = combined + self.mixer(combined)
        return self.revin.denormalize(y, stats), signals

    def fixed_signals(self, x_norm: torch.Tensor) -> dict[str, torch.Tensor]:
        """The no_controller ablation's constant signals, shaped like the controller's."""
        batch, channels, hidden = x_norm.shape[0], self.n_channels, self.worker_hidden
        film_shape = (batch, self.num_layers, channels, hidden)
        signals = {
            "gamma_layers": x_norm.new_ones(film_shape),
            "beta_layers": x_norm.new_zeros(film_shape),
            "gate": x_norm.new_ones(batch, channels, hidden),
            "context": x_norm.new_zeros(batch, hidden),
            "offset": x_norm.new_zeros(batch, channels),
        }
        signals["gamma"], signals["beta"] = signals["gamma_layers"][:, 0], signals["beta_layers"][:, 0]
        signals.update(
            {
                name: x_norm.new_full((batch, channels), initial)
                for name, (_, _, initial) in BOUNDED_HEADS.items()
            }
        )
        return signals

    def controller_parameters(self) -> list[nn.Parameter]:
        """The controller optimiser's group (the original's `control_net.parameters()`)."""
        return list(self.controller.parameters())

    def worker_parameters(self) -> list[nn.Parameter]:
        """The worker optimiser's group (the original's `worker_net.parameters()`): trend, workers, mixer.

        RevIN's scale and shift are in neither group, as in the original.
        """
        return [*self.trend.parameters(), *self.workers.parameters(), *self.mixer.parameters()]

    def worker_loss(
        self, pred: torch.Tensor, target: torch.Tensor, signals: dict[str, torch.Tensor], l2: float = 1e-4
    ) -> torch.Tensor:
        """The original's step-1 loss (its worker update).

        The mean over batch, horizon and channels of the squared error times lr_scale[b, c] times
        loss_weight[b, c]; plus, for each worker i, 0.5 · l2 · (batch mean of wd_scale[:, i]) · (sum of the
        squares of its parameters). In the original `l2` is the worker optimiser's weight decay (1e-4 at H96),
        applied on top of AdamW's own decoupled decay. lr_scale, loss_weight and wd_scale stay constant (≈ 1)
        under the original scheme, so this is the MSE plus an explicit L2 on the workers (not on the trend map
        or the mixer).

        In the original its backward also leaves gradients on the controller, which it wipes (the controller
        optimiser's zero_grad) before the controller's own backward; the strategy skips computing them
        (`controller_grad=False`), with the same result. The
        original's two other uses of the heads, for the strategy: worker i's gradient norm is clipped to the
        batch mean of grad_clip[:, i] (≈ 1), and its gradients are dropped with probability the batch mean of
        freeze_prob[:, i] (exactly 0: never).
        """
        squared_error = (pred - target) ** 2
        weighted = squared_error * signals["lr_scale"].unsqueeze(1) * signals["loss_weight"].unsqueeze(1)
        wd_scales = signals["wd_scale"].mean(dim=0)
        penalty = sum(
            0.5 * l2 * wd_scales[i] * sum(p.square().sum() for p in worker.parameters())
            for i, worker in enumerate(self.workers)
        )
        return weighted.mean() + penalty
