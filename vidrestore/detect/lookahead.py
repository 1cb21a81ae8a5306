"""In-order decisions for streaming detectors that need later frames before deciding a frame."""

from __future__ import annotations

import numpy as np


class LookaheadDecisions:
    """Frames are pushed in order; frame t is decided once ``lookahead`` later frames are in, or at
    the end of the stream. Subclasses keep ``_count`` (frames pushed) and ``_next`` (next to decide)."""

    lookahead: int
    _count: int
    _next: int

    def _decide(self, t: int) -> np.ndarray | None:
        raise NotImplementedError

    def _ready(self, final: bool = False) -> list[tuple[int, np.ndarray | None]]:
        """(position, mask) of every frame that can be decided now (all of them when ``final``)."""
        until = self._count if final else self._count - self.lookahead
        out = []
        while self._next < until:
            out.append((self._next, self._decide(self._next)))
            self._next += 1
        return out
