"""Distributed data parallel training: two CPU processes (Gloo) started by torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from rppg_lib.training import load_checkpoint

WORKER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from rppg_lib.training import ChunkDataset, TrainConfig, build_model, train

    out = sys.argv[1]
    rank = int(os.environ["RANK"])

    class Recording(ChunkDataset):
        seen = []
        def __getitem__(self, item):
            self.seen.append(int(item))
            return super().__getitem__(item)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 6, 36, 36)).astype(np.float32)
    y = rng.standard_normal(80).astype(np.float32)
    data = Recording([(x, y)], 20)  # four chunks: two per process and epoch
    config = TrainConfig(
        model="tscan", epochs=2, batch_size=1, chunk_length=20, device="cpu", seed=5,
        checkpoint_dir=os.path.join(out, "ckpt"), progress=False,
    )
    result = train(build_model(config), data, config,
                   validate=lambda model: {"val_hr_mae": 1.0})
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"seen{rank}.json"), "w") as handle:
        json.dump({"seen": Recording.seen, "history": result.history}, handle)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights_and_rank0_writes(tmp_path: Path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    weights = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name

    checkpoint = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    assert checkpoint["epoch"] == 2 and checkpoint["world_size"] == 2
    assert len(checkpoint["rng"]) == 2  # both processes' dropout streams, for an exact resume
    for name, tensor in checkpoint["model"].items():
        assert torch.equal(tensor, weights[0][name])
    written = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert written == ["best.pt", "last.pt", "log.csv"]

    seen = [json.loads((tmp_path / f"seen{r}.json").read_text()) for r in (0, 1)]
    for epoch in range(2):  # each epoch the two processes share the four chunks, no overlap
        shares = [set(s["seen"][2 * epoch : 2 * epoch + 2]) for s in seen]
        assert not shares[0] & shares[1]
        assert shares[0] | shares[1] == {0, 1, 2, 3}
    # the training loss is averaged over both processes: identical history on both ranks
    assert seen[0]["history"][-1]["train_loss"] == seen[1]["history"][-1]["train_loss"]
    assert seen[1]["history"][-1]["val_hr_mae"] == 1.0  # rank 0's validation, broadcast
