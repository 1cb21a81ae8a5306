"""Logos that appear over a still shot, found by their arrival.

Over a still camera the fixed-edge statistics of ``logo`` cannot tell a logo from the scenery:
both are fixed, and nothing moves around or behind it. What gives a logo away there is its
arrival: between one stretch of frames and the next, new fixed edges enclose a compact region,
the picture around it stays as it was, and inside it the picture is the old one blended towards
one colour, ``after = (1 - a) * before + a * colour`` (a semi-transparent plate), and moves no
more than before. A person who stops, a parked car or a door that opens changes a region too,
but not by such a blend (and an object moves more than the ground it came to rest on); a cut, a
camera move or a change of light changes much of the frame. An opaque plate leaves nothing of the
picture before it, like an object leaving a still background: it is not taken here (the sliding
windows and the probe find opaque logos where the picture moves around them).

``find_arrivals`` compares the sums of two consecutive stretches (``LogoSums``, the per-pixel
means of the gradients and of the luma, as ``Stretch``) and returns logo candidates in the form ``presence``
looks for, frame by frame; ``confirm_arrival`` checks one on the frames themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidrestore.detect.logo import (
    ROI_MARGIN,
    LogoCandidate,
    LogoSettings,
    LogoSums,
    bounded_share,
    presence,
    region_parts,
)

#: the template's edges are this many times stronger than before the arrival (the scenery's edges,
#: dimmed behind a plate, are weaker; they would match the frames before it too)
STRONGER = 2.0
#: at least this mean luma change inside the region (levels): a logo is visible
MIN_CHANGE = 6.0
#: the picture around the region may change by at most this share of the change inside
RING_CHANGE = 0.2
#: share of the region's pixels the blend is fitted on (the rest, letters of another opacity, may differ)
FIT_SHARE = 0.7
#: the fitted blend must explain the change up to this share of it (root mean square)
FIT_ERROR = 0.25
#: the blend's slope (1 - opacity) for a plate the picture shows through
MIN_SLOPE, MAX_SLOPE = 0.15, 0.8
#: the blend's offset (opacity * the plate's luma, levels): a plate that lightens or tints
MIN_TINT = 8.0
#: the picture inside must vary this much (levels, standard deviation) for the slope to be known
MIN_TEXTURE = 3.0
#: the step in a pixel's mean must be this many times its spread over either half: leaves and
#: grass in the wind move the mean too (tuning seeds 10-14: vtest 4 -> 5 of 5, carphone 0 -> 1)
SPREAD_RATIO = 2.0
#: more of the frame changed than this: a cut, a flash or a camera move, not an arrival
MAX_CHANGED = 0.5
#: the picture behind a plate may change from frame to frame by this much more than before it
#: arrived (levels: noise); an object that came to rest there moves more
MOTION_MARGIN = 1.5
#: share of the frames after (before) an arrival that must (must not) show the logo
SHOWN = 0.6
#: the jump of the contrast at an arrival, over its spread (interquartile) on either side
STEP_RATIO = 3.0
#: fewer pixels inside (less a 2-px band) than this give no blend to fit
MIN_INNER = 16
#: fewer new fixed-edge pixels than this give no template to look for
MIN_TEMPLATE = 8


def find_arrivals(
    before: Stretch, after: Stretch, settings: LogoSettings, full_shape: tuple[int, int]
) -> list[LogoCandidate]:
    """Overlays present in the frames of ``after`` and absent from those of ``before`` (two
    consecutive stretches of the same shot, at the working scale).

    Regions come from two places: where the mean luma changed (beyond a change of exposure of
    the whole frame, and beyond how much the pixel moves within each stretch), and groups of new
    fixed edges (for a logo arriving next to something that moves, whose change would merge with
    it). Each must be bounded by new fixed edges and have changed as by a blend (``is_blend``)."""
    if min(before.count, after.count) < max(3, settings.min_frames // 2):
        return []
    maps = _Maps(before, after, settings)
    w = maps.mean_a.shape[1]
    regions = []
    step = np.abs(maps.mean_a - maps.mean_b)
    moving = SPREAD_RATIO * np.maximum(before.spread, after.spread)
    changed = ((step > MIN_CHANGE) & (step > moving)).view(np.uint8)  # beyond what moves anyway
    if changed.mean() <= MAX_CHANGED:  # more: a cut, a flash, the camera moving
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        regions.append(cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)))
    reach = max(3, round(0.015 * w))
    regions.append(cv2.dilate(maps.new.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)))
    out: list[LogoCandidate] = []
    for region, outline_of in zip(regions, [None] * (len(regions) - 1) + [maps.new], strict=True):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
        for i in range(1, count):
            candidate = _candidate(labels, i, stats[i], outline_of, maps, settings, full_shape)
            if candidate is not None and not any(candidate.same_as(c) for c in out):
                out.append(candidate)
    return out


@dataclass(frozen=True)
class Stretch:
    """What ``find_arrivals`` needs of a stretch of frames, at the working scale: how many frames
    went in, the mean luma, the mean gradient (x, y) and its stability (see ``stability``)."""

    count: int
    mean: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    stability: np.ndarray  # |mean gradient|^2 / mean |gradient|^2 (see ``logo._edge_maps``)
    spread: np.ndarray  # standard deviation of the luma over the frames

    @classmethod
    def of(cls, blocks: Sequence[LogoSums]) -> Stretch:
        """From the sums of consecutive blocks (the stream keeps one per block)."""
        n = sum(b.count for b in blocks)  # each block takes in its first frame at least
        keys = ("v", "gx", "gy", "g2", "v2")
        v, gx, gy, g2, v2 = (sum(b.sums[k] for b in blocks) / np.float32(n) for k in keys)
        stability = (gx * gx + gy * gy) / (g2 + 1e-3)
        return cls(n, v, gx, gy, stability, np.sqrt(np.maximum(v2 - v * v, 0.0)))


class _Maps:
    """What ``find_arrivals`` reads, at the working scale: the mean lumas before (matched to the
    exposure after) and after, the mean gradient after, and the new fixed edges."""

    def __init__(self, before: Stretch, after: Stretch, settings: LogoSettings) -> None:
        self.mean_a = after.mean
        self.mean_b = exposure_matched(before.mean, after.mean)
        self.gx, self.gy = after.gx, after.gy
        g2_a = after.gx * after.gx + after.gy * after.gy
        weak_edge = (settings.edge * settings.weak_edge) ** 2
        fixed = (after.stability > settings.weak_stability) & (g2_a > weak_edge)
        # new: fixed edges much stronger than before (the scenery's own edges, dimmed behind a
        # plate, are weaker than before; they would also match the frames before it arrived)
        self.new = fixed & (g2_a > STRONGER**2 * (before.gx * before.gx + before.gy * before.gy))


def _candidate(labels: np.ndarray, i: int, stats: np.ndarray, outline_of: np.ndarray | None, maps: _Maps,
               settings: LogoSettings, full_shape: tuple[int, int]) -> LogoCandidate | None:
    """The logo candidate region ``i`` of ``labels`` makes, if it passes the tests: its hull is
    that of its pixels, or of its pixels in ``outline_of`` (the edges a grown region groups)."""
    h, w = labels.shape
    area_total = float(h * w)
    x, y, cw, ch, pixels = (int(v) for v in stats)
    if pixels < settings.min_area * area_total or cw * ch > 4 * settings.max_area * area_total:
        return None
    y0, y1 = max(0, y - ROI_MARGIN), min(h, y + ch + ROI_MARGIN)
    x0, x1 = max(0, x - ROI_MARGIN), min(w, x + cw + ROI_MARGIN)
    roi = (slice(y0, y1), slice(x0, x1))
    hull = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    own = labels[roi] == i
    if outline_of is not None:
        own &= outline_of[roi]
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(own.view(np.uint8))), 1)
    area = float(hull.sum())
    if not settings.min_area * area_total <= area <= settings.max_area * area_total:
        return None
    if outline_of is None and pixels < settings.solidity * area:
        return None  # a ragged region (a moving object's trail): it fills too little of its hull
    if _touches_edge(hull, (y0, x0), (h, w)):
        return None  # content coming into view at the frame's edge; logos sit inside the frame
    inner, ring, outline = region_parts(hull)
    if inner.sum() < MIN_INNER or ring.sum() < 4:
        return None
    new = maps.new[roi]
    if bounded_share(new, outline) < settings.closure:
        return None  # not bounded by new fixed edges: light or content changing, not a plate arriving
    before, after = maps.mean_b[roi], maps.mean_a[roi]
    if not is_blend(before[inner], after[inner], before[ring], after[ring]):
        return None
    on = cv2.dilate(hull, np.ones((5, 5), np.uint8)).view(bool) & new
    if np.count_nonzero(on) < MIN_TEMPLATE:
        return None
    template = np.stack([maps.gx[roi][on], maps.gy[roi][on]])
    whole = np.zeros((h, w), dtype=bool)
    whole[roi] = hull.view(bool)
    return LogoCandidate((y0, y1, x0, x1), on, template, whole, full_shape, inner, ring)


def exposure_matched(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``before`` (mean lumas) mapped by the gain and offset that best turn it into ``after`` over
    most of the frame: a camera's exposure or a fade changes every pixel, a logo only its own.
    (Fitted on every fourth pixel each way: two numbers need few.)"""
    gain, offset, _, _ = _line_through_most(before[::4, ::4].ravel(), after[::4, ::4].ravel(), 0.7, 1.0)
    return gain * before + offset


