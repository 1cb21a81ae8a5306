"""Burned-in logo and watermark detection from long-run temporal statistics.

A semi-transparent overlay is fixed to the frame while the content behind it moves. Over many
frames (the first ``frames`` of the clip, on a luma no wider than 640 px) three running sums
tell it apart:

- the mean gradient *vector*: moving content points every which way and averages out, an
  edge passing by is there for a share of the frames only, a fixed edge adds up every frame
  (stability = |mean gradient|^2 / mean |gradient|^2);
- the temporal spread of the luma: behind a logo of opacity a the content still moves, but
  its spread is scaled by (1 - a); static scenery barely spreads at all;
- so a logo is a region bounded by coherent fixed edges, with moving content both outside and,
  dimmed, inside. Static scenery (no motion outside) and windows onto a moving scene (motion
  inside, none outside) are refused.

The result is one static mask, the filled outline of each overlay found.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 640
#: pixels around a component's box that its tests may reach (the ring's 4, and a margin)
ROI_MARGIN = 8


@dataclass(frozen=True)
class LogoSettings:
    """Thresholds for the long-run statistics (luma levels at the working scale)."""

    stability: float = 0.6  # |mean gradient|^2 / mean |gradient|^2 of a fixed edge
    edge: float = 24.0  # |mean Sobel gradient| of a fixed edge
    weak_stability: float = 0.35  # the same for a faint fixed edge joined to a strong one...
    weak_edge: float = 1 / 3  # ...whose mean gradient may be this share of ``edge``
    motion: float = 6.0  # temporal spread of the content around a logo
    dimming: tuple[float, float] = (0.1, 0.85)  # spread inside / spread outside
    closure: float = 0.5  # share of the outline of a region that must run along fixed edges
    solidity: float = 0.6  # share of a region left after a 5x5 erosion: a plate, not a sliver
    min_area: float = 0.0005  # share of the frame
    max_area: float = 0.1
    min_frames: int = 8  # fewer frames than this: no decision (empty mask)

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> LogoSettings:
        """Higher sensitivity: weaker and less coherent edges count; 1.0 is the default."""
        s = max(float(sensitivity), 1e-3)
        stability = min(0.95, 0.6 / s**0.5)
        return cls(stability=stability, edge=24.0 / s, weak_stability=min(stability, 0.35 / s**0.5))


class LogoStatistics:
    """Running sums over frames at the working scale; memory is a few float images."""

    def __init__(self) -> None:
        self.count = 0
        self._shape: tuple[int, int] | None = None
        self._sums: dict[str, np.ndarray] = {}
        self._gradients: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, luma: np.ndarray) -> None:
        """Add one full-resolution uint8 luma frame."""
        h, w = luma.shape
        if self._shape is None:
            self._shape = (h, w)
        small = _work_scale(luma)
        if not self._sums:
            self._sums = {k: np.zeros(small.shape, np.float32) for k in ("gx", "gy", "g2", "v", "v2")}
            self._gradients = (np.empty(small.shape, np.float32), np.empty(small.shape, np.float32))
        # into the same two buffers every frame: fresh ones cost page faults each time
        gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, dst=self._gradients[0], ksize=3)
        gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, dst=self._gradients[1], ksize=3)
        s = self._sums
        cv2.accumulate(gx, s["gx"])
        cv2.accumulate(gy, s["gy"])
        cv2.accumulateSquare(gx, s["g2"])
        cv2.accumulateSquare(gy, s["g2"])
        cv2.accumulate(small, s["v"])
        cv2.accumulateSquare(small, s["v2"])
        self.count += 1

    def find(self, settings: LogoSettings) -> np.ndarray | None:
        """The static overlay mask at full resolution (bool (H, W)), or None when none is found
        or too few frames were seen."""
        if self._shape is None or self.count < settings.min_frames:
            return None
        n = float(self.count)
        s = self._sums
        mean_gx, mean_gy = s["gx"] / n, s["gy"] / n
        mean_g2 = mean_gx * mean_gx + mean_gy * mean_gy
        # |E[g]|^2 / E[|g|^2]: 1 for an edge that never moves, the share of frames it is there
        # for an edge passing by, ~0 for texture moving past
        stability = mean_g2 / (s["g2"] / n + 1e-3)
        mean = s["v"] / n
        spread = np.sqrt(np.maximum(s["v2"] / n - mean * mean, 0.0))
        strong = (stability > settings.stability) & (mean_g2 > settings.edge**2)
        # hysteresis: where the plate's colour is close to the content behind it, its outline
        # is a faint fixed edge; faint fixed edges count when they connect to strong ones
        weak = (stability > settings.weak_stability) & (mean_g2 > (settings.edge * settings.weak_edge) ** 2)
        edges = _connected_to(weak | strong, strong).astype(np.uint8)
        found = _overlay_regions(edges, spread, settings)
        if found is None:
            return None
        h, w = self._shape
        full = cv2.resize(found.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        return full.astype(bool)


class LogoDetector:
    """Streaming logo detector: push luma frames in order, get (position, mask) back.

    Statistics are gathered over the first ``frames`` frames; until then nothing comes out
    (``lookahead`` = ``frames``). After the decision every frame gets the same static mask.
    """

    kind = "logo"
    prepare_in_order = True

    def __init__(
        self, sensitivity: float = 1.0, frames: int = 60, settings: LogoSettings | None = None
    ) -> None:
        if frames < 1:
            raise ValueError("logo frames must be at least 1")
        self.settings = settings or LogoSettings.from_sensitivity(sensitivity)
        self.frames = frames
        self.lookahead = frames
        self._stats = LogoStatistics()
        self._pending: list[int] = []
        self._mask: np.ndarray | None = None
        self._decided = False
        self._count = 0
        self._prepared = 0  # frames seen by ``prepare``

    @property
    def mask(self) -> np.ndarray | None:
        """The static mask once decided (None before, or when no overlay was found)."""
        return self._mask

    def prepare(self, luma: np.ndarray) -> bool:
        """Add the frame to the statistics while the window lasts (resize, Sobel, running sums:
        OpenCV calls, which the stage may run in a worker thread ahead of ``push``; called once
        per frame, in order)."""
        self._prepared += 1
        if self._prepared <= self.frames:
            self._stats.add(luma)
        return True

    def push(self, luma: np.ndarray, prepared: bool | None = None) -> list[tuple[int, np.ndarray | None]]:
        """Add the next frame's luma (uint8 (H, W)) (``prepared``: ``prepare`` already saw it);
        returns (position, mask) for the frames that became decidable, mask None where nothing
        was found."""
        if prepared is None:
            self.prepare(luma)
        position = self._count
        self._count += 1
        if self._decided:
            return [(position, self._mask)]
        self._pending.append(position)
        if len(self._pending) >= self.frames:
            return self._decide()
        return []

    def finish(self) -> list[tuple[int, np.ndarray | None]]:
        """Decide on what there is when the clip is shorter than the window."""
        return [] if self._decided else self._decide()

    def _decide(self) -> list[tuple[int, np.ndarray | None]]:
        self._mask = self._stats.find(self.settings)
        self._decided = True
        self._stats = LogoStatistics()  # free the sums
        out = [(p, self._mask) for p in self._pending]
        self._pending = []
        return out


def _work_scale(luma: np.ndarray) -> np.ndarray:
    h, w = luma.shape
    if w <= WORK_WIDTH:
        return luma
    return cv2.resize(luma, (WORK_WIDTH, max(1, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)


def _connected_to(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pixels of ``candidates`` (bool) in 8-connected groups that hold a ``seeds`` pixel."""
    count, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[labels[seeds & candidates]] = True
    keep[0] = False
    return keep[labels]


