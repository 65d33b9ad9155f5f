"""Every registered model can be profiled the way the runner profiles it (FLOPs, latency)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from harness import native, profile, registry
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
        # torch's own counter, module tracker and all, on torch's path (it cannot see into a C kernel)
        with native.torch_only(), FlopCounterMode(display=False) as reference:
            model(*windows.batch(torch.zeros(1, dtype=torch.long))[:2])
        assert flops == reference.get_total_flops(), key
        assert flops > 0 or registry.count_params(model) == 0, key  # only a naive reference computes no FLOPs
        median, iqr = profile.latency_ms(model, windows)
        assert median > 0 and iqr >= 0, key


PEAK_PROBE = """
import torch
from harness import profile
cpu = torch.device("cpu")
big = torch.ones(400 * 2**20 // 4)  # 400 MB touched by an earlier run of this process
big += 1
earlier, _ = profile.peak_memory_mb(cpu)
del big  # glibc's default malloc returns it (the probe does not keep freed memory as runs do)
profile.reset_peak_memory(cpu)
small = torch.ones(20 * 2**20 // 4)
small += 1
peak, kind = profile.peak_memory_mb(cpu)
print(kind, earlier, peak)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc")
def test_cpu_peak_memory_is_the_runs_own_not_the_process_high_water_mark():
    out = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    kind, earlier, peak = out[0], float(out[1]), float(out[2])
    assert kind == "cpu_rss_run" and peak < earlier - 200  # the earlier 400 MB peak is not this run's
