"""Reading MATLAB ``.mat`` files, whatever their version (v4 to v7 and the HDF5-based v7.3)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import scipy.io

__all__ = ["load_mat"]


def load_mat(
    path: str | os.PathLike, variables: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The numeric variables of a MATLAB file, in MATLAB's axis order: name -> array.

    v4 to v7 files are read with ``scipy.io.loadmat``; v7.3 files are HDF5, read with h5py and
    transposed (HDF5 stores MATLAB's column-major arrays with the axes reversed), so an array
    saved as 861×34×34 in MATLAB comes back with shape (861, 34, 34) either way. Dtypes are kept
    (MATLAB ``single`` stays float32). variables: only these names (KeyError naming the file and
    the missing names); None = every numeric variable. FileNotFoundError names a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MATLAB file not found: {path}")
    major, _ = scipy.io.matlab.matfile_version(str(path))
    if major < 2:
        wanted = None if variables is None else list(variables)
        data = scipy.io.loadmat(path, variable_names=wanted)
        found = {k: v for k, v in data.items() if not k.startswith("__")}
    else:
        with h5py.File(path, "r") as handle:
            names = list(handle.keys()) if variables is None else list(variables)
            found = {
                name: handle[name][()].T
                for name in names
                if name in handle and isinstance(handle[name], h5py.Dataset)
            }
    missing = [] if variables is None else [v for v in variables if v not in found]
    if missing:
        raise KeyError(f"{path} holds no numeric variable {missing}")
    return found
