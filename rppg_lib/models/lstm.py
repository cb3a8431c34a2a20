"""LSTM denoiser of the Benefit-of-Distraction pipeline (notebook 05_lstm_denoising).

A window of ``window`` samples at 30 Hz holds, per step, the R, G, B corruption estimates and the
network's pulse estimate (``input_size`` = 4). An encoder LSTM summarises the window in its last
hidden state; that vector is repeated ``window`` times and decoded by a second LSTM (bidirectional
for the breathing model) into one value per step, squashed by tanh: the denoised waveform.

The released models are Keras 2 LSTMs. Keras lets the gates use ``hard_sigmoid``; PyTorch's fused
``nn.LSTM`` only has the logistic sigmoid, so :class:`ExplicitLSTM` spells the recurrence out for
any gate activation, with parameters named and shaped like ``nn.LSTM``'s so that the same state
dict fits both.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rppg_lib.validation import check_choice, check_positive_int

__all__ = ["LSTMDenoiser", "ExplicitLSTM", "hard_sigmoid", "RECURRENT_ACTIVATIONS"]

RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 2's ``hard_sigmoid``: ``clip(0.2 x + 0.5, 0, 1)`` (Keras 3 changed it to
    ``relu6(x + 3) / 6``; the released files are Keras 2)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


_GATE_ACTIVATIONS = {"sigmoid": torch.sigmoid, "hard_sigmoid": hard_sigmoid}


class ExplicitLSTM(nn.Module):
    """One-layer, batch-first LSTM computed step by step with a chosen gate activation.

    Same interface as ``nn.LSTM(input_size, hidden_size, batch_first=True,
    bidirectional=...)``: ``forward(x)`` with ``x`` of shape (N, T, input_size) returns
    ``(output, (h_n, c_n))``, output (N, T, D * hidden_size), h_n and c_n (D, N, hidden_size),
    D = 2 when bidirectional. Parameters ``weight_ih_l0`` (4h, in), ``weight_hh_l0`` (4h, h),
    ``bias_ih_l0``, ``bias_hh_l0`` (4h,) (and ``*_reverse``), gate rows ordered i, f, g, o.
    Per step: ``z = W_ih x + b_ih + W_hh h + b_hh``; ``i, f, o = act(z_i), act(z_f), act(z_o)``;
    ``c = f c + i tanh(z_g)``; ``h = o tanh(c)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bidirectional: bool = False,
        recurrent_activation: str = "hard_sigmoid",
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.bidirectional = bool(bidirectional)
        self.recurrent_activation = check_choice(
            recurrent_activation, "recurrent_activation", RECURRENT_ACTIVATIONS
        )
        h = self.hidden_size
        shapes = {"weight_ih": (4 * h, input_size), "weight_hh": (4 * h, h)}
        shapes |= {"bias_ih": (4 * h,), "bias_hh": (4 * h,)}
        for suffix in self._suffixes():
            for name, shape in shapes.items():
                self.register_parameter(f"{name}_l0{suffix}", nn.Parameter(torch.empty(shape)))
        # nn.LSTM's initialisation: uniform in +-1/sqrt(hidden_size)
        bound = 1.0 / math.sqrt(h)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _run(self, x: torch.Tensor, suffix: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        act = _GATE_ACTIVATIONS[self.recurrent_activation]
        w_ih = getattr(self, f"weight_ih_l0{suffix}")
        w_hh = getattr(self, f"weight_hh_l0{suffix}")
        bias = getattr(self, f"bias_ih_l0{suffix}") + getattr(self, f"bias_hh_l0{suffix}")
        n, steps, _ = x.shape
        h = x.new_zeros(n, self.hidden_size)
        c = x.new_zeros(n, self.hidden_size)
        x_proj = x @ w_ih.T + bias  # the input part of every step at once: (N, T, 4h)
        order = range(steps - 1, -1, -1) if suffix else range(steps)
        outputs: list[torch.Tensor] = [x.new_empty(0)] * steps
        for t in order:
            z_i, z_f, z_g, z_o = (x_proj[:, t] + h @ w_hh.T).chunk(4, dim=1)
            c = act(z_f) * c + act(z_i) * torch.tanh(z_g)
            h = act(z_o) * torch.tanh(c)
            outputs[t] = h
        return torch.stack(outputs, dim=1), h, c

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        runs = [self._run(x, suffix) for suffix in self._suffixes()]
        output = torch.cat([r[0] for r in runs], dim=2)
        h_n = torch.stack([r[1] for r in runs])
        c_n = torch.stack([r[2] for r in runs])
        return output, (h_n, c_n)


def _make_lstm(
    input_size: int, hidden_size: int, bidirectional: bool, recurrent_activation: str
) -> nn.Module:
    if recurrent_activation == "sigmoid":  # the fused PyTorch kernel computes exactly this
        return nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
    return ExplicitLSTM(input_size, hidden_size, bidirectional, recurrent_activation)


class LSTMDenoiser(nn.Module):
    """Encoder-decoder LSTM mapping windows ``(N, window, input_size)`` to ``(N, window)``.

    encoder LSTM(hidden_size), last hidden state -> repeated ``window`` times -> decoder
    LSTM(hidden_size) returning sequences (bidirectional, concatenated to 2 * hidden_size, when
    ``bidirectional_decoder``) -> dense 1 with tanh at every step. ``recurrent_activation`` is the
    gate activation (``"sigmoid"`` or Keras 2's ``"hard_sigmoid"``).
    """

    def __init__(
        self,
        input_size: int = 4,
        hidden_size: int = 128,
        window: int = 60,
        bidirectional_decoder: bool = False,
        recurrent_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.window = check_positive_int(window, "window")
        self.bidirectional_decoder = bool(bidirectional_decoder)
        self.recurrent_activation = check_choice(
            recurrent_activation, "recurrent_activation", RECURRENT_ACTIVATIONS
        )
        self.encoder = _make_lstm(input_size, hidden_size, False, recurrent_activation)
        self.decoder = _make_lstm(
            hidden_size, hidden_size, self.bidirectional_decoder, recurrent_activation
        )
        directions = 2 if self.bidirectional_decoder else 1
        self.output = nn.Linear(directions * hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoised waveform per window, ``(N, window)``, in [-1, 1]."""
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1:] != (
            self.window,
            self.input_size,
        ):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x must have shape (N, window={self.window}, input_size={self.input_size}), "
                f"got {shape}"
            )
        _, (h_n, _) = self.encoder(x)
        summary = h_n[-1].unsqueeze(1).repeat(1, self.window, 1)  # RepeatVector
        sequence, _ = self.decoder(summary)
        return torch.tanh(self.output(sequence)).squeeze(-1)
