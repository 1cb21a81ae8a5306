"""Flow inside a hole is unknown (it tracks the damage, not the scene): drop it and fill it from
the hole's border, so that hole pixels move with their surroundings (FGVC/ProPainter's flow
completion, done here with a smooth push-pull fill instead of a learned completer).
"""

from __future__ import annotations

import numpy as np

from vidrestore.geometry import bounding_box, grown_box
from vidrestore.push_pull import push_pull_fill


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
    box = bounding_box(hole)
    assert box is not None  # the hole has pixels
    pad = max(8, (box[1] - 1 - box[0] + box[3] - 1 - box[2]) // 4)
    y0, y1, x0, x1 = grown_box(box, pad, hole.shape)
    crop = hole[y0:y1, x0:x1]
    if crop.all():
        return push_pull_fill(flow, hole)
    out = flow.copy()
    out[y0:y1, x0:x1] = push_pull_fill(flow[y0:y1, x0:x1], crop)
    return out
