"""The contract every registered model keeps, checked for each one by key (a new model included: the
registry finds every file under baselines/): output shape for odd L/H/C, finite values, an eval forward
that does not depend on the batch, the same initial weights from the same seed, parameters, FLOPs and
latency that profile, one training step on CPU. Sizes are the tiny ones of suites/ci.yaml (constructor
defaults for a model the CI gate does not list yet)."""

import pytest
import yaml

from harness import registry

from conftest import ROOT
from model_checks import CONTRACT

CI_PARAMS = {
    entry["model"]: entry.get("params", {})
    for entry in yaml.safe_load((ROOT / "suites" / "ci.yaml").read_text())["models"]
    if "model" in entry
}


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("key", list(registry.models()))
def test_every_registered_model_keeps_the_contract(key, check):
    check(key, CI_PARAMS.get(key, {}))
