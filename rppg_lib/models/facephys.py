"""FacePhys as open-rppg runs it (its default model): a streaming network that reads one face crop
per frame and carries a state from frame to frame.

Layout (open-rppg's ``models_code/FacePhys.py``, its per-frame ``step``):

* four blocks at 36, 18, 9 and 5 pixels, each a 1x1 projection to 32 channels, two
  state-space convolution layers, a residual sum and a 2x2 stride-2 conv ('same': an odd side is
  padded by one pixel at the bottom and right); the map ends at 3x3, averaged to 32 features;
* a state-space convolution layer: a per-pixel running normalisation (exponential moving mean and
  variance with a learned half-life per channel, learned initial statistics), a 3x3 conv and a
  1x1 to 64 channels (ReLU6), their spatial mean through a selective state-space recurrence (SSM)
  projected back to 32 and added to every pixel, then a 3x3 conv (ReLU6);
* the SSM (Mamba-2 style, complex diagonal): per head a complex decay ``exp(dt * A)``, an input
  and an output vector from a causal depthwise conv (4 frames, ReLU6) of the projected input, a
  skip ``D``, an RMS norm gated by ``ReLU6(z)``, learned initial states;
* a head of a linear map and two SSMs on the 32 features, then a dense layer to the pulse.

open-rppg evaluates ``exp``, ``sin`` and ``cos`` inside the SSM with short polynomials and a
power-of-two table (its "npu hack"); :func:`approx_exp` and :func:`approx_sin` reproduce them,
since the weights were run with them. The frame interval ``dt`` (s) scales the recurrences; open-
rppg always uses 1/30 s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rppg_lib.validation import check_positive, check_positive_int

__all__ = ["FacePhys", "FacePhysSSM", "approx_exp", "approx_sin", "approx_cos", "FACEPHYS_SIDES"]

FACEPHYS_SIDES = (36, 18, 9, 5)  # the side of each block's map at a 36x36 input

_LN2, _INV_LN2 = 0.69314718056, 1.44269504089
_PI_HALF, _INV_PI_HALF = 1.5707963267948966, 0.6366197723675813


def approx_exp(x: torch.Tensor) -> torch.Tensor:
    """open-rppg's exp: ``2**k * p(r)``, k = trunc(x / ln 2 + 0.5) clipped to [-20, 19] for the
    table (r from the unclipped k), p the degree-5 Taylor polynomial of exp."""
    k = (x * _INV_LN2 + 0.5).to(torch.int32)  # a cast truncates toward zero, as Keras' does
    r = x - k.to(x.dtype) * _LN2
    poly = 1 + r * (1.0 + r * (0.5 + r * (0.166666667 + r * (0.041666667 + r * 0.008333333))))
    return poly * torch.exp2(k.clamp(-20, 19).to(x.dtype))


def approx_sin(x: torch.Tensor) -> torch.Tensor:
    """open-rppg's sin: reduction to r in [-pi/4, pi/4] by q quarter turns (q rounded half to
    even), then a degree-5 sine or degree-4 cosine polynomial of r by the parity of q."""
    q = torch.round(x * _INV_PI_HALF)
    r = x - q * _PI_HALF
    r2 = r * r
    odd = q - 2.0 * torch.floor(q * 0.5)  # 1 where the cosine polynomial applies
    negative = torch.floor((q - 4.0 * torch.floor(q * 0.25)) * 0.5)
    c1 = -0.166666667 + odd * (-0.5 - -0.166666667)
    c2 = 0.008333333 + odd * (0.041666667 - 0.008333333)
    head = r + odd * (1.0 - r)
    return (1.0 - 2.0 * negative) * head * (1.0 + r2 * (c1 + r2 * c2))


def approx_cos(x: torch.Tensor) -> torch.Tensor:
    """open-rppg's cos: :func:`approx_sin` a quarter turn on (with its constant 1.57079632679)."""
    return approx_sin(x + 1.57079632679)


def _relu6(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, 6.0)


SSMState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # real, imaginary, conv window


