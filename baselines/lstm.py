"""LSTM forecaster, the classic baseline of the seed tutorial (dl-for-time-series-tutorial.txt), in the
harness's multi-step, multivariate form: all C channels are the input at each step, the last hidden state
maps to H × C values. There is no official recipe: its ETTh1 preset is a simple one, stated, not tuned."""

from torch import nn

from baselines.layers import RecurrentForecaster
from harness.registry import register_model


@register_model("lstm")
class LSTM(RecurrentForecaster):
    """LSTM: forget, input and output gates around a cell state, for longer dependencies."""

    RECURRENT = nn.LSTM
