"""High bit depth (10/12/16-bit) sources: repair in 8 bits, keep every other pixel at full depth.

Archive masters are often 10-bit ProRes, FFV1 or 16-bit scans. Every stage (masks, flow,
propagation, the GAN) works on 8-bit RGB; the decoder also keeps each frame at 16 bits (``rgb48``)
and the encoder takes the repaired 8-bit pixels only where the repair changed them. A pixel whose
8-bit value the repair left as decoded keeps its full-depth original, so nothing outside the holes
loses depth, and inside them the fill is exact to 8 bits.
"""

from __future__ import annotations

import threading

import av
import numpy as np


def bits_per_component(pix_fmt: str) -> int:
    """Largest component depth of a pixel format (8 for palettes and unknown names)."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return 8
    if fmt.has_palette or not fmt.components:
        return 8
    return max(c.bits for c in fmt.components)


def is_deep(pix_fmt: str) -> bool:
    """Whether frames of this format hold more than 8 bits per component."""
    return bits_per_component(pix_fmt) > 8


def has_alpha(pix_fmt: str) -> bool:
    """Whether a pixel format carries alpha (grey + alpha, or 4 components)."""
    try:
        count = len(av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return False
    return count == 4 or (count == 2 and pix_fmt.startswith("ya"))


def to_8bit(deep: np.ndarray) -> np.ndarray:
    """uint16 -> nearest uint8 level (x / 257 rounded), the inverse of ``to_16bit`` on 8-bit values."""
    return ((deep.astype(np.uint32) + 128) // 257).astype(np.uint8)


def to_16bit(image: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 with 255 -> 65535."""
    return image.astype(np.uint16) * 257


def merge_repair(repaired: np.ndarray, deep: np.ndarray) -> np.ndarray:
    """Full-depth frame: the 16-bit original wherever the 8-bit repair kept the decoded value.

    Where the repair wrote a value equal to the original's rounding the original lies within half an
    8-bit level of it, so keeping the original is never worse than the repair there. An RGBA
    original (a source with alpha) gets its alpha back untouched: the repair is RGB."""
    colour = deep[..., :3]
    kept = repaired == to_8bit(colour)
    merged = np.where(kept, colour, to_16bit(repaired))
    return np.dstack([merged, deep[..., 3]]) if deep.shape[-1] == 4 else merged


class DeepFrames:
    """Full-depth originals (RGB, or RGBA for sources with alpha) of the frames between decoder and
    encoder, by frame index.

    Filled by the decode thread and emptied by the encode thread, so it holds only the frames in
    flight: memory stays bounded by the pipeline's queues, not by the length of the video."""

    def __init__(self) -> None:
        self._frames: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def put(self, index: int, deep: np.ndarray) -> None:
        with self._lock:
            self._frames[index] = deep

    def pop(self, index: int) -> np.ndarray | None:
        with self._lock:
            return self._frames.pop(index, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
