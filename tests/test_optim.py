"""The harness's Adam/AdamW and OneCycle give bit-identical parameters to torch.optim's."""

import pytest
import torch
from torch import nn

from harness.optim import Adam, OneCycle


def model_and_data(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 32), nn.GELU(), nn.Linear(32, 3))
    return model, torch.randn(64, 12), torch.randn(64, 3)


def train(model, x, y, optimizer, scheduler=None, steps=60, skip=None):
    for i in range(steps):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x[i % 4 :: 4]), y[i % 4 :: 4]).backward()
        if skip is not None and i % 3 == 0:
            skip.grad = None  # e.g. DynoNet's frozen worker: no update, no step counted
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    ("decoupled", "weight_decay"), [(False, 0.0), (False, 1e-2), (True, 0.0), (True, 0.05)]
)
def test_adam_and_adamw_match_torch_bit_for_bit(decoupled, weight_decay):
    theirs, x, y = model_and_data(0)
    ours, _, _ = model_and_data(0)
    torch_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    expected = train(theirs, x, y, torch_cls(theirs.parameters(), lr=3e-3, weight_decay=weight_decay))
    got = train(ours, x, y, Adam(ours.parameters(), 3e-3, weight_decay, decoupled=decoupled))
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert not torch.equal(got[0], model_and_data(0)[0][0].weight)  # it did train


def test_a_parameter_without_gradient_is_skipped_as_torch_skips_it():
    theirs, x, y = model_and_data(1)
    ours, _, _ = model_and_data(1)
    expected = train(theirs, x, y, torch.optim.AdamW(theirs.parameters(), lr=1e-2), skip=theirs[2].bias)
    got = train(ours, x, y, Adam(ours.parameters(), 1e-2, 0.01, decoupled=True), skip=ours[2].bias)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_lr_changed_between_steps_is_used_as_torch_uses_it():
    theirs, x, y = model_and_data(2)
    ours, _, _ = model_and_data(2)
    torch_opt, our_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2), Adam(ours.parameters(), 1e-2)
    for lr in (1e-2, 5e-3, 2.5e-3):
        torch_opt.param_groups[0]["lr"], our_opt.lr = lr, lr
        expected = train(theirs, x, y, torch_opt, steps=5)
        got = train(ours, x, y, our_opt, steps=5)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_one_cycle_matches_torch_lr_beta1_and_parameters():
    theirs, x, y = model_and_data(3)
    ours, _, _ = model_and_data(3)
    torch_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(torch_opt, max_lr=1e-2, total_steps=40, pct_start=0.3)
    our_opt = Adam(ours.parameters(), 1e-2)
    our_sched = OneCycle(our_opt, 1e-2, 40, 0.3)
    for _ in range(40):
        assert our_opt.lr == torch_opt.param_groups[0]["lr"]
        assert our_opt.beta1 == torch_opt.param_groups[0]["betas"][0]
        expected = train(theirs, x, y, torch_opt, torch_sched, steps=1)
        got = train(ours, x, y, our_opt, our_sched, steps=1)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert our_opt.lr < 1e-2 / 25  # annealed below the starting rate by the end


def test_empty_parameter_list_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Adam([], 1e-3)


def keras_adam(params, grads_per_step, lr, eps, beta1=0.9, beta2=0.999):
    """Keras' Adam as its update is written: θ -= lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε), in float64."""
    params = [p.double().clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        alpha = lr * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
        for p, g, m_i, v_i in zip(params, grads, m, v, strict=True):
            g = g.double()
            m_i.add_((g - m_i) * (1 - beta1))
            v_i.add_((g * g - v_i) * (1 - beta2))
            p.sub_(alpha * m_i / (v_i.sqrt() + eps))
    return params


@pytest.mark.parametrize("keras_eps", [True, False])
def test_keras_eps_steps_as_keras_adam_does(keras_eps):
    # Gradients of ~1e-6 make ε matter: at step 1 Keras' ε acts as 1e-4 / √(1 − 0.999) ≈ 3.2e-3 here.
    # Parameters start at zero so that float32 holds each update to its own relative precision.
    torch.manual_seed(4)
    start = [torch.zeros(5, 3), torch.zeros(3)]
    grads = [[torch.randn_like(p) * 1e-6 for p in start] for _ in range(6)]
    params = [nn.Parameter(p.clone()) for p in start]
    ours = Adam(params, 1e-2, eps=1e-4, keras_eps=keras_eps)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        ours.step()
    expected = keras_adam(start, grads, 1e-2, 1e-4)
    matches = all(
        torch.allclose(p.double(), e, rtol=1e-5, atol=0) for p, e in zip(params, expected, strict=True)
    )
    assert matches == keras_eps  # equal to float rounding with Keras' ε, visibly not with torch's
