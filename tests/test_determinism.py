"""Seeds everywhere: the same spec twice on CPU gives identical metrics; another seed gives others."""

import dataclasses
import hashlib
import json

import torch

from harness import registry
from harness.runner import run_one
from harness.suite import load_suite

from conftest import tiny_suite_dict, write_suite

CPU = torch.device("cpu")


def test_same_spec_twice_is_bit_identical_and_another_seed_differs(tmp_path):
    suite = load_suite(
        write_suite(tmp_path / "s.yaml", tiny_suite_dict(train={"epochs": 2, "batch_size": 128}))
    )
    spec = suite.runs[0]
    first, second = run_one(spec, CPU), run_one(spec, CPU)
    assert first.status == second.status == "ok"
    for field in ("test_mse", "test_mae", "val_mse", "best_epoch"):
        assert getattr(first, field) == getattr(second, field)
    assert first.details["test_mse_per_channel"] == second.details["test_mse_per_channel"]
    assert first.details["curve"] == second.details["curve"]

    other = run_one(dataclasses.replace(spec, seed=spec.seed + 1), CPU)
    assert other.test_mse != first.test_mse and other.val_mse != first.val_mse


def test_spec_identity_is_its_content_not_its_labels(tmp_path):
    spec = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict())).runs[0]
    assert dataclasses.replace(spec, name="Renamed", dataset_path="/elsewhere/ETTh1.csv").key == spec.key
    assert dataclasses.replace(spec, seed=99).key != spec.key
    assert dataclasses.replace(spec, train=dataclasses.replace(spec.train, lr=0.001)).key != spec.key
    assert dataclasses.replace(spec, protocol="lookback-512").key != spec.key
    assert type(spec).from_json(spec.to_json()) == spec


def test_a_model_revision_is_part_of_the_key_and_revision_zero_keeps_the_old_key(tmp_path):
    spec = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict())).runs[0]
    assert spec.model_revision == registry.get(spec.model).revision
    unrevised = dataclasses.replace(spec, model_revision=0)
    identity = dataclasses.asdict(unrevised)
    for label in ("name", "dataset_path", "model_revision"):
        identity.pop(label)
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    assert unrevised.key == hashlib.sha256(canonical.encode()).hexdigest()  # keys from before revisions
    assert dataclasses.replace(spec, model_revision=7).key not in (spec.key, unrevised.key)
