"""Adam and AdamW as torch.optim computes them on CPU (its single-tensor path), and the OneCycle schedule.

Why not torch.optim itself: its first optimizer imports torch._dynamo (about 2 s of every process: 15% of a
whole DLinear run), and every step and zero_grad passes through dynamo-disabling wrappers (~0.3 ms a step,
a sixth of a DLinear step). The update below is torch's, operation for operation, so parameters come out
bit-identical (tests/test_optim.py compares both over many steps, with weight decay, skipped gradients and
a OneCycle schedule), on CPU and GPU alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class Adam:
    """Adam (`decoupled=False`, L2 weight decay added to the gradient) or AdamW (`decoupled=True`).

    `lr` and `beta1` may be changed between steps (the lr rules and OneCycle do). A parameter whose gradient
    is None is skipped, its step count included, as torch.optim does. `keras_eps` adds `eps` to √v before
    its bias correction, as Keras' Adam does (θ -= lr·√(1−β2ᵗ)/(1−β1ᵗ) · m / (√v + ε)): torch's update with
    ε / √(1−β2ᵗ) in place of ε.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        keras_eps: bool = False,
    ):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.lr, self.weight_decay, self.decoupled = lr, weight_decay, decoupled
        self.beta1, self.beta2 = betas
        self.eps, self.keras_eps = eps, keras_eps
        self.state: dict[torch.nn.Parameter, tuple[list[int], torch.Tensor, torch.Tensor]] = {}
        self.steps_taken = 0

    def state_dict(self) -> dict:
        """Moments and step counts by parameter position, the rate, beta1 and the number of steps taken."""
        index = {id(p): i for i, p in enumerate(self.params)}
        moments = {index[id(p)]: (count[0], avg, avg_sq) for p, (count, avg, avg_sq) in self.state.items()}
        return {"moments": moments, "lr": self.lr, "beta1": self.beta1, "steps_taken": self.steps_taken}

    def load_state_dict(self, state: dict) -> None:
        self.state = {
            self.params[i]: ([count], avg.to(self.params[i].device), avg_sq.to(self.params[i].device))
            for i, (count, avg, avg_sq) in state["moments"].items()
        }
        self.lr, self.beta1, self.steps_taken = state["lr"], state["beta1"], state["steps_taken"]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        lr, beta1, beta2, weight_decay = self.lr, self.beta1, self.beta2, self.weight_decay
        self.steps_taken += 1
        for param in self.params:
            grad = param.grad
            if grad is None:
                continue
            if param not in self.state:
                zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
                self.state[param] = ([0], zeros, zeros.clone())
            count, exp_avg, exp_avg_sq = self.state[param]
            count[0] += 1
            step = float(count[0])  # torch keeps a float32 step tensor and reads it back with .item()
            if weight_decay != 0:
                if self.decoupled:
                    param.mul_(1 - lr * weight_decay)
                else:
                    grad = grad.add(param, alpha=weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = lr / (1 - beta1**step)
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            eps = self.eps / bias_correction2_sqrt if self.keras_eps else self.eps
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)


class OneCycle:
    """torch's OneCycleLR with its defaults (cosine, two phases, div_factor 25, final_div_factor 1e4, beta1
    cycled between 0.95 and 0.85), for `Adam`: `step()` after each batch, as the scheduler is stepped."""

    BASE_MOMENTUM, MAX_MOMENTUM, DIV, FINAL_DIV = 0.85, 0.95, 25.0, 1e4

    def __init__(self, optimizer: Adam, max_lr: float, total_steps: int, pct_start: float):
        self.optimizer = optimizer
        initial = max_lr / self.DIV
        warm_end = float(pct_start * total_steps) - 1
        # (end step, start lr, end lr, start beta1, end beta1) per phase
        self.phases = [
            (warm_end, initial, max_lr, self.MAX_MOMENTUM, self.BASE_MOMENTUM),
            (total_steps - 1, max_lr, initial / self.FINAL_DIV, self.BASE_MOMENTUM, self.MAX_MOMENTUM),
        ]
        self.step_num = 0
        self.apply()

    @staticmethod
    def anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    def apply(self) -> None:
        start_step = 0.0
        for i, (end_step, lr0, lr1, beta0, beta1) in enumerate(self.phases):
            if self.step_num <= end_step or i == len(self.phases) - 1:
                pct = (self.step_num - start_step) / (end_step - start_step)
                self.optimizer.lr = self.anneal(lr0, lr1, pct)
                self.optimizer.beta1 = self.anneal(beta0, beta1, pct)
                return
            start_step = end_step

    def step(self) -> None:
        self.step_num += 1
        self.apply()
