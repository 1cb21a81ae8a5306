"""OpenCV diffusion inpainting (Telea 2004, Navier-Stokes): fast, no weights, the baseline to beat."""

from __future__ import annotations

import cv2
import numpy as np

from vidrestore.geometry import margin_box

_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


class ClassicalInpainter:
    """Per-frame OpenCV inpainting, run only on a crop around the holes to save time."""

    def __init__(self, method: str = "telea", radius: int = 5) -> None:
        if method not in _FLAGS:
            raise ValueError(f"unknown classical method {method!r}")
        self.name = method
        self.radius = radius
        self._flag = _FLAGS[method]

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        # ``edges`` is not needed: Telea and Navier-Stokes never blend with the hole's own pixels.
        out = frames.copy()
        for i in range(len(frames)):
            self._fill_into(out[i], frames[i], masks[i])
        return out

    def inpaint_one(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Inpaint one RGB frame; only the bounding box of the mask plus a margin is processed."""
        out = frame.copy()
        self._fill_into(out, frame, mask)
        return out

    def _fill_into(self, out: np.ndarray, frame: np.ndarray, mask: np.ndarray) -> None:
        """Write ``frame``'s fill into ``out`` (a copy of it) around ``mask``; nothing for no hole."""
        box = margin_box(mask, 2 * self.radius + 2)
        if box is None:
            return
        y0, y1, x0, x1 = box
        crop_mask = mask[y0:y1, x0:x1].astype(np.uint8) * 255
        out[y0:y1, x0:x1] = cv2.inpaint(
            np.ascontiguousarray(frame[y0:y1, x0:x1]), crop_mask, self.radius, self._flag
        )
