"""How far the default run's trained-LSTM numbers move with the CPU's instruction set and the seed.

Reruns notebooks 05 and 06 on copies of one finished run (its notebooks 00-04 stay as they are)
under each setting: the portable numerics the suite ships (rppg_lib.run.numerics), the native
ones, each library's instruction-set switch lowered on its own below native (oneDNN to SSE4.1,
PyTorch's kernels to no SIMD, MKL to SSE4.2, numpy to x86-64-v2), all four lowered together (a
stand-in for another CPU), and the LSTM seeds 1 and 2 (portable); for each best-epoch rule asked
for. A variable set in the caller's environment is kept unless the setting sets it. Prints one
Markdown table per rule: the best epochs and the test HR MAE (bpm) of every method per scenario,
with the range across the instruction-set settings and across seeds.

    .venv/bin/rppg run --params params/default.yaml --out /tmp/base
    .venv/bin/python benchmarks/bench_numerics_spread.py --base /tmp/base --jobs 2

Without ``--base`` it makes that run first, in its scratch folder (about 7 more minutes).
About 2 minutes per setting and rule on one core; ``--jobs 2`` runs two at a time (each LSTM
trains on one thread). Scratch copies go to a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("05_lstm_denoising", "06_evaluation")
LOWERED = {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default",
           "MKL_CBWR": "SSE4_2", "NPY_DISABLE_CPU_FEATURES": "X86_V3"}
NATIVE = {"RPPG_NUMERICS": "native"}
RULES = ("val_snr_db", "val_hr_mae", "val_loss")  # notebook 05's choices of its monitor
# name -> (environment over the caller's, LSTM seed). "portable" is what the suite ships; every
# other row differs from "portable" or from "native" in one thing, the last two in the seed.
SETTINGS: dict[str, tuple[dict[str, str], int]] = {
    "portable": ({}, 0),
    "native": (NATIVE, 0),
    **{f"native, {key.lower()}={value}": ({**NATIVE, key: value}, 0)
       for key, value in LOWERED.items()},
    "native, all four lowered": ({**NATIVE, **LOWERED}, 0),
    "portable, seed 1": ({}, 1),
    "portable, seed 2": ({}, 2),
}


def run_setting(base: Path, scratch: Path, name: str, rule: str) -> dict:
    """Notebooks 05-06 on a copy of ``base`` under setting ``name``; returns its metrics."""
    env_vars, seed = SETTINGS[name]
    out = scratch / f"{rule}-{''.join(c if c.isalnum() else '-' for c in name)}"
    shutil.copytree(base, out, ignore=shutil.ignore_patterns(*NOTEBOOKS, "07_*"))
    env = {**os.environ, **env_vars, "RPPG_RUN_DIR": str(out),
           "RPPG_PROGRESS": "final", "PYTHONHASHSEED": "0"}
    for stem in NOTEBOOKS:
        command = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{stem}.ipynb"),
                   str(out / "notebooks" / f"{stem}.ipynb"), "-p", "run_dir", str(out),
                   "--cwd", str(REPO / "notebooks"), "-k", "python3", "--no-progress-bar"]
        if stem == "05_lstm_denoising":
            command += ["-p", "monitor", rule, "-p", "seed", str(seed)]
        subprocess.run(command, env=env, check=True, capture_output=True)
    return json.loads((out / "metrics.json").read_text())


def quantities(metrics: dict) -> dict[str, float | int]:
    """Best epochs and test HR MAE per scenario and method from one run's metrics.json."""
    lstm = metrics["05_lstm_denoising"]
    found: dict[str, float | int] = {
        f"best epoch, LSTM ({name})": values["best_epoch"]
        for name, values in lstm["validation"].items()
    }
    for row in metrics["06_evaluation"]["hr_summary"]:
        found[f"{row['scenario']}: {row['method']}"] = row["mae"]
    for row in lstm.get("injected_light_diagnostic") or []:
        if "injected" in row["method"]:
            found[f"{row['scenario']}: {row['method']}"] = row["mae"]
    return found


def table(rule: str, runs: dict[str, dict]) -> str:
    names = list(runs)
    isa = [n for n in names if "seed" not in n]
    seeds = [n for n in names if "seed" in n or n == "portable"]

    def spread(values: list) -> str:
        return f"{max(values) - min(values):.2f}" if values else ""

    lines = [f"best epoch by {rule}; test HR MAE in bpm (n = 4 windows of 2 subjects per scenario)",
             "", "| quantity | " + " | ".join(names) + " | range, CPU | range, seed |",
             "|---" * (len(names) + 3) + "|"]
    for key in runs[names[0]]:
        values = {n: runs[n].get(key) for n in names}
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in values.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {spread([values[n] for n in isa])}"
                     f" | {spread([values[n] for n in seeds])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=None,
                        help="a finished rppg run folder (default: run params/default.yaml first)")
    parser.add_argument("--rules", default="val_snr_db,val_hr_mae",
                        help="best-epoch rules (notebook 05's monitor), comma-separated")
    parser.add_argument("--jobs", type=int, default=1, help="settings run at the same time")
    args = parser.parse_args()
    rules = args.rules.split(",")
    unknown = [rule for rule in rules if rule not in RULES]
    if unknown:
        parser.error(f"--rules: unknown rule {unknown[0]!r} (choose from {', '.join(RULES)})")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    finished = args.base / "artifacts" / "04_inverse_attention_noise" if args.base else None
    if finished is not None and not finished.is_dir():
        parser.error(f"--base {args.base}: no finished run (no artifacts of notebook 04)")
    jobs = [(rule, name) for rule in rules for name in SETTINGS]
    with tempfile.TemporaryDirectory(prefix="spread-") as scratch:
        base = args.base
        if base is None:
            base = Path(scratch) / "base"
            subprocess.run([sys.executable, "-m", "rppg_lib.run.cli", "run", "--params",
                            str(REPO / "params" / "default.yaml"), "--out", str(base)], check=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda job: run_setting(base, Path(scratch), job[1], job[0]),
                                 jobs))
    by_rule: dict[str, dict[str, dict]] = {rule: {} for rule in rules}
    for (rule, name), metrics in zip(jobs, done, strict=True):
        by_rule[rule][name] = quantities(metrics)
    for rule in rules:
        print(table(rule, by_rule[rule]), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
