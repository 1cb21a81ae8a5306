"""What flows through the pipeline, and the one place where numpy uint8 frames become torch floats.

Conventions: numpy frames are uint8 RGB (N, H, W, 3); numpy masks are bool (N, H, W), True = missing.
Tensors are float32 in [0, 1], frames NCHW, masks N1HW with 1 = missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from vidrestore.geometry import bounding_box

if TYPE_CHECKING:  # torch costs ~0.5 GB of RSS to import; classical backends never need it
    import torch


#: (flow to the previous frame at flow scale (h, w, 2), its forward-backward validity (h, w))
FlowToPrevious = tuple[np.ndarray, np.ndarray]


@dataclass
class FrameBatch:
    """A run of consecutive frames with their timing and masks, and what stages tell later ones.

    Who writes what: a mask stage sets ``masks``; the detector ORs its finds into ``masks`` and
    keeps them per kind in ``detected``; propagation fills what other frames show, shrinks
    ``masks`` to what is left, and sets ``holes`` (the masks as they came in), ``flow_prev`` and
    ``touched``; the inpainter fills ``masks`` and marks the frames it changed in ``touched``;
    steadying reads ``holes`` and ``flow_prev``; the sink copies frames that are not ``touched``
    from their source files where it can.
    """

    indices: list[int]
    pts: list[int | None]
    time_base: Fraction
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    masks: np.ndarray | None = None  # (N, H, W) bool, True = missing (still to be filled)
    holes: np.ndarray | None = None  # (N, H, W) bool: every hole before propagation filled some
    flow_prev: list[FlowToPrevious | None] | None = None  # per frame; None across a cut
    touched: np.ndarray | None = None  # (N,) bool: a stage changed this frame's pixels
    detected: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> (N, H, W) bool as found

    def __len__(self) -> int:
        return len(self.indices)

    def mark_touched(self, rows: np.ndarray) -> None:
        """Record that the frames at ``rows`` (bool (N,) or indices) were changed."""
        changed = np.zeros(len(self), bool)
        changed[rows] = True
        self.touched = changed if self.touched is None else self.touched | changed

    def ensure_masks(self) -> np.ndarray:
        """Masks of this batch, created empty when no mask stage set them."""
        if self.masks is None:
            n, h, w, _ = self.frames.shape
            self.masks = np.zeros((n, h, w), dtype=bool)
        return self.masks


def frames_to_tensor(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 NCHW in [0, 1] on ``device``."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_frames(tensor: torch.Tensor) -> np.ndarray:
    """float NCHW in [0, 1] -> uint8 (N, H, W, 3), rounded, on the CPU."""
    import torch

    t = tensor.detach().float().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
    return t.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def masks_to_tensor(masks: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """bool (N, H, W) -> float32 N1HW, 1 = missing."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(masks)).to(device).unsqueeze(1).float()


def composite(frames: np.ndarray, fill: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``frames * (1 - mask) + fill * mask`` on uint8: pixels outside the mask are never touched.

    Only each mask's bounding box is visited (a logo is a few percent of a 720p frame)."""
    out = frames.copy()
    for frame, filled, mask in zip(out, fill, masks, strict=True):
        box = bounding_box(mask)
        if box is not None:
            near = np.s_[box[0]:box[1], box[2]:box[3]]
            frame[near] = np.where(mask[near][..., None], filled[near], frame[near])
    return out
