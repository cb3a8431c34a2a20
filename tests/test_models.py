"""Behaviour of the PyTorch networks: temporal shift, gate normalisation, shapes, parameter counts,
mask outputs, input checks, and the explicit LSTM against PyTorch's fused one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rppg_lib.models import (
    CAN,
    MTTSCAN,
    TSCAN,
    TSM,
    AttentionMask,
    ExplicitLSTM,
    LSTMDenoiser,
    hard_sigmoid,
    spatial_sizes,
)

torch.set_num_threads(1)


def _frames(n: int, c: int) -> torch.Tensor:
    """x[t, ch] = 10 * (t + 1) + ch on one pixel: each value names its frame and channel."""
    t = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    ch = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1)
    return 10 * (t + 1) + ch


# ------------------------------------------------------------------------------------------ TSM


def test_tsm_moves_first_fold_from_next_frame_second_from_previous_with_zero_edges():
    # 2 segments of 3 frames, 6 channels: fold 2; channels 0-1 from t+1, 2-3 from t-1, 4-5 stay
    out = TSM(frame_depth=3)(_frames(6, 6))[:, :, 0, 0]
    expected = torch.tensor(
        [
            [20, 21, 0, 0, 14, 15],
            [30, 31, 12, 13, 24, 25],
            [0, 0, 22, 23, 34, 35],
            [50, 51, 0, 0, 44, 45],
            [60, 61, 42, 43, 54, 55],
            [0, 0, 52, 53, 64, 65],
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_tsm_replicate_repeats_the_border_frame_at_segment_edges():
    out = TSM(frame_depth=3, edge="replicate")(_frames(6, 6))[:, :, 0, 0]
    expected = torch.tensor(
        [
            [20, 21, 12, 13, 14, 15],
            [30, 31, 12, 13, 24, 25],
            [30, 31, 22, 23, 34, 35],
            [50, 51, 42, 43, 44, 45],
            [60, 61, 42, 43, 54, 55],
            [60, 61, 52, 53, 64, 65],
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_tsm_three_channels_shifts_one_channel_each_way():
    out = TSM(frame_depth=2)(_frames(2, 3))[:, :, 0, 0]
    torch.testing.assert_close(out, torch.tensor([[20.0, 0, 12], [0, 11, 22]]), rtol=0, atol=0)


def test_tsm_rejects_batch_not_multiple_of_frame_depth_and_bad_options():
    with pytest.raises(ValueError, match=r"N = 7.*frame_depth = 3"):
        TSM(frame_depth=3)(torch.zeros(7, 6, 2, 2))
    with pytest.raises(ValueError, match="edge"):
        TSM(frame_depth=3, edge="wrap")
    with pytest.raises(ValueError, match="frame_depth"):
        TSM(frame_depth=0)


# ------------------------------------------------------------------------------ gate normalisation


def test_attention_mask_has_spatial_mean_one_half_and_keeps_proportions():
    g = torch.rand(4, 1, 34, 34, generator=torch.Generator().manual_seed(0)) + 0.01
    mask = AttentionMask()(g)
    torch.testing.assert_close(mask.mean(dim=(2, 3)), torch.full((4, 1), 0.5))
    ratio = mask / g  # one constant per frame
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    # a uniform gate becomes exactly 0.5 everywhere
    uniform = AttentionMask()(torch.full((1, 1, 5, 5), 0.9))
    torch.testing.assert_close(uniform, torch.full((1, 1, 5, 5), 0.5))


# ---------------------------------------------------------------------------------- networks


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_match_the_published_networks():
    assert _count(CAN()) == 532_899
    assert _count(TSCAN()) == 532_899
    assert _count(MTTSCAN()) == 934_564
    assert _count(TSCAN(img_size=72)) == 2_228_643
    # the Benefit-of-Distraction breathing CAN: dense 32
    assert _count(CAN(dense_units=32)) == 231_651


def test_spatial_sizes_at_36_and_72():
    assert spatial_sizes(36) == (34, 17, 15, 7)
    assert spatial_sizes(72) == (70, 35, 33, 16)
    assert TSCAN().flat_features == 3136
    assert TSCAN(img_size=72).flat_features == 16384
    with pytest.raises(ValueError, match="img_size"):
        spatial_sizes(9)


@pytest.mark.parametrize(
    ("img_size", "frame_depth", "gate1", "gate2"), [(36, 10, 34, 15), (72, 20, 70, 33)]
)
def test_tscan_output_and_mask_shapes(img_size, frame_depth, gate1, gate2):
    torch.manual_seed(0)
    model = TSCAN(frame_depth=frame_depth, img_size=img_size).eval()
    x = torch.randn(2 * frame_depth if img_size == 36 else frame_depth, 6, img_size, img_size)
    with torch.no_grad():
        out, masks = model(x, return_masks=True)
    n = x.shape[0]
    assert out.shape == (n, 1)
    assert masks["gate1"].shape == masks["gate1_normalized"].shape == (n, 1, gate1, gate1)
    assert masks["gate2"].shape == masks["gate2_normalized"].shape == (n, 1, gate2, gate2)
    for k in (1, 2):
        gate, norm = masks[f"gate{k}"], masks[f"gate{k}_normalized"]
        assert float(gate.min()) > 0 and float(gate.max()) < 1  # sigmoid outputs, unnormalised
        torch.testing.assert_close(norm.mean(dim=(2, 3)), torch.full((n, 1), 0.5))
        torch.testing.assert_close(norm, gate / gate.mean(dim=(2, 3), keepdim=True) * 0.5)
    with torch.no_grad():
        torch.testing.assert_close(model(x), out)  # same numbers without the masks


def test_mttscan_returns_pulse_and_respiration_columns():
    torch.manual_seed(0)
    model = MTTSCAN(frame_depth=10).eval()
    x = torch.randn(10, 6, 36, 36)
    with torch.no_grad():
        out, masks = model(x, return_masks=True)
        flat, _ = model.features(x)
        pulse = model.pulse_dense2(torch.tanh(model.pulse_dense1(flat)))
        resp = model.resp_dense2(torch.tanh(model.resp_dense1(flat)))
    assert out.shape == (10, 2)
    assert masks["gate1"].shape == (10, 1, 34, 34)
    torch.testing.assert_close(out[:, :1], pulse)
    torch.testing.assert_close(out[:, 1:], resp)
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_can_treats_frames_independently_and_tscan_mixes_only_within_a_segment():
    torch.manual_seed(0)
    x = torch.randn(20, 6, 36, 36)
    can = CAN().eval()
    tscan = TSCAN(frame_depth=10).eval()
    with torch.no_grad():
        torch.testing.assert_close(can(x)[3:4], can(x[3:4]))
        base = tscan(x)
        changed = x.clone()
        changed[15, :3] += 1.0  # motion of one frame in the second segment
        after = tscan(changed)
    diff = (after - base).abs()[:, 0]
    assert float(diff[:10].max()) == 0.0  # first segment untouched
    assert float(diff[14]) > 0 and float(diff[16]) > 0  # neighbours see frame 15 via the shift
    assert float(diff[10:].max()) > 0


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = TSCAN(frame_depth=10)
    x = torch.randn(10, 6, 36, 36)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


def test_network_input_checks_name_the_problem():
    model = TSCAN(frame_depth=10)
    with pytest.raises(ValueError, match=r"N = 15 must be a multiple of frame_depth = 10"):
        model(torch.zeros(15, 6, 36, 36))
    with pytest.raises(ValueError, match=r"\(N, 6, 36, 36\).*got \(10, 6, 40, 40\)"):
        model(torch.zeros(10, 6, 40, 40))
    with pytest.raises(ValueError, match=r"got \(10, 3, 36, 36\)"):
        model(torch.zeros(10, 3, 36, 36))
    with pytest.raises(ValueError, match=r"multiple of frame_depth = 10"):
        MTTSCAN(frame_depth=10)(torch.zeros(12, 6, 36, 36))
    with pytest.raises(ValueError, match=r"\(N, 6, 72, 72\)"):
        CAN(img_size=72)(torch.zeros(2, 6, 36, 36))
    with pytest.raises(ValueError, match="tsm_edge|edge"):
        TSCAN(tsm_edge="circular")
    with pytest.raises(ValueError, match="dense_units"):
        CAN(dense_units=0)


def test_replicate_tscan_differs_from_zero_tscan_only_through_the_shift():
    torch.manual_seed(0)
    zero = TSCAN(frame_depth=20).eval()
    rep = TSCAN(frame_depth=20, tsm_edge="replicate").eval()
    rep.load_state_dict(zero.state_dict())
    x = torch.randn(20, 6, 36, 36)
    with torch.no_grad():
        assert not torch.allclose(zero(x), rep(x))
        # on a still clip (all frames equal) the replicate shift changes nothing: same as CAN
        still = x[:1].expand(20, -1, -1, -1).contiguous()
        can = CAN().eval()
        can.load_state_dict(zero.state_dict())
        torch.testing.assert_close(rep(still), can(still))


# -------------------------------------------------------------------------------------- LSTMs


def test_hard_sigmoid_is_keras2_piecewise_linear():
    x = torch.tensor([-3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 4.0])
    torch.testing.assert_close(hard_sigmoid(x), torch.tensor([0.0, 0.0, 0.3, 0.5, 0.7, 1.0, 1.0]))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_explicit_lstm_with_sigmoid_equals_torch_lstm(bidirectional):
    torch.manual_seed(0)
    explicit = ExplicitLSTM(4, 16, bidirectional=bidirectional, recurrent_activation="sigmoid")
    fused = torch.nn.LSTM(4, 16, batch_first=True, bidirectional=bidirectional)
    fused.load_state_dict(explicit.state_dict())  # same names and shapes
    x = torch.randn(3, 9, 4)
    with torch.no_grad():
        out_e, (h_e, c_e) = explicit(x)
        out_f, (h_f, c_f) = fused(x)
    torch.testing.assert_close(out_e, out_f, atol=1e-6, rtol=0)
    torch.testing.assert_close(h_e, h_f, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_e, c_f, atol=1e-6, rtol=0)


def test_explicit_lstm_hard_sigmoid_step_by_hand():
    # one unit, one input, one step from zero state: z = w x + b
    lstm = ExplicitLSTM(1, 1, recurrent_activation="hard_sigmoid")
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))
        lstm.weight_hh_l0.zero_()
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
        out, _ = lstm(torch.tensor([[[0.5]]]))
    i, g, o = 0.2 * 0.5 + 0.5, np.tanh(1.5), 0.2 * 2.0 + 0.5  # f multiplies c0 = 0
    assert float(out) == pytest.approx(o * np.tanh(i * g), abs=1e-6)


@pytest.mark.parametrize("activation", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_denoiser_shapes_and_range(activation, bidirectional):
    torch.manual_seed(0)
    model = LSTMDenoiser(
        hidden_size=32, bidirectional_decoder=bidirectional, recurrent_activation=activation
    ).eval()
    assert model.output.in_features == (64 if bidirectional else 32)
    with torch.no_grad():
        out = model(torch.randn(5, 60, 4))
    assert out.shape == (5, 60)
    assert float(out.abs().max()) <= 1.0


def test_lstm_denoiser_parameter_count_and_checks():
    # encoder 4*128*(4+128+1)... Keras counts one bias (4h); PyTorch two, the second held at zero
    # by the loaders: 4h*(in + h + 2) per LSTM, + dense 129
    assert _count(LSTMDenoiser()) == 4 * 128 * (4 + 128 + 2) + 4 * 128 * (128 + 128 + 2) + 129
    with pytest.raises(ValueError, match=r"window=60.*got \(2, 50, 4\)"):
        LSTMDenoiser()(torch.zeros(2, 50, 4))
    with pytest.raises(ValueError, match="recurrent_activation"):
        LSTMDenoiser(recurrent_activation="relu")


@pytest.mark.parametrize("model_cls", [TSCAN, MTTSCAN])
def test_every_parameter_receives_a_gradient(model_cls):
    torch.manual_seed(0)
    model = model_cls(frame_depth=10).train()
    out = model(torch.randn(10, 6, 36, 36))
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
