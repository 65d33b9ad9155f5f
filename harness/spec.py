"""What one run is: a frozen, JSON-serialisable spec whose content hash is the run's identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

LR_RULES = ("type1", "type3", "patchtst", "constant", "cosine", "TST", "halve")
LOSSES = ("mse", "mae")
OPTIMIZERS = ("adam", "adamw")
LABEL_FIELDS = ("name", "dataset_path")  # RunSpec fields that label a run but are not its identity
# TrainConfig fields added after runs were stored: at their default they stay out of the key, so every run
# that does not set them keeps the key it had.
LATER_TRAIN_FIELDS = {"beta1": 0.9, "eps": 1e-8, "keras_eps": False}


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of the default strategy (a model's own strategy reads the ones it needs)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    patience: int = 3  # epochs without a strictly lower validation MSE before stopping
    lradj: str = "type1"  # one of LR_RULES
    halve_every: int = 2  # lradj "halve": epochs 1..k at lr, k+1..2k at lr/2, ... down to lr/32
    pct_start: float = 0.3  # lradj "TST": OneCycle warm-up fraction
    optimizer: str = "adam"
    weight_decay: float = 0.0
    beta1: float = 0.9  # Adam's first-moment decay (torch's default)
    eps: float = 1e-8  # Adam's epsilon (torch's default)
    keras_eps: bool = False  # add eps to sqrt(v) before its bias correction, as Keras' Adam does
    loss: str = "mse"
    grad_clip: float = 0.0  # max gradient norm; 0 = no clipping
    bf16: bool = False  # bf16 autocast for the training forward pass
    drop_last: bool = True  # training batches only; evaluation always scores every window
    eval_batch_size: int = 1024
    options: dict = field(default_factory=dict)  # settings of a model's own strategy (its OPTIONS)

    def problems(self) -> list[tuple[str, str]]:
        """(key, message) for each value outside its allowed range."""
        out = []
        for key in ("epochs", "batch_size", "halve_every", "eval_batch_size"):
            if getattr(self, key) < 1:
                out.append((key, f"must be at least 1, got {getattr(self, key)}"))
        for key in ("patience", "weight_decay", "grad_clip"):
            if getattr(self, key) < 0:
                out.append((key, f"must be 0 or more, got {getattr(self, key)}"))
        if not self.lr > 0:
            out.append(("lr", f"must be positive, got {self.lr}"))
        if not 0 <= self.beta1 < 1:
            out.append(("beta1", f"must lie in [0, 1), got {self.beta1}"))
        if not self.eps > 0:
            out.append(("eps", f"must be positive, got {self.eps}"))
        if not 0 < self.pct_start < 1:
            out.append(("pct_start", f"must lie in (0, 1), got {self.pct_start}"))
        for key, allowed in (("lradj", LR_RULES), ("loss", LOSSES), ("optimizer", OPTIMIZERS)):
            if getattr(self, key) not in allowed:
                out.append((key, f"expected one of {', '.join(allowed)}, got {getattr(self, key)!r}"))
        return out


@dataclass(frozen=True)
class RunSpec:
    """One (model, dataset, L, H, seed) cell with everything needed to train it.

    `name` (the suite's display name) and `dataset_path` (where the file lies on this machine) locate
    and label the run; every other field is its identity: changing any of them makes a new run.
    """

    name: str
    model: str
    params: dict[str, Any]
    dataset: str
    dataset_sha256: str
    dataset_path: str
    split: str
    seq_len: int
    pred_len: int
    seed: int
    train: TrainConfig
    protocol: str
    harness_version: str
    model_revision: int = 0  # the registered model's revision (harness.registry.register_model)

    def identity(self) -> dict[str, Any]:
        data = asdict(self)
        for label in LABEL_FIELDS:
            data.pop(label)
        if not self.model_revision:  # revision 0 leaves the key as it was before revisions existed
            data.pop("model_revision")
        for name, default in LATER_TRAIN_FIELDS.items():
            if data["train"][name] == default:
                data["train"].pop(name)
        return data

    @property
    def label(self) -> str:
        """How logs and progress lines name the run."""
        return f"{self.name} {self.dataset} L={self.seq_len} H={self.pred_len} seed={self.seed}"

    @property
    def key(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        data = json.loads(text)
        data["train"] = TrainConfig(**data["train"])
        return cls(**data)