def is_blend(inside_before: np.ndarray, inside_after: np.ndarray,
             ring_before: np.ndarray, ring_after: np.ndarray) -> bool:
    """Whether the mean lumas inside a region changed from ``inside_before`` to ``inside_after``
    as under a semi-transparent overlay arriving: visibly, much more than around it, and (on
    most of its pixels) as one blend ``after = s * before + b`` with the picture still showing
    through (``MIN_SLOPE`` <= s < ``MAX_SLOPE``, s = 1 - opacity) and tinted (``b`` >=
    ``MIN_TINT``). An opaque region arriving, or an object leaving a still background, leaves
    nothing of the picture before; light dimming or a shadow scales it without a tint: neither
    is told apart from a logo, so neither is taken."""
    change = inside_after - inside_before
    size = float(np.sqrt(np.mean(change * change)))
    if size < MIN_CHANGE or float(np.std(inside_before)) < MIN_TEXTURE:
        return False
    around = ring_after - ring_before
    if float(np.sqrt(np.mean(around * around))) > RING_CHANGE * size:
        return False
    slope, offset, error, keep = _line_through_most(inside_before, inside_after, FIT_SHARE, 0.0)
    fit = float(np.sqrt(np.mean(error[keep] ** 2)))
    # the plate tints the picture towards its colour (offset = opacity * colour): light dimming,
    # or a hard shadow, scales the picture with no offset, and is not taken (nor is a dark plate)
    return MIN_SLOPE <= slope < MAX_SLOPE and offset >= MIN_TINT and fit <= FIT_ERROR * size


