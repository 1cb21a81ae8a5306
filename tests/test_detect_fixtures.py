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


def late_logo_clip(
    n: int = 150,
    height: int = 144,
    width: int = 192,
    logo_from: int = 30,
    gap: tuple[int, int] = (100, 115),
    shot: int = 25,
    still: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip as broadcasts start: 20 black frames, a 10-frame title card, then shots of
    ``shot`` frames (cuts between them; pans unless ``still``, a ball crossing each) with a
    semi-transparent logo from frame ``logo_from`` on, absent during ``gap``.

    Returns (frames uint8 (n, H, W, 3), the logo's visible pixels bool (H, W), present bool (n,)).
    """
    from vidrestore.damage import logo_box, logo_emblem

    rng = np.random.default_rng(seed)
    title = np.full((10, height, width, 3), 24, np.uint8)
    for frame in title:
        cv2.putText(frame, "TITLE", (width // 5, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (230,) * 3, 2)
    parts = [np.zeros((20, height, width, 3), np.uint8), title]
    left, k = n - 30, 0
    while left > 0:
        m = min(shot, left)
        speed, sign = int(rng.integers(2, 5)), int(rng.choice([-1, 1]))
        dx, dy = (0, 0) if still else (speed * sign, int(rng.integers(-2, 3)))
        frames = panning_clip(m, height, width, dx, dy, seed=seed * 100 + k, moving_object=False)
        start, y = int(rng.integers(0, width)), int(rng.integers(height // 4, 3 * height // 4))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        for i in range(m):
            centre = ((start + 7 * i) % (width + 40) - 20, y)
            cv2.circle(frames[i], centre, height // 8, colour, -1, cv2.LINE_AA)
        parts.append(frames)
        left, k = left - m, k + 1
    clip = np.concatenate(parts)[:n].astype(np.float32)
    y, x, bh, bw = logo_box(height, width, rng)
    alpha = np.zeros((height, width), np.float32)
    alpha[y : y + bh, x : x + bw] = logo_emblem(bh, bw, rng)
    present = np.zeros(n, bool)
    present[logo_from:] = True
    present[gap[0] : gap[1]] = False
    out = clip + (alpha[None, :, :, None] * present[:, None, None, None]) * (255 - clip)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), alpha * 255 > 8, present


def still_shot_clip(
    n: int = 120, height: int = 144, width: int = 192, seed: int = 0, walker: bool = True
) -> np.ndarray:
    """A still camera on a textured scene: sensor noise on every frame and, with ``walker``, a
    figure crossing the lower half slowly (a street seen by a fixed camera)."""
    rng = np.random.default_rng(seed)
    scene = texture(height, width, seed).astype(np.float32)
    frames = []
    for i in range(n):
        frame = scene + rng.normal(0, 1.5, scene.shape).astype(np.float32)
        if walker:
            x = int(width * 0.1 + i * (0.8 * width / n))
            cv2.rectangle(frame, (x, height // 2), (x + width // 16, height - height // 8), (40, 35, 60), -1)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)
