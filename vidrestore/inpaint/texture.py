"""Texture for invented pixels: fine detail copied from the frame's own known pixels.

A small generator trained on little data fills large holes with the mean of what could be there,
and the mean of many textures is a smear (grass becomes a flat green patch). Here the fill keeps
its coarse content (its low frequencies: colour, shading, the lines it continues) and its fine
detail is replaced by detail copied from known pixels nearby whose coarse neighbourhood looks
the same: for patches on a grid over the hole, the nearest known patch by its blurred 3x3-sample
descriptor (OpenCV FLANN), its high frequencies overlap-added with a Hann window. ``strength``
scales the change: 1 swaps the fill's detail for the copied detail, 0 leaves the fill as it is.
Nothing is learned and nothing is downloaded; the pixels outside the hole are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidrestore.geometry import margin_box
from vidrestore.inpaint.base import Inpainter

SIGMA = 2.0  # the blur that separates coarse content from detail (pixels)
PATCH = 8  # detail is copied in patches of this side...
STEP = 4  # ...placed every this many pixels over the hole (half overlap)


def add_texture(frame: np.ndarray, hole: np.ndarray, strength: float) -> np.ndarray:
    """``frame`` (uint8 RGB, the hole already filled) with copied detail in ``hole`` (bool)."""
    if strength <= 0 or not hole.any():
        return frame
    thick = float(cv2.distanceTransform(np.pad(hole, 1).view(np.uint8), cv2.DIST_L2, 3).max())
    reach = int(max(24, 2 * thick))  # where known pixels are looked for, around the hole
    y0, y1, x0, x1 = margin_box(hole, reach)  # type: ignore[misc]  # the hole has pixels
    image = frame[y0:y1, x0:x1].astype(np.float32)
    region = hole[y0:y1, x0:x1]
    coarse = cv2.GaussianBlur(image, (0, 0), SIGMA)
    detail = image - coarse
    copied, weight = _copied_detail(coarse, detail, region)
    if copied is None:
        return frame
    inside = region & (weight > 1e-3)
    out = frame.copy()
    patch = out[y0:y1, x0:x1].astype(np.float32)
    patch[inside] += strength * (copied[inside] - detail[inside])
    out[y0:y1, x0:x1] = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
    return out


def _copied_detail(
    coarse: np.ndarray, detail: np.ndarray, hole: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """Detail for the hole's pixels copied from known patches, and the window weight it got."""
    h, w = hole.shape
    half = PATCH // 2
    small = cv2.resize(coarse, (max(3, w // 2), max(3, h // 2)), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]

    def descriptors(py: np.ndarray, px: np.ndarray) -> np.ndarray:
        cy, cx = np.clip(py // 2, 1, sh - 2), np.clip(px // 2, 1, sw - 2)
        return np.concatenate([small[cy + dy, cx + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=1)

    # known patches: every 3rd pixel whose whole patch (and a margin) lies outside the hole
    clear = ~cv2.dilate(hole.view(np.uint8), np.ones((PATCH + 3, PATCH + 3), np.uint8)).astype(bool)
    ky, kx = np.mgrid[half : h - half : 3, half : w - half : 3]
    keep = clear[ky, kx]
    ky, kx = ky[keep], kx[keep]
    # patches to fill: on a grid, wherever a patch touches the hole
    qy, qx = np.mgrid[0:h:STEP, 0:w:STEP]
    touch = cv2.dilate(hole.view(np.uint8), np.ones((PATCH + 1, PATCH + 1), np.uint8)).astype(bool)
    want = touch[qy, qx]
    qy, qx = qy[want], qx[want]
    if ky.size < 8 or qy.size == 0:
        return None, np.zeros(hole.shape, np.float32)
    cv2.setRNGSeed(0)  # FLANN's randomised trees: the same frame gives the same matches
    index = cv2.flann_Index(descriptors(ky, kx).astype(np.float32), {"algorithm": 1, "trees": 2})
    nearest, _ = index.knnSearch(descriptors(qy, qx).astype(np.float32), 1, params={"checks": 32})
    sy, sx = ky[nearest.ravel()], kx[nearest.ravel()]
    # overlap-add, one window offset at a time (vectorised over patches; for one offset no two
    # patches of the grid land on the same pixel, so plain indexed adds are exact); padded so edges fit
    window = np.outer(np.hanning(PATCH + 2)[1:-1], np.hanning(PATCH + 2)[1:-1]).astype(np.float32)
    acc = np.zeros((h + PATCH, w + PATCH, 3), np.float32)
    weight = np.zeros((h + PATCH, w + PATCH), np.float32)
    for dy in range(PATCH):
        for dx in range(PATCH):
            source = detail[sy - half + dy, sx - half + dx]
            ty, tx = qy + dy, qx + dx  # target - half, shifted by the padding (half)
            acc[ty, tx] += source * window[dy, dx]
            weight[ty, tx] += window[dy, dx]
    acc, weight = acc[half : half + h, half : half + w], weight[half : half + h, half : half + w]
    return acc / np.maximum(weight, 1e-6)[..., None], weight


@dataclass
class TexturedInpainter:
    """Any inpainter, with copied detail added to what it invented (``add_texture``)."""

    inner: Inpainter
    strength: float = 0.6

    @property
    def name(self) -> str:
        return self.inner.name

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        out = self.inner.inpaint(frames, masks, edges)
        for i in range(len(out)):
            out[i] = add_texture(out[i], masks[i], self.strength)
        return out
