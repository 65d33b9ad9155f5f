"""The naive references: exact forecasts, no training, every test window scored."""

import pytest
import torch

from harness import registry
from harness.store import RunStore
from harness.suite import load_suite

from conftest import write_suite


def test_naive_repeats_the_last_value_and_mean_the_lookback_mean():
    x = torch.randn(4, 30, 3)
    naive = registry.build("naive", 30, 7, 3)(x)
    mean = registry.build("mean", 30, 7, 3)(x)
    assert torch.equal(naive, x[:, -1:].expand(-1, 7, -1))
    torch.testing.assert_close(mean, x.mean(1, keepdim=True).expand(-1, 7, -1))


def test_seasonal_naive_repeats_the_last_period_over_a_horizon_longer_than_it():
    x = torch.arange(2 * 40, dtype=torch.float32).view(2, 40, 1).expand(-1, -1, 2)
    forecast = registry.build("seasonal_naive", 40, 30, 2, period=24)(x)
    last_day = x[:, 16:40]
    assert torch.equal(forecast[:, :24], last_day) and torch.equal(forecast[:, 24:], last_day[:, :6])
    with pytest.raises(ValueError, match="period must be between 1 and the lookback"):
        registry.build("seasonal_naive", 12, 24, 2, period=24)


def test_a_naive_reference_trains_no_epoch_and_scores_every_test_window(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", {
        "name": "naive", "protocol": "official", "datasets": ["ETTh1"], "horizons": [96], "seeds": [1],
        "models": [{"name": "seasonal_naive", "preset": "seasonal_naive-etth1"}],
    })  # fmt: skip
    code, _, err = cli("run", suite, "--store", tmp_path / "runs.sqlite")
    assert code == 0 and "0 epochs, best 0" in err, err
    (row,) = RunStore(tmp_path / "runs.sqlite").rows([load_suite(suite).runs[0].key])
    assert row["params"] == 0 and row["epochs_run"] == 0 and row["n_test_windows"] == 2785
