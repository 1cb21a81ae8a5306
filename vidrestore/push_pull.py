"""A smooth fill of float arrays from their known pixels (push-pull), shared by the stages that need
one: flow completion inside holes and the generator's seam smoothing.

cv2.inpaint is no help for float data: on float32 input it does not reproduce even a constant
field (a constant -0.3 comes back as -1.39 at the hole's centre), so the fill is our own.
"""

from __future__ import annotations

import cv2
import numpy as np


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
