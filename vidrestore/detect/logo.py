"""Burned-in logo and watermark detection from temporal statistics, anywhere in a clip.

A semi-transparent overlay is fixed to the frame while the content behind it moves. Over many
frames (on a luma no wider than 640 px) three running sums tell it apart:

- the mean gradient *vector*: moving content points every which way and averages out, an
  edge passing by is there for a share of the frames only, a fixed edge adds up every frame
  (stability = |mean gradient|^2 / mean |gradient|^2);
- the temporal spread of the luma: behind a logo of opacity a the content still moves, but
  its spread is scaled by (1 - a); static scenery barely spreads at all;
- so a logo is a region bounded by coherent fixed edges, with moving content both outside and,
  dimmed, inside (measured on the frames that show it, as the change between them). Static
  scenery (no motion outside), windows onto a moving scene (motion inside, none outside) and
  letterbox bars or other frame borders are refused.

``find_candidates`` turns one set of sums into logo candidates: a filled outline (the mask) and
its fixed edges with their mean gradient (the template that ``presence`` looks for in one frame);
``confirm`` checks a candidate on the frames that show it (content dimmed behind it).
``LogoDetector`` (in ``logo_stream``) finds them in sliding windows and in samples taken across
the whole file, then decides frame by frame where each logo is present.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 640
#: pixels around a component's box that its tests may reach (the ring's 4, and a margin)
ROI_MARGIN = 8
#: fewer connected fixed-edge pixels than this are a speck, not a stroke
MIN_STROKE = 8
#: different backgrounds a logo must be seen over in samples from a whole file
MIN_LOOKS = 3
#: |Sobel gradient| of the picture (mean over the frames) where the ring counts as textured
TEXTURE_EDGE = 16.0
#: share of the stretches of a span in which a fixed edge must be fixed the same way
AGREE = 0.75

#: a region touching the frame's edge and spanning this share of its width or height is a border
BORDER_SPAN = 0.6


@dataclass(frozen=True)
class LogoSettings:
    """Thresholds for the long-run statistics (luma levels at the working scale)."""

    stability: float = 0.6  # |mean gradient|^2 / mean |gradient|^2 of a fixed edge
    edge: float = 24.0  # |mean Sobel gradient| of a fixed edge
    weak_stability: float = 0.35  # the same for a faint fixed edge joined to a strong one...
    weak_edge: float = 1 / 3  # ...whose mean gradient may be this share of ``edge``
    motion: float = 6.0  # temporal spread of the content around a logo
    change: float = 3.0  # mean change between the frames showing a logo, of the content all around it
    dimming: tuple[float, float] = (0.1, 0.85)  # change inside / change outside
    closure: float = 0.5  # share of the outline of a region that must run along fixed edges
    solidity: float = 0.6  # share of a region left after a 5x5 erosion: a plate, not a sliver
    min_area: float = 0.0005  # share of the frame
    max_area: float = 0.1
    min_frames: int = 8  # fewer frames than this: no decision
    presence: float = 0.5  # gradient correlation with the template that says "logo present"

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> LogoSettings:
        """Higher sensitivity: weaker and less coherent edges count; 1.0 is the default."""
        s = max(float(sensitivity), 1e-3)
        stability = min(0.95, 0.6 / s**0.5)
        return cls(
            stability=stability,
            edge=24.0 / s,
            weak_stability=min(stability, 0.35 / s**0.5),
            presence=min(0.8, 0.5 / s**0.5),
        )


class LogoSums:
    """Running sums of the gradients and luma of frames at the working scale (a few float images)."""

    KEYS = ("gx", "gy", "g2", "v", "v2")

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.count = 0
        self.sums = {k: np.zeros(shape, np.float32) for k in self.KEYS}

    def add(self, small: np.ndarray, buffers: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Add one working-scale uint8 luma frame (``buffers``: two float images to reuse)."""
        if buffers is None:
            buffers = (np.empty(small.shape, np.float32), np.empty(small.shape, np.float32))
        gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, dst=buffers[0], ksize=3)
        gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, dst=buffers[1], ksize=3)
        s = self.sums
        cv2.accumulate(gx, s["gx"])
        cv2.accumulate(gy, s["gy"])
        cv2.accumulateSquare(gx, s["g2"])
        cv2.accumulateSquare(gy, s["g2"])
        cv2.accumulate(small, s["v"])
        cv2.accumulateSquare(small, s["v2"])
        self.count += 1

    @classmethod
    def total(cls, parts: Sequence[LogoSums]) -> LogoSums:
        out = cls(parts[0].shape)
        for part in parts:
            out.add_sums(part)
        return out

    def add_sums(self, other: LogoSums, sign: int = 1) -> None:
        """Add (``sign`` -1: take away) another set of sums of frames of the same size."""
        for k in self.KEYS:
            if sign > 0:
                self.sums[k] += other.sums[k]
            else:
                self.sums[k] -= other.sums[k]
        self.count += sign * other.count