class FacePhysSSM(nn.Module):
    """One step of the complex selective state-space layer on features ``(N, d_model)``.

    State: real and imaginary parts ``(N, heads, head_dim, d_state)`` and the conv window
    ``(N, conv_frames, d_inner + 2 * d_state)`` of the last projected inputs.
    """

    def __init__(
        self, d_model: int, d_state: int, head_dim: int, expand: int = 2, conv_frames: int = 4
    ) -> None:
        super().__init__()
        self.d_inner = expand * check_positive_int(d_model, "d_model")
        self.d_state = check_positive_int(d_state, "d_state")
        self.head_dim = check_positive_int(head_dim, "head_dim")
        self.heads = self.d_inner // self.head_dim
        conv_dim = self.d_inner + 2 * self.d_state
        # z is 2 * d_inner wide: it gates the real and the imaginary outputs
        self.in_proj = nn.Linear(d_model, 3 * self.d_inner + 2 * self.d_state + self.heads, False)
        self.conv_weight = nn.Parameter(torch.zeros(conv_frames, conv_dim))
        self.conv_bias = nn.Parameter(torch.zeros(conv_dim))
        self.A_log = nn.Parameter(torch.zeros(self.heads, 2))  # (log of -Re A, Im A)
        self.dt_bias = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.zeros(2 * self.heads, 1))
        self.init_conv = nn.Parameter(torch.zeros(conv_frames, conv_dim))
        self.init_ssm = nn.Parameter(torch.zeros(self.heads, self.head_dim, self.d_state, 2))
        self.norm_weight = nn.Parameter(torch.ones(2 * self.d_inner))
        self.out_proj = nn.Linear(2 * self.d_inner, d_model, bias=False)

    def initial_state(self, n: int) -> SSMState:
        ssm = self.init_ssm.expand(n, *self.init_ssm.shape)
        return ssm[..., 0], ssm[..., 1], self.init_conv.expand(n, *self.init_conv.shape)

    def step(self, x: torch.Tensor, state: SSMState, dt: float) -> tuple[torch.Tensor, SSMState]:
        real, imag, window = state
        di, ds, n = self.d_inner, self.d_state, x.shape[0]
        proj = self.in_proj(x)
        z, xbc, dt_raw = (
            proj[:, : 2 * di],
            proj[:, 2 * di : 3 * di + 2 * ds],
            proj[:, 3 * di + 2 * ds :],
        )
        window = torch.cat([window[:, 1:], xbc[:, None]], dim=1)
        xbc = _relu6((window * self.conv_weight).sum(dim=1) + self.conv_bias)
        u, b, c = xbc[:, :di], xbc[:, di : di + ds], xbc[:, di + ds :]
        step = approx_exp(dt_raw + self.dt_bias).clamp(0.0, 6.0) * dt * 30  # (N, heads)
        a_real, a_imag = -torch.exp(self.A_log[:, 0]), self.A_log[:, 1]
        decay = approx_exp(step * a_real)
        d_real = (decay * approx_cos(step * a_imag))[..., None, None]
        d_imag = (decay * approx_sin(step * a_imag))[..., None, None]
        u = u.reshape(n, self.heads, self.head_dim)
        drive = step[:, :, None, None] * b[:, None, None, :] * u[..., None]
        real, imag = real * d_real - imag * d_imag + drive, real * d_imag + imag * d_real
        cb = c[:, None, None, :]
        y = torch.stack([(real * cb).sum(-1), (imag * cb).sum(-1)], dim=2)  # (N, heads, 2, p)
        skip = torch.stack([u, torch.zeros_like(u)], dim=2)  # D skips the real part only
        shape = (n, 2 * self.heads, self.head_dim)
        y = (y.reshape(shape) + self.D * skip.reshape(shape)).reshape(n, -1)
        y = y * _relu6(z)
        y = y * torch.rsqrt((y * y).mean(dim=-1, keepdim=True) + 1e-5) * self.norm_weight
        return self.out_proj(y), (real, imag, window)


TNMState = tuple[torch.Tensor, torch.Tensor]  # running mean, running variance (N, C, H, W)


