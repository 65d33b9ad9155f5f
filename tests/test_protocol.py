"""The data protocol of shared/specs/protocol.md: split bounds, window counts, scaler, exact metrics."""

import numpy as np
import pandas as pd
import pytest
import torch

from harness import registry
from harness.datasets import load_table, resolve
from harness.evaluate import evaluate
from harness.protocol import prepare, split_bounds, window_counts
from harness.timefeatures import time_features
from harness.windows import WindowSet

ETTH_TEST_WINDOWS = {96: 2785, 192: 2689, 336: 2545, 720: 2161}


@pytest.fixture(scope="module")
def etth1():
    ref = resolve("ETTh1", "test")
    return ref, load_table(ref)


def cpu_splits(etth1, seq_len, pred_len, time_feats=False):
    ref, table = etth1
    return prepare(table, ref.split, seq_len, pred_len, torch.device("cpu"), time_feats)


@pytest.mark.parametrize("seq_len", [96, 336, 512])
@pytest.mark.parametrize("pred_len", sorted(ETTH_TEST_WINDOWS))
def test_etth_test_window_counts_are_the_analytic_ones(etth1, seq_len, pred_len):
    splits = cpu_splits(etth1, seq_len, pred_len)
    assert len(splits.test) == ETTH_TEST_WINDOWS[pred_len]
    assert len(splits.val) == 2880 - pred_len + 1
    assert len(splits.train) == 8640 - seq_len - pred_len + 1
    assert window_counts("ett_hour", 17420, seq_len, pred_len)["test"] == ETTH_TEST_WINDOWS[pred_len]


def test_split_targets_start_and_end_at_the_month_bounds(etth1):
    ref, table = etth1
    seq_len, pred_len = 336, 96
    splits = cpu_splits(etth1, seq_len, pred_len)
    scaled = (table.values - splits.mean) / splits.std
    # first target of val and test is the first row of that split
    _, _, y_val = splits.val.batch(torch.tensor([0]))
    _, _, y_test = splits.test.batch(torch.tensor([0]))
    np.testing.assert_allclose(y_val[0, 0].numpy(), scaled[8640], rtol=1e-6)
    np.testing.assert_allclose(y_test[0, 0].numpy(), scaled[11520], rtol=1e-6)
    # the last test window's last target is row 14399: the test split ends at row 14400
    _, _, y_last = splits.test.batch(torch.tensor([len(splits.test) - 1]))
    np.testing.assert_allclose(y_last[0, -1].numpy(), scaled[14399], rtol=1e-6)
    assert not np.allclose(y_last[0, -1].numpy(), scaled[14400])


def test_scaler_statistics_are_those_of_the_train_rows_alone(etth1):
    ref, table = etth1
    splits = cpu_splits(etth1, 96, 96)
    train = table.values[:8640].astype(np.float64)
    np.testing.assert_allclose(splits.mean, train.mean(axis=0))
    np.testing.assert_allclose(splits.std, train.std(axis=0, ddof=0))
    assert not np.allclose(splits.mean, table.values[:11520].mean(axis=0), rtol=1e-3)


def test_ettm_bounds_are_four_times_ettb_and_custom_is_70_10_20():
    assert split_bounds("ett_minute", 69680, 96) == {
        "train": (0, 34560),
        "val": (34560 - 96, 46080),
        "test": (46080 - 96, 57600),
    }
    assert split_bounds("ratio", 1000, 10) == {"train": (0, 700), "val": (690, 800), "test": (790, 1000)}
    # n_val takes the remainder: int(0.7 * 1001) = 700, int(0.2 * 1001) = 200, n_val = 101
    assert split_bounds("ratio", 1001, 10)["test"] == (801 - 10, 1001)


def test_metrics_do_not_depend_on_the_evaluation_batch_size(etth1):
    splits = cpu_splits(etth1, 336, 96)
    torch.manual_seed(0)
    model = registry.build("dlinear", 336, 96, 7)
    results = [evaluate(model, splits.test, batch_size) for batch_size in (1, 7, 4096)]
    assert [r.n_windows for r in results] == [2785] * 3
    for r in results[1:]:
        assert r.mse == pytest.approx(results[0].mse, rel=1e-9, abs=0)
        assert r.mae == pytest.approx(results[0].mae, rel=1e-9, abs=0)
    # the exact mean over every window, computed independently in one pass
    x, _, y = splits.test.batch(torch.arange(len(splits.test)))
    with torch.no_grad():
        reference = ((model(x) - y).double() ** 2).mean().item()
    assert results[0].mse == pytest.approx(reference, rel=1e-6)
    assert np.mean(results[0].mse_per_channel) == pytest.approx(results[0].mse, rel=1e-9)


def test_time_features_are_the_hourly_four_on_15_minute_data_too(etth1):
    _, table = etth1
    hourly = time_features(table.dates[:48])
    assert hourly.shape == (48, 4)
    assert hourly.min() >= -0.5 and hourly.max() <= 0.5
    assert hourly[0, 0] == -0.5 and hourly[23, 0] == 0.5  # hour 0 and hour 23
    quarter = time_features(pd.date_range("2016-07-01", periods=8, freq="15min"))  # iTransformer's freq 'h'
    assert quarter.shape == (8, 4)
    assert (quarter[:4, 0] == quarter[0, 0]).all() and quarter[4, 0] > quarter[0, 0]  # hour 0 ×4, then 1


def test_time_features_reach_models_that_ask_for_them(etth1):
    splits = cpu_splits(etth1, 96, 24, time_feats=True)
    x, x_mark, y = splits.train.batch(torch.tensor([0, 5]))
    assert x.shape == (2, 96, 7) and x_mark.shape == (2, 96, 4) and y.shape == (2, 24, 7)
    assert cpu_splits(etth1, 96, 24).train.batch(torch.tensor([0]))[1] is None


def test_a_batch_holds_each_window_rows_in_order():
    values, marks = torch.randn(60, 3), torch.randn(60, 4)
    windows = WindowSet(values, marks, seq_len=10, pred_len=5)
    starts = torch.tensor([7, 0, 45, 7])
    x, x_mark, y = windows.batch(starts)
    for i, s in enumerate(starts.tolist()):
        assert torch.equal(x[i], values[s : s + 10]) and torch.equal(x_mark[i], marks[s : s + 10])
        assert torch.equal(y[i], values[s + 10 : s + 15])
    assert WindowSet(values, None, 10, 5).batch(starts)[1] is None
