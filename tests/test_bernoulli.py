"""harness.bernoulli draws torch's own CPU Bernoulli stream: the same masks and the same generator state
after them, so every model trains to the same bits with `baselines.layers.Dropout` as with `nn.Dropout`."""

import copy
import shutil

import pytest
import torch
from torch import nn

from baselines.layers import Dropout
from harness import bernoulli, registry

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="no C compiler here: torch's own kernel draws the masks",
)


def test_the_kernel_is_built_where_a_compiler_exists():
    assert bernoulli.available()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 0.0, 1.0])
@pytest.mark.parametrize("shape", [(1,), (311,), (312,), (313,), (624,), (1000, 7), (32, 97, 7)])
@pytest.mark.parametrize("words_used_before", [0, 1, 623])  # odd counts split an element across blocks
def test_masks_and_the_generator_state_after_them_equal_torchs(shape, p, words_used_before):
    def draw(fill):
        torch.manual_seed(7)
        torch.rand(words_used_before)  # one 32-bit word per float32 draw
        mask = fill(torch.empty(shape))
        return mask, torch.get_rng_state(), torch.rand(3)

    expected, expected_state, expected_next = draw(lambda t: t.bernoulli_(p))
    mask, state, after = draw(lambda t: bernoulli.bernoulli_(t, p))
    assert torch.equal(mask, expected)
    assert torch.equal(state, expected_state)
    assert torch.equal(after, expected_next)


@pytest.mark.parametrize("p", [0.1, 0.9, 1.0])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "transposed gradient"])
def test_dropout_gives_torchs_values_and_gradient(p, layout):
    def forward(dropout):
        torch.manual_seed(3)
        x = torch.randn(5, 40, 7)
        x = (x if layout == "contiguous" else x.transpose(1, 2)).requires_grad_()
        y = dropout(x, p, True)
        weights = torch.randn(y.shape)  # contiguous: the gradient's layout is the output's only if it is
        if layout == "transposed":
            weights = torch.randn(5, 40, 7).transpose(1, 2)
        (y * weights).sum().backward()
        return y.detach(), x.grad, torch.get_rng_state()

    for got, expected in zip(forward(bernoulli.dropout), forward(nn.functional.dropout), strict=True):
        assert torch.equal(got, expected)


def test_a_strided_view_is_left_to_torch_and_gets_its_bits():
    def draw(fill):
        torch.manual_seed(5)
        base = torch.zeros(40, 30)
        fill(base[::2, 1:])
        return base, torch.get_rng_state()

    for got, expected in zip(
        draw(lambda t: bernoulli.bernoulli_(t, 0.3)), draw(lambda t: t.bernoulli_(0.3)), strict=True
    ):
        assert torch.equal(got, expected)


def test_eval_mode_and_zero_rate_leave_the_input_and_the_generator_alone():
    x = torch.randn(4, 9)
    state = torch.get_rng_state()
    assert bernoulli.dropout(x, 0.5, False) is x
    assert bernoulli.dropout(x, 0.0, True) is x
    assert torch.equal(torch.get_rng_state(), state)


def use_torch_dropout(model: nn.Module) -> int:
    """Swap every `Dropout` of `model` for torch's own `nn.Dropout` of the same rate; how many were."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Dropout):
                setattr(parent, name, nn.Dropout(child.p))
                swapped += 1
    return swapped


MODELS_WITH_DROPOUT = {
    "patchtst": {"d_model": 16, "n_heads": 4, "d_ff": 32, "e_layers": 2, "dropout": 0.3, "head_dropout": 0.2},
    "tsmixer": {"n_block": 2, "ff_dim": 16, "dropout": 0.9},
    "itransformer": {"d_model": 32, "n_heads": 4, "d_ff": 32, "e_layers": 2, "dropout": 0.3},
    "crossformer": {"seg_len": 12, "routers": 2, "d_model": 16, "d_ff": 32, "n_heads": 2, "e_layers": 2},
    "dynonet": {"worker_seq_len": 24, "control_hidden": 8, "worker_hidden": 4, "dropout": 0.3},
}


@pytest.mark.parametrize("key", list(MODELS_WITH_DROPOUT))
def test_three_training_steps_give_the_bits_of_torchs_dropout(key):
    torch.manual_seed(0)
    ours = registry.build(key, 96, 24, 7, **MODELS_WITH_DROPOUT[key])
    theirs = copy.deepcopy(ours)
    assert use_torch_dropout(theirs), "the model has no Dropout: the comparison would prove nothing"
    assert not any(isinstance(m, Dropout) for m in theirs.modules())
    x_mark = torch.rand(8, 96, 4) - 0.5 if registry.get(key).time_features else None

    def train(model):
        torch.manual_seed(11)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        losses = []
        for _ in range(3):
            x, y = torch.randn(8, 96, 7), torch.randn(8, 24, 7)
            loss = nn.functional.mse_loss(model(x, x_mark), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        return losses, [p.detach() for p in model.parameters()]

    (our_losses, our_weights), (their_losses, their_weights) = train(ours), train(theirs)
    assert all(torch.equal(a, b) for a, b in zip(our_losses, their_losses, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(our_weights, their_weights, strict=True))
