"""Presets: a recipe per model and dataset, `extends` layering one recipe over another, `preset: <model>`
taking each dataset's own, and every shipped preset valid at every horizon."""

import pytest
import yaml

from harness import suite as suite_module
from harness.errors import InputError
from harness.suite import load_suite, preset_settings, presets

from conftest import tiny_suite_dict, write_suite

BASE = {"model": "dlinear", "seq_len": 336, "params": {"kernel_size": 25},
        "train": {"lr": 0.005, "batch_size": 32, "epochs": 10},
        "by_horizon": {720: {"train": {"lr": 0.001}}}}  # fmt: skip


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    """An empty preset folder of our own; `write(name, body)` adds a preset to it."""
    monkeypatch.setattr(suite_module, "PRESET_DIR", tmp_path)

    def write(name, body):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(body))

    return write


def test_a_preset_that_extends_another_layers_its_settings_over_each_of_its_layers(preset_dir):
    preset_dir("lin-a", BASE)
    preset_dir("lin-b", {"extends": "lin-a", "seq_len": 96, "train": {"batch_size": 8},
                         "by_horizon": {192: {"train": {"lr": 0.01}}}})  # fmt: skip
    settings = {h: preset_settings("lin-b", h) for h in (96, 192, 720)}
    assert {h: (s[0], s[1], s[3].lr, s[3].batch_size, s[3].epochs) for h, s in settings.items()} == {
        96: ("dlinear", 96, 0.005, 8, 10),
        192: ("dlinear", 96, 0.01, 8, 10),
        720: ("dlinear", 96, 0.001, 8, 10),  # the base's horizon override still holds where b says nothing
    }
    assert preset_settings("lin-a", 96)[1:3] == (336, {"kernel_size": 25})


@pytest.mark.parametrize(
    ("presets_written", "message"),
    [
        ({"p-a": {"extends": "p-b"}, "p-b": {"extends": "p-a"}}, "extends itself (p-a → p-b → p-a)"),
        ({"p-a": {"extends": "p-z"}}, "preset(p-a).extends: unknown preset 'p-z'"),
        ({"p-a": {"seq_len": 96}}, "preset(p-a).model: missing (required unless the preset extends another)"),
        ({"p-a": {"extends": "p-b", "model": "patchtst"}, "p-b": BASE},
         "but it extends p-b, a dlinear recipe"),
        ({"p-a": {"extends": "p-b", "params": {"kernel": 3}}, "p-b": BASE},
         "preset(p-a).params.kernel: unknown parameter for dlinear"),
    ],
)  # fmt: skip
def test_a_bad_extension_is_one_line_naming_the_preset(preset_dir, presets_written, message):
    for name, body in presets_written.items():
        preset_dir(name, body)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preset_settings("p-a", 96)


def test_an_entry_naming_a_model_takes_each_datasets_own_recipe(preset_dir, tmp_path):
    preset_dir("lin-etth1", BASE)
    preset_dir("lin-etth2", {"extends": "lin-etth1", "train": {"batch_size": 8}})
    entry = {"name": "Lin", "preset": "lin"}
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(
        models=[entry], datasets=["ETTh1", "ETTh2"], protocol="official", horizons=[96])))  # fmt: skip
    assert {(r.dataset, r.train.batch_size) for r in suite.runs} == {("ETTh1", 32), ("ETTh2", 8)}
    with pytest.raises(InputError, match=r"unknown preset 'lin' \(nor 'lin-ettm1' for dataset ETTm1\)"):
        load_suite(write_suite(tmp_path / "m.yaml", tiny_suite_dict(models=[entry], datasets=["ETTm1"])))


@pytest.mark.parametrize("name", presets())
def test_every_shipped_preset_is_valid_at_every_horizon(name):
    for horizon in (96, 192, 336, 720):
        model, seq_len, _, train = preset_settings(name, horizon)
        assert seq_len >= 1 and train.epochs >= 1 and model
