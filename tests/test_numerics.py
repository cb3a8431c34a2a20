"""The portable numerics: which variables a run sets, that a user's value wins, that the switches
reach the libraries, and that the suite's Jupyter kernel applies them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rppg_lib.run import numerics

PROBE = (
    "import json, os, torch\n"
    "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
    "print(json.dumps({'torch': torch.backends.cpu.get_cpu_capability(),\n"
    "                  'numpy_x86_v3': f.get('X86_V3'),\n"
    "                  'env': {k: os.environ.get(k) for k in %r}}))\n"
)


def _probe(env: dict[str, str]) -> dict:
    """What a fresh interpreter's torch and numpy chose under ``env`` (after numerics.apply)."""
    code = "from rppg_lib.run.numerics import apply; apply()\n"
    code += PROBE % list(numerics.PORTABLE_ENV)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in numerics.PORTABLE_ENV and k != numerics.NUMERICS_ENV}


def test_apply_sets_every_switch_where_unset() -> None:
    env: dict[str, str] = {}
    described = numerics.apply(env)
    assert env == numerics.portable_env()
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["RPPG_THREADS"] == "2"
    assert described["mode"] == "portable"
    assert described["environment"]["MKL_CBWR"] == "AVX2"


def test_a_value_the_user_set_wins_and_is_recorded() -> None:
    env = {"ONEDNN_MAX_CPU_ISA": "SSE41", "RPPG_THREADS": "4"}
    described = numerics.apply(env)
    assert env["ONEDNN_MAX_CPU_ISA"] == "SSE41" and env["RPPG_THREADS"] == "4"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert described["environment"]["ONEDNN_MAX_CPU_ISA"] == "SSE41"


def test_native_mode_sets_nothing_and_a_bad_mode_is_named() -> None:
    env = {numerics.NUMERICS_ENV: "native"}
    assert numerics.apply(env)["mode"] == "native"
    assert env == {numerics.NUMERICS_ENV: "native"}
    with pytest.raises(ValueError, match="RPPG_NUMERICS must be one of portable, native, got"):
        numerics.apply({numerics.NUMERICS_ENV: "fast"})


def test_the_switches_reach_torch_and_numpy() -> None:
    # a cap below this machine's instruction set is the visible proof that the variable acts
    env = {**_clean_env(), "ATEN_CPU_CAPABILITY": "default", "NPY_DISABLE_CPU_FEATURES": "X86_V3"}
    seen = _probe(env)
    assert seen["torch"] == "DEFAULT"
    assert seen["numpy_x86_v3"] is False
    portable = _probe(_clean_env())
    assert portable["env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert portable["torch"] in ("AVX2", "DEFAULT")  # never AVX512, whatever the CPU


def test_describe_names_the_cpu() -> None:
    cpu = numerics.describe({})["cpu"]
    assert set(cpu) == {"model", "simd"}
    if sys.platform.startswith("linux"):
        assert cpu["simd"] is not None and "sse4_1" in cpu["simd"]


def test_the_suite_kernel_applies_the_numerics() -> None:
    """The kernel ``python3`` that JupyterLab, nbval and papermill start (installed by the
    Makefile) sets the switches before the notebook's first import."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec(numerics.KERNEL_NAME)
    assert spec.argv[2:5] == ["-m", "rppg_lib.run.numerics", "kernel"]
    manager, client = start_new_kernel(kernel_name=numerics.KERNEL_NAME, env=_clean_env())
    printed: list[str] = []
    try:
        reply = client.execute_interactive(
            "import os; print(os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['RPPG_THREADS'])",
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
            timeout=60,
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok"
    assert "".join(printed).split() == ["AVX2", "2"]
