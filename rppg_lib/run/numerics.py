"""The same floats on any x86-64 CPU: which SIMD code the numerical libraries may pick.

PyTorch (its own kernels, oneDNN's convolutions and LSTMs, MKL's matrix products) and numpy
choose their SIMD code when they load, from the CPU's instruction set: AVX-512 on one machine,
AVX2 on another. The two sum in other orders and round differently in the last bit, and a
training run amplifies a last-bit difference into other weights, another best epoch and other
test errors (docs/reproducibility.md has the measurements). Each library has a switch that caps
the instruction set it uses; capped at AVX2, which every x86-64 CPU since 2013 (Intel Haswell,
AMD Excavator) has, every such machine runs the same code.

``portable`` (the default of ``rppg run``, ``rppg study``, the test suite and the suite's
Jupyter kernel) sets each switch of :data:`PORTABLE_ENV` unless the environment already sets it
(a value the user set wins, and is recorded); ``RPPG_NUMERICS=native`` leaves every library at
its own choice. The switches act only when set before the library loads, so they are set in the
environment of a process that has not yet imported torch or numpy: the notebook kernels, or the
test session's first conftest.

Not covered: OpenBLAS (numpy's matrix products) picks its kernels by CPU model; the machines this
suite is tested on set ``OPENBLAS_CORETYPE`` themselves, so it is recorded, not set.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from collections.abc import MutableMapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "NUMERICS_ENV", "MODES", "PORTABLE_ENV", "KERNEL_NAME", "portable_env", "apply", "describe",
    "kernel_spec", "main",
]

NUMERICS_ENV = "RPPG_NUMERICS"
MODES = ("portable", "native")

# numpy's AVX-512 dispatch targets: named by x86-64 level from numpy 2.4 on, by feature before
_NUMPY_AVX512 = {
    "level": "X86_V4 AVX512_ICL AVX512_SPR",
    "feature": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL "
    "AVX512_ICL AVX512_SPR",
}

# Each library's switch and its AVX2 value (the variables are documented by each project).
PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels (element-wise, reductions)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: torch's convolutions and LSTM layers on the CPU
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: torch's matrix products
    "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512["level"],  # numpy's AVX-512 loops (exp, sin, sums)
    # PyTorch's threads: a backward pass sums its gradients in another order on another number
    # of threads (TS-CAN and the LSTM: last-bit differences, measured); two, as on the 2-core
    # machines the committed notebooks and the study ran on (rppg_lib.threads reads it)
    "RPPG_THREADS": "2",
}
# Recorded with every run beside the switches: set by the machine or the user, never by the suite.
_RECORDED_ENV = ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _numpy_naming() -> str:
    """How the installed numpy names its dispatch targets (read without importing numpy)."""
    try:
        major, minor = (int(part) for part in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return "level"
    return "level" if (major, minor) >= (2, 4) else "feature"


def portable_env() -> dict[str, str]:
    """The variables the portable mode sets, with the names the installed numpy understands."""
    return {**PORTABLE_ENV, "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512[_numpy_naming()]}


def _mode(environ: MutableMapping[str, str]) -> str:
    mode = environ.get(NUMERICS_ENV, "portable").strip().lower() or "portable"
    if mode not in MODES:
        raise ValueError(f"{NUMERICS_ENV} must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def apply(environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Set the portable switches in ``environ`` (default ``os.environ``) where unset; returns
    :func:`describe` of the result. Call it before torch or numpy is imported in the process
    that computes (or in the parent whose environment its kernels inherit)."""
    environ = os.environ if environ is None else environ
    if _mode(environ) == "portable":
        for key, value in portable_env().items():
            environ.setdefault(key, value)
    return describe(environ)


def _cpu() -> dict[str, Any]:
    """The CPU's model name and the SIMD extensions that decide the libraries' choices."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(errors="replace") if cpuinfo.is_file() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    present = set(flags.group(1).split()) if flags else set()
    simd = [f for f in ("sse4_1", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
            if f in present]
    return {"model": model.group(1).strip() if model else platform.processor() or None,
            "simd": simd if flags else None}


def describe(environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """What a run records: the mode, every switch's value in ``environ`` (None: unset), the
    thread variables, and the CPU (model, SIMD extensions)."""
    environ = os.environ if environ is None else environ
    keys = (*PORTABLE_ENV, *_RECORDED_ENV)
    return {"mode": _mode(environ), "environment": {k: environ.get(k) for k in keys},
            "cpu": _cpu()}


KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (rppg-suite)"


def kernel_spec(python: str) -> dict[str, Any]:
    """The Jupyter kernel spec of the suite's kernel: ipykernel's own spec, started through
    ``python -m rppg_lib.run.numerics kernel``, which applies the portable switches first (as
    :func:`apply`: a value already in the environment wins)."""
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()
    spec["argv"] = [python, "-Xfrozen_modules=off", "-m", "rppg_lib.run.numerics", "kernel",
                    "-f", "{connection_file}"]
    spec["display_name"] = KERNEL_DISPLAY_NAME
    return spec


def _install_kernel(prefix: str) -> str:
    """Install :func:`kernel_spec` as the kernel ``python3`` under ``prefix``; returns where."""
    import json
    import sys
    import tempfile

    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "kernel.json").write_text(json.dumps(kernel_spec(sys.executable), indent=1))
        return KernelSpecManager().install_kernel_spec(folder, KERNEL_NAME, prefix=prefix)


def _launch_kernel(argv: Sequence[str]) -> None:
    import sys

    apply()
    from ipykernel import kernelapp  # after apply: the kernel's numpy and torch load later

    sys.argv = [sys.argv[0], *argv]
    kernelapp.launch_new_instance()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rppg_lib.run.numerics install-kernel`` installs the suite's Jupyter kernel
    into this environment; ``... kernel -f FILE`` is that kernel (ipykernel after :func:`apply`);
    ``... show`` prints :func:`describe` after :func:`apply`."""
    import json
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["kernel"]:
        _launch_kernel(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m rppg_lib.run.numerics",
                                     description=main.__doc__)
    parser.add_argument("command", choices=("install-kernel", "show"))
    args = parser.parse_args(argv)
    if args.command == "install-kernel":
        print(_install_kernel(sys.prefix))
    else:
        print(json.dumps(apply(), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
