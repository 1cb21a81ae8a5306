"""Following pixels along a flow field and sampling images at the points they land on.

Shared by propagation (which borrows pixels along flows) and steadying (which blends along the
flow to the previous frame); also the small mask helpers both use around a hole.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidrestore.geometry import bounding_box


def follow_flow(
    flow: np.ndarray, valid: np.ndarray, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where full-resolution pixels (xs, ys) land along a small-scale flow, and whether reliably.

    Returns target x, target y (float, full resolution) and a bool per pixel: the flow passed the
    forward-backward check there and the target is inside the frame.
    """
    h, w = shape
    sh, sw = flow.shape[:2]
    fx = (xs + 0.5) * (sw / w) - 0.5
    fy = (ys + 0.5) * (sh / h) - 0.5
    sampled = sample_points(flow, fx, fy)
    ok = valid[np.clip(np.round(fy).astype(int), 0, sh - 1), np.clip(np.round(fx).astype(int), 0, sw - 1)]
    tx = xs + sampled[:, 0] * (w / sw)
    ty = ys + sampled[:, 1] * (h / sh)
    ok &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return tx, ty, ok


def sample_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at float positions (x, y) -> (N, C), borders repeated.

    cv2.remap takes maps of fewer than 32767 rows, so the points go in as a (rows, 1024) block.
    """
    n = x.size
    cols = 1024
    rows = max(1, -(-n // cols))
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, -1)[:n]


def hide_hole(grey: np.ndarray, hole: np.ndarray, radius: int = 3) -> np.ndarray:
    """``grey`` (uint8 (H, W)) with ``hole`` smoothly filled (Telea), working on a crop around it."""
    box = bounding_box(hole)
    if box is None:
        return grey
    h, w = hole.shape
    m = 2 * radius + 2
    y0, y1, x0, x1 = max(0, box[0] - m), min(h, box[1] + m), max(0, box[2] - m), min(w, box[3] + m)
    out = grey.copy()
    out[y0:y1, x0:x1] = cv2.inpaint(np.ascontiguousarray(grey[y0:y1, x0:x1]),
                                    hole[y0:y1, x0:x1].astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return out


def grow(mask: np.ndarray, box: tuple[int, int, int, int], radius: int) -> np.ndarray:
    """``mask`` dilated by a (2 radius + 1) square, working only around ``box`` (its True pixels)."""
    h, w = mask.shape
    y0, y1 = max(0, box[0] - radius), min(h, box[1] + radius)
    x0, x1 = max(0, box[2] - radius), min(w, box[3] + radius)
    out = np.zeros_like(mask)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1].view(np.uint8), kernel).astype(bool)
    return out
