"""Fast paths of the networks: inference options (inference_mode, channels-last, bfloat16
autocast, frozen TorchScript), training options, and the CUDA (+AMP) path where present.

Tolerances (outputs relative to their largest value): channels-last and frozen float32 1e-5
(only the order of the float32 sums changes); bfloat16 autocast 5e-2 (8-bit mantissa).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rppg_lib.models import CAN, TSCAN, TSM
from rppg_lib.network_inference import bf16_supported, frozen_model, run_network
from rppg_lib.threads import ThreadSettings, network_threads
from rppg_lib.training import ChunkDataset, TrainConfig, train

torch.set_num_threads(1)

CHANNELS_LAST_TOL = 1e-5
FROZEN_TOL = 1e-5
BF16_TOL = 5e-2


@pytest.mark.parametrize("edge", ["zero", "replicate"])
def test_temporal_shift_is_the_same_in_channels_last_memory_format(edge):
    x = torch.randn(20, 32, 7, 7, requires_grad=True)
    shift = TSM(10, edge=edge)
    out = shift(x.contiguous(memory_format=torch.channels_last))
    ref = shift(x)
    assert torch.equal(out, ref)
    grad = torch.randn_like(ref)
    (g_out,) = torch.autograd.grad(out, x, grad)
    (g_ref,) = torch.autograd.grad(ref, x, grad)
    assert torch.equal(g_out, g_ref)


def _model(kind: str = "tscan", size: int = 36) -> torch.nn.Module:
    torch.manual_seed(0)
    return TSCAN(img_size=size) if kind == "tscan" else CAN(img_size=size)


def _inputs(frames: int = 40, size: int = 36) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((frames, 6, size, size)).astype(np.float32)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_default_inference_is_byte_identical_to_the_eager_no_grad_loop():
    model, x = _model(), _inputs(35)  # 35 frames: the last segment is padded
    # one PyTorch thread on both sides: with two, OpenMP may hand a loaded machine's call fewer
    # threads, which splits the convolutions (and rounds them) another way
    one = ThreadSettings(opencv=1, blas=1, torch=1, manage=True)
    out, _, padded = run_network(model, x, batch_frames=20, threads=one)
    padded_x = np.concatenate([x, np.repeat(x[-1:], 5, axis=0)])
    model.eval()
    with torch.no_grad(), network_threads(one):
        ref = torch.cat([model(torch.from_numpy(padded_x[i : i + 20])) for i in (0, 20)])
    assert padded == 5
    assert np.array_equal(out, ref.numpy()[:35])


@pytest.mark.parametrize("kind", ["tscan", "can"])
def test_channels_last_inference_matches_float32_and_restores_the_model(kind):
    model, x = _model(kind), _inputs()
    ref, ref_masks, _ = run_network(model, x, batch_frames=20, return_masks=True)
    out, masks, _ = run_network(
        model, x, batch_frames=20, channels_last=True, return_masks=True
    )
    assert _rel(out, ref) < CHANNELS_LAST_TOL
    for name in ("gate1", "gate2"):
        assert np.max(np.abs(masks[name].astype(np.float32) - ref_masks[name])) < 1e-3
    assert model.motion_conv1.weight.is_contiguous()  # contiguous again after the call


@pytest.mark.parametrize("kind", ["tscan", "can"])
def test_frozen_inference_matches_eager_float32_in_every_batch(kind):
    model, x = _model(kind), _inputs(75)  # batches of 40, 35 (padded to 40 for TS-CAN)
    ref, _, ref_padded = run_network(model, x, batch_frames=40)
    out, _, padded = run_network(model, x, batch_frames=40, freeze=True)
    assert padded == ref_padded and out.shape == ref.shape
    assert _rel(out, ref) < FROZEN_TOL
    assert not np.array_equal(out, ref)  # the frozen graph ran (its sums differ in the last bits)
    assert model.training  # the model is left as it was


def test_frozen_model_serves_any_batch_size():
    model = _model().eval()
    frozen = frozen_model(model, torch.from_numpy(_inputs(10)))
    x = torch.from_numpy(_inputs(60))
    with torch.no_grad():
        assert _rel(frozen(x).numpy(), model(x).numpy()) < FROZEN_TOL


@pytest.mark.parametrize("kind", ["tscan", "can"])
def test_bf16_inference_stays_close_to_float32(kind):
    model, x = _model(kind), _inputs()
    ref, _, _ = run_network(model, x, batch_frames=20)
    out, masks, _ = run_network(model, x, batch_frames=20, bf16=True, return_masks=True)
    assert out.dtype == np.float32 and masks["gate1"].dtype == np.float16
    assert 0 < _rel(out, ref) < BF16_TOL  # bfloat16 was really used, and stays close
    assert np.all(np.isfinite(masks["gate2"]))


def _train_set() -> ChunkDataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 6, 36, 36)).astype(np.float32)
    y = rng.standard_normal(60).astype(np.float32)
    return ChunkDataset([(x, y)], 20)


def _train(**options) -> tuple[torch.nn.Module, list[dict]]:
    """Two epochs of TS-CAN without dropout (whose random masks would differ between memory
    formats), so that only the arithmetic differs between the options."""
    cfg = TrainConfig(
        model="tscan", epochs=2, batch_size=2, chunk_length=20, progress=False, seed=3,
        lr=1e-3, **options,
    )
    torch.manual_seed(0)
    model = TSCAN(dropout_conv=0.0, dropout_dense=0.0)
    result = train(model, _train_set(), cfg)
    return result.model, result.history


def test_training_options_keep_the_losses_within_their_tolerance():
    base, base_hist = _train()
    again, again_hist = _train()
    fast, fast_hist = _train(channels_last=True)
    half, half_hist = _train(bf16=True)
    assert [r["train_loss"] for r in again_hist] == [r["train_loss"] for r in base_hist]
    for a, b in zip(base.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)  # the default path: same weights, run after run
    for name, hist, tol in (("channels_last", fast_hist, 1e-5), ("bf16", half_hist, BF16_TOL)):
        for row, ref in zip(hist, base_hist, strict=True):
            assert row["train_loss"] == pytest.approx(ref["train_loss"], rel=tol), name
    assert all(p.dtype == torch.float32 for p in half.parameters())
    assert fast.motion_conv1.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("kind", ["tscan", "can"])
def test_channels_last_and_bf16_gradients_match_float32(kind):
    model, x = _model(kind), torch.from_numpy(_inputs())
    model.eval()  # no dropout: the same function in every memory format

    def grads(channels_last: bool, bf16: bool) -> torch.Tensor:
        model.zero_grad()
        model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        fed = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(fed)
        (out.float() ** 2).mean().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    ref = grads(False, False).numpy()
    assert _rel(grads(True, False).numpy(), ref) < CHANNELS_LAST_TOL
    assert _rel(grads(False, True).numpy(), ref) < BF16_TOL


def test_config_speed_options_are_validated_and_old_checkpoints_still_match():
    with pytest.raises(ValueError, match="bf16"):
        TrainConfig(bf16="yes")
    with pytest.raises(ValueError, match="compile"):
        TrainConfig(compile=1)
    old = TrainConfig().to_dict()
    for name in ("channels_last", "bf16", "compile"):
        del old[name]  # a checkpoint written before these fields existed
    assert TrainConfig().differences(old) == {}
    assert TrainConfig(bf16=True).differences(old) == {"bf16": (False, True)}


def test_bf16_support_is_reported_per_device():
    assert isinstance(bf16_supported("cpu"), bool)
    assert bf16_supported("meta") is False
    if not torch.cuda.is_available():
        assert bf16_supported("cuda") is False


cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)


@cuda
def test_cuda_inference_with_amp_matches_the_cpu():
    model, x = _model(), _inputs()
    ref, _, _ = run_network(model, x, batch_frames=20)
    out, _, _ = run_network(model, x, batch_frames=20, device="cuda")
    amp, masks, _ = run_network(
        model, x, batch_frames=20, device="cuda", amp=True, channels_last=True, return_masks=True
    )
    assert _rel(out, ref) < 1e-4
    assert _rel(amp, ref) < 1e-2
    assert masks["gate1"].dtype == np.float16


@cuda
def test_cuda_training_with_amp_gives_finite_losses():
    _, hist = _train(device="cuda", amp=True, channels_last=True)
    assert np.isfinite(hist[0]["train_loss"])

