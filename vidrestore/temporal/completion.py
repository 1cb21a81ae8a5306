"""Flow inside a hole is unknown (it tracks the damage, not the scene): drop it and fill it from
the hole's border, so that hole pixels move with their surroundings (FGVC/ProPainter's flow
completion, done here with a smooth push-pull fill instead of a learned completer).

cv2.inpaint is no help here: on float32 input it does not reproduce even a constant field
(a constant -0.3 comes back as -1.39 at the hole's centre), so the fill is our own.
"""

from __future__ import annotations

import cv2
import numpy as np


def complete_flow(flow: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """float32 (H, W, 2) flow with ``hole`` (bool (H, W)) pixels replaced by a smooth fill.

    A frame that is all hole gets zero flow (nothing to learn the motion from).
    """
    if not hole.any():
        return flow
    if hole.all():
        return np.zeros_like(flow)
    # Only the hole's neighbourhood takes part: the fill comes from the ring around the hole, and
    # working on a crop keeps the cost proportional to the hole, not the frame (a logo at 720p).
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole[rows[0] : rows[-1] + 1].any(axis=0))
    pad = max(8, (rows[-1] - rows[0] + cols[-1] - cols[0]) // 4)
    h, w = hole.shape
    y0, y1 = max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)
    x0, x1 = max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad)
    crop = hole[y0:y1, x0:x1]
    if crop.all():
        return push_pull_fill(flow, hole)
    out = flow.copy()
    out[y0:y1, x0:x1] = push_pull_fill(flow[y0:y1, x0:x1], crop)
    return out


def push_pull_fill(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` pixels of a float (H, W, C) array from the rest; known pixels are kept exactly.

    Push: halve the resolution repeatedly, averaging only known values (weights = coverage).
    Pull: from the coarsest level back up, each level keeps what it knows and takes the rest
    from the bilinear upsampling of the level below, so the fill is smooth and follows the border.
    """
    weight = (~hole).astype(np.float32)
    data = values.astype(np.float32) * weight[..., None]
    pyramid = [(data, weight)]
    while min(pyramid[-1][1].shape) > 2 and pyramid[-1][1].min() <= 0:
        d, w = pyramid[-1]
        size = (max(1, w.shape[1] // 2), max(1, w.shape[0] // 2))
        pyramid.append((cv2.resize(d, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1),
                        cv2.resize(w, size, interpolation=cv2.INTER_AREA)))
    d, w = pyramid[-1]
    filled = d / np.maximum(w, 1e-6)[..., None]
    for d, w in reversed(pyramid[:-1]):
        up = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(w.shape[0], w.shape[1], -1)
        coverage = np.clip(w, 0.0, 1.0)[..., None]
        known = d / np.maximum(w, 1e-6)[..., None]
        filled = coverage * known + (1.0 - coverage) * up
    out = values.astype(np.float32).copy()
    out[hole] = filled[hole]
    return out
