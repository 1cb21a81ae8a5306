"""What the detection stage found, for people: a short text report and a tinted preview."""

from __future__ import annotations

import numpy as np

#: preview tint per kind, RGB
TINTS = {"scratch": (255, 40, 40), "blotch": (40, 220, 255), "logo": (255, 200, 0)}


def format_report(summary: dict[str, float], frames: int) -> str:
    """One line per kind: share of pixels flagged, e.g. for ``--detect-only-report``."""
    lines = [f"detected damage over {frames} frame{'s' if frames != 1 else ''}:"]
    for kind, share in summary.items():
        lines.append(f"  {kind:<8} {share * 100:8.4f} % of pixels")
    return "\n".join(lines)


def tint_detected(frames: np.ndarray, detected: dict[str, np.ndarray], strength: float = 0.6) -> np.ndarray:
    """Frames uint8 (N, H, W, 3) with each kind's detected pixels (bool (N, H, W)) tinted."""
    out = frames.astype(np.float32)
    for kind, masks in detected.items():
        colour = np.asarray(TINTS.get(kind, (255, 0, 255)), dtype=np.float32)
        sel = masks.astype(bool)
        out[sel] = out[sel] * (1 - strength) + colour * strength
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
