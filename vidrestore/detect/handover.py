"""Run a detector in this process until its worker process has started, then hand over.

A worker takes ~0.2 s to start (a fresh interpreter importing numpy and OpenCV). On a short
clip that is a good share of the whole run, and a detector waiting for it would hold every
frame back. A detector whose decisions read a bounded window of earlier frames (``support``:
the blotch detector's decision for frame t reads t-2 .. t+2 only) can instead start here and
move over at any frame K: the worker is fed from K - support, so that it decides K onwards
exactly as an unbroken run would, while the detector here decides the frames before K.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from vidrestore.detect.worker import PointMask, WorkerDetector

Decided = list[tuple[int, "np.ndarray | PointMask | None"]]


class HandoverDetector:
    """``local`` (a fresh detector of the worker's kind, with ``support``) decides frames until
    the hand-over frame K, ``worker`` decides K onwards. K is the first frame pushed after the
    worker reports ready, or ``handover_at`` when given (tests); if the stream ends first, the
    local detector decides everything and the worker goes unused."""

    prepare_in_order = False

    def __init__(self, local: Any, worker: WorkerDetector, handover_at: int | None = None) -> None:
        self.kind = worker.kind
        self.lookahead = max(local.lookahead, worker.lookahead)
        self._local = local
        self._worker = worker
        self._support: int = local.support
        self._handover_at = handover_at
        self._recent: deque[np.ndarray] = deque(maxlen=self._support)
        self._k: int | None = None  # the hand-over frame, once chosen
        self._count = 0

    @property
    def handover(self) -> int | None:
        """The first frame the worker decides (None: not handed over)."""
        return self._k

    def prepare(self, luma: np.ndarray) -> None:
        return None

    def push(self, luma: np.ndarray, prepared: Any = None) -> Decided:
        t = self._count
        self._count += 1
        out: Decided = []
        if self._k is None and self._time_to_hand_over(t):
            self._k = t
            for earlier in self._recent:  # the worker's first frames: K - support .. K - 1
                out += self._from_worker(self._worker.push(earlier))
            self._recent.clear()
        k = self._k
        if k is None or t < k + self._local.lookahead and k > 0:  # the local one still owes frames < K
            out += [(p, m) for p, m in self._local.push(luma) if k is None or p < k]
        if k is None:
            self._recent.append(luma)
        else:
            out += self._from_worker(self._worker.push(luma))
        return out

    def finish(self) -> Decided:
        k = self._k
        if k is None:
            self._worker.close()
            return self._local.finish()
        out: Decided = []
        if 0 < k and self._count < k + self._local.lookahead:  # the stream ended before the local part
            out += [(p, m) for p, m in self._local.finish() if p < k]
        return out + self._from_worker(self._worker.finish())

    def close(self) -> None:
        self._worker.close()

    def _time_to_hand_over(self, t: int) -> bool:
        if self._handover_at is not None:
            return t >= self._handover_at
        return self._worker.ready

    def _from_worker(self, results: Decided) -> Decided:
        """Worker positions count from K - support; keep K onwards, in stream positions."""
        assert self._k is not None
        first = self._k - min(self._k, self._support)
        return [(p + first, m) for p, m in results if p + first >= self._k]
