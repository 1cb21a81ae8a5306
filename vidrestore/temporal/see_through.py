"""The see-through stages: the detail under a static semi-transparent logo comes from the frames.

Before the main pass, ``probe_overlays`` reads the first frames that have masks (at most
``PROBE_FRAMES`` of them, within ``SCAN_LIMIT`` frames of the start), finds the pixels masked in
every one of them (a logo box, a logo mask image), and estimates an overlay for each such static
hole from those frames (`vidrestore.temporal.overlay`). It keeps crops around the first mask
as it goes (reading the frames a second time, for crops around the static holes only, where
that mask is too large), so memory is the crops', not the frames'.

In the main pass the holes are filled as ever (propagation, the inpainter, steadying). Before
that, ``SeeThrough.observer`` keeps, for each frame, the overlay undone on a crop of the frame as
it came; after it, ``SeeThrough`` gives the filled pixels the overlay seen through holds their fine
detail (``keep_detail``), the fill keeping their coarse level and colour. Undoing the overlay alone
recovers texture and motion no fill has, but a small error in the estimated opacity or colour
shifts the level of a whole plate; the fill's level is the safer one (measured in
docs/experiments.md, "Seeing through a semi-transparent logo in `fix`").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from vidrestore.frames import FrameBatch
from vidrestore.geometry import Box, bounding_box, grown_box, margin_box
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.temporal.overlay import CLEAR, DETAIL_SIGMA, Overlay, estimate_overlay, keep_detail

PROBE_FRAMES = 40  # masked frames the overlay is estimated from
MIN_FRAMES = 10  # fewer masked frames: too little motion under the logo to tell its opacity
SCAN_LIMIT = 750  # frames from the start searched for masked frames (30 s at 25 fps)
MIN_PIXELS = 100  # smaller static holes are filled as usual
MAX_PIXELS = 50_000  # larger ones too (a subtitle band): the estimate's memory grows with the area
MARGIN = 8  # known pixels around a static hole that the estimate reads
KEEP_BYTES = 64 << 20  # crops kept in the first pass (else the frames are read twice)
HALF_SIZE_FILL = 4000  # hole pixels from which the probe's plain fill is computed at half size
BLUR_REACH = int(3 * DETAIL_SIGMA)  # pixels around a crop that its blur reads

FramesWithMasks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
#: per overlay a frame's mask holds: (region, the region seen through, its regions, the pixels seen)
Seen = list[tuple[Box, np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class SeeThroughStats:
    frames: int = 0  # frames in which an overlay was seen through
    pixels: int = 0  # pixels seen through, over all frames


class _Observer:
    """The first stage: keeps each frame's overlays seen through, before anything fills them."""

    lookahead = 0

    def __init__(self, owner: SeeThrough) -> None:
        self.owner = owner

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            masks = batch.ensure_masks()
            for i, index in enumerate(batch.indices):
                seen = self.owner.observe(batch.frames[i], masks[i])
                if seen:
                    self.owner.kept[index] = seen
            yield batch


