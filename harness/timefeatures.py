"""Calendar features ("timeF") for models that read timestamps: each scaled to [-0.5, 0.5]."""

import numpy as np
import pandas as pd


def time_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """[T, 4] features: hour-of-day, day-of-week, day-of-month, day-of-year: TSLib's `time_features` at
    freq 'h', on 15-minute data too. That is what the one model reading them runs on every ETT dataset:
    iTransformer's run.py defaults to `--freq h` and none of its ETT scripts (ETTm1/ETTm2 included)
    passes another, so its minute-level loader builds these four, not minute-of-hour as well."""
    columns = [
        dates.hour / 23.0 - 0.5,
        dates.day_of_week / 6.0 - 0.5,
        (dates.day - 1) / 30.0 - 0.5,
        (dates.day_of_year - 1) / 365.0 - 0.5,
    ]
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)
