"""Scene-cut test between consecutive frames: nothing is propagated or smoothed across a cut."""

from __future__ import annotations

import cv2
import numpy as np

THUMB = (64, 36)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A tiny grey float32 copy of an RGB (or already grey (H, W)) frame, the input of ``is_cut``."""
    grey = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def is_cut(thumb_a: np.ndarray, thumb_b: np.ndarray, threshold: float = 0.45) -> bool:
    """True when two thumbnails look like different shots.

    Compares grey-level histograms (Bhattacharyya distance), which motion barely moves but a cut
    to another shot changes a lot; a large mean absolute difference alone is not enough, since a
    fast pan also changes most pixels.
    """
    ha = cv2.calcHist([thumb_a], [0], None, [32], [0, 256])
    hb = cv2.calcHist([thumb_b], [0], None, [32], [0, 256])
    cv2.normalize(ha, ha)
    cv2.normalize(hb, hb)
    distance = cv2.compareHist(ha, hb, cv2.HISTCMP_BHATTACHARYYA)
    return bool(distance > threshold)