class SeeThrough:
    """The last stage: filled pixels under an overlay get the fine detail of the overlay undone.

    ``observer`` is the stage that must run before the fill; the crops it keeps wait here, by
    frame index, only while their frame is in the chain."""

    lookahead = 0

    def __init__(self, overlays: list[Overlay]) -> None:
        self.overlays = overlays
        self.observer = _Observer(self)
        self.kept: dict[int, Seen] = {}
        self.stats = SeeThroughStats()
        self.count_range: tuple[int, int] | None = None  # segments count only the frames they write

    def observe(self, frame: np.ndarray, mask: np.ndarray) -> Seen:
        """For each overlay ``mask`` holds in ``frame``: its region (the overlay's box and what the
        blur reads around it), the region with the overlay undone, the regions for ``keep_detail``
        (known and clear pixels 0, then each opacity label; -1 for lost pixels and other damage),
        and the pixels seen through."""
        out: Seen = []
        for overlay in self.overlays:
            undone = overlay.undo(frame, mask)
            if undone is None:
                continue
            crop, seen = undone
            region = grown_box(overlay.box, BLUR_REACH, frame.shape)
            rows, cols = slice(region[0], region[1]), slice(region[2], region[3])
            y0, x0 = overlay.box[0] - region[0], overlay.box[2] - region[2]
            inside = np.s_[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
            whole = frame[rows, cols].copy()
            whole[inside] = crop
            regions = np.where(mask[rows, cols], -1, CLEAR).astype(np.int8)
            regions[inside] = np.where(seen, overlay.labels, regions[inside])
            where = np.zeros(regions.shape, bool)
            where[inside] = seen
            out.append((region, whole, regions, where))
        return out

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            changed = np.zeros(len(batch), bool)
            for i, index in enumerate(batch.indices):
                counted = self.count_range is None or self.count_range[0] <= index < self.count_range[1]
                for (y0, y1, x0, x1), seen_through, regions, where in self.kept.pop(index, []):
                    filled = batch.frames[i, y0:y1, x0:x1]
                    detailed = keep_detail(filled, seen_through, regions)
                    filled[where] = np.clip(np.rint(detailed[where]), 0, 255).astype(np.uint8)
                    changed[i] = True
                    self.stats.pixels += int(np.count_nonzero(where)) if counted else 0
                self.stats.frames += int(changed[i] and counted)
            if changed.any():
                batch.mark_touched(changed)
            yield batch


def probe_overlays(frames_with_masks: FramesWithMasks, progress: bool = False) -> list[Overlay]:
    """Overlays over the static holes of the first masked frames; ``frames_with_masks`` gives
    (frame, mask) pairs from the start, each time it is called (twice where the first mask's box
    is too large to keep crops of while the static hole is not yet known)."""
    found = _static_hole(_closing(frames_with_masks()))
    if found.static is None or len(found.picked) < MIN_FRAMES:
        return []
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(found.static.astype(np.uint8), connectivity=8)
    regions = []
    for k in range(1, count):
        if MIN_PIXELS <= boxes[k, cv2.CC_STAT_AREA] <= MAX_PIXELS:
            hole = labels == k
            regions.append((hole, margin_box(hole, MARGIN)))
    if not regions:
        return []
    kept = found.crops if found.crops is not None else _crops_again(frames_with_masks, found)
    overlays = []
    for hole, box in tqdm(regions, desc="see-through probe", unit="hole", disable=not progress):
        y0, y1, x0, x1 = box
        ky, kx = y0 - found.box[0], x0 - found.box[2]
        observed = np.stack([c[ky : ky + y1 - y0, kx : kx + x1 - x0] for c in kept])
        small = hole[y0:y1, x0:x1]
        overlay = estimate_overlay(observed, small, plain_fill(observed, small), box)
        if overlay is not None:
            overlays.append(overlay)
    return overlays


def plain_fill(observed: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea's fill of ``hole`` in each frame, computed at half size where the hole is large: the
    estimate reads the fill's coarse picture (median-filtered opacities, means over frames), and
    Telea's time grows with the hole's area."""
    if hole.sum() < HALF_SIZE_FILL:
        return ClassicalInpainter("telea").inpaint(observed, np.broadcast_to(hole, observed.shape[:3]))
    h, w = hole.shape
    half = cv2.resize(hole.view(np.uint8), (w // 2, h // 2), interpolation=cv2.INTER_AREA) > 0
    telea = ClassicalInpainter("telea", radius=3)
    out = observed.copy()
    for frame, target in zip(observed, out, strict=True):
        small = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        filled = cv2.resize(telea.inpaint_one(small, half), (w, h), interpolation=cv2.INTER_LINEAR)
        target[hole] = filled[hole]
    return out


def _closing(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``pairs``, closed (its source with it) when the caller stops early."""
    try:
        yield from pairs
    finally:
        close = getattr(pairs, "close", None)
        if close is not None:
            close()


@dataclass
class _Found:
    static: np.ndarray | None  # pixels masked in every picked frame
    picked: list[int]  # indices (from the start) of the masked frames read
    box: Box  # the first mask's box, grown by MARGIN: the static hole and its margin lie inside
    crops: list[np.ndarray] | None  # the picked frames on ``box``, when small enough to keep


def _static_hole(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> _Found:
    """Pixels masked in every masked frame among the first ones; crops of those frames around the
    first mask, where they take at most ``KEEP_BYTES``, so that one pass over the file suffices."""
    found = _Found(None, [], (0, 0, 0, 0), None)
    for index, (frame, mask) in enumerate(pairs):
        if index >= SCAN_LIMIT or len(found.picked) >= PROBE_FRAMES:
            break
        if not mask.any():
            continue
        if found.static is None or not (found.static & mask).any():
            # the first masked frame, or one that shares no pixel with those before it (an early
            # box in a time range, then the logo): start again from this one
            found.static, found.picked = mask.copy(), []
            found.box = grown_box(bounding_box(mask), MARGIN, mask.shape)  # type: ignore[arg-type]
            y0, y1, x0, x1 = found.box
            found.crops = [] if (y1 - y0) * (x1 - x0) * 3 * PROBE_FRAMES <= KEEP_BYTES else None
        else:
            found.static &= mask
        found.picked.append(index)
        if found.crops is not None:
            y0, y1, x0, x1 = found.box
            found.crops.append(frame[y0:y1, x0:x1].copy())
    return found


def _crops_again(frames_with_masks: FramesWithMasks, found: _Found) -> list[np.ndarray]:
    """The picked frames on the static hole's box, read again (the first mask was too large)."""
    assert found.static is not None
    y0, y1, x0, x1 = found.box = grown_box(bounding_box(found.static), MARGIN, found.static.shape)  # type: ignore[arg-type]
    wanted, crops = set(found.picked), []
    for index, (frame, _) in enumerate(_closing(frames_with_masks())):
        if index > found.picked[-1]:
            break
        if index in wanted:
            crops.append(frame[y0:y1, x0:x1].copy())
    return crops
