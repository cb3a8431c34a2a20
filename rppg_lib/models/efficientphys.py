"""EfficientPhys (Liu et al., WACV 2023) as open-rppg trained it: the motion branch of TS-CAN with
its own attention, fed raw frames.

Per clip of T frames: the frame differences ``x[t+1] - x[t]`` (a zero difference after the last
frame), a batch norm whose statistics are per *pixel position* (open-rppg normalises over axis 1
of ``(T, H*W, 3)``: one mean, variance, scale and shift per pixel, shared by the three colours),
then TS-CAN's motion branch with temporal shifts on segments of 8 frames (the border frame
repeated) and two self-attention gates: a 1x1 conv with as many sigmoid channels as features,
each channel rescaled to a spatial mean of 0.5, multiplying the features. Dense 128 (tanh) and
dense 1 give the pulse derivative per frame.
"""

from __future__ import annotations

import torch
from torch import nn

from rppg_lib.models.tscan import TSM, AttentionMask, spatial_sizes
from rppg_lib.validation import check_positive_int

__all__ = ["EfficientPhys", "EFFICIENTPHYS_SEGMENT", "EFFICIENTPHYS_BN_EPS"]

EFFICIENTPHYS_SEGMENT = 8  # frames per temporal-shift segment (open-rppg's TSM(8, ...))
EFFICIENTPHYS_BN_EPS = 1e-3  # Keras BatchNormalization's default epsilon


class EfficientPhys(nn.Module):
    """EfficientPhys on clips ``(N, T, 3, S, S)`` of RGB in [0, 1] -> ``(N, T)`` pulse derivative.

    T must be a multiple of :data:`EFFICIENTPHYS_SEGMENT`; ``img_size`` S sets the per-pixel
    batch norm (S*S positions) and the dense layer (72 for the released weights).
    """

    def __init__(self, img_size: int = 72, segment: int = EFFICIENTPHYS_SEGMENT) -> None:
        super().__init__()
        self.img_size = check_positive_int(img_size, "img_size")
        self.segment = check_positive_int(segment, "segment")
        *_, pool2 = spatial_sizes(self.img_size)
        self.pixel_norm = nn.BatchNorm1d(self.img_size**2, eps=EFFICIENTPHYS_BN_EPS)
        self.tsm = TSM(self.segment, edge="replicate")
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, kernel_size=3)
        self.attention_conv1 = nn.Conv2d(32, 32, kernel_size=1)
        self.attention_conv2 = nn.Conv2d(64, 64, kernel_size=1)
        self.attention_mask = AttentionMask()
        self.pool = nn.AvgPool2d(2)
        self.dense1 = nn.Linear(64 * pool2 * pool2, 128)
        self.dense2 = nn.Linear(128, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.img_size
        if x.ndim != 5 or x.shape[2:] != (3, s, s) or x.shape[1] % self.segment != 0:
            raise ValueError(
                f"EfficientPhys takes (N, T, 3, {s}, {s}) with T a multiple of {self.segment}, "
                f"got {tuple(x.shape)}"
            )
        n, t = x.shape[:2]
        diff = torch.cat([x[:, 1:] - x[:, :-1], torch.zeros_like(x[:, :1])], dim=1)
        # per-pixel batch norm: (N*T, S*S positions, 3 colours), positions as BatchNorm1d channels
        d = self.pixel_norm(diff.reshape(n * t, 3, s * s).transpose(1, 2))
        d = d.transpose(1, 2).reshape(n * t, 3, s, s)
        d = torch.tanh(self.conv1(self.tsm(d)))
        d = torch.tanh(self.conv2(self.tsm(d)))
        d = self.pool(d * self.attention_mask(torch.sigmoid(self.attention_conv1(d))))
        d = torch.tanh(self.conv3(self.tsm(d)))
        d = torch.tanh(self.conv4(self.tsm(d)))
        d = self.pool(d * self.attention_mask(torch.sigmoid(self.attention_conv2(d))))
        d = torch.tanh(self.dense1(d.flatten(1)))
        return self.dense2(d).reshape(n, t)
