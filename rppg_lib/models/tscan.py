"""Convolutional attention networks for rPPG: CAN (DeepPhys), TS-CAN and MTTS-CAN.

All three share one two-branch body (notebook 02_train_tscan):

* the **appearance** branch sees the normalised frame (input channels 3-5) and produces two soft
  spatial attention masks (gate 1 after its second conv, gate 2 after its fourth);
* the **motion** branch sees the normalised frame difference (input channels 0-2); its feature
  maps are multiplied by those masks, pooled, flattened and regressed to the pulse derivative.

TS-CAN adds a Temporal Shift Module (:class:`TSM`) in front of each motion conv: the batch is read
as consecutive segments of ``frame_depth`` frames, and a third of the channels is borrowed from
the next frame, a third from the previous one, so the 2-D convs see time. CAN has no shift.
MTTS-CAN is TS-CAN with a second (respiration) head.

Shapes at ``img_size`` S = 36 (S = 72 in brackets): input (N, 6, 36, 36); after the valid conv
34x34 (70), pooled 17x17 (35), valid conv 15x15 (33), pooled 7x7 (16); flatten 64*7*7 = 3136
(16384). Parameter counts: CAN and TS-CAN 532,899 (2,228,643 at 72), MTTS-CAN 934,564.
"""

from __future__ import annotations

import torch
from torch import nn

from rppg_lib.constants import FRAME_DEPTH
from rppg_lib.validation import check_choice, check_positive_int

__all__ = ["TSM", "AttentionMask", "CAN", "TSCAN", "MTTSCAN", "spatial_sizes"]

TSM_EDGES = ("zero", "replicate")


