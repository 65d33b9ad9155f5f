"""The model registry: a decorator next to each model, and one way to build any of them.

A model's hyperparameters are the keyword arguments of its constructor after (seq_len, pred_len,
n_channels); their annotations and defaults are what a suite is validated against.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Any

from torch import nn

from harness.errors import InputError

BUILTIN_PACKAGES = ("baselines", "dynonet")
_MODELS: dict[str, ModelInfo] = {}


@dataclass(frozen=True)
class ModelInfo:
    key: str
    cls: type[nn.Module]
    time_features: bool  # whether forward reads x_mark
    revision: int = 0  # bumped when the model's code computes something else, even by float noise

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.cls) or "").split("\n")[0]

    def hparams(self) -> dict[str, inspect.Parameter]:
        """Constructor keywords a suite may set, in declaration order."""
        params = list(inspect.signature(self.cls).parameters.values())[3:]
        return {p.name: p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.KEYWORD_ONLY}


def register_model(key: str, *, time_features: bool = False, revision: int = 0):
    """Class decorator: `@register_model("dlinear")` makes the model buildable by that key.

    `revision` is part of every run's identity: raising it when a change alters what the model computes
    (a faster formula equal only to float noise, a fix) makes its stored runs pending again, while the
    runs of every other model stay valid.
    """

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        head = list(inspect.signature(cls).parameters)[:3]
        if head != ["seq_len", "pred_len", "n_channels"]:
            raise TypeError(f"{cls.__name__}: constructor must start with (seq_len, pred_len, n_channels)")
        if key in _MODELS and _MODELS[key].cls is not cls:
            raise ValueError(f"model key {key!r} is registered twice")
        _MODELS[key] = ModelInfo(key, cls, time_features, revision)
        return cls

    return decorate


@functools.cache
def load_builtin() -> None:
    """Import every module of the model packages, so that a new model is one file with the decorator.

    Once per process: a file added while a long campaign runs is not imported into it beside modules it
    already holds in their older version (that mix failed five campaign runs on an ImportError)."""
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            importlib.import_module(module.name)


def models() -> dict[str, ModelInfo]:
    load_builtin()
    return dict(sorted(_MODELS.items()))


def get(key: str) -> ModelInfo:
    known = models()
    if key not in known:
        raise InputError(f"unknown model '{key}' (registered: {', '.join(known)})")
    return known[key]


def build(key: str, seq_len: int, pred_len: int, n_channels: int, **hparams: Any) -> nn.Module:
    return get(key).cls(seq_len, pred_len, n_channels, **hparams)


def count_params(model: nn.Module) -> int:
    """Trainable parameters, the figure every published count means."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
