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
    window: int = 3  # neighbours on each side, each with its own flow
    reach: int = 12  # pixels still unfilled look this far ahead along chained frame-to-frame flows
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
    box: tuple[int, int, int, int] | None  # (y0, y1, x0, x1) around the hole, None without one
    count: int  # hole pixels
    repaired: np.ndarray | None = None  # output once processed; later frames borrow from it
    repaired_known: np.ndarray | None = None  # where ``repaired`` holds real (propagated) pixels
    flow_prev: tuple[np.ndarray, np.ndarray] | None = None  # (flow, valid) to the previous frame


@dataclass
class _Remaining:
    """The hole pixels still to fill, kept as a crop of the hole's bounding box (cheap at 720p)."""

    box: tuple[int, int, int, int]
    crop: np.ndarray

    def any(self) -> bool:
        return bool(self.crop.any())

    def count(self) -> int:
        return int(np.count_nonzero(self.crop))

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.nonzero(self.crop)
        return ys + self.box[0], xs + self.box[2]

    def clear(self, ys: np.ndarray, xs: np.ndarray) -> None:
        self.crop[ys - self.box[0], xs - self.box[2]] = False

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, bool)
        y0, y1, x0, x1 = self.box
        out[y0:y1, x0:x1] = self.crop
        return out


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
        self.lookahead = max(self.options.window, self.options.reach)
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
            while next_target + self.lookahead < len(buffer):
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
        full_grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # one colour conversion per frame
        thumb = thumbnail(full_grey)
        if self._last_thumb is not None and is_cut(self._last_thumb, thumb):
            self._shot += 1
        self._last_thumb = thumb
        h, w = mask.shape
        scale = min(1.0, self.options.flow_width / w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        grey = cv2.resize(full_grey, size, interpolation=cv2.INTER_AREA)
        box = bounding_box(mask)
        if box is None:
            return _Slot(index, pts, frame.copy(), mask.copy(), self._shot, grey,
                         np.zeros(grey.shape, bool), np.ones(mask.shape, bool), None, 0)
        small_hole = cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        # Hide the damage from the flow: a moving blotch or box would otherwise drag the flow
        # of the pixels around it along with it, well outside the hole.
        grey = cv2.inpaint(grey, small_hole.view(np.uint8), 3, cv2.INPAINT_TELEA)
        small_hole = cv2.dilate(small_hole.view(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        known = ~grow(mask, box, 1)
        count = int(np.count_nonzero(mask[box[0]:box[1], box[2]:box[3]]))
        return _Slot(index, pts, frame.copy(), mask.copy(), self._shot, grey, small_hole, known, box, count)

    def _process(self, buffer: deque[_Slot], position: int) -> tuple[_Slot, np.ndarray, np.ndarray]:
        target = buffer[position]
        out = target.frame.copy()
        total = target.count
        self.stats.hole_pixels += total
        if target.box is None:
            target.repaired, target.repaired_known = out, target.known
            return target, out, target.mask.copy()
        y0, y1, x0, x1 = target.box
        remaining = _Remaining(target.box, target.mask[y0:y1, x0:x1].copy())
        window = self.options.window
        order = sorted(
            (p for p in range(max(0, position - window), min(len(buffer), position + window + 1))
             if p != position and buffer[p].shot == target.shot),
            key=lambda p: (abs(p - position), p > position),
        )
        still = False
        for p in order:
            if not remaining.any():
                break
            gained, motion = self._borrow(target, buffer[p], out, remaining, self._flow(target, buffer[p]))
            if gained == 0 and motion < 0.25 and _same_hole(buffer[p], target):
                # Same hole, still scene (a logo on a locked-off shot): farther frames show no more,
                # so stop here and leave the hole to the inpainter (saves most of the flow work).
                still = True
                break
        if remaining.any() and not still:
            self._borrow_far(buffer, position, out, remaining)
        left = remaining.count()
        self.stats.propagated_pixels += total - left
        if left and position > 0 and buffer[position - 1].shot == target.shot:
            target.flow_prev = self._flow(target, buffer[position - 1])
        # Recurrence: later frames borrow from this output, so background revealed at any earlier
        # time keeps flowing forward, far beyond the window (pixels filled here count as known).
        full = remaining.full(target.mask.shape)
        target.repaired = out
        target.repaired_known = ~grow(full, target.box, 1)
        return target, out, full

    def _borrow_far(self, buffer: deque[_Slot], position: int, out: np.ndarray, remaining: _Remaining) -> None:
        """Look past the window for what is still missing: a hole that drifts slowly over a still
        background uncovers it only many frames later.

        Flow to frame p is chained: flow(t, p - window) then the direct flow (p - window, p), a pair
        that frame p - window computes for itself anyway, so few hops and little extra flow work.
        """
        target, window = buffer[position], self.options.window
        start = position + window
        if start >= len(buffer) or buffer[start].shot != target.shot:
            return
        chain = {start: self._flow(target, buffer[start])}
        for p in range(start + 1, min(len(buffer), position + self.options.reach + 1)):
            if not remaining.any() or buffer[p].shot != target.shot:
                break
            q = max(start, p - window)
            step, step_valid = self._flow(buffer[q], buffer[p])
            chain[p] = chain_flow(*chain[q], step, step_valid)
            self._borrow(target, buffer[p], out, remaining, chain[p])

    def _borrow(self, target: _Slot, source: _Slot, out: np.ndarray, remaining: _Remaining,
                flow: tuple[np.ndarray, np.ndarray]) -> tuple[int, float]:
        """Copy into ``out`` every remaining hole pixel of ``target`` that ``source`` shows reliably.

        ``flow`` is (flow target->source, validity) at flow scale. Returns how many pixels were
        filled and the mean flow length (pixels) at the hole.
        """
        h, w = target.mask.shape
        ys, xs = remaining.points()
        tx, ty, ok = follow_flow(*flow, xs, ys, (h, w))
        motion = float(np.hypot(tx - xs, ty - ys).mean()) if xs.size else 0.0
        image, known = (source.repaired, source.repaired_known) if source.repaired is not None else (
            source.frame, source.known)
        ok &= known[np.clip(np.round(ty).astype(int), 0, h - 1), np.clip(np.round(tx).astype(int), 0, w - 1)]
        if not ok.any():
            return 0, motion
        colours = sample_points(image, tx[ok], ty[ok])
        out[ys[ok], xs[ok]] = colours
        remaining.clear(ys[ok], xs[ok])
        return int(np.count_nonzero(ok)), motion

    def _flow(self, a: _Slot, b: _Slot) -> tuple[np.ndarray, np.ndarray]:
        """Completed flow a->b at flow scale and its forward-backward validity (cached per pair)."""
        key = (a.index, b.index)
        if key not in self._flows:
            # Either frame's damage corrupts the flow in both directions, so both are completed
            # over the union of the two holes (exact for slow motion; the check catches the rest).
            holes = a.small_hole | b.small_hole
            ab = complete_flow(self._dis.calc(a.grey, b.grey, None), holes)
            ba = complete_flow(self._dis.calc(b.grey, a.grey, None), holes)
            # Validity is only ever read at and around the holes, so only a margin around them
            # is checked (hole pixels that land farther away than the margin are found earlier).
            tol, box = self.options.tolerance, bounding_box(holes)
            if box is not None:
                m = 16
                box = (max(0, box[0] - m), box[1] + m, max(0, box[2] - m), box[3] + m)
            self._flows[key] = (ab, consistent_flow_mask(ab, ba, tol, box))
            self._flows[(b.index, a.index)] = (ba, consistent_flow_mask(ba, ab, tol, box))
        return self._flows[key]

    def _forget(self, index: int) -> None:
        for key in [k for k in self._flows if index in k]:
            del self._flows[key]


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the True pixels of a bool (H, W) mask, or None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def grow(mask: np.ndarray, box: tuple[int, int, int, int], radius: int) -> np.ndarray:
    """``mask`` dilated by a (2 radius + 1) square, working only around ``box`` (its True pixels)."""
    h, w = mask.shape
    y0, y1 = max(0, box[0] - radius), min(h, box[1] + radius)
    x0, x1 = max(0, box[2] - radius), min(w, box[3] + radius)
    out = np.zeros_like(mask)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1].view(np.uint8), kernel).astype(bool)
    return out


def _same_hole(a: _Slot, b: _Slot) -> bool:
    if a.box != b.box or a.count != b.count or a.box is None:
        return a.box == b.box and a.count == b.count
    y0, y1, x0, x1 = a.box
    return bool(np.array_equal(a.mask[y0:y1, x0:x1], b.mask[y0:y1, x0:x1]))


def chain_flow(flow: np.ndarray, valid: np.ndarray, step: np.ndarray, step_valid: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Flow a->c from a->b (``flow``) and b->c (``step``), all at flow scale; valid where both are."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    moved = cv2.remap(step, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    landed = cv2.remap(step_valid.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    return flow + moved, valid & landed


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
        extras={"touched": np.array([s.box is not None for s, _, _ in items]),
                "flow_prev": [s.flow_prev for s, _, _ in items]},
    )