def _line_through_most(
    x_all: np.ndarray, y_all: np.ndarray, share: float, flat_slope: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(slope, offset, |error| of every point, the points kept) of ``y = slope * x + offset``
    fitted three times, each time on the ``share`` of the points the fit before explains best
    (the rest: a logo's pixels in an exposure fit, its letters in a plate's). Where x hardly
    varies (variance 1 or less), the slope is ``flat_slope``."""
    keep = np.ones(x_all.shape, dtype=bool)
    slope = offset = 0.0
    error = np.zeros(x_all.shape, np.float32)
    for _ in range(3):
        x, y = x_all[keep], y_all[keep]
        var = float(np.var(x))
        slope = float(np.mean((x - x.mean()) * (y - y.mean())) / var) if var > 1.0 else flat_slope
        offset = float(y.mean() - slope * x.mean())
        error = np.abs(y_all - (slope * x_all + offset))
        keep = error <= np.quantile(error, share)
    return slope, offset, error, keep


def confirm_arrival(
    candidate: LogoCandidate, early: list[np.ndarray], late: list[np.ndarray], settings: LogoSettings
) -> bool:
    """Whether the frames (working-scale lumas, in order) before and after the split agree with
    a logo arriving: most of the late ones show it and most of the early ones do not, and the
    picture inside it changes from frame to frame no more than before (dimmed by the plate;
    an object that came to rest there, a person standing and talking, moves more)."""
    if not early or not late:
        return False
    shown_late = np.mean([presence(candidate, f) > settings.presence for f in late])
    shown_early = np.mean([presence(candidate, f) > settings.presence for f in early])
    if shown_late < SHOWN or shown_early > 1 - SHOWN:
        return False
    if _motion_inside(candidate, late) > _motion_inside(candidate, early) + MOTION_MARGIN:
        return False
    # a logo arrives at once: its contrast with the picture around it jumps between two steady
    # levels; light that comes up slowly (the sun on a rock) ramps through the whole window
    before, after = _contrast(candidate, early), _contrast(candidate, late)
    spread = max(_iqr(before), _iqr(after), 0.5)
    return abs(float(np.median(after) - np.median(before))) >= STEP_RATIO * spread


def _motion_inside(candidate: LogoCandidate, frames: list[np.ndarray]) -> float:
    """Median over consecutive frames of the upper quartile of the change inside the candidate
    (levels): one step (the arrival itself) does not count."""
    if len(frames) < 2:
        return 0.0
    y0, y1, x0, x1 = candidate.roi
    crops = np.stack([f[y0:y1, x0:x1] for f in frames]).astype(np.int16)
    steps = np.abs(crops[1:] - crops[:-1])[:, candidate.inner]
    # the upper quartile: an object at rest may cover only part of the region
    return float(np.median(np.percentile(steps, 75, axis=1)))


def _touches_edge(hull: np.ndarray, origin: tuple[int, int], shape: tuple[int, int]) -> bool:
    """Whether a region (``hull`` placed at ``origin`` in a frame of ``shape``) reaches the frame's edge."""
    ys, xs = np.nonzero(hull)
    y0, x0 = origin
    return bool(y0 + ys.min() <= 0 or x0 + xs.min() <= 0 or y0 + ys.max() >= shape[0] - 1
                or x0 + xs.max() >= shape[1] - 1)


def _contrast(candidate: LogoCandidate, frames: list[np.ndarray]) -> np.ndarray:
    """Per frame, the mean luma inside the candidate less the mean in the ring around it."""
    y0, y1, x0, x1 = candidate.roi
    crops = [f[y0:y1, x0:x1] for f in frames]
    return np.array([float(c[candidate.inner].mean()) - float(c[candidate.ring].mean()) for c in crops])


def _iqr(values: np.ndarray) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)
