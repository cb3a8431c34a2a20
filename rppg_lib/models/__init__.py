"""PyTorch networks of the suite: CAN / TS-CAN / MTTS-CAN (``tscan``), the LSTM denoiser
(``lstm``), and ports of open-rppg's PhysNet, EfficientPhys and FacePhys (``physnet``,
``efficientphys``, ``facephys``). Loaders for released checkpoints are in
:mod:`rppg_lib.weights`."""

from rppg_lib.models.efficientphys import EfficientPhys
from rppg_lib.models.facephys import FacePhys
from rppg_lib.models.lstm import ExplicitLSTM, LSTMDenoiser, hard_sigmoid
from rppg_lib.models.physnet import PhysNet
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
    "PhysNet",
    "EfficientPhys",
    "FacePhys",
]
