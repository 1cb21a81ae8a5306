"""Fill holes with real pixels from neighbouring frames along optical flow (the ProPainter/E2FGVI idea).

For each frame with holes, neighbours within ``window`` frames on each side (never across a scene
cut) are visited nearest first. Flow target->neighbour is computed on a small grey copy, its values
inside the target's hole are replaced by a smooth completion from the hole border, and a
forward-backward check rejects occluded or unreliable pixels. A hole pixel whose flow lands on a
known (undamaged) pixel of the neighbour takes that pixel's colour; the nearest candidate from the
past and the nearest from the future are blended. What no neighbour shows stays in the mask for
the inpainter (a static logo on a static shot, for instance).

Propagated pixels are only as good as the flow that brought them, and inside a hole that flow is a
guess. Two checks leave doubtful pixels to the inpainter: candidates from the past and the future
that disagree, and pixels carried from repair to repair for ``max_age`` frames or more (a hole that
drifts with the content under it keeps passing on stale content; measured on Big Buck Bunny blobs,
such chains were worse than what the generator invents).

Pixels still missing after the window look farther, up to ``reach`` frames on each side, along
flows chained from the cached frame-to-frame ones (a slow hole uncovers its background late).
Once a frame's hole holds propagated pixels, its flow is measured again from the filled frame
(``refine``) and the pixels are propagated a second time along the better flow.

Streaming: a bounded buffer of 2 * reach + 1 frames and the flows between them; memory does not
depend on the video's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from vidrestore.frames import FrameBatch
from vidrestore.geometry import bounding_box, margin_box
from vidrestore.temporal.candidates import Candidates
from vidrestore.temporal.completion import complete_flow
from vidrestore.temporal.flow import consistent_flow_mask, dis_calc, dis_flow
from vidrestore.temporal.points import follow_flow, grow, hide_hole, sample_points
from vidrestore.temporal.scenecut import is_cut, thumbnail


@dataclass(frozen=True)
class TemporalOptions:
    window: int = 3  # neighbours on each side, each with its own flow
    refine: bool = True  # measure the flow again once the hole holds propagated pixels
    reach: int = 12  # pixels still unfilled look this far back and ahead along chained flows
    flow_width: int = 512  # flow is computed on frames scaled to at most this width
    tolerance: float = 0.5  # forward-backward error allowed, in pixels of the flow scale
    agreement: float = 48.0  # past and future candidates further apart (mean level) are both dropped
    max_age: int = 8  # a candidate carried through repairs from this many frames ago is dropped

    @property
    def context(self) -> int:
        """How many frames each side of a frame its repair reads (window or chained reach)."""
        return max(self.window, self.reach)


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
    repaired_view: tuple[np.ndarray, np.ndarray] | None = None  # flow-scale grey and hole of ``repaired``
    repaired_age: np.ndarray | None = None  # float32 crop on ``box``: frames since each pixel was seen


@dataclass
class PropagationStats:
    hole_pixels: int = 0
    propagated_pixels: int = 0

    @property
    def fraction(self) -> float:
        return self.propagated_pixels / self.hole_pixels if self.hole_pixels else 0.0


class TemporalPropagation:
    """Pipeline stage: fills what neighbours can show and shrinks each mask to what is left.

    Runs ahead in its own thread (``runs_ahead``): flow and sampling are OpenCV and NumPy work
    that releases the interpreter, so it overlaps the generator of the batch before."""

    runs_ahead = True

    def __init__(self, options: TemporalOptions | None = None) -> None:
        self.options = options or TemporalOptions()
        self.lookahead = self.options.context
        self.stats = PropagationStats()
        self.count_range: tuple[int, int] | None = None  # count only these frames (segments' own)
        self._dis = dis_flow("propagate")
        self._flows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._shot = 0
        self._last_thumb: np.ndarray | None = None

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        buffer: deque[_Slot] = deque()
        ready: list[tuple[_Slot, np.ndarray, np.ndarray]] = []
        next_target = 0  # position in ``buffer`` of the next frame to process
        size, time_base = 1, Fraction(1, 25)  # batches out as large as the largest in
        for batch in batches:
            size, time_base = max(size, len(batch)), batch.time_base
            masks = batch.ensure_masks()
            for i, index in enumerate(batch.indices):
                buffer.append(self._slot(index, batch.pts[i], batch.frames[i], masks[i]))
            while next_target + self.lookahead < len(buffer):
                ready.append(self._process(buffer, next_target))
                next_target += 1
                while next_target > self.lookahead:  # drop frames no future target can reach
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
        grey = hide_hole(grey, small_hole)
        small_hole = cv2.dilate(small_hole.view(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        known = ~grow(mask, box, 1)
        count = int(np.count_nonzero(mask[box[0]:box[1], box[2]:box[3]]))
        return _Slot(index, pts, frame.copy(), mask.copy(), self._shot, grey, small_hole, known, box, count)

    def _process(self, buffer: deque[_Slot], position: int) -> tuple[_Slot, np.ndarray, np.ndarray]:
        target = buffer[position]
        out = target.frame.copy()
        total = target.count
        counted = self.count_range is None or self.count_range[0] <= target.index < self.count_range[1]
        self.stats.hole_pixels += total if counted else 0
        if target.box is None:
            target.repaired, target.repaired_known = out, target.known
            return target, out, target.mask.copy()
        fill = Candidates.start(target.mask, target.box)
        still = self._gather(buffer, position, fill, lambda source: self._flow(target, source))
        remaining, age = fill.write(out, self.options.agreement)
        flow_prev = self._flow(target, buffer[position - 1]) if position > 0 else None
        if self.options.refine and not still and np.count_nonzero(remaining) < total:
            # Second pass: the flow inside the hole was only a smooth guess from its border, which
            # mixes the motions met there (a still pillar, a moving landscape, a moving face). Now
            # that most of the hole holds real pixels, the flow can be measured there instead.
            grey, hole = self._flow_view(out, remaining)
            flows: dict[int, tuple[np.ndarray, np.ndarray]] = {}

            def refined(source: _Slot) -> tuple[np.ndarray, np.ndarray]:
                if source.index not in flows:
                    flows[source.index] = self._measure_flow(grey, hole, *self._source_view(source))
                return flows[source.index]

            second = Candidates.start(target.mask, target.box)
            self._gather(buffer, position, second, refined)
            second.merge(fill)
            out = target.frame.copy()
            remaining, age = second.write(out, self.options.agreement)
            if position > 0:
                flow_prev = refined(buffer[position - 1])
        if counted:
            self.stats.propagated_pixels += total - int(np.count_nonzero(remaining))
        if flow_prev is not None and buffer[position - 1].shot == target.shot:
            target.flow_prev = flow_prev
        # Recurrence: later frames borrow from this output, so background revealed at any earlier
        # time keeps flowing forward, far beyond the window (pixels filled here count as known).
        target.repaired = out
        target.repaired_known = ~grow(remaining, target.box, 1)
        target.repaired_age = age
        if self.options.refine:
            target.repaired_view = self._flow_view(out, remaining)
        return target, out, remaining

    def _gather(self, buffer: deque[_Slot], position: int, fill: Candidates,
                flow_to: Callable[[_Slot], tuple[np.ndarray, np.ndarray]]) -> bool:
        """Collect candidates for ``fill`` from the window, then farther; True for a still hole."""
        target, window = buffer[position], self.options.window
        order = sorted(
            (p for p in range(max(0, position - window), min(len(buffer), position + window + 1))
             if p != position and buffer[p].shot == target.shot),
            key=lambda p: (abs(p - position), p > position),
        )
        for p in order:
            side = 1 if p > position else -1
            if not fill.needs(side):
                continue
            gained, motion = self._borrow(target, buffer[p], fill, side, abs(p - position),
                                          flow_to(buffer[p]))
            if gained == 0 and motion < 0.25 and _same_hole(buffer[p], target):
                # Same hole, still scene (a logo on a locked-off shot): farther frames show no more,
                # so stop here and leave the hole to the inpainter (saves most of the flow work).
                return True
        if fill.needs(-1) or fill.needs(1):
            self._borrow_far(buffer, position, fill, flow_to)
        return False

    def _borrow_far(self, buffer: deque[_Slot], position: int, fill: Candidates,
                    flow_to: Callable[[_Slot], tuple[np.ndarray, np.ndarray]]) -> None:
        """Look past the window for what is still missing: a hole that drifts slowly over a still
        background uncovers it only many frames earlier or later.

        Frames at distance window+1 .. reach are visited nearest first, the past before the future.
        Hole pixels are followed to frame p along flow(t, p -+ window) then the direct flow
        (p -+ window, p), a pair that frame p -+ window computes for itself anyway: few hops, no
        extra flow work.
        """
        target, window = buffer[position], self.options.window
        tracks: dict[int, tuple[np.ndarray, ...]] = {}  # frame -> (ys, xs, tx, ty, ok) of the hole pixels
        open_sides = []
        for side in (-1, 1):
            start = position + side * window
            if 0 <= start < len(buffer) and buffer[start].shot == target.shot and fill.needs(side):
                ys, xs = fill.points(side)
                tracks[start] = (ys, xs, *follow_flow(*flow_to(buffer[start]), xs, ys, target.mask.shape))
                open_sides.append(side)
        for distance in range(window + 1, self.options.reach + 1):
            for side in list(open_sides):
                p = position + side * distance
                if not fill.needs(side) or not 0 <= p < len(buffer) or buffer[p].shot != target.shot:
                    open_sides.remove(side)
                    continue
                # The hole pixels are tracked as points (only they matter), hop by hop.
                q = p - side * min(window, distance - window)
                ys, xs, tx, ty, ok = tracks[q]
                nx, ny, step_ok = follow_flow(*self._flow(buffer[q], buffer[p]), tx, ty, target.mask.shape)
                tracks[p] = (ys, xs, nx, ny, ok & step_ok)
                self._borrow_at(target, buffer[p], fill, side, distance, *tracks[p])

    def _flow_view(self, frame: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Small grey copy of ``frame`` for flow, with ``hole`` hidden, and the hole at that scale."""
        h, w = hole.shape
        scale = min(1.0, self.options.flow_width / w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        small = cv2.resize(hole.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        grey = hide_hole(grey, small)
        return grey, cv2.dilate(small.view(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)

    def _source_view(self, source: _Slot) -> tuple[np.ndarray, np.ndarray]:
        return source.repaired_view if source.repaired_view is not None else (source.grey, source.small_hole)

    def _measure_flow(self, grey_a: np.ndarray, hole_a: np.ndarray, grey_b: np.ndarray,
                      hole_b: np.ndarray, margin: int = 48) -> tuple[np.ndarray, np.ndarray]:
        """Completed flow a->b and its forward-backward validity at flow scale, measured only on a
        crop around ``hole_a`` (``margin`` flow pixels each side; elsewhere: zero flow, invalid).

        Only a's hole pixels are followed with it, so the crop is all that is needed, and at 720p
        it costs a fraction of a full-frame flow. Pixels that move farther than the margin fail
        the check and keep the first pass's candidates.
        """
        box = margin_box(hole_a, margin)
        if box is None:
            box = (0, hole_a.shape[0], 0, hole_a.shape[1])
        crop = np.s_[box[0]:box[1], box[2]:box[3]]
        a, b = np.ascontiguousarray(grey_a[crop]), np.ascontiguousarray(grey_b[crop])
        holes = hole_a[crop] | hole_b[crop]
        ab, ba = dis_calc(self._dis, a, b), dis_calc(self._dis, b, a)
        ab, ba = complete_flow(ab, holes), complete_flow(ba, holes)
        flow = np.zeros((*hole_a.shape, 2), np.float32)
        valid = np.zeros(hole_a.shape, bool)
        flow[crop] = ab
        valid[crop] = consistent_flow_mask(ab, ba, self.options.tolerance)
        return flow, valid

    def _borrow(self, target: _Slot, source: _Slot, fill: Candidates, side: int, distance: int,
                flow: tuple[np.ndarray, np.ndarray]) -> tuple[int, float]:
        """Add a candidate from ``source`` for every hole pixel of ``target`` that still lacks one
        from this side (past -1, future +1) and that ``source`` shows reliably.

        ``flow`` is (flow target->source, validity) at flow scale. Returns how many pixels got a
        candidate and the mean flow length (pixels) at the hole.
        """
        ys, xs = fill.points(side)
        tx, ty, ok = follow_flow(*flow, xs, ys, target.mask.shape)
        motion = float(np.hypot(tx - xs, ty - ys).mean()) if xs.size else 0.0
        return self._borrow_at(target, source, fill, side, distance, ys, xs, tx, ty, ok), motion

    def _borrow_at(self, target: _Slot, source: _Slot, fill: Candidates, side: int, distance: int,
                   ys: np.ndarray, xs: np.ndarray, tx: np.ndarray, ty: np.ndarray, ok: np.ndarray) -> int:
        """Candidates for hole pixels (ys, xs) found at (tx, ty) in ``source`` where ``ok``; counts them."""
        h, w = target.mask.shape
        ok = ok & fill.need[side][ys - fill.box[0], xs - fill.box[2]]
        image, known = (source.repaired, source.repaired_known) if source.repaired is not None else (
            source.frame, source.known)
        iy, ix = np.clip(np.round(ty).astype(int), 0, h - 1), np.clip(np.round(tx).astype(int), 0, w - 1)
        ok &= known[iy, ix]
        carried = _age_at(source, iy, ix)
        age = distance + carried
        # Only chains of repairs age out: a pixel seen directly, however far within reach, is real.
        ok &= (carried == 0) | (age < self.options.max_age)
        if not ok.any():
            return 0
        fill.add(side, ys[ok], xs[ok], sample_points(image, tx[ok], ty[ok]), distance, age[ok])
        return int(np.count_nonzero(ok))

    def _flow(self, a: _Slot, b: _Slot) -> tuple[np.ndarray, np.ndarray]:
        """Completed flow a->b at flow scale and its forward-backward validity (cached per pair)."""
        key = (a.index, b.index)
        if key not in self._flows:
            # Either frame's damage corrupts the flow in both directions, so both are completed
            # over the union of the two holes (exact for slow motion; the check catches the rest).
            holes = a.small_hole | b.small_hole
            ab, ba = dis_calc(self._dis, a.grey, b.grey), dis_calc(self._dis, b.grey, a.grey)
            ab, ba = complete_flow(ab, holes), complete_flow(ba, holes)
            # validity is only read at and around the holes (pixels landing farther were found earlier)
            tol, box = self.options.tolerance, margin_box(holes, 16)
            self._flows[key] = (ab, consistent_flow_mask(ab, ba, tol, box))
            self._flows[(b.index, a.index)] = (ba, consistent_flow_mask(ba, ab, tol, box))
        return self._flows[key]

    def _forget(self, index: int) -> None:
        for key in [k for k in self._flows if index in k]:
            del self._flows[key]


def _age_at(source: _Slot, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Frames since the pixels (ys, xs) of ``source``'s output were really seen: 0 for pixels it
    shows itself, the chain's age for pixels it was given by propagation."""
    if source.repaired_age is None or source.box is None:
        return np.zeros(ys.shape, np.float32)
    y0, y1, x0, x1 = source.box
    inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
    age = np.zeros(ys.shape, np.float32)
    age[inside] = source.repaired_age[ys[inside] - y0, xs[inside] - x0]
    return age


def _same_hole(a: _Slot, b: _Slot) -> bool:
    if a.box != b.box or a.count != b.count or a.box is None:
        return a.box == b.box and a.count == b.count
    y0, y1, x0, x1 = a.box
    return bool(np.array_equal(a.mask[y0:y1, x0:x1], b.mask[y0:y1, x0:x1]))


def _batch(items: list[tuple[_Slot, np.ndarray, np.ndarray]], time_base: Fraction) -> FrameBatch:
    return FrameBatch(
        indices=[s.index for s, _, _ in items], pts=[s.pts for s, _, _ in items], time_base=time_base,
        frames=np.stack([f for _, f, _ in items]), masks=np.stack([m for _, _, m in items]),
        touched=np.array([s.box is not None for s, _, _ in items]),
        flow_prev=[s.flow_prev for s, _, _ in items],
        holes=np.stack([s.mask for s, _, _ in items]),
    )