def _overlay_regions(edges: np.ndarray, spread: np.ndarray, s: LogoSettings) -> np.ndarray | None:
    """Fill each closed group of fixed edges and keep those that look like an overlay."""
    h, w = edges.shape
    # an emblem's outline, letters and broken bits of edge are one overlay: group what is near
    reach = max(3, round(0.015 * w))
    grouped = cv2.dilate(edges, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    labels = np.where(edges > 0, labels, 0)
    out = np.zeros((h, w), dtype=np.uint8)
    area_total = float(h * w)
    near_edges = cv2.dilate(edges, np.ones((5, 5), np.uint8)).astype(bool)
    ring_kernel = np.ones((9, 9), np.uint8)
    for i in range(1, count):
        x, y, cw, ch, _ = stats[i]
        if cw * ch < s.min_area * area_total or cw * ch > 4 * s.max_area * area_total:
            continue
        # the work below in the component's box plus the ring's reach (and a margin): the same
        # result as over the whole frame, where the box meets the frame's edge too
        roi = (
            slice(max(0, y - ROI_MARGIN), y + ch + ROI_MARGIN),
            slice(max(0, x - ROI_MARGIN), x + cw + ROI_MARGIN),
        )
        points = cv2.findNonZero((labels[roi] == i).astype(np.uint8))
        hull = np.zeros(labels[roi].shape, dtype=np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        area = float(hull.sum())
        if not s.min_area * area_total <= area <= s.max_area * area_total:
            continue
        inner = cv2.erode(hull, np.ones((5, 5), np.uint8)).astype(bool)
        ring = (cv2.dilate(hull, ring_kernel) - cv2.dilate(hull, np.ones((3, 3), np.uint8))).astype(bool)
        if inner.sum() < s.solidity * area or ring.sum() < 4:
            continue  # a sliver along one edge, not a region
        # an overlay is bounded by its fixed edges: most of the hull's outline runs along them
        outline = (hull - cv2.erode(hull, np.ones((3, 3), np.uint8))).astype(bool)
        outside = float(np.median(spread[roi][ring]))
        inside = float(np.median(spread[roi][inner]))
        if near_edges[roi][outline].mean() < s.closure:
            continue
        # content must move around it, and still move, dimmed, behind it
        if outside < s.motion:
            continue
        ratio = inside / outside
        if not s.dimming[0] <= ratio <= s.dimming[1]:
            continue
        out[roi] |= hull
    if not out.any():
        return None
    return out.astype(bool)
