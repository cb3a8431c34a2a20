"""Training and inference speed of TS-CAN and CAN, in frames per second.

    python benchmarks/bench_models.py [--sizes 36 72] [--seconds 3] [--threads N]

On the CPU, and on CUDA (with and without mixed precision) when a GPU is available. Training
frames/s counts the frames of one optimisation step (forward, backward, AdamW step) of a batch of
4 chunks x 180 frames, the rPPG-Toolbox recipe; inference frames/s counts frames through
:func:`rppg_lib.inference.run_network` in eval mode. Real time is 30 frames/s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rppg_lib.inference import run_network
from rppg_lib.models import CAN, TSCAN
from rppg_lib.training.loop import mse_loss

REAL_TIME_FPS = 30.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(step, frames: int, seconds: float, device: torch.device) -> float:
    """Frames per second of ``step`` (processing ``frames`` frames), timed for ~``seconds``."""
    step()  # warm-up (allocations, cuDNN autotuning)
    _sync(device)
    done, started = 0, time.perf_counter()
    while True:
        step()
        done += frames
        _sync(device)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def bench(model_name: str, size: int, device: torch.device, amp: bool, seconds: float) -> dict:
    torch.manual_seed(0)
    model = (TSCAN(img_size=size) if model_name == "TS-CAN" else CAN(img_size=size)).to(device)
    frames = 4 * 180
    x = torch.randn(frames, 6, size, size, device=device)
    y = torch.randn(frames, device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def train_step() -> None:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = model(x)
        loss = mse_loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    model.train()
    train_fps = _rate(train_step, frames, seconds, device)
    inputs = np.random.default_rng(0).standard_normal((900, 6, size, size)).astype(np.float32)

    def infer_step() -> None:
        run_network(model, inputs, batch_frames=300, amp=amp)

    infer_fps = _rate(infer_step, len(inputs), seconds, device)
    return {"train": train_fps, "infer": infer_fps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[36, 72])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    setups = [(torch.device("cpu"), False)]
    if torch.cuda.is_available():
        setups += [(torch.device("cuda"), False), (torch.device("cuda"), True)]
    print(f"torch {torch.__version__}; CPU threads {torch.get_num_threads()}; "
          f"CUDA {'yes: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no'}")
    header = f"{'model':<7} {'size':>4} {'device':<6} {'amp':<4} {'train fps':>10} " \
             f"{'infer fps':>10} {'x real time':>11}"
    print(header)
    print("-" * len(header))
    for device, amp in setups:
        for model_name in ("TS-CAN", "CAN"):
            for size in args.sizes:
                r = bench(model_name, size, device, amp, args.seconds)
                print(f"{model_name:<7} {size:>4} {device.type:<6} {'yes' if amp else 'no':<4} "
                      f"{r['train']:>10.0f} {r['infer']:>10.0f} "
                      f"{r['infer'] / REAL_TIME_FPS:>10.1f}x", flush=True)


if __name__ == "__main__":
    main()
