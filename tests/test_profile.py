"""Every registered model can be profiled the way the runner profiles it (FLOPs, latency)."""

import torch

from harness import profile, registry
from harness.suite import load_suite
from harness.windows import WindowSet

from conftest import ROOT


def test_every_model_in_the_ci_suite_profiles():
    suite = load_suite(ROOT / "suites" / "ci.yaml")
    configs = {spec.model: spec for spec in suite.runs}
    builtin = {
        k
        for k, info in registry.models().items()
        if info.cls.__module__.split(".")[0] in registry.BUILTIN_PACKAGES
    }
    assert set(configs) == builtin  # the gate covers every built-in model
    for key, spec in configs.items():
        torch.manual_seed(0)
        model = registry.build(key, spec.seq_len, spec.pred_len, 7, **spec.params)
        windows = WindowSet(torch.randn(300, 7), torch.randn(300, 4), spec.seq_len, spec.pred_len)
        assert profile.flops_per_sample(model, windows) > 0, key
        assert profile.latency_ms(model, windows) > 0, key
