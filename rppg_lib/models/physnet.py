"""PhysNet (Yu et al., BMVC 2019) as open-rppg trained it: a 3-D convolutional network from a clip
of face crops to one pulse value per frame.

The layout follows open-rppg's Keras model: a 1x5x5 stem, eight 3x3x3 blocks (each Conv3d, batch
norm, ReLU) with a 2x2 spatial max-pool after blocks 1 and 7 and a 2x2x2 space-time max-pool after
blocks 3 and 5, two 4x1x1 transposed convs back to the full frame rate (batch norm, ELU), a 2x2
spatial average and a 1x1x1 conv to one channel. At 32x32 crops the spatial map is 1x1 at the end.
The clip is standardised on the way in (per colour channel over time and space) and the output
twice on the way out, as the release does; the batch norms hold their running statistics
(Keras' epsilon 1e-3).
"""

from __future__ import annotations

import torch
from torch import nn

from rppg_lib.validation import check_positive_int

__all__ = ["PhysNet", "PHYSNET_BN_EPS", "standardise"]

PHYSNET_BN_EPS = 1e-3  # Keras BatchNormalization's default epsilon


def standardise(x: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` over ``dims``, population std (as Keras' ``ops.std``)."""
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, correction=0)
    return (x - mean) / (std + eps)


def _block(cin: int, cout: int, kernel: tuple[int, int, int]) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)  # Keras 'same' for odd kernels, stride 1
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, padding=padding),
        nn.BatchNorm3d(cout, eps=PHYSNET_BN_EPS),
        nn.ReLU(),
    )


def _upsample(channels: int) -> nn.Sequential:
    # Keras Conv3DTranspose(4x1x1, stride 2x1x1, 'same') doubles T exactly as padding 1 does
    return nn.Sequential(
        nn.ConvTranspose3d(channels, channels, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
        nn.BatchNorm3d(channels, eps=PHYSNET_BN_EPS),
        nn.ELU(),
    )


class PhysNet(nn.Module):
    """PhysNet on ``(N, 3, T, S, S)`` RGB clips in [0, 1] -> ``(N, T)`` standardised pulse.

    T must be a multiple of 4 (two temporal poolings, then two doublings); S = 32 leaves a 1x1
    map (other sizes give ``(N, T * (S // 32) ** 2)``, not what the weights were trained for).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        width = check_positive_int(width, "width")
        self.blocks = nn.ModuleList(
            [_block(3, 16, (1, 5, 5)), _block(16, 32, (3, 3, 3)), _block(32, width, (3, 3, 3))]
            + [_block(width, width, (3, 3, 3)) for _ in range(6)]
        )
        self.upsample1 = _upsample(width)
        self.upsample2 = _upsample(width)
        self.head = nn.Conv3d(width, 1, 1)
        self.pool_space = nn.MaxPool3d((1, 2, 2))
        self.pool_spacetime = nn.MaxPool3d(2)
        self.average_space = nn.AvgPool3d((1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] % 4 != 0:
            raise ValueError(
                f"PhysNet takes (N, 3, T, S, S) with T a multiple of 4, got {tuple(x.shape)}"
            )
        x = standardise(x, (2, 3, 4), 1e-6)
        # pooling after blocks 1, 3, 5 and 7 (counting from 1)
        pools = {0: self.pool_space, 2: self.pool_spacetime, 4: self.pool_spacetime}
        pools[6] = self.pool_space
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in pools:
                x = pools[i](x)
        x = self.upsample2(self.upsample1(x))
        x = self.head(self.average_space(x))
        # Keras flattens channels-last (T, H, W, 1): time outermost, as here for a 1x1 map
        x = x[:, 0].flatten(1)
        # the release standardises twice: once in the network, once in a decorator
        return standardise(standardise(x, (1,), 0.0), (1,), 1e-6)
