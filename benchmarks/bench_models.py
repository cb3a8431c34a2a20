"""Training and inference speed of TS-CAN and CAN, each fast path beside today's code path.

    python benchmarks/bench_models.py [--sizes 36 72] [--models TS-CAN CAN] [--repeats 3]
                                      [--chunks 4] [--compile] [--threads N]

Variants (each a documented option of :func:`rppg_lib.training.train` (``TrainConfig``) and
:func:`rppg_lib.network_inference.run_network`):

* ``today``: the code path before the fast paths: eager float32, ``torch.no_grad`` (the same
  computation as rPPG-Toolbox's TS-CAN);
* ``default``: the default path now (inference under ``torch.inference_mode``); same numbers;
* ``channels_last``, ``bf16`` (bfloat16 autocast; only where the CPU supports it), both;
* ``freeze`` (inference only): the model traced with TorchScript, frozen and optimised for
  inference (:func:`rppg_lib.network_inference.frozen_model`; the default of ``rppg infer``); its
  trace is part of each timed call, as in ``rppg infer``;
* ``compile`` (with ``--compile``): ``torch.compile`` of the model, its compile time printed
  apart (the first call) from its steady rate.

Training frames/s count the frames of one optimisation step (forward, backward, AdamW step) of
``--chunks`` chunks x 180 frames (the rPPG-Toolbox recipe: 4). Inference frames/s count frames
through :func:`~rppg_lib.network_inference.run_network` with frame_depth 10 and 200-frame batches
(the
default of ``rppg infer``). The variants alternate within each repeat and the best time of each
counts, so that the ratios hold on a machine shared with other work. ``rel. diff`` is the
largest difference of the inference outputs from ``today``'s, relative to their largest value
(same initial weights). On CUDA (when available) the same table with float16 AMP.
Real time is 30 frames/s. ``--clock cpu`` counts frames per CPU second (all threads) instead of
per wall-clock second: on a machine shared with other work, the wall clock measures the others.

Measured on the shared 2-core AMD EPYC (AVX-512-BF16, no AMX; load average 14-18), torch 2.13,
``--models TS-CAN --sizes 36 72 --chunks 1 --repeats 3 --infer-frames 400 --threads 1
--clock cpu``, frames per CPU second, ratio to ``today`` (eager float32) in the same run:

====== ==================== ============= ============= ==========
S      variant              train         infer         rel. diff
====== ==================== ============= ============= ==========
36     today                174.8 (1.00x) 494 (1.00x)   0
36     channels_last        176.5 (1.01x) 471 (0.95x)   8e-08
36     bf16                 285.7 (1.63x) 755 (1.53x)   3e-03
36     channels_last+bf16   300.0 (1.72x) 870 (1.76x)   3e-03
36     freeze               -             563 (1.14x)   8e-08
72     today                23.0 (1.00x)  58 (1.00x)    0
72     channels_last        27.2 (1.18x)  72 (1.24x)    1e-07
72     bf16                 49.2 (2.13x)  119 (2.04x)   4e-03
72     channels_last+bf16   56.4 (2.45x)  152 (2.60x)   4e-03
72     freeze               -             91 (1.57x)    1e-07
====== ==================== ============= ============= ==========

``--hr-check 4``: open-rppg's TS-CAN on 8 held-out clips, HR MAE float32 3.61 bpm (95 % CI
0.13-8.17), bf16 3.61 bpm; paired change +0.000 bpm (95 % CI +0.000 to +0.000).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rppg_lib.models import CAN, TSCAN
from rppg_lib.network_inference import bf16_supported, run_network
from rppg_lib.training.loop import mse_loss

REAL_TIME_FPS = 30.0
CHUNK = 180


def legacy_run_network(model: torch.nn.Module, inputs: np.ndarray, batch_frames: int) -> np.ndarray:
    """``run_network`` as it was for a CPU model: eval mode, ``torch.no_grad``, float32."""
    model.eval()
    outputs = []
    for start in range(0, len(inputs), batch_frames):
        batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_frames]))
        with torch.no_grad():
            outputs.append(model(batch).float().numpy())
    return np.concatenate(outputs)


def variants(device: torch.device, use_compile: bool) -> dict[str, dict]:
    """Name -> options: legacy (today's path), channels_last, bf16, amp, compile."""
    out = {"today": {"legacy": True}, "default": {}, "channels_last": {"channels_last": True}}
    if device.type == "cuda":
        out["amp"] = {"amp": True}
        out["channels_last+amp"] = {"channels_last": True, "amp": True}
    if bf16_supported(device):
        out["bf16"] = {"bf16": True}
        out["channels_last+bf16"] = {"channels_last": True, "bf16": True}
    out["freeze"] = {"freeze": True}
    if use_compile:
        out["compile"] = {"compile": True}
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


CLOCKS = {"wall": time.perf_counter, "cpu": _cpu_seconds}
_clock = CLOCKS["wall"]


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    started = _clock()
    fn()
    _sync(device)
    return _clock() - started


def build(model_name: str, size: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    model = TSCAN(img_size=size) if model_name == "TS-CAN" else CAN(img_size=size)
    return model.to(device)


class Case:
    """One (model, size, variant): a training step and an inference pass, ready to time."""

    def __init__(self, model_name, size, device, options, chunks, inputs) -> None:
        self.options, self.device, self.inputs = options, device, inputs
        self.model = build(model_name, size, device)
        # inference runs on an untrained copy of the same initial weights, so that the outputs
        # of the variants are comparable (training changes the weights of each its own way)
        self.infer_model = build(model_name, size, device)
        if options.get("channels_last"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.scaler = torch.amp.GradScaler("cuda", enabled=bool(options.get("amp")))
        gen = torch.Generator().manual_seed(1)
        frames = chunks * CHUNK
        self.x = torch.randn(frames, 6, size, size, generator=gen).to(device)
        if options.get("channels_last"):
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.y = torch.randn(frames, generator=gen).to(device)
        compiled = options.get("compile")
        self.forward = torch.compile(self.model) if compiled else self.model
        self.infer_forward = torch.compile(self.infer_model) if compiled else self.infer_model
        self.autocast_dtype = torch.bfloat16 if options.get("bf16") else torch.float16
        self.autocast = bool(options.get("bf16") or options.get("amp"))

    def train_step(self) -> None:
        self.model.train()
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast):
            out = self.forward(self.x)
        loss = mse_loss(out, self.y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def infer(self) -> np.ndarray:
        if self.options.get("legacy") and self.device.type == "cpu":
            return legacy_run_network(self.infer_model, self.inputs, 200)
        return run_network(
            self.infer_forward,
            self.inputs,
            frame_depth=10,
            batch_frames=200,
            device=self.device,
            amp=bool(self.options.get("amp")),
            bf16=bool(self.options.get("bf16")),
            channels_last=bool(self.options.get("channels_last")),
            freeze=bool(self.options.get("freeze")),
        )[0]

    def train_step_if_any(self) -> None:
        if not self.options.get("freeze"):  # an inference-only option
            self.train_step()


def bench(model_name, size, device, names, repeats, chunks, n_infer) -> dict:
    inputs = np.random.default_rng(0).standard_normal((n_infer, 6, size, size)).astype(np.float32)
    cases = {
        name: Case(model_name, size, device, opts, chunks, inputs) for name, opts in names.items()
    }
    first = {}
    for name, case in cases.items():  # warm-up: allocations, oneDNN primitives, compilation
        first[name] = _timed(case.train_step_if_any, device) + _timed(case.infer, device)
    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in cases}
    outputs = {}
    for _ in range(repeats):
        for name, case in cases.items():  # alternated
            if not case.options.get("freeze"):
                times[name]["train"].append(_timed(case.train_step, device))
            started = _clock()
            outputs[name] = case.infer()
            _sync(device)
            times[name]["infer"].append(_clock() - started)
    frames = chunks * CHUNK
    return {
        name: {
            "train": frames / min(t["train"]) if t["train"] else float("nan"),
            "infer": n_infer / min(t["infer"]),
            "first_s": first[name],
            "max_diff": float(
                np.max(np.abs(outputs[name] - outputs["today"])) / np.max(np.abs(outputs["today"]))
            ),
        }
        for name, t in times.items()
    }


def hr_check(seeds: int, weights: str) -> None:
    """Heart-rate error of the released open-rppg TS-CAN with bfloat16 inference beside float32,
    on held-out synthetic clips (seeds 1000.., scenarios clean and illumination, 20 s, the face
    box of the ground truth): per clip |HR - true mean HR| (bpm), the paired change with a
    bootstrap 95 % interval."""
    import cv2

    from rppg_lib.network_inference import load_model, predict_clip
    from rppg_lib.synthetic import generate
    from rppg_lib.weights.open_rppg import open_rppg_inputs

    loaded = load_model(weights)
    errors: dict[str, list[float]] = {"float32": [], "bf16": []}
    for seed in range(1000, 1000 + seeds):
        for scenario in ("clean", "illumination"):
            clip = generate(scenario, seconds=20.0 + 1 / 3, fps=30.0, size=128, seed=seed)
            crops = np.stack([
                cv2.resize(f[y : y + h, x : x + w], (loaded.img_size,) * 2,
                           interpolation=cv2.INTER_AREA)
                for f, (x, y, w, h) in zip(clip.frames, clip.face_box, strict=True)
            ])
            inputs = open_rppg_inputs(crops[: len(crops) // 160 * 160])
            truth = float(np.mean(clip.hr[: len(inputs)]))
            for name, bf16 in (("float32", False), ("bf16", True)):
                pred = predict_clip(loaded.model, inputs, fps=clip.fps, bf16=bf16)
                errors[name].append(abs(pred.hr_bpm - truth))
    e32, e16 = np.array(errors["float32"]), np.array(errors["bf16"])
    change = e16 - e32
    rng = np.random.default_rng(0)
    boot = [np.mean(rng.choice(change, size=len(change))) for _ in range(10_000)]
    low, high = np.percentile(boot, [2.5, 97.5])
    boot32 = [np.mean(rng.choice(e32, size=len(e32))) for _ in range(10_000)]
    print(
        f"\nHR check, open-rppg TS-CAN (S = {loaded.img_size}), n = {len(change)} clips: MAE "
        f"float32 {e32.mean():.2f} bpm (95 % CI {np.percentile(boot32, 2.5):.2f}-"
        f"{np.percentile(boot32, 97.5):.2f}), bf16 {e16.mean():.2f} bpm; paired change "
        f"{change.mean():+.3f} bpm (95 % CI {low:+.3f} to {high:+.3f}); largest per-clip "
        f"|change| {np.max(np.abs(change)):.3f} bpm"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[36, 72])
    parser.add_argument("--models", nargs="*", default=["TS-CAN", "CAN"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; best counts")
    parser.add_argument("--chunks", type=int, default=4, help="chunks of 180 frames per step")
    parser.add_argument("--infer-frames", type=int, default=1800, help="frames per inference")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--hr-check", type=int, default=0, metavar="SEEDS",
                        help="also: HR MAE of bf16 vs float32 inference on 2 x SEEDS clips")
    parser.add_argument("--weights", default=None, help="open-rppg wheel (default data/weights)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall clock, or CPU seconds of all threads (steadier on a loaded "
                        "machine; with --threads 1 it counts the work)")
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}; CPU threads {torch.get_num_threads()}; bf16 CPU kernels "
        f"{'yes' if bf16_supported() else 'no'}; CUDA "
        f"{'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}; "
        f"load average {os.getloadavg()[0]:.1f}; {args.clock} clock; best of {args.repeats}; "
        "training step "
        f"{args.chunks} x {CHUNK} frames; inference {args.infer_frames} frames in batches of 200"
    )
    header = (
        f"{'model':<7} {'S':>3} {'device':<6} {'variant':<19} {'train fps':>9} {'vs today':>8} "
        f"{'infer fps':>9} {'vs today':>8} {'x real t.':>9} {'rel. diff':>10} {'1st call s':>10}"
    )
    print(header)
    print("-" * len(header))
    for device in devices:
        names = variants(device, args.compile)
        for model_name in args.models:
            for size in args.sizes:
                result = bench(
                    model_name, size, device, names, args.repeats, args.chunks, args.infer_frames
                )
                base = result["today"]
                for name, r in result.items():
                    print(
                        f"{model_name:<7} {size:>3} {device.type:<6} {name:<19} "
                        f"{r['train']:>9.1f} {r['train'] / base['train']:>7.2f}x "
                        f"{r['infer']:>9.0f} {r['infer'] / base['infer']:>7.2f}x "
                        f"{r['infer'] / REAL_TIME_FPS:>8.1f}x {r['max_diff']:>10.2e} "
                        f"{r['first_s']:>10.1f}",
                        flush=True,
                    )
    if args.hr_check:
        weights = args.weights or str(
            next(Path(__file__).resolve().parents[1].glob("data/weights/open_rppg-*.whl"))
        )
        hr_check(args.hr_check, weights)


if __name__ == "__main__":
    main()
