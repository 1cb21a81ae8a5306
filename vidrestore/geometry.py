"""Boxes around the True pixels of masks: where the work on a hole happens.

Most stages only need to look at a hole and a margin around it (its context, the reach of its
flow, the ring a texture is copied from); one definition keeps them from drifting apart.
Boxes are ``(y0, y1, x0, x1)``, end exclusive.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def bounding_box(mask: np.ndarray) -> Box | None:
    """The box of the True pixels of a bool (H, W) mask, or None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def grown_box(box: Box, margin: int, shape: tuple[int, ...]) -> Box:
    """``box`` grown by ``margin`` on each side, kept inside an image of ``shape`` (H, W, ...)."""
    h, w = shape[:2]
    return max(0, box[0] - margin), min(h, box[1] + margin), max(0, box[2] - margin), min(w, box[3] + margin)


def margin_box(mask: np.ndarray, margin: int) -> Box | None:
    """The box of ``mask``'s True pixels grown by ``margin`` inside the image; None for no pixel."""
    box = bounding_box(mask)
    return None if box is None else grown_box(box, margin, mask.shape)
