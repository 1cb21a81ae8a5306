"""The single interface every hole-filling backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Inpainter(Protocol):
    """Fills the masked pixels of a batch of frames.

    ``frames``: uint8 (N, H, W, 3) RGB; ``masks``: bool (N, H, W), True = missing.
    Returns uint8 (N, H, W, 3). Only masked pixels carry meaning; the pipeline composites
    the result so that every pixel outside the mask stays exactly as decoded.
    Frames whose mask is empty may be returned unchanged at no cost.
    ``edges`` (optional, bool (N, H, W) containing ``masks``): the holes as the user gave them
    (grown), when ``masks`` is only what is left of them after temporal propagation. Their border
    is where the frame is clean; inside them, outside ``masks``, pixels are real but the ones next
    to ``masks`` are damage. A backend that blends its fill with the frame must do so only there.
    """

    name: str

    def inpaint(
        self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None
    ) -> np.ndarray: ...
