"""Follow an object's mask, drawn on one keyframe, through the rest of its shot.

Removing a moving object needs a mask on every frame; users of ProPainter and E2FGVI make those
with a separate tracker. Here the keyframe mask is carried frame by frame along dense optical flow
(DIS, from each new frame back to the one before, so every pixel of the new frame asks where it
came from), then re-fitted to the new frame's colours with GrabCut in a band around the carried
outline: flow alone drifts off an object's edge within a few dozen frames, a colour model alone
leaks into look-alike background; together each corrects the other. A re-fit that changes the
area by more than a third is not trusted and the carried mask is kept. Tracking runs forward to
the shot's end and backward to its start and never crosses a scene cut; frames outside the shot
get empty masks. Everything is classical (OpenCV); nothing is downloaded.

Frames are tracked at a working width of at most ``TrackOptions.width`` and the masks enlarged
to the frame size. The frames of the shot before the keyframe are kept at that width (for the
backward pass), at most ``max_frames`` of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vidrestore.geometry import margin_box
from vidrestore.temporal.flow import dis_calc, dis_flow
from vidrestore.temporal.scenecut import is_cut, thumbnail


@dataclass(frozen=True)
class TrackOptions:
    width: int = 480  # working width of the tracking (frames are shrunk to it)
    band: int = 10  # working pixels each side of the carried outline that the colour model decides
    iterations: int = 3  # GrabCut iterations per frame
    max_change: float = 0.35  # a re-fit changing the area by more than this share is rejected
    max_frames: int = 3000  # frames tracked on each side of the keyframe


@dataclass
class TrackStats:
    frames: int = 0  # frames with a tracked (non-empty) mask
    first: int | None = None  # first and last frame of the tracked stretch
    last: int | None = None
    refits_rejected: int = 0


class _Step:
    """One frame at working scale: colour, grey for flow."""

    def __init__(self, frame: np.ndarray, width: int) -> None:
        h, w = frame.shape[:2]
        scale = min(1.0, width / w)
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        self.colour = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame.copy()
        self.grey = cv2.cvtColor(self.colour, cv2.COLOR_RGB2GRAY)
        self.thumb = thumbnail(self.grey)


class MaskTracker:
    """Carries one mask from frame to frame: ``follow(step)`` gives the mask on the next frame."""

    def __init__(self, options: TrackOptions, first: _Step, mask: np.ndarray) -> None:
        self.options = options
        self._dis = dis_flow("track")
        self.previous = first
        self.mask = mask
        self.rejected = 0

    def follow(self, step: _Step) -> np.ndarray:
        flow = dis_calc(self._dis, step.grey, self.previous.grey)  # new frame -> where it came from
        h, w = step.grey.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        carried = cv2.remap(self.mask.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1],
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        carried = carried > 0.5
        fitted = self._refit(step.colour, carried)
        self.previous, self.mask = step, fitted
        return fitted

    def _refit(self, colour: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """GrabCut in a band around ``carried``: sure object deep inside, sure background beyond
        the band; keeps ``carried`` when the re-fit changes the area too much."""
        area = int(carried.sum())
        if area < 16:
            return carried
        band = self.options.band
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        outer = cv2.dilate(carried.view(np.uint8), kernel).astype(bool)
        inner = cv2.erode(carried.view(np.uint8), kernel).astype(bool)
        y0, y1, x0, x1 = margin_box(outer, band)  # type: ignore[misc]  # not empty: area >= 16
        labels = np.full((y1 - y0, x1 - x0), cv2.GC_BGD, np.uint8)
        crop = np.s_[y0:y1, x0:x1]
        labels[outer[crop]] = cv2.GC_PR_BGD
        labels[carried[crop]] = cv2.GC_PR_FGD
        labels[inner[crop]] = cv2.GC_FGD
        if not (labels == cv2.GC_BGD).any() or not ((labels == cv2.GC_PR_FGD) | (labels == cv2.GC_FGD)).any():
            return carried
        image = np.ascontiguousarray(cv2.cvtColor(colour[crop], cv2.COLOR_RGB2BGR))
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: same input, same mask
        try:
            cv2.grabCut(image, labels, None, bgd, fgd, self.options.iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return carried
        fitted = np.zeros_like(carried)
        fitted[crop] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        fitted = _keep_touching(fitted, carried)
        if abs(int(fitted.sum()) - area) > self.options.max_change * area:
            self.rejected += 1
            return carried
        return fitted


def _keep_touching(mask: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` that overlap ``reference``, with their inner holes filled."""
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[mask & reference])] = True
    keep[0] = False
    kept = keep[labels]
    # fill holes: what the background flood does not reach from the border
    flood = np.pad(~kept, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(flood, None, (0, 0), 2)
    return kept | (flood[1:-1, 1:-1] == 1)


def track(
    frames: Iterable[np.ndarray], key: int, key_mask: np.ndarray, options: TrackOptions | None = None,
    stats: TrackStats | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Masks (bool, working scale) for the frames of ``key``'s shot, in frame order, as
    ``(index, mask)``; frames outside the shot are not yielded. ``key_mask``: bool at frame size.

    The shot's frames before ``key`` are held (at working scale) until ``key`` arrives; then the
    backward pass runs over them and the forward pass goes on as frames arrive."""
    options = options or TrackOptions()
    stats = stats if stats is not None else TrackStats()
    before: deque[_Step] = deque(maxlen=options.max_frames)
    tracker: MaskTracker | None = None
    rejected_before = 0
    last_thumb = None
    ahead = 0
    for index, frame in enumerate(frames):
        step = _Step(frame, options.width)
        cut = last_thumb is not None and is_cut(last_thumb, step.thumb)
        last_thumb = step.thumb
        if index < key:
            if cut:
                before.clear()
            before.append(step)
            continue
        if index == key:
            h, w = step.grey.shape
            small = cv2.resize(key_mask.view(np.uint8), (w, h), interpolation=cv2.INTER_AREA) > 0
            yield from _backward(before, key, step, small, options, stats)
            rejected_before = stats.refits_rejected
            before.clear()
            tracker = MaskTracker(options, step, small)
            _count(stats, key)
            yield key, small
            continue
        if tracker is None or cut or ahead >= options.max_frames:
            return
        ahead += 1
        mask = tracker.follow(step)
        if not mask.any():
            return  # the object left the frame
        stats.refits_rejected = rejected_before + tracker.rejected
        _count(stats, index)
        yield index, mask


def _backward(before: deque[_Step], key: int, key_step: _Step, mask: np.ndarray, options: TrackOptions,
              stats: TrackStats) -> Iterator[tuple[int, np.ndarray]]:
    """The keyframe's mask carried back over the shot's earlier frames, yielded in frame order."""
    tracker = MaskTracker(options, key_step, mask)
    found: list[tuple[int, np.ndarray]] = []
    for offset, step in enumerate(reversed(before), start=1):
        m = tracker.follow(step)
        if not m.any():
            break
        found.append((key - offset, m))
    stats.refits_rejected += tracker.rejected
    for index, m in reversed(found):
        _count(stats, index)
        yield index, m


def _count(stats: TrackStats, index: int) -> None:
    stats.frames += 1
    stats.first = index if stats.first is None else min(stats.first, index)
    stats.last = index if stats.last is None else max(stats.last, index)


def full_size(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A working-scale mask enlarged to the frame (bool (H, W))."""
    if mask.shape == (height, width):
        return mask
    return cv2.resize(mask.view(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR) >= 128
