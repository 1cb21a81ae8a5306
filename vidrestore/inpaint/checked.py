"""Pick the spatial fill per hole by testing each backend on a copy of the hole nearby.

No single fill wins everywhere on real footage: the generator beats OpenCV by 2-3 dB on the
cartoon and the talking face it learned from, but on unseen grass or pavement it can paint a
flat patch of the wrong colour that Telea avoids, and Navier-Stokes beats Telea on thin vertical
lines. So each group of hole pixels is tried: the same shape, moved next to the hole onto pixels
the frame really shows, is filled by every backend (with the real hole also masked, so nothing
reads the damage), and the error there says which backend fills this kind of content best. The
real hole then gets that backend's fill. Scores are averaged over time per place (a static logo
keeps its backend from frame to frame, so the choice does not flicker).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidrestore.geometry import bounding_box, grown_box, margin_box
from vidrestore.inpaint.base import Inpainter

#: pixels between a hole group and its test copy, and kept clear around the copy
_GAP = 4
#: weight of the newest frame in each place's running error
_MEMORY = 0.3
#: a hole group is at a known place when its box overlaps that place's by this much (IoU): the
#: holes left after propagation change a little from frame to frame
_SAME_PLACE = 0.5
#: ...or when this much of its box lies inside a larger place's: propagation breaks a large hole
#: into many small remnants, which are parts of the same place, not new places to test
_INSIDE_PLACE = 0.6
#: groups smaller than this (pixels) are not tested on their own; they take their place's choice
_MIN_TESTED = 64
#: beyond a test copy's own size, how far a backend's fill of it may read (frame pixels): the
#: network's smallest context (16) plus the gap within which holes share its window (32)
_CONTEXT = 48


@dataclass
class _Group:
    box: tuple[int, int, int, int]  # x, y, w, h of the group
    pixels: np.ndarray  # bool (H, W) hole pixels of this group
    probe: np.ndarray | None  # bool (H, W) the test copy, None when none fits
    size: int = 0  # hole pixels of the group
    probe_box: tuple[int, int, int, int] | None = None  # (y0, y1, x0, x1) around the probe's copies

    def window(self) -> tuple[slice, slice]:
        """The group's box as array slices: all its pixels lie inside."""
        x, y, w, h = self.box
        return np.s_[y : y + h, x : x + w]


@dataclass
class _Place:
    """Running test errors of one place (where a hole group was), one per backend."""

    box: tuple[int, int, int, int]
    errors: np.ndarray | None = None  # None until the first test is scored
    tests: int = 0
    since: int = 0  # frames since the last test
    interval: int = 0  # frames between tests once settled; doubles while the winner stays the same
    winner: int = -1
    seen: int = 0  # the call that last met a group here (places not met for long are dropped)


