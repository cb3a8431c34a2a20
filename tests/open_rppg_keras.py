"""open-rppg's own Keras models on its released weights: the reference of the PyTorch ports.

Run with a separate environment that has Keras 3 and JAX (never the suite's ``.venv``)::

    python3 -m venv /tmp/kerasenv
    /tmp/kerasenv/bin/pip install keras "jax[cpu]" h5py numpy einops "setuptools<81"
    /tmp/kerasenv/bin/python tests/open_rppg_keras.py data/weights/open_rppg-0.1.1-py3-none-any.whl

which rewrites ``tests/data/open_rppg_parity.npz``: seeded uint8 face crops and the Keras outputs
of PhysNet, EfficientPhys and FacePhys (PURE and RLAP where released) on them.
``tests/test_open_rppg_ports.py`` checks the PyTorch ports against that file without Keras, and
against Keras itself (:func:`keras_outputs`) where Keras is importable.

The wheel's ``rppg/models.py`` and ``rppg/models_code/FacePhys.py`` are imported from a scratch
copy under a stub ``rppg`` package (the wheel's ``__init__`` would import its video pipeline and
ONNX runtime, which the forward passes do not need). open-rppg sets a mixed-float16 policy at
import; the reference computes in float32 (the ports' precision), FacePhys' two float16 convs
included. ``policy="mixed_float16"`` gives open-rppg's own precision instead, for comparison.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# the wheel's models import keras with the JAX backend; set it before the first keras import
os.environ.setdefault("KERAS_BACKEND", "jax")

FIXTURE = Path(__file__).parent / "data" / "open_rppg_parity.npz"
SEED = 2026
# small clips keep the fixture small: the ports take any length the layers allow (the tests
# also run Keras on the trained lengths where Keras is importable)
FIXTURE_FRAMES = {"physnet": 16, "efficientphys": 8, "facephys": 12}
SIDES = {"physnet": 32, "efficientphys": 72, "facephys": 36}
WEIGHT_FILES = {
    "physnet": "physnet.{variant}.weights.h5",
    "efficientphys": "EfficientPhys.{variant}.weights.h5",
    "facephys": "FacePhys.{variant}.weights.h5",
}
VARIANTS = {"physnet": ("pure", "rlap"), "efficientphys": ("pure", "rlap"), "facephys": ("rlap",)}


def import_wheel_models(wheel: Path, scratch: Path) -> Any:
    """The wheel's ``rppg.models`` module, imported from ``scratch`` under a stub package."""
    with zipfile.ZipFile(wheel) as zf:
        for member in ("rppg/models.py", "rppg/models_code/FacePhys.py"):
            target = scratch / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))
    (scratch / "rppg" / "__init__.py").write_text("")
    sys.path.insert(0, str(scratch))
    try:
        return importlib.import_module("rppg.models")
    finally:
        sys.path.remove(str(scratch))


def extract_weights(wheel: Path, model: str, variant: str, scratch: Path) -> Path:
    member = "rppg/weights/" + WEIGHT_FILES[model].format(variant=variant)
    target = scratch / member
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        target.write_bytes(zf.read(member))
    return target


def _set_policy(policy: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy(policy)


def _float32_facephys_convs(module: Any) -> Any:
    """FacePhys names ``dtype='mixed_float16'`` on its SSConv convs whatever the global policy;
    the float32 reference builds them in float32 (the weights are stored in float32 anyway).
    Returns the module's own ``layers``, to put back."""
    import keras

    class _Layers:
        def __getattr__(self, name: str) -> Any:
            return getattr(keras.layers, name)

        @staticmethod
        def Conv2D(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (Keras' name)
            if kwargs.get("dtype") == "mixed_float16":
                kwargs["dtype"] = "float32"
            return keras.layers.Conv2D(*args, **kwargs)

    own = module.layers
    module.layers = _Layers()
    return own


def keras_outputs(
    wheel: Path, model: str, variant: str, frames: np.ndarray, policy: str = "float32"
) -> np.ndarray:
    """open-rppg's forward pass of ``model`` (``"physnet"``, ``"efficientphys"``, ``"facephys"``)
    on uint8 face crops ``frames`` (T, S, S, 3), as its ``load_<Model>_<variant>`` calls it.

    PhysNet: ``model(x / 255)``, output (T,) (standardised pulse). EfficientPhys: ``model(x /
    255)``, output (T,) (pulse derivative; built for T frames, segments of 8). FacePhys: its
    ``step`` once per frame from the learned initial state, ``dt = 1/30`` s, output (T,).
    """
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if "rppg.models" in sys.modules:
            models = sys.modules["rppg.models"]
        else:
            models = import_wheel_models(wheel, scratch)
        weights = str(extract_weights(wheel, model, variant, scratch))
        _set_policy(policy)
        x = frames[None].astype(np.float32) / 255.0
        if model == "physnet":
            net = models.PhysNet()
            net(np.zeros((1, *frames.shape), dtype=np.float32))
            net.load_weights(weights)
            return np.asarray(net(x))[0]
        if model == "efficientphys":
            net = models.EfficientPhys(input_frames=len(frames))
            net(np.zeros((1, *frames.shape), dtype=np.float32))
            net.load_weights(weights)
            return np.asarray(net(x))[0]
        if model == "facephys":
            facephys = sys.modules["rppg.models_code.FacePhys"]
            import jax

            own = _float32_facephys_convs(facephys) if policy == "float32" else facephys.layers
            try:
                net = facephys.FacePhys([2] * 4, [32] * 4)
                net.build((1, 1, *frames.shape[1:]))
            finally:
                facephys.layers = own
            net.load_weights(weights)
            state = net.init_state((1, 1, *frames.shape[1:]))
            step = jax.jit(lambda xt, s: net.step(xt, s, dt=1 / 30))
            out = []
            for t in range(len(frames)):
                y, state = step(x[:, t : t + 1], state)
                out.append(np.asarray(y)[0, 0])
            return np.asarray(out, dtype=np.float32)
        raise ValueError(f"model must be physnet, efficientphys or facephys, got {model!r}")


def seeded_frames(model: str, frames: int | None = None, seed: int = SEED) -> np.ndarray:
    """Seeded uint8 crops (T, S, S, 3) for ``model``: a random image, a 1.2 Hz pulse and noise."""
    rng = np.random.default_rng(seed)
    t_len = FIXTURE_FRAMES[model] if frames is None else frames
    side = SIDES[model]
    base = rng.uniform(60, 200, size=(1, side, side, 3))
    pulse = 4.0 * np.sin(2 * np.pi * 1.2 * np.arange(t_len) / 30.0)[:, None, None, None]
    noise = rng.normal(0, 12, size=(t_len, side, side, 3))
    return np.clip(base + pulse + noise, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="open_rppg-0.1.1-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    arrays: dict[str, np.ndarray] = {}
    for model, variants in VARIANTS.items():
        frames = seeded_frames(model)
        arrays[f"{model}.input"] = frames
        for variant in variants:
            out = keras_outputs(args.wheel, model, variant, frames)
            half = keras_outputs(args.wheel, model, variant, frames, policy="mixed_float16")
            arrays[f"{model}.{variant}"] = out
            print(
                f"{model}.{variant}: input {frames.shape}, output {out.shape}; "
                f"open-rppg's mixed_float16 differs from float32 by up to "
                f"{np.abs(out - half).max():.2e}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
