"""Fill holes with real pixels from neighbouring frames along optical flow (the ProPainter/E2FGVI idea).

For each frame with holes, neighbours within ``window`` frames on each side (never across a scene
cut) are visited nearest first. Flow target->neighbour is computed on a small grey copy, its values
inside the target's hole are replaced by a smooth completion from the hole border, and a
forward-backward check rejects occluded or unreliable pixels. A hole pixel whose flow lands on a
known (undamaged) pixel of the neighbour takes that pixel's colour. What no neighbour shows stays
in the mask for the inpainter (a static logo on a static shot, for instance).

Streaming: a bounded buffer of 2 * window + 1 frames and the flows between them; memory does not
depend on the video's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np

from vidrestore.frames import FrameBatch
from vidrestore.temporal.completion import complete_flow
from vidrestore.temporal.flow import consistent_flow_mask
from vidrestore.temporal.scenecut import is_cut, thumbnail


@dataclass(frozen=True)
class TemporalOptions:
    window: int = 3  # neighbours on each side
    flow_width: int = 512  # flow is computed on frames scaled to at most this width
    tolerance: float = 0.5  # forward-backward error allowed, in pixels of the flow scale


@dataclass
class _Slot:
    index: int
    pts: int | None
    frame: np.ndarray  # original RGB, never modified
    mask: np.ndarray  # original hole mask
    shot: int
    grey: np.ndarray  # small grey copy for flow
    small_hole: np.ndarray  # hole at flow scale (slightly grown)
    known: np.ndarray  # full-res "safe to sample" map: not in the hole, 1 px away from it
    repaired: np.ndarray | None = None  # output once processed; later frames borrow from it
    repaired_known: np.ndarray | None = None  # where ``repaired`` holds real (propagated) pixels
    flow_prev: tuple[np.ndarray, np.ndarray] | None = None  # (flow, valid) to the previous frame


@dataclass
class PropagationStats:
    hole_pixels: int = 0
    propagated_pixels: int = 0

    @property
    def fraction(self) -> float:
        return self.propagated_pixels / self.hole_pixels if self.hole_pixels else 0.0


class TemporalPropagation:
    """Pipeline stage: fills what neighbours can show and shrinks each mask to what is left."""

    def __init__(self, options: TemporalOptions | None = None) -> None:
        self.options = options or TemporalOptions()
        self.lookahead = self.options.window
        self.stats = PropagationStats()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._flows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._shot = 0
        self._last_thumb: np.ndarray | None = None

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        window = self.options.window
        buffer: deque[_Slot] = deque()
        ready: list[tuple[_Slot, np.ndarray, np.ndarray]] = []
        next_target = 0  # position in ``buffer`` of the next frame to process
        size, time_base = 8, Fraction(1, 25)
        for batch in batches:
            size, time_base = max(size, len(batch)), batch.time_base
            masks = batch.ensure_masks()
            for i, index in enumerate(batch.indices):
                buffer.append(self._slot(index, batch.pts[i], batch.frames[i], masks[i]))
            while next_target + window < len(buffer):
                ready.append(self._process(buffer, next_target))
                next_target += 1
                while next_target > window:  # drop frames no future target can reach
                    old = buffer.popleft()
                    next_target -= 1
                    self._forget(old.index)
            while len(ready) >= size:
                yield _batch(ready[:size], time_base)
                ready = ready[size:]
        while next_target < len(buffer):
            ready.append(self._process(buffer, next_target))
            next_target += 1
        for start in range(0, len(ready), size):
            yield _batch(ready[start : start + size], time_base)

    def _slot(self, index: int, pts: int | None, frame: np.ndarray, mask: np.ndarray) -> _Slot:
        thumb = thumbnail(frame)
        if self._last_thumb is not None and is_cut(self._last_thumb, thumb):
            self._shot += 1
        self._last_thumb = thumb
        h, w = mask.shape
        scale = min(1.0, self.options.flow_width / w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        if small_hole.any():
            # Hide the damage from the flow: a moving blotch or box would otherwise drag the flow
            # of the pixels around it along with it, well outside the hole.
            grey = cv2.inpaint(grey, small_hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        small_hole = cv2.dilate(small_hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        known = ~cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        return _Slot(index, pts, frame.copy(), mask.copy(), self._shot, grey, small_hole, known)

    def _process(self, buffer: deque[_Slot], position: int) -> tuple[_Slot, np.ndarray, np.ndarray]:
        target = buffer[position]
        remaining = target.mask.copy()
        out = target.frame.copy()
        total = int(remaining.sum())
        self.stats.hole_pixels += total
        if total == 0:
            target.repaired, target.repaired_known = out, target.known
            return target, out, remaining
        window = self.options.window
        order = sorted(
            (p for p in range(max(0, position - window), min(len(buffer), position + window + 1))
             if p != position and buffer[p].shot == target.shot),
            key=lambda p: (abs(p - position), p > position),
        )
        for p in order:
            if not remaining.any():
                break
            gained, motion = self._borrow(target, buffer[p], out, remaining)
            if gained == 0 and motion < 0.25 and np.array_equal(buffer[p].mask, target.mask):
                # Same hole, still scene (a logo on a locked-off shot): farther frames show no more,
                # so stop here and leave the hole to the inpainter (saves most of the flow work).
                break
        self.stats.propagated_pixels += total - int(remaining.sum())
        if remaining.any() and position > 0 and buffer[position - 1].shot == target.shot:
            target.flow_prev = self._flow(target, buffer[position - 1])
        # Recurrence: later frames borrow from this output, so background revealed at any earlier
        # time keeps flowing forward, far beyond the window (pixels filled here count as known).
        target.repaired = out
        target.repaired_known = ~cv2.dilate(remaining.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        return target, out, remaining

    def _borrow(self, target: _Slot, source: _Slot, out: np.ndarray, remaining: np.ndarray) -> tuple[int, float]:
        """Copy into ``out`` every remaining hole pixel of ``target`` that ``source`` shows reliably.

        Returns how many pixels were filled and the mean flow length (pixels) at the hole.
        """
        h, w = remaining.shape
        ys, xs = np.nonzero(remaining)
        tx, ty, ok = follow_flow(*self._flow(target, source), xs, ys, (h, w))
        motion = float(np.hypot(tx - xs, ty - ys).mean()) if xs.size else 0.0
        image, known = (source.repaired, source.repaired_known) if source.repaired is not None else (
            source.frame, source.known)
        ok &= known[np.clip(np.round(ty).astype(int), 0, h - 1), np.clip(np.round(tx).astype(int), 0, w - 1)]
        if not ok.any():
            return 0, motion
        colours = sample_points(image, tx[ok], ty[ok])
        out[ys[ok], xs[ok]] = colours
        remaining[ys[ok], xs[ok]] = False
        return int(ok.sum()), motion

    def _flow(self, a: _Slot, b: _Slot) -> tuple[np.ndarray, np.ndarray]:
        """Completed flow a->b at flow scale and its forward-backward validity (cached per pair)."""
        key = (a.index, b.index)
        if key not in self._flows:
            # Either frame's damage corrupts the flow in both directions, so both are completed
            # over the union of the two holes (exact for slow motion; the check catches the rest).
            holes = a.small_hole | b.small_hole
            ab = complete_flow(self._dis.calc(a.grey, b.grey, None), holes)
            ba = complete_flow(self._dis.calc(b.grey, a.grey, None), holes)
            tol = self.options.tolerance
            self._flows[key] = (ab, consistent_flow_mask(ab, ba, tol))
            self._flows[(b.index, a.index)] = (ba, consistent_flow_mask(ba, ab, tol))
        return self._flows[key]

    def _forget(self, index: int) -> None:
        for key in [k for k in self._flows if index in k]:
            del self._flows[key]


def follow_flow(
    flow: np.ndarray, valid: np.ndarray, xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where full-resolution pixels (xs, ys) land along a small-scale flow, and whether reliably.

    Returns target x, target y (float, full resolution) and a bool per pixel: the flow passed the
    forward-backward check there and the target is inside the frame.
    """
    h, w = shape
    sh, sw = flow.shape[:2]
    fx = (xs + 0.5) * (sw / w) - 0.5
    fy = (ys + 0.5) * (sh / h) - 0.5
    sampled = sample_points(flow, fx, fy)
    ok = valid[np.clip(np.round(fy).astype(int), 0, sh - 1), np.clip(np.round(fx).astype(int), 0, sw - 1)]
    tx = xs + sampled[:, 0] * (w / sw)
    ty = ys + sampled[:, 1] * (h / sh)
    ok &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return tx, ty, ok


def sample_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at float positions (x, y) -> (N, C), borders repeated.

    cv2.remap takes maps of fewer than 32767 rows, so the points go in as a (rows, 1024) block.
    """
    n = x.size
    cols = 1024
    rows = max(1, -(-n // cols))
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, -1)[:n]


def _batch(items: list[tuple[_Slot, np.ndarray, np.ndarray]], time_base: Fraction) -> FrameBatch:
    return FrameBatch(
        indices=[s.index for s, _, _ in items], pts=[s.pts for s, _, _ in items], time_base=time_base,
        frames=np.stack([f for _, f, _ in items]), masks=np.stack([m for _, _, m in items]),
        extras={"touched": np.array([bool(s.mask.any()) for s, _, _ in items]),
                "flow_prev": [s.flow_prev for s, _, _ in items]},
    )
