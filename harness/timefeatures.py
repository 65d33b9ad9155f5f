"""Calendar features ("timeF") for models that read timestamps: each scaled to [-0.5, 0.5]."""

import numpy as np
import pandas as pd


def time_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """[T, F] features: hour-of-day, day-of-week, day-of-month, day-of-year; minute-of-hour first for
    sub-hourly data (the order of TSLib's `time_features`, so F = 4 for hourly and 5 for 15-min data)."""
    columns = [
        dates.hour / 23.0 - 0.5,
        dates.day_of_week / 6.0 - 0.5,
        (dates.day - 1) / 30.0 - 0.5,
        (dates.day_of_year - 1) / 365.0 - 0.5,
    ]
    if len(dates) > 1 and pd.Series(dates).diff().median() < pd.Timedelta(hours=1):
        columns.insert(0, dates.minute / 59.0 - 0.5)
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)
