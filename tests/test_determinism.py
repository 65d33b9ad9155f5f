"""Seeds everywhere: the same spec twice on CPU gives identical metrics; another seed gives others."""

import dataclasses
import hashlib
import json
from pathlib import Path

import torch

from harness import registry
from harness.runner import RunResult, run_one
from harness.spec import LATER_TRAIN_FIELDS
from harness.store import RunStore
from harness.suite import load_suite
from report.runs import runs_table

from conftest import tiny_suite_dict, write_suite

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]


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
    for later in LATER_TRAIN_FIELDS:  # settings added after these keys existed, at their defaults
        identity["train"].pop(later)
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    assert unrevised.key == hashlib.sha256(canonical.encode()).hexdigest()  # keys from before revisions
    assert dataclasses.replace(spec, model_revision=7).key not in (spec.key, unrevised.key)


def test_later_optimizer_settings_change_the_key_only_when_set(tmp_path):
    spec = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict())).runs[0]
    keys = {spec.key}
    for name, value in {"beta1": 0.95, "eps": 1e-7, "keras_eps": True}.items():
        keys.add(dataclasses.replace(spec, train=dataclasses.replace(spec.train, **{name: value})).key)
    assert len(keys) == 4
    # the committed leaderboard runs that set none of them keep their keys
    committed = {path.name.split(".")[0] for path in (ROOT / "results" / "etth1" / "runs").glob("*.json.gz")}
    dlinear = [run for run in load_suite(ROOT / "suites" / "etth1.yaml").runs if run.model == "dlinear"]
    assert len(dlinear) == 20 and all(run.key in committed for run in dlinear)


def test_a_run_of_the_recipe_before_a_change_is_not_mixed_into_the_new_table(tmp_path):
    entry = {"name": "PatchTST", "preset": "patchtst-etth1", "train": {"epochs": 1}}
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[entry], protocol="short")))
    spec = suite.runs[0]
    before = dataclasses.replace(spec, train=dataclasses.replace(spec.train, beta1=0.9))  # the old recipe
    store = RunStore(tmp_path / "runs.sqlite")
    store.put(RunResult(before, "ok", test_mse=0.4, test_mae=0.4, val_mse=0.7, best_epoch=1, epochs_run=1))
    table, _ = runs_table(suite, store)
    assert before.key != spec.key
    assert table["status"].tolist() == ["pending"] * len(suite.runs) and table["test_mse"].isna().all()
