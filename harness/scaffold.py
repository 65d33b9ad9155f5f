"""`dynobench new-model NAME`: a new model's two files, written so that the first run of its test passes.

The model is registered, its hyperparameters annotated (suites are type-checked against them) and its
test checks the shape, the parameter count and determinism, plus the contract every model keeps
(tests/model_checks.py). The registry imports every file under baselines/, so nothing else needs editing
before the model can run in a suite.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from harness import registry
from harness.errors import InputError

MODEL_TEMPLATE = '''"""{title}. TODO one paragraph: the paper (authors, venue, year), the official code this
follows (repository and commit), and anything it does differently from that code and why."""

import torch
from torch import nn

from harness.registry import register_model


@register_model("{key}")
class {cls}(nn.Module):
    """TODO one line for `dynobench models`: what the model does with the lookback.

    A placeholder to replace: each channel's lookback through a two-layer MLP to its horizon.
    """

    def __init__(self, seq_len: int, pred_len: int, n_channels: int, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be at least 1, got {{hidden}}")  # reported as bad input of a suite
        self.mlp = nn.Sequential(
            nn.Linear(seq_len, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, pred_len)
        )

    def forward(self, x: torch.Tensor, x_mark: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, L, C] (normalised with the training split's statistics) → forecast [B, H, C]."""
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)
'''

TEST_TEMPLATE = '''"""{title}: shape, parameter count, determinism and the contract every model keeps."""

import pytest
import torch

from harness import registry

from model_checks import CONTRACT

L, H, C = 96, 24, 7


def test_output_shape():
    model = registry.build("{key}", L, H, C).eval()
    assert model(torch.randn(4, L, C)).shape == (4, H, C)


def test_parameter_count():
    # TODO when the architecture changes: the count from its layers' formulas (or the official code's count)
    hidden = 64
    model = registry.build("{key}", L, H, C)
    assert registry.count_params(model) == (L * hidden + hidden) + (hidden * H + H)


def test_the_same_seed_gives_the_same_forecast():
    x = torch.randn(2, L, C)
    outputs = []
    for _ in range(2):
        torch.manual_seed(0)
        outputs.append(registry.build("{key}", L, H, C).eval()(x))
    assert torch.equal(*outputs)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__.removeprefix("check_"))
def test_contract(check):
    check("{key}", {{}})
'''


def checkout_root() -> Path:
    """The dynobench checkout this package runs from: new files belong there, not in site-packages."""
    root = Path(__file__).resolve().parent.parent
    if not ((root / "baselines").is_dir() and (root / "tests" / "model_checks.py").is_file()):
        raise InputError(
            "new-model writes into a dynobench checkout (git clone, then pip install -e .); "
            f"this one is installed in {root}"
        )
    return root


def new_model(name: str) -> list[Path]:
    """Write baselines/NAME.py and tests/test_NAME.py; refuse a bad name or an existing file."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or "") or keyword.iskeyword(name):
        raise InputError(
            f"new-model {name!r}: a model name is lower-case letters, digits and '_', starting with a letter "
            "(it is the registry key and the module name), e.g. new-model mixer_lite"
        )
    if name in registry.models():
        raise InputError(f"new-model {name}: a model with this key is registered already")
    root = checkout_root()
    files = {
        root / "baselines" / f"{name}.py": MODEL_TEMPLATE,
        root / "tests" / f"test_{name}.py": TEST_TEMPLATE,
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise InputError(f"new-model {name}: {', '.join(existing)} exists; nothing was written")
    title = name.replace("_", " ").title().replace(" ", "")
    for path, template in files.items():
        path.write_text(template.format(key=name, cls=title, title=title))
    return list(files)


def next_steps(name: str, written: list[Path]) -> str:
    model, test = written
    return f"""wrote {model} and {test}

next:
  1. python -m pytest -q {test.relative_to(test.parents[1])}
     (passes now: shape, parameter count, determinism, the contract every model keeps)
  2. replace the placeholder MLP in {model.name} with your model; keep __init__(seq_len, pred_len,
     n_channels, annotated hyperparameters...) and forward(x [B, L, C], x_mark=None) -> [B, H, C]
  3. update test_parameter_count to your model's formula, and add tests of what makes it this model
  4. try it in a suite: {{name: {name}, model: {name}, seq_len: 96, train: {{epochs: 1}}}}
  5. its recipe as a preset: suites/presets/{name}-etth1.yaml (every value with its source, as the others do)
  6. a tiny entry in suites/ci.yaml, then commit the reference that
     dynobench check suites/ci.yaml --reference suites/ci-reference.csv --update-reference  writes"""
