"""Every registered model can be profiled the way the runner profiles it (FLOPs, latency)."""

import torch
from torch.utils.flop_counter import FlopCounterMode

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
        flops = profile.flops_per_sample(model, windows)
        with FlopCounterMode(display=False) as reference:  # torch's own counter, module tracker and all
            model(*windows.batch(torch.zeros(1, dtype=torch.long))[:2])
        assert flops == reference.get_total_flops() > 0, key
        assert profile.latency_ms(model, windows) > 0, key