@dataclass
class CheckedInpainter:
    """Inpainter over several backends; each hole group gets the one that filled its test copy best.

    A place is tested on each of its first ``settle`` frames, then every ``every`` frames, and
    while its best backend stays the same the interval doubles up to ``longest`` (a change sets it
    back): a static logo's choice is settled after a few frames and then costs little.
    """

    backends: list[Inpainter]
    name: str = "checked"
    settle: int = 4
    every: int = 8
    longest: int = 32  # the longest interval between tests of a settled place
    copies: int = 1  # test copies per hole group (hole_groups); 2 lost on the reporting seeds
    # the first backend's (the generator's) test error counts this much: it keeps a group unless
    # another backend beats it by 15%. One copy beside a hole is a noisy test and the generator is
    # the better fill on most content; a clear loss (Telea on vtest's pavement) still moves the
    # choice (reporting seeds: no clip and kind below the best per-frame fill, docs/experiments.md)
    first_weight: float = 0.85
    places: list[_Place] = field(default_factory=list)
    chosen: dict[str, int] = field(default_factory=dict)  # hole pixels given to each backend
    calls: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"trials": 0.0, "fill": 0.0})  # for profiles

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        self.calls += 1
        groups = [hole_groups(mask, self.copies) for mask in masks]
        at = [[self._place(g) for g in frame_groups] for frame_groups in groups]
        probes = np.zeros_like(masks)
        planned: dict[int, int] = {}  # tests planned in this call, per place
        for i, frame_groups in enumerate(groups):
            for g, place in zip(frame_groups, at[i], strict=True):
                done = place.tests + planned.get(id(place), 0)
                settled = done >= self.settle
                # while settling: one test a frame up to `settle`; then one every `every` frames,
                # at most one a call (the first frame of a batch)
                interval = max(place.interval, self.every)
                due = not settled or (place.since + i >= interval - 1 and id(place) not in planned)
                if g.probe is not None and due:
                    probes[i] |= g.probe
                    planned[id(place)] = planned.get(id(place), 0) + 1
                else:
                    g.probe = None
        tested = np.flatnonzero(probes.reshape(len(probes), -1).any(axis=1))
        started = time.perf_counter()
        if tested.size:
            # the real holes stay masked (nothing may read the damage) only near the test copies:
            # the backends then fill little more than the copies and what their fills read
            near = np.stack([_near([g.probe for g in groups[i] if g.probe is not None]) for i in tested])
            trial_masks = probes[tested] | (masks[tested] & near)
            trial_edges = None if edges is None else (edges[tested] & near) | probes[tested]
            trial = [b.inpaint(frames[tested], trial_masks, trial_edges) for b in self.backends]
            for row, i in enumerate(tested):
                for g, place in zip(groups[i], at[i], strict=True):
                    if g.probe is not None:
                        self._score(g, place, frames[i], [t[row] for t in trial])
        picks = [[self._pick(place) for place in frame_places] for frame_places in at]
        self._forget_old_places()
        self.seconds["trials"] += time.perf_counter() - started
        started = time.perf_counter()
        out = frames.copy()
        for b, backend in enumerate(self.backends):
            rows = [i for i, p in enumerate(picks) if b in p]
            if not rows:
                continue
            # each backend fills its own groups, with the other holes masked only where its fill
            # may read (a frame whose groups all went to it is filled whole, as by that backend alone)
            near = np.stack([
                np.ones_like(masks[i]) if all(p == b for p in picks[i]) else
                _near([g.pixels for g, p in zip(groups[i], picks[i], strict=True) if p == b])
                for i in rows
            ])
            filled = backend.inpaint(frames[rows], masks[rows] & near,
                                     None if edges is None else edges[rows] & near)
            for row, i in enumerate(rows):
                for g, pick in zip(groups[i], picks[i], strict=True):
                    if pick == b:
                        near_g, pixels = g.window(), g.pixels[g.window()]
                        out[i][near_g][pixels] = filled[row][near_g][pixels]
                        self.chosen[backend.name] = self.chosen.get(backend.name, 0) + g.size
        self.seconds["fill"] += time.perf_counter() - started
        return out

    def _place(self, group: _Group) -> _Place:
        """The known place this group lies at (best box overlap; a remnant inside a larger place
        belongs to it), or a new one."""
        best, best_iou = None, _SAME_PLACE
        inside, inside_area = None, 0
        grown, grown_area = None, 0
        for place in self.places:
            iou = _iou(place.box, group.box)
            if iou >= best_iou:
                best, best_iou = place, iou
            area = place.box[2] * place.box[3]
            if area > inside_area and _share_inside(group.box, place.box) >= _INSIDE_PLACE:
                inside, inside_area = place, area
            if area > grown_area and _share_inside(place.box, group.box) >= _INSIDE_PLACE:
                grown, grown_area = place, area  # a known place that this group now covers
        best = best or (grown if inside is None else None)
        if best is None and inside is not None and inside_area > group.box[2] * group.box[3]:
            inside.seen = self.calls  # a part of a known place: its box stays the whole place's
            if group.size < _MIN_TESTED or inside.tests >= self.settle:
                group.probe = None  # its choice is the place's; the place is tested on its own
            return inside
        if best is None:
            best = _Place(group.box)
            self.places.append(best)
        best.box, best.seen = group.box, self.calls
        if group.size < _MIN_TESTED:
            group.probe = None  # too few pixels to tell the backends apart: the first one fills it
        return best

    def _score(self, group: _Group, place: _Place, frame: np.ndarray, trial: list[np.ndarray]) -> None:
        y0, y1, x0, x1 = group.probe_box  # type: ignore[misc]  # a probe has a box
        probe = group.probe[y0:y1, x0:x1]  # type: ignore[index]
        truth = frame[y0:y1, x0:x1][probe].astype(np.float32)
        errors = np.array([float(((t[y0:y1, x0:x1][probe].astype(np.float32) - truth) ** 2).mean())
                           for t in trial])
        if place.errors is None:
            place.errors = errors
        else:
            place.errors = (1 - _MEMORY) * place.errors + _MEMORY * errors
        place.tests += 1
        place.since = -1  # _pick counts this frame
        winner = int(np.argmin(place.errors))
        if place.tests > self.settle:  # settled: a choice that holds is checked less and less often
            same = winner == place.winner
            place.interval = min(2 * max(place.interval, self.every), self.longest) if same else self.every
        place.winner = winner

    def _pick(self, place: _Place) -> int:
        place.since += 1
        if place.errors is None:
            return 0
        errors = place.errors.copy()
        errors[0] *= self.first_weight
        return int(np.argmin(errors))

    def _forget_old_places(self) -> None:
        """Drop places no group has been at for a few calls: moving holes leave many behind."""
        self.places = [p for p in self.places if self.calls - p.seen <= 4]


