"""What the detection stage found, for people: a tinted preview (scratch red, blotch green, logo blue)."""

from __future__ import annotations

import numpy as np

#: preview tint per kind, RGB
TINTS = {"scratch": (255, 40, 40), "blotch": (40, 255, 40), "logo": (60, 120, 255)}


def tint_detected(frames: np.ndarray, detected: dict[str, np.ndarray], strength: float = 0.6) -> np.ndarray:
    """Frames uint8 (N, H, W, 3) with each kind's detected pixels (bool (N, H, W)) tinted."""
    out = frames.astype(np.float32)
    for kind, masks in detected.items():
        colour = np.asarray(TINTS.get(kind, (255, 0, 255)), dtype=np.float32)
        sel = masks.astype(bool)
        out[sel] = out[sel] * (1 - strength) + colour * strength
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