@dataclass(frozen=True)
class LogoCandidate:
    """One overlay: its filled outline and the fixed edges that bound it.

    ``roi``: (y0, y1, x0, x1) at the working scale; ``edges``: bool in the roi, the template's
    pixels; ``template``: float (2, n), their mean (gx, gy); ``work_mask``: the filled outline
    over the working-scale frame. ``mask`` and ``box`` give it at full resolution."""

    roi: tuple[int, int, int, int]
    edges: np.ndarray
    template: np.ndarray
    work_mask: np.ndarray  # bool, the working-scale frame
    full_shape: tuple[int, int]  # (H, W) of the frames
    inner: np.ndarray  # bool in the roi: the region less a 2-px band (its content)
    ring: np.ndarray  # bool in the roi: a band 2-4 px outside the region (the content around)
    support: int = 0  # frames that showed it when it was confirmed

    @functools.cached_property
    def mask(self) -> np.ndarray:
        """bool (H, W): the filled outline at full resolution (made once, when first asked for)."""
        h, w = self.full_shape
        return cv2.resize(self.work_mask.view(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR).view(bool)

    @functools.cached_property
    def box(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the mask in pixels."""
        x, y, w, h = cv2.boundingRect(self.mask.view(np.uint8))
        return int(x), int(y), int(w), int(h)

    def same_as(self, other: LogoCandidate) -> bool:
        """Two candidates for one logo: they overlap by more than half of the smaller one
        (a candidate that missed a faint part of a logo is still that logo)."""
        inter = np.count_nonzero(self.work_mask & other.work_mask)
        smaller = min(np.count_nonzero(self.work_mask), np.count_nonzero(other.work_mask))
        return inter > 0.5 * smaller


def work_scale(luma: np.ndarray) -> np.ndarray:
    """The luma at the working scale (at most ``WORK_WIDTH`` wide)."""
    h, w = luma.shape
    if w <= WORK_WIDTH:
        return luma
    return cv2.resize(luma, (WORK_WIDTH, max(1, round(h * WORK_WIDTH / w))), interpolation=cv2.INTER_AREA)


def find_candidates(
    sums: LogoSums,
    settings: LogoSettings,
    full_shape: tuple[int, int],
    parts: Sequence[Sequence[LogoSums]] = (),
) -> list[LogoCandidate]:
    """The overlays the sums show (none when fewer than ``min_frames`` frames went in).

    ``parts``: consecutive stretches of the same frames (each the sums of its blocks). A fixed
    edge must be fixed, the same way, in nearly all of them (``AGREE``): scenery of a still shot
    that fills most of a window before or after a cut is fixed over the window too, but absent
    from its other end, and texture of a few still shots can line up by chance over all of
    them, but not in each. (Checked on the candidate pixels only: they are few.)"""
    if sums.count < settings.min_frames:
        return []
    mean_gx, mean_gy, stability = _edge_maps(sums)
    mean_g2 = mean_gx * mean_gx
    mean_g2 += mean_gy * mean_gy
    strong = (stability > settings.stability) & (mean_g2 > settings.edge**2)
    if not strong.any():
        return []
    # hysteresis: where the plate's colour is close to the content behind it, its outline
    # is a faint fixed edge; faint fixed edges count when they connect to strong ones
    weak = (stability > settings.weak_stability) & (mean_g2 > (settings.edge * settings.weak_edge) ** 2)
    parts = [p for p in parts if sum(b.count for b in p)]
    if parts:
        at = np.flatnonzero(strong)
        mx, my = mean_gx.ravel()[at], mean_gy.ravel()[at]
        agree = np.zeros(at.size, np.int32)
        for part in parts:
            n = float(sum(b.count for b in part))
            gx, gy, g2 = (sum(b.sums[k].ravel()[at] for b in part) / n for k in ("gx", "gy", "g2"))
            steady = (gx * gx + gy * gy) / (g2 + 1e-3)
            agree += (steady > settings.weak_stability) & (gx * mx + gy * my > 0)
        strong.ravel()[at[agree < math.ceil(AGREE * len(parts) - 1e-9)]] = False
        if not strong.any():
            return []
    edges = _strokes(weak | strong, strong).view(np.uint8)
    out = []
    for hull, (y0, y1, x0, x1), inner, ring in _overlay_regions(edges, sums, settings):
        near = cv2.dilate(hull[y0:y1, x0:x1], np.ones((5, 5), np.uint8)).astype(bool)
        on = near & (edges[y0:y1, x0:x1] > 0)
        if np.count_nonzero(on) < 8:
            continue
        template = np.stack([mean_gx[y0:y1, x0:x1][on], mean_gy[y0:y1, x0:x1][on]])
        out.append(LogoCandidate((y0, y1, x0, x1), on, template, hull.view(bool), full_shape, inner, ring))
    return out


def _spread(sums: LogoSums, roi: tuple[slice, slice]) -> np.ndarray:
    """The temporal spread (standard deviation) of the luma in ``roi``."""
    n = float(sums.count)
    mean = sums.sums["v"][roi] / n
    return np.sqrt(np.maximum(sums.sums["v2"][roi] / n - mean * mean, 0.0))


def _edge_maps(sums: LogoSums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean gradient (x, y) and its stability, |E[g]|^2 / E[|g|^2]: 1 for an edge that never
    moves, the share of frames it is there for an edge passing by, ~0 for texture moving past."""
    n = float(sums.count)
    s = sums.sums
    mean_gx, mean_gy = s["gx"] / n, s["gy"] / n
    stability = mean_gx * mean_gx
    stability += mean_gy * mean_gy
    energy = s["g2"] / n
    energy += 1e-3
    stability /= energy
    return mean_gx, mean_gy, stability


def confirm(
    candidate: LogoCandidate, smalls: list[np.ndarray], settings: LogoSettings, far: bool = False
) -> LogoCandidate | None:
    """The candidate checked on ``smalls`` (working-scale lumas, in time order), with its
    template re-measured on the frames that show it and ``support`` = how many do; None when
    they do not show an overlay.

    The re-measure drops what the frames without the logo added to the template (a still shot
    without it would otherwise look a little like it). Then, from one frame showing it to the
    next, the content all around it must change (in most such steps, not only across a cut or
    where one object passed a still scene), and the content behind it change too, dimmed (a
    semi-transparent overlay), not as much (a window onto the scene). Only the frames that show
    it count, so a logo that comes and goes passes: its own arrival is not content changing
    behind it. ``far``: compare each frame with the one half the frames later instead of the
    next (samples from a whole file, where a still camera changes only from shot to shot)."""
    need = max(3, settings.min_frames // 2)
    grads = [_gradients(candidate, small) for small in smalls]
    clear = (1 + settings.presence) / 2  # the frames that show it clearly make the template
    shown = [g for g in grads if _correlation(g, candidate.template) > clear]
    if len(shown) < need:
        return None
    template = np.mean(shown, axis=0)
    kept = [i for i, g in enumerate(grads) if _correlation(g, template) > settings.presence]
    if len(kept) < need:
        return None
    y0, y1, x0, x1 = candidate.roi
    crops = np.stack([smalls[i][y0:y1, x0:x1] for i in kept]).astype(np.int16)
    step = len(kept) // 2 if far else 1
    change = np.abs(crops[step:] - crops[: len(crops) - step])  # (pairs, h, w)
    # motion shows only where the picture has detail: over flat sky a moving camera changes
    # nothing, so the ring is judged where it has texture (when a quarter of it or more has)
    ring_at = candidate.ring
    mean = crops.mean(axis=0).astype(np.float32)
    detail = np.hypot(cv2.Sobel(mean, cv2.CV_32F, 1, 0), cv2.Sobel(mean, cv2.CV_32F, 0, 1))
    textured = ring_at & (detail > TEXTURE_EDGE)
    if np.count_nonzero(textured) >= 0.25 * np.count_nonzero(ring_at):
        ring_at = textured
    ring = change[:, ring_at]
    # all around it, in most steps
    if float(np.median(np.percentile(ring, 25, axis=1))) < settings.change:
        return None
    # ...over enough different backgrounds: a few still shots can line up by chance
    if far and _looks(crops, candidate) < MIN_LOOKS:
        return None
    around = float(np.median(np.median(ring, axis=1)))
    behind = float(np.median(np.median(change[:, candidate.inner], axis=1)))
    if not settings.dimming[0] <= behind / max(around, 1e-6) <= settings.dimming[1]:
        return None
    return dataclasses.replace(candidate, template=template.astype(np.float32), support=len(kept))


def _looks(crops: np.ndarray, candidate: LogoCandidate) -> int:
    """How many different backgrounds the frames (roi crops, int16, in time order) show around
    the candidate: one, plus one for each step to the next frame that changes the content all
    around it."""
    change = np.abs(crops[1:] - crops[:-1])[:, candidate.ring]
    return 1 + int(np.count_nonzero(np.percentile(change, 25, axis=1) >= 3 * LogoSettings.change))


def _gradients(candidate: LogoCandidate, small: np.ndarray) -> np.ndarray:
    """float (2, n): one frame's (gx, gy) on the candidate's template pixels."""
    y0, y1, x0, x1 = candidate.roi
    crop = small[y0:y1, x0:x1]
    gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3)[candidate.edges]
    gy = cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3)[candidate.edges]
    return np.stack([gx, gy])


def _correlation(g: np.ndarray, template: np.ndarray) -> float:
    """The correlation of ``g`` with ``template``, scaled down where ``g`` is weaker than the
    template: smooth content has few independent gradients over a small logo and can line up
    with its outline by chance, but then with less contrast than the logo's own edges."""
    norm_g = float(np.sqrt(np.vdot(g, g)))
    norm_t = float(np.sqrt(np.vdot(template, template)))
    if norm_t < 1e-6:
        return 0.0
    return float(np.vdot(g, template)) / (norm_t * max(norm_g, norm_t))


def presence(candidate: LogoCandidate, small: np.ndarray) -> float:
    """How much one working-scale frame shows the candidate's fixed edges: the correlation of
    the frame's gradients with the template on the template's pixels (1 = the same edges,
    ~0 = unrelated content or a flat frame; see ``_correlation``)."""
    return _correlation(_gradients(candidate, small), candidate.template)


def _strokes(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pixels of ``candidates`` (bool) in 8-connected groups that hold a ``seeds`` pixel and
    at least ``MIN_STROKE`` pixels: specks of fixed edge are texture that happened to line up
    over the frames, an overlay's outline and letters are connected strokes."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.view(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[labels[seeds & candidates]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= MIN_STROKE
    keep[0] = False
    return keep[labels]


def _overlay_regions(
    edges: np.ndarray, sums: LogoSums, s: LogoSettings
) -> list[tuple[np.ndarray, tuple[int, int, int, int], np.ndarray, np.ndarray]]:
    """Fill each closed group of fixed edges and keep those that look like an overlay with
    content moving around it: a list of (filled outline as uint8 over the whole working frame,
    its roi (y0, y1, x0, x1), the inner part and the ring around it in the roi). Whether the
    content behind it is dimmed is for ``validate``, on the frames that show it."""
    h, w = edges.shape
    # an emblem's outline, letters and broken bits of edge are one overlay: group what is near
    reach = max(3, round(0.015 * w))
    grouped = cv2.dilate(edges, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    found = []
    area_total = float(h * w)
    for i in range(1, count):
        x, y, cw, ch, _ = stats[i]
        if cw * ch < s.min_area * area_total or cw * ch > 4 * s.max_area * area_total:
            continue
        # the work below in the component's box plus the ring's reach (and a margin): the same
        # result as over the whole frame, where the box meets the frame's edge too
        y0, y1 = max(0, y - ROI_MARGIN), min(h, y + ch + ROI_MARGIN)
        x0, x1 = max(0, x - ROI_MARGIN), min(w, x + cw + ROI_MARGIN)
        roi = (slice(y0, y1), slice(x0, x1))
        spread = _spread(sums, roi)
        if float(np.median(spread)) < s.motion / 2:
            continue  # still scenery (cheap to tell before the outline is filled)
        own = (labels[roi] == i) & (edges[roi] > 0)
        points = cv2.findNonZero(own.view(np.uint8))
        hull = np.zeros(own.shape, dtype=np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        area = float(hull.sum())
        if not s.min_area * area_total <= area <= s.max_area * area_total:
            continue
        if _is_border(hull, (y0, x0), (h, w)):
            continue  # a letterbox bar or a static frame edge, not an overlay
        inner, ring, outline = region_parts(hull)
        if inner.sum() < s.solidity * area or ring.sum() < 4:
            continue  # a sliver along one edge, not a region
        # an overlay is bounded by its fixed edges: most of the hull's outline runs along them
        if bounded_share(edges[roi], outline) < s.closure:
            continue
        if float(np.median(spread[ring])) < s.motion:
            continue  # content must move around it
        whole = np.zeros((h, w), dtype=np.uint8)
        whole[roi] = hull
        found.append((whole, (y0, y1, x0, x1), inner, ring))
    return found


def region_parts(hull: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inner, ring, outline) of a filled region (uint8 0/1), as bool maps of its size: the
    region less a 2-px band (its content), a band 2-4 px outside it (the content around), and
    its 1-px outline."""
    inner = cv2.erode(hull, np.ones((5, 5), np.uint8)).astype(bool)
    ring = cv2.dilate(hull, np.ones((9, 9), np.uint8)) - cv2.dilate(hull, np.ones((3, 3), np.uint8))
    outline = (hull - cv2.erode(hull, np.ones((3, 3), np.uint8))).astype(bool)
    return inner, ring.astype(bool), outline


def bounded_share(edges: np.ndarray, outline: np.ndarray) -> float:
    """Share of a region's ``outline`` that runs within 2 px of ``edges`` (uint8 or bool, the
    same size): an overlay is bounded by its own edges."""
    return float(cv2.dilate(edges.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)[outline].mean())


def _is_border(hull: np.ndarray, origin: tuple[int, int], shape: tuple[int, int]) -> bool:
    """A region that touches the frame's edge and runs along most of it."""
    ys, xs = np.nonzero(hull)
    y0, x0 = origin
    h, w = shape
    top, bottom = y0 + ys.min(), y0 + ys.max()
    left, right = x0 + xs.min(), x0 + xs.max()
    touches_h = top <= 1 or bottom >= h - 2
    touches_w = left <= 1 or right >= w - 2
    wide = touches_h and right - left + 1 >= BORDER_SPAN * w
    tall = touches_w and bottom - top + 1 >= BORDER_SPAN * h
    return bool(wide or tall)