def _near(probes: list[np.ndarray]) -> np.ndarray:
    """Where a fill of these regions (test copies or hole groups) may read: each one's box grown
    by its size plus the network's widest context and window gap (bool (H, W))."""
    near = np.zeros_like(probes[0])
    for probe in probes:
        box = bounding_box(probe)
        if box is None:
            continue
        y0, y1, x0, x1 = grown_box(box, max(box[1] - box[0], box[3] - box[2]) + _CONTEXT, probe.shape)
        near[y0:y1, x0:x1] = True
    return near


def _share_inside(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The share of box ``a`` (x, y, w, h) that lies inside box ``b``."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0) / float(a[2] * a[3])


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Overlap of two (x, y, w, h) boxes over their union."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def hole_groups(mask: np.ndarray, copies: int = 1) -> list[_Group]:
    """Connected groups of ``mask`` (bool (H, W); pieces within 2 px joined) with test copies.

    A copy is the group's shape shifted left, right, up or down by its own size plus a gap; the
    first ``copies`` of those that stay inside the frame and clear of every hole pixel (and of
    each other) make the group's ``probe``. One copy can sit on content unlike the hole's (a
    static logo over a tree, its copy on the sky); several are a fairer test.
    """
    box = margin_box(mask, _GAP)
    if box is None:
        return []
    h, w = mask.shape
    # Grouping and the clearance map only concern the hole and its margin: work on that crop.
    y0, y1, x0, x1 = box
    near = np.ascontiguousarray(mask[y0:y1, x0:x1]).view(np.uint8)
    joined = cv2.dilate(near, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    clearance = np.ones((2 * _GAP + 1, 2 * _GAP + 1), np.uint8)
    taken = np.zeros((h, w), bool)
    taken[y0:y1, x0:x1] = cv2.dilate(near, clearance).astype(bool)
    groups = []
    for label in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        pixels = np.zeros((h, w), bool)
        pixels[y0 + y : y0 + y + bh, x0 + x : x0 + x + bw] = (
            (labels[y : y + bh, x : x + bw] == label) & mask[y0 + y : y0 + y + bh, x0 + x : x0 + x + bw])
        x, y = x + x0, y + y0
        probe, probe_box, found = None, None, 0
        for dx, dy in ((-(bw + _GAP), 0), (bw + _GAP, 0), (0, -(bh + _GAP)), (0, bh + _GAP)):
            if not (0 <= x + dx and x + dx + bw <= w and 0 <= y + dy and y + dy + bh <= h):
                continue
            moved = _shift(pixels, dx, dy, x, y, bw, bh)
            gy0, gy1, gx0, gx1 = grown_box((y + dy, y + dy + bh, x + dx, x + dx + bw), _GAP, (h, w))
            near = np.s_[gy0:gy1, gx0:gx1]  # the copy and its clearance: all the dilation can reach
            grown = cv2.dilate(moved[near].view(np.uint8), clearance).astype(bool)
            if not (grown & taken[near]).any():
                probe = moved if probe is None else probe | moved
                copy_box = (y + dy, y + dy + bh, x + dx, x + dx + bw)
                probe_box = copy_box if probe_box is None else (
                    min(probe_box[0], copy_box[0]), max(probe_box[1], copy_box[1]),
                    min(probe_box[2], copy_box[2]), max(probe_box[3], copy_box[3]))
                taken[near] |= grown
                found += 1
                if found == copies:
                    break
        size = int(np.count_nonzero(pixels[y : y + bh, x : x + bw]))
        groups.append(_Group((x, y, bw, bh), pixels, probe, size, probe_box))
    return groups


def _shift(pixels: np.ndarray, dx: int, dy: int, x: int, y: int, bw: int, bh: int) -> np.ndarray:
    out = np.zeros_like(pixels)
    out[y + dy : y + dy + bh, x + dx : x + dx + bw] = pixels[y : y + bh, x : x + bw]
    return out
