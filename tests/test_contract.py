"""The contract every registered model keeps, checked for each one (a new model included, by its key): the
output shape for odd L/H/C, finite outputs, a forward in eval mode that does not depend on the batch, the
same initial weights from the same seed, a parameter count, FLOPs and latency that profile, and one
training step on CPU. Sizes are the tiny ones of suites/ci.yaml (constructor defaults for a model the CI
gate does not list yet)."""

import pytest
import torch
import yaml

from harness import profile, registry
from harness.windows import WindowSet

from conftest import ROOT

SEQ_LEN, PRED_LEN, N_CHANNELS, N_MARKS = 51, 13, 3, 4  # odd on purpose: no model may assume round sizes
CI_PARAMS = {
    entry["model"]: entry.get("params", {})
    for entry in yaml.safe_load((ROOT / "suites" / "ci.yaml").read_text())["models"]
    if "model" in entry
}
KEYS = list(registry.models())


def build(key: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return registry.build(key, SEQ_LEN, PRED_LEN, N_CHANNELS, **CI_PARAMS.get(key, {}))


def inputs(key: str, batch: int = 6) -> tuple[torch.Tensor, torch.Tensor | None]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, SEQ_LEN, N_CHANNELS, generator=generator)
    reads_marks = registry.get(key).time_features
    return x, torch.rand(batch, SEQ_LEN, N_MARKS, generator=generator) - 0.5 if reads_marks else None


@pytest.mark.parametrize("key", KEYS)
def test_output_has_the_forecast_shape_and_is_finite(key):
    x, x_mark = inputs(key)
    with torch.no_grad():
        y = build(key).eval()(x, x_mark)
    assert y.shape == (6, PRED_LEN, N_CHANNELS), f"{key}: output {tuple(y.shape)}, expected [B, H, C]"
    assert torch.isfinite(y).all(), f"{key}: the forecast holds NaN or Inf"


@pytest.mark.parametrize("key", KEYS)
def test_eval_forward_of_a_window_does_not_depend_on_its_batch(key):
    model, (x, x_mark) = build(key).eval(), inputs(key)
    with torch.no_grad():
        together = model(x, x_mark)
        alone = torch.cat(
            [model(x[i : i + 1], None if x_mark is None else x_mark[i : i + 1]) for i in range(6)]
        )
    torch.testing.assert_close(
        alone,
        together,
        rtol=1e-4,
        atol=1e-5,
        msg=lambda m: f"{key}: a window's forecast depends on its batch. {m}",
    )


@pytest.mark.parametrize("key", KEYS)
def test_the_same_seed_gives_the_same_initial_weights(key):
    first, again, other = build(key, seed=3).state_dict(), build(key, seed=3).state_dict(), build(key, seed=4)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first), f"{key}: seed 3 built different weights twice"
    if registry.count_params(other):
        differs = any(not torch.equal(first[k], v) for k, v in other.state_dict().items())
        assert differs, f"{key}: seeds 3 and 4 built the same weights (is the seed used?)"


@pytest.mark.parametrize("key", KEYS)
def test_parameters_flops_and_latency_profile(key):
    model = build(key)
    n_params = registry.count_params(model)
    assert n_params >= 0 and n_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    generator = torch.Generator().manual_seed(2)
    values = torch.randn(SEQ_LEN + PRED_LEN + 40, N_CHANNELS, generator=generator)
    marks = torch.rand(len(values), N_MARKS, generator=generator) if registry.get(key).time_features else None
    windows = WindowSet(values, marks, SEQ_LEN, PRED_LEN)
    flops = profile.flops_per_sample(model, windows)
    latency, iqr = profile.latency_ms(model, windows)
    assert flops >= 0 and latency > 0 and iqr >= 0, f"{key}: flops {flops}, latency {latency} ms (IQR {iqr})"
    if n_params:
        assert flops > 0, f"{key}: a model with parameters counted no FLOPs"


@pytest.mark.parametrize("key", KEYS)
def test_one_training_step_on_cpu_changes_the_weights(key):
    model, (x, x_mark) = build(key).train(), inputs(key)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        pytest.skip(f"{key} has nothing to train (a naive reference: the harness scores it as is)")
    before = [p.detach().clone() for p in trainable]
    y = torch.randn(6, PRED_LEN, N_CHANNELS, generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.Adam(trainable, lr=1e-3)
    loss = torch.nn.functional.mse_loss(model(x, x_mark), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss), f"{key}: training loss {loss.item()}"
    assert any(not torch.equal(b, p) for b, p in zip(before, trainable, strict=True)), (
        f"{key}: no weight moved"
    )
