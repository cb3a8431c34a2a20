"""Speed of the smoothness-priors detrend: banded Cholesky vs sparse LU vs the dense formula.

Prints the median wall time for N = 18000 samples (10 min at 30 Hz; target: well under 50 ms),
the same for a general sparse solve (scipy.sparse.linalg.spsolve) for comparison, and the dense
published formula at a small N with the largest difference from the banded result.

Run: python benchmarks/bench_detrend.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from rppg_lib.signals import detrend


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sparse_detrend(x: np.ndarray, lam: float) -> np.ndarray:
    n = x.size
    d2 = scipy.sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n), format="csc")
    system = (scipy.sparse.identity(n, format="csc") + lam**2 * (d2.T @ d2)).tocsc()
    return x - scipy.sparse.linalg.spsolve(system, x)


def dense_detrend(x: np.ndarray, lam: float) -> np.ndarray:
    n = x.size
    d2 = np.diff(np.eye(n), n=2, axis=0)
    return x - np.linalg.solve(np.eye(n) + lam**2 * d2.T @ d2, x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--n", type=int, default=18_000)
    parser.add_argument("--dense-n", type=int, default=1_500)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.n).cumsum()
    for lam in (50.0, 100.0):
        banded = _median_seconds(lambda lam=lam: detrend(x, lam), args.repeats)
        sparse = _median_seconds(lambda lam=lam: sparse_detrend(x, lam), args.repeats)
        diff = np.abs(detrend(x, lam) - sparse_detrend(x, lam)).max()
        print(f"N={args.n} lam={lam:g}: banded Cholesky (used) {banded * 1e3:.2f} ms median, "
              f"sparse LU {sparse * 1e3:.2f} ms; max |difference| {diff:.1e}")

    small = x[: args.dense_n]
    banded = _median_seconds(lambda: detrend(small, 50.0), args.repeats)
    dense = _median_seconds(lambda: dense_detrend(small, 50.0), max(3, args.repeats // 5))
    diff = np.abs(detrend(small, 50.0) - dense_detrend(small, 50.0)).max()
    print(f"N={args.dense_n} lam=50: banded {banded * 1e3:.2f} ms, dense solve "
          f"{dense * 1e3:.1f} ms ({dense / banded:.0f}x slower); max |difference| {diff:.1e}")


if __name__ == "__main__":
    main()