class _RunningNorm(nn.Module):
    """Per-pixel running normalisation: EMA mean and variance with decay ``1 - 0.6931 dt /
    exp(half_life_log)`` per channel, then a per-channel scale and shift."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.half_life_log = nn.Parameter(torch.zeros(channels))
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.init_mean = nn.Parameter(torch.zeros(1, channels, side, side))
        self.init_var_log = nn.Parameter(torch.zeros(1, channels, side, side))

    def initial_state(self, n: int) -> TNMState:
        return self.init_mean.expand(n, -1, -1, -1), torch.exp(self.init_var_log).expand(
            n, -1, -1, -1
        )

    def step(self, x: torch.Tensor, state: TNMState, dt: float) -> tuple[torch.Tensor, TNMState]:
        decay = (1.0 - 0.6931 / torch.exp(self.half_life_log) * dt)[:, None, None]
        mean = (1 - decay) * x + decay * state[0]
        var = (1 - decay) * (x - mean) ** 2 + decay * state[1]
        y = (x - mean) * torch.rsqrt(var + 1e-5) * self.gamma[:, None, None] + self.beta[
            :, None, None
        ]
        return y, (mean, var)


class _SSConv(nn.Module):
    """State-space convolution layer on ``(N, C, S, S)``: see the module docstring."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.norm = _RunningNorm(channels, side)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.expand = nn.Conv2d(channels, 2 * channels, 1)
        self.ssm = FacePhysSSM(2 * channels, d_state=128, head_dim=channels // 8)
        self.proj = nn.Linear(2 * channels, channels, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def initial_state(self, n: int) -> tuple[TNMState, SSMState]:
        return self.norm.initial_state(n), self.ssm.initial_state(n)

    def step(
        self, x: torch.Tensor, state: tuple[TNMState, SSMState], dt: float
    ) -> tuple[torch.Tensor, tuple[TNMState, SSMState]]:
        x, norm_state = self.norm.step(x, state[0], dt)
        pooled = _relu6(self.expand(self.conv1(x))).mean(dim=(2, 3))
        mixed, ssm_state = self.ssm.step(pooled, state[1], dt)
        x = x + self.proj(mixed)[:, :, None, None]
        return _relu6(self.conv2(x)), (norm_state, ssm_state)


class _Block(nn.Module):
    def __init__(self, in_channels: int, channels: int, side: int, layers: int) -> None:
        super().__init__()
        self.in_proj = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.layers = nn.ModuleList(_SSConv(channels, side) for _ in range(layers))
        self.downsample = nn.Conv2d(channels, channels, 2, stride=2)
        self.pad = side % 2  # Keras 'same' with stride 2 pads an odd side at the end

    def initial_state(self, n: int) -> list:
        return [layer.initial_state(n) for layer in self.layers]

    def step(self, x: torch.Tensor, state: list, dt: float) -> tuple[torch.Tensor, list]:
        x = skip = self.in_proj(x)
        new_state = []
        for layer, s in zip(self.layers, state, strict=True):
            x, s = layer.step(x, s, dt)
            new_state.append(s)
        x = F.pad(x + skip, (0, self.pad, 0, self.pad))
        return self.downsample(x), new_state


class FacePhys(nn.Module):
    """FacePhys on frames ``(N, T, 3, 36, 36)`` RGB in [0, 1] -> pulse ``(N, T)``, frame by frame.

    ``forward(x, state=None, dt=1/30)`` returns ``(pulse, state)``; pass the state back to go on
    with the next frames of the same videos (None: the learned initial state).
    """

    def __init__(self, side: int = 36, channels: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.side = check_positive_int(side, "side")
        sides = [self.side]
        for _ in range(3):
            sides.append((sides[-1] + 1) // 2)
        self.blocks = nn.ModuleList(
            _Block(3 if i == 0 else channels, channels, s, layers) for i, s in enumerate(sides)
        )
        self.out_proj = nn.Linear(channels, 32, bias=False)
        self.head = nn.ModuleList(FacePhysSSM(32, d_state=16, head_dim=8) for _ in range(2))
        self.dense = nn.Linear(32, 1)

    def initial_state(self, n: int) -> list:
        return [b.initial_state(n) for b in self.blocks] + [h.initial_state(n) for h in self.head]

    def step(self, x: torch.Tensor, state: list, dt: float = 1 / 30) -> tuple[torch.Tensor, list]:
        """One frame ``(N, 3, S, S)`` -> pulse ``(N,)`` and the next state."""
        new_state = []
        for block, s in zip(self.blocks, state, strict=False):
            x, s = block.step(x, s, dt)
            new_state.append(s)
        x = self.out_proj(x.mean(dim=(2, 3)))
        for head, s in zip(self.head, state[len(self.blocks) :], strict=True):
            x, s = head.step(x, s, dt)
            new_state.append(s)
        return self.dense(x)[:, 0], new_state

    def forward(
        self, x: torch.Tensor, state: list | None = None, dt: float = 1 / 30
    ) -> tuple[torch.Tensor, list]:
        s = self.side
        if x.ndim != 5 or x.shape[2:] != (3, s, s):
            raise ValueError(f"FacePhys takes (N, T, 3, {s}, {s}), got {tuple(x.shape)}")
        dt = check_positive(dt, "dt")
        if state is None:
            state = self.initial_state(x.shape[0])
        out = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state, dt)
            out.append(y)
        return torch.stack(out, dim=1), state
