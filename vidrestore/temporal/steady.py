"""Keep hallucinated fill steady: blend each frame's inpainted pixels with the previous repaired
frame warped along the flow, so what no frame shows does not flicker from one frame to the next.

Runs after the inpainter. Only pixels still in the mask after propagation (what the inpainter
invented) are touched, and only where the flow to the previous frame passed its check; nothing
is carried across a scene cut (the propagation stage gives no flow there).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vidrestore.frames import FrameBatch
from vidrestore.geometry import Box, bounding_box
from vidrestore.temporal.points import follow_flow, sample_points


class SteadyFill:
    """Pipeline stage: ``out_t = (1 - a) * fill_t + a * warp(out_{t-1})`` inside the remaining holes."""

    lookahead = 0

    def __init__(self, strength: float = 0.95, propagated_strength: float = 0.5) -> None:
        self.strength = strength
        self.propagated_strength = propagated_strength
        self._previous: np.ndarray | None = None
        self._previous_index = -2

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            flows = batch.flow_prev or [None] * len(batch)
            masks = batch.ensure_masks()
            holes = batch.holes
            for i, index in enumerate(batch.indices):
                flow = flows[i]
                box = bounding_box(masks[i] if holes is None else holes[i])  # holes: before propagation
                if (flow is not None and box is not None and self._previous is not None
                        and self._previous_index == index - 1):
                    near = np.s_[box[0]:box[1], box[2]:box[3]]
                    self._blend(batch.frames[i], masks[i][near], box, flow, self._previous, self.strength)
                    if holes is not None and self.propagated_strength > 0:
                        self._blend(batch.frames[i], holes[i][near] & ~masks[i][near], box, flow,
                                    self._previous, self.propagated_strength)
                self._previous, self._previous_index = batch.frames[i].copy(), index
            yield batch

    def _blend(self, frame: np.ndarray, hole: np.ndarray, box: Box, flow: tuple[np.ndarray, np.ndarray],
               previous: np.ndarray, strength: float) -> None:
        """Blend the pixels of ``hole`` (a crop of the frame's mask at ``box``) with ``previous``."""
        ys, xs = np.nonzero(hole)
        if ys.size == 0:
            return
        ys, xs = ys + box[0], xs + box[2]
        tx, ty, ok = follow_flow(flow[0], flow[1], xs, ys, frame.shape[:2])
        if not ok.any():
            return
        carried = sample_points(previous, tx[ok], ty[ok]).astype(np.float32)
        current = frame[ys[ok], xs[ok]].astype(np.float32)
        mixed = (1 - strength) * current + strength * carried
        frame[ys[ok], xs[ok]] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