class TSM(nn.Module):
    """Temporal Shift Module on a batch of frames ``(N, C, H, W)``.

    The batch is a sequence of independent segments of ``frame_depth`` consecutive frames (N must
    be a multiple of it). With ``fold = C // fold_div``: channels ``[0, fold)`` of frame t take
    the values of frame t+1, channels ``[fold, 2*fold)`` take frame t-1, the others are kept.
    Where the neighbour lies outside the segment, ``edge="zero"`` puts zeros (TS-CAN, rPPG-Toolbox)
    and ``edge="replicate"`` keeps the frame's own values (the open-rppg variant).
    """

    def __init__(self, frame_depth: int, fold_div: int = 3, edge: str = "zero") -> None:
        super().__init__()
        self.frame_depth = check_positive_int(frame_depth, "frame_depth")
        self.fold_div = check_positive_int(fold_div, "fold_div")
        self.edge = check_choice(edge, "edge", TSM_EDGES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if n % self.frame_depth != 0:
            raise ValueError(
                f"TSM: the batch size N = {n} is not a multiple of frame_depth = "
                f"{self.frame_depth} (the batch is read as segments of frame_depth frames)"
            )
        fold = c // self.fold_div
        seg = x.reshape(n // self.frame_depth, self.frame_depth, c, h, w)
        ahead, behind, rest = seg[:, :, :fold], seg[:, :, fold : 2 * fold], seg[:, :, 2 * fold :]
        if self.edge == "zero":
            last_pad = torch.zeros_like(ahead[:, -1:])
            first_pad = torch.zeros_like(behind[:, :1])
        else:
            last_pad = ahead[:, -1:]
            first_pad = behind[:, :1]
        # frame t gets frame t+1 in the first fold, frame t-1 in the second
        from_next = torch.cat([ahead[:, 1:], last_pad], dim=1)
        from_prev = torch.cat([first_pad, behind[:, :-1]], dim=1)
        return torch.cat([from_next, from_prev, rest], dim=2).view(n, c, h, w)

    def extra_repr(self) -> str:
        return f"frame_depth={self.frame_depth}, fold_div={self.fold_div}, edge={self.edge!r}"


class AttentionMask(nn.Module):
    """Gate normalisation: ``mask = g / sum_hw(g) * H * W * 0.5`` on ``(N, 1, H, W)``.

    Each frame's mask is rescaled to a spatial mean of exactly 0.5, so the gate redistributes the
    motion features over the image without changing their overall scale.
    """

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        h, w = g.shape[-2:]
        return g / g.sum(dim=(-2, -1), keepdim=True) * (h * w * 0.5)


def spatial_sizes(img_size: int) -> tuple[int, int, int, int]:
    """Side lengths after conv 2 (gate 1), pool 1, conv 4 (gate 2) and pool 2 at ``img_size``.

    ``(34, 17, 15, 7)`` at 36 and ``(70, 35, 33, 16)`` at 72. ValueError when the input is too
    small to leave at least one pixel after the last pooling (``img_size`` < 10).
    """
    img_size = check_positive_int(img_size, "img_size")
    gate1 = img_size - 2
    pool1 = gate1 // 2
    gate2 = pool1 - 2
    pool2 = gate2 // 2
    if pool2 < 1:
        raise ValueError(f"img_size must be at least 10 pixels, got {img_size}")
    return gate1, pool1, gate2, pool2


class _TwoBranchNet(nn.Module):
    """The shared body: appearance and motion branches up to the flattened motion features."""

    def __init__(
        self,
        *,
        frame_depth: int | None,
        img_size: int,
        tsm_edge: str,
        dropout_conv: float,
    ) -> None:
        super().__init__()
        self.img_size = check_positive_int(img_size, "img_size")
        self.frame_depth = None if frame_depth is None else check_positive_int(
            frame_depth, "frame_depth"
        )
        *_, pool2 = spatial_sizes(self.img_size)
        self.flat_features = 64 * pool2 * pool2

        if self.frame_depth is None:  # CAN: no temporal shift
            self.tsm1, self.tsm2, self.tsm3, self.tsm4 = (nn.Identity() for _ in range(4))
        else:
            self.tsm1, self.tsm2, self.tsm3, self.tsm4 = (
                TSM(self.frame_depth, edge=tsm_edge) for _ in range(4)
            )
        # motion branch
        self.motion_conv1 = nn.Conv2d(3, 32, kernel_size=3, padding=1)
        self.motion_conv2 = nn.Conv2d(32, 32, kernel_size=3)
        self.motion_conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.motion_conv4 = nn.Conv2d(64, 64, kernel_size=3)
        # appearance branch and its two 1x1 attention convs
        self.appearance_conv1 = nn.Conv2d(3, 32, kernel_size=3, padding=1)
        self.appearance_conv2 = nn.Conv2d(32, 32, kernel_size=3)
        self.appearance_conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.appearance_conv4 = nn.Conv2d(64, 64, kernel_size=3)
        self.attention_conv1 = nn.Conv2d(32, 1, kernel_size=1)
        self.attention_conv2 = nn.Conv2d(64, 1, kernel_size=1)
        self.attention_mask = AttentionMask()
        self.pool = nn.AvgPool2d(2)
        self.dropout_motion1 = nn.Dropout(dropout_conv)
        self.dropout_appearance = nn.Dropout(dropout_conv)
        self.dropout_motion2 = nn.Dropout(dropout_conv)

    def _check_input(self, x: torch.Tensor) -> None:
        s = self.img_size
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor of shape (N, 6, {s}, {s}), got {type(x)}")
        if x.ndim != 4 or x.shape[1:] != (6, s, s) or x.shape[0] == 0:
            raise ValueError(
                f"x must have shape (N, 6, {s}, {s}) (channels 0-2 motion, 3-5 appearance; "
                f"img_size = {s}), got {tuple(x.shape)}"
            )
        if self.frame_depth is not None and x.shape[0] % self.frame_depth != 0:
            raise ValueError(
                f"the batch size N = {x.shape[0]} must be a multiple of frame_depth = "
                f"{self.frame_depth}: the temporal shift reads the batch as segments of "
                f"frame_depth consecutive frames"
            )

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Flattened gated motion features ``(N, flat_features)`` and the attention masks.

        Masks: ``gate1`` (N, 1, S-2, S-2) and ``gate2`` are the sigmoid outputs before the
        normalisation; ``gate1_normalized`` and ``gate2_normalized`` are what multiplies the
        motion features (spatial mean 0.5).
        """
        self._check_input(x)
        motion, appearance = x[:, :3], x[:, 3:]

        a = torch.tanh(self.appearance_conv1(appearance))
        a = torch.tanh(self.appearance_conv2(a))
        gate1 = torch.sigmoid(self.attention_conv1(a))
        mask1 = self.attention_mask(gate1)
        a = self.dropout_appearance(self.pool(a))
        a = torch.tanh(self.appearance_conv3(a))
        a = torch.tanh(self.appearance_conv4(a))
        gate2 = torch.sigmoid(self.attention_conv2(a))
        mask2 = self.attention_mask(gate2)

        m = torch.tanh(self.motion_conv1(self.tsm1(motion)))
        m = torch.tanh(self.motion_conv2(self.tsm2(m)))
        m = self.dropout_motion1(self.pool(m * mask1))
        m = torch.tanh(self.motion_conv3(self.tsm3(m)))
        m = torch.tanh(self.motion_conv4(self.tsm4(m)))
        m = self.dropout_motion2(self.pool(m * mask2))

        masks = {
            "gate1": gate1,
            "gate2": gate2,
            "gate1_normalized": mask1,
            "gate2_normalized": mask2,
        }
        return m.flatten(1), masks


class _SingleHeadNet(_TwoBranchNet):
    """Body + one head: dense ``dense_units`` tanh, dropout, dense 1."""

    def __init__(
        self,
        *,
        frame_depth: int | None,
        img_size: int,
        dense_units: int,
        tsm_edge: str,
        dropout_conv: float,
        dropout_dense: float,
    ) -> None:
        super().__init__(
            frame_depth=frame_depth, img_size=img_size, tsm_edge=tsm_edge, dropout_conv=dropout_conv
        )
        self.dense_units = check_positive_int(dense_units, "dense_units")
        self.dense1 = nn.Linear(self.flat_features, self.dense_units)
        self.dropout_dense = nn.Dropout(dropout_dense)
        self.dense2 = nn.Linear(self.dense_units, 1)

    def forward(
        self, x: torch.Tensor, return_masks: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pulse derivative per frame, ``(N, 1)``; with ``return_masks`` also the mask dict
        (see :meth:`features`)."""
        flat, masks = self.features(x)
        out = self.dense2(self.dropout_dense(torch.tanh(self.dense1(flat))))
        return (out, masks) if return_masks else out


class CAN(_SingleHeadNet):
    """DeepPhys convolutional attention network: the two-branch body without temporal shift.

    ``dense_units`` is the width of the hidden dense layer (128; the Benefit-of-Distraction
    breathing CAN uses 32). Input ``(N, 6, img_size, img_size)``, output ``(N, 1)``.
    """

    def __init__(
        self,
        img_size: int = 36,
        dense_units: int = 128,
        dropout_conv: float = 0.25,
        dropout_dense: float = 0.5,
    ) -> None:
        super().__init__(
            frame_depth=None,
            img_size=img_size,
            dense_units=dense_units,
            tsm_edge="zero",
            dropout_conv=dropout_conv,
            dropout_dense=dropout_dense,
        )


class TSCAN(_SingleHeadNet):
    """Temporal-shift convolutional attention network (TS-CAN).

    The batch dimension is time: N consecutive frames, N a multiple of ``frame_depth`` (10 in
    MTTS-CAN and rPPG-Toolbox, 20 in open-rppg). ``tsm_edge`` is ``"zero"`` (the original) or
    ``"replicate"`` (open-rppg). Input ``(N, 6, img_size, img_size)``, output ``(N, 1)``.
    """

    def __init__(
        self,
        frame_depth: int = FRAME_DEPTH,
        img_size: int = 36,
        dense_units: int = 128,
        tsm_edge: str = "zero",
        dropout_conv: float = 0.25,
        dropout_dense: float = 0.5,
    ) -> None:
        super().__init__(
            frame_depth=frame_depth,
            img_size=img_size,
            dense_units=dense_units,
            tsm_edge=tsm_edge,
            dropout_conv=dropout_conv,
            dropout_dense=dropout_dense,
        )


class MTTSCAN(_TwoBranchNet):
    """Multi-task TS-CAN: one body, a pulse head and a respiration head.

    ``forward`` returns one ``(N, 2)`` tensor: column 0 the pulse derivative, column 1 the
    respiration derivative (one tensor so that a single MSE against ``(N, 2)`` labels trains both).
    """

    def __init__(
        self,
        frame_depth: int = FRAME_DEPTH,
        img_size: int = 36,
        dense_units: int = 128,
        tsm_edge: str = "zero",
        dropout_conv: float = 0.25,
        dropout_dense: float = 0.5,
    ) -> None:
        super().__init__(
            frame_depth=frame_depth, img_size=img_size, tsm_edge=tsm_edge, dropout_conv=dropout_conv
        )
        self.dense_units = check_positive_int(dense_units, "dense_units")
        self.pulse_dense1 = nn.Linear(self.flat_features, self.dense_units)
        self.pulse_dropout = nn.Dropout(dropout_dense)
        self.pulse_dense2 = nn.Linear(self.dense_units, 1)
        self.resp_dense1 = nn.Linear(self.flat_features, self.dense_units)
        self.resp_dropout = nn.Dropout(dropout_dense)
        self.resp_dense2 = nn.Linear(self.dense_units, 1)

    def forward(
        self, x: torch.Tensor, return_masks: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(N, 2)``: [pulse, respiration] derivative per frame; with ``return_masks`` also the
        mask dict (see :meth:`features`)."""
        flat, masks = self.features(x)
        pulse = self.pulse_dense2(self.pulse_dropout(torch.tanh(self.pulse_dense1(flat))))
        resp = self.resp_dense2(self.resp_dropout(torch.tanh(self.resp_dense1(flat))))
        out = torch.cat([pulse, resp], dim=1)
        return (out, masks) if return_masks else out
