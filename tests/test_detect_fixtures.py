"""Synthetic clips for the detector tests: textured scenes with camera pans, fast objects, cuts.

No tests here; the detector test modules import these helpers.
"""

from __future__ import annotations

import cv2
import numpy as np


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A natural-looking RGB texture: smooth shapes, mid-scale blobs and fine grain."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((32, 70.0), (8, 40.0), (2, 18.0)):
        small = rng.normal(0, 1, (height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        out += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out + 128, 0, 255).astype(np.uint8)


def panning_clip(
    n: int = 24,
    height: int = 120,
    width: int = 160,
    dx: int = 3,
    dy: int = 1,
    seed: int = 0,
    moving_object: bool = True,
) -> np.ndarray:
    """A camera pan over a textured scene (``dx``, ``dy`` px per frame) with a disc crossing it fast."""
    big = texture(height + abs(dy) * n + 8, width + abs(dx) * n + 8, seed)
    frames = []
    for i in range(n):
        x = 4 + (i * dx if dx >= 0 else (n - i) * -dx)
        y = 4 + (i * dy if dy >= 0 else (n - i) * -dy)
        frame = big[y : y + height, x : x + width].copy()
        if moving_object:
            cx = int((i * 9) % (width + 40)) - 20
            cv2.circle(frame, (cx, height // 2), max(4, height // 8), (230, 210, 60), -1, cv2.LINE_AA)
        frames.append(frame)
    return np.stack(frames)


def tolerant_scores(pred: np.ndarray, true: np.ndarray, tol: int = 2) -> tuple[float, float]:
    """(recall, precision) of bool (T, H, W) masks, a pixel counting when within ``tol`` px."""
    kernel = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    found = total = right = flagged = 0
    for p, t in zip(pred, true, strict=True):
        near_true = cv2.dilate(t.astype(np.uint8), kernel).astype(bool)
        near_pred = cv2.dilate(p.astype(np.uint8), kernel).astype(bool)
        found += int((t & near_pred).sum())
        total += int(t.sum())
        right += int((p & near_true).sum())
        flagged += int(p.sum())
    return found / max(total, 1), right / max(flagged, 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))
