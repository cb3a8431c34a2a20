"""Loaded first by pytest (the repository root): the portable numerics of rppg_lib.run.numerics,
set before anything imports numpy or torch, so the in-process tests and the notebook kernels that
nbval starts compute with the same instruction set on every x86-64 machine with AVX2."""

from rppg_lib.run.numerics import apply

apply()
