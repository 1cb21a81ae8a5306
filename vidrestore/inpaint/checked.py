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

from dataclasses import dataclass, field

import cv2
import numpy as np

from vidrestore.inpaint.base import Inpainter

#: pixels between a hole group and its test copy, and kept clear around the copy
_GAP = 4
#: weight of the newest frame in each place's running error
_MEMORY = 0.3


@dataclass
class _Group:
    box: tuple[int, int, int, int]  # x, y, w, h of the group
    pixels: np.ndarray  # bool (H, W) hole pixels of this group
    probe: np.ndarray | None  # bool (H, W) the test copy, None when none fits


@dataclass
class _Place:
    """Running test errors of one place (a hole group's box, to 16 px), one per backend."""

    errors: np.ndarray
    tests: int = 1
    since: int = 0  # frames since the last test


@dataclass
class CheckedInpainter:
    """Inpainter over several backends; each hole group gets the one that filled its test copy best.

    A place is tested on each of its first ``settle`` frames, then every ``every`` frames: a static
    logo's choice is settled after a few frames and the test then costs little.
    """

    backends: list[Inpainter]
    name: str = "checked"
    settle: int = 4
    every: int = 8
    places: dict[tuple[int, ...], _Place] = field(default_factory=dict)
    chosen: dict[str, int] = field(default_factory=dict)  # hole pixels given to each backend

    def inpaint(self, frames: np.ndarray, masks: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
        groups = [hole_groups(mask) for mask in masks]
        probes = np.zeros_like(masks)
        retested: set[tuple[int, ...]] = set()  # a settled place is tested on one frame of a batch
        for i, frame_groups in enumerate(groups):
            for g in frame_groups:
                if g.probe is not None and self._due(g) and _key(g) not in retested:
                    probes[i] |= g.probe
                    if _key(g) in self.places and self.places[_key(g)].tests >= self.settle:
                        retested.add(_key(g))
                else:
                    g.probe = None
        tested = np.flatnonzero(probes.reshape(len(probes), -1).any(axis=1))
        if tested.size:
            trial_masks = masks[tested] | probes[tested]
            trial_edges = None if edges is None else edges[tested] | probes[tested]
            trial = [b.inpaint(frames[tested], trial_masks, trial_edges) for b in self.backends]
            for row, i in enumerate(tested):
                for g in groups[i]:
                    if g.probe is not None:
                        self._score(g, frames[i], [t[row] for t in trial])
        picks = [[self._pick(g) for g in frame_groups] for frame_groups in groups]
        out = frames.copy()
        for b, backend in enumerate(self.backends):
            rows = [i for i, p in enumerate(picks) if b in p]
            if not rows:
                continue
            filled = backend.inpaint(frames[rows], masks[rows], None if edges is None else edges[rows])
            for row, i in enumerate(rows):
                for g, pick in zip(groups[i], picks[i], strict=True):
                    if pick == b:
                        out[i][g.pixels] = filled[row][g.pixels]
                        self.chosen[backend.name] = self.chosen.get(backend.name, 0) + int(g.pixels.sum())
        return out

    def _due(self, group: _Group) -> bool:
        place = self.places.get(_key(group))
        return place is None or place.tests < self.settle or place.since >= self.every - 1

    def _score(self, group: _Group, frame: np.ndarray, trial: list[np.ndarray]) -> None:
        truth = frame[group.probe].astype(np.float32)
        errors = np.array([float(((t[group.probe].astype(np.float32) - truth) ** 2).mean()) for t in trial])
        key = _key(group)
        place = self.places.get(key)
        if place is None:
            self.places[key] = _Place(errors, since=-1)
        else:
            place.errors = (1 - _MEMORY) * place.errors + _MEMORY * errors
            place.tests += 1
            place.since = -1  # _pick counts this frame

    def _pick(self, group: _Group) -> int:
        place = self.places.get(_key(group))
        if place is None:
            return 0
        place.since += 1
        return int(np.argmin(place.errors))


def _key(group: _Group) -> tuple[int, ...]:
    return tuple(v // 16 for v in group.box)


def hole_groups(mask: np.ndarray) -> list[_Group]:
    """Connected groups of ``mask`` (bool (H, W); pieces within 2 px joined) with a test copy each.

    The copy is the group's shape shifted left, right, up or down by its own size plus a gap,
    the first of those that stays inside the frame and clear of every hole pixel.
    """
    if not mask.any():
        return []
    h, w = mask.shape
    joined = cv2.dilate(mask.view(np.uint8), np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    clear = cv2.dilate(mask.view(np.uint8), np.ones((2 * _GAP + 1, 2 * _GAP + 1), np.uint8)).astype(bool)
    taken = clear.copy()
    groups = []
    for label in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        pixels = (labels == label) & mask
        probe = None
        for dx, dy in ((-(bw + _GAP), 0), (bw + _GAP, 0), (0, -(bh + _GAP)), (0, bh + _GAP)):
            if not (0 <= x + dx and x + dx + bw <= w and 0 <= y + dy and y + dy + bh <= h):
                continue
            moved = _shift(pixels, dx, dy, x, y, bw, bh)
            grown = cv2.dilate(moved.view(np.uint8), np.ones((2 * _GAP + 1,) * 2, np.uint8)).astype(bool)
            if not (grown & taken).any():
                probe = moved
                taken |= grown
                break
        groups.append(_Group((x, y, bw, bh), pixels, probe))
    return groups


def _shift(pixels: np.ndarray, dx: int, dy: int, x: int, y: int, bw: int, bh: int) -> np.ndarray:
    out = np.zeros_like(pixels)
    out[y + dy : y + dy + bh, x + dx : x + dx + bw] = pixels[y : y + bh, x : x + bw]
    return out
