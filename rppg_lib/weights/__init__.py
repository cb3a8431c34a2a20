"""Loaders mapping released checkpoints onto :mod:`rppg_lib.models`.

* :func:`load_toolbox_tscan`: rPPG-Toolbox TS-CAN ``.pth`` (72x72, DataParallel keys);
* :func:`load_open_rppg_tscan`: open-rppg's TS-CAN (Keras 3 ``.weights.h5``, float16, 36x36) and
  :func:`open_rppg_inputs`, the input it expects (:class:`OpenRppgFrames`: built lazily);
* :func:`load_open_rppg_physnet`, :func:`load_open_rppg_efficientphys`,
  :func:`load_open_rppg_facephys`: open-rppg's other real-data models, and their inputs
  (:func:`physnet_inputs`, :func:`efficientphys_inputs`, :func:`facephys_inputs`);
* :data:`RELEASED_MODELS` / :func:`released_model`: every ported open-rppg model by name
  (``"physnet.pure"``), with its loader and input preparation;
* :func:`load_keras_can`, :func:`load_keras_lstm`: the Benefit-of-Distraction Keras 2 ``.h5``
  breathing CAN and HR / BR LSTM denoisers.

Every loader checks shapes and hyper-parameters and raises ValueError naming the file, the layer
and both shapes where the checkpoint does not fit; models come back in eval mode.
"""

from rppg_lib.weights.bod import load_keras_can, load_keras_lstm
from rppg_lib.weights.open_rppg import OpenRppgFrames, load_open_rppg_tscan, open_rppg_inputs
from rppg_lib.weights.open_rppg_models import (
    efficientphys_inputs,
    face_clips,
    facephys_inputs,
    load_open_rppg_efficientphys,
    load_open_rppg_facephys,
    load_open_rppg_physnet,
    physnet_inputs,
)
from rppg_lib.weights.registry import RELEASED_MODELS, ReleasedModel, released_model
from rppg_lib.weights.toolbox import load_toolbox_tscan

__all__ = [
    "load_toolbox_tscan",
    "load_open_rppg_tscan",
    "open_rppg_inputs",
    "OpenRppgFrames",
    "load_keras_can",
    "load_keras_lstm",
    "load_open_rppg_physnet",
    "load_open_rppg_efficientphys",
    "load_open_rppg_facephys",
    "physnet_inputs",
    "efficientphys_inputs",
    "facephys_inputs",
    "face_clips",
    "RELEASED_MODELS",
    "ReleasedModel",
    "released_model",
]
