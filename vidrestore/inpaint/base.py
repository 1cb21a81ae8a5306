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
    """

    name: str

    def inpaint(self, frames: np.ndarray, masks: np.ndarray) -> np.ndarray: ...
