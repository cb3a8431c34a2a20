"""PyTorch networks of the suite: CAN / TS-CAN / MTTS-CAN (``tscan``) and the LSTM denoiser
(``lstm``). Loaders for released checkpoints are in :mod:`rppg_lib.weights`."""

from rppg_lib.models.lstm import ExplicitLSTM, LSTMDenoiser, hard_sigmoid
from rppg_lib.models.tscan import CAN, MTTSCAN, TSCAN, TSM, AttentionMask, spatial_sizes

__all__ = [
    "TSM",
    "AttentionMask",
    "CAN",
    "TSCAN",
    "MTTSCAN",
    "spatial_sizes",
    "LSTMDenoiser",
    "ExplicitLSTM",
    "hard_sigmoid",
]
