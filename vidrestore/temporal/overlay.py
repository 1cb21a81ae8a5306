"""Seeing through a static semi-transparent overlay (a burned-in logo) instead of filling it.

A logo is usually blended over the picture: observed = (1 - a) * truth + a * colour, with an
opacity map ``a`` and a colour fixed for the whole clip. Where ``a`` < 1 the truth is still in
the frame, dimmed, and truth = (observed - a * colour) / (1 - a) recovers it with its own texture
and motion, where any fill can only guess from the surroundings. The estimate reads a static hole
over many frames (see docs/experiments.md, "Seeing through a semi-transparent logo"):

1. the plate's opacity is the mode of per-pixel least-squares opacities against a plain fill, over
   pixels whose fill lies far from the colour (the colour is re-estimated from the plate, three
   rounds from white);
2. each pixel is labelled clear, plate, letters (plate + 0.3), free (its own opacity, at most 0.9)
   or lost, by iterated conditional modes: a wrong opacity scales what moves under the logo, so a
   label is judged by how well its inverted pixel's motion and mean continue its neighbours';
3. the overlay is refused (None) where it cannot be told: no clear plate, a plate above 0.75
   (nearly opaque: what shows through is mostly noise, amplified by 1 / (1 - opacity)), too few
   pixels whose fill lies far from the colour (a white logo on
   a white sky: inversion amplifies noise), or too little of the hole's interior it would see
   through (a static object under a box, not an overlay). Lost pixels stay holes for the
   inpainter.

How the undone overlay is used, the fill keeping the level and the frames giving the detail, is
``keep_detail``; the stages are in `vidrestore.temporal.see_through`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

WHITE = np.full(3, 255.0, np.float32)
TOLERANCE = 0.08  # per-pixel opacities this close to the plate's count as the plate
CONDITIONED = 40.0**2  # squared rms distance of fill from colour above which opacity can be told
BETA, LOST_COST, FREE_COST, FIT_CAP, GAP_CAP = 4.0, 12.0, 4.0, 30.0, 60.0
MIN_CONDITIONED_SHARE = 0.5  # of the hole: else the overlay barely changes the picture
MIN_SEEN_SHARE = 0.5  # of the hole's interior seen through with an opacity above 0: else no overlay
RIM = 3  # px inside a hole's edge left out of that share (a grown mask's band of clear pixels)
MAX_SEEN = 0.75  # opacity above which a pixel is lost: undoing it would amplify noise over 4 times
CLEAR, PLATE, LETTERS, FREE, LOST = range(5)  # the labels, in the order of their opacities
DETAIL_SIGMA = 8.0  # px: finer detail comes from the frames, coarser from the fill


@dataclass(frozen=True)
class Overlay:
    """A static overlay over ``box`` (y0, y1, x0, x1): opacity ``alpha``, ``see`` (pixels it is
    undone at) and ``labels`` (CLEAR, PLATE, LETTERS, FREE or LOST; -1 outside the hole), all
    (h, w) over the box, and its RGB ``colour``."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray
    see: np.ndarray
    colour: np.ndarray
    labels: np.ndarray

    def undo(self, frame: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The crop of ``frame`` (H, W, 3 uint8) on ``box`` with the overlay undone where ``mask``
        (H, W bool) holds it, and where that is (a bool crop); None where it holds none of it."""
        y0, y1, x0, x1 = self.box
        seen = mask[y0:y1, x0:x1] & self.see
        if not seen.any():
            return None
        crop = frame[y0:y1, x0:x1].copy()
        crop[seen] = invert(crop[seen], self.alpha[seen][:, None], self.colour)
        return crop, seen


def keep_detail(fill: np.ndarray, seen_through: np.ndarray, regions: np.ndarray,
                sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """``seen_through`` with its coarse picture replaced by ``fill``'s, float32, region by region.

    ``regions`` (h, w int): -1 for pixels of neither, else an index; within each region the coarse
    picture is the blur at ``sigma`` of that region's pixels only. So the detail of what the logo
    hid (its texture and motion) comes from the frames, where every fill is a smear, and its level
    and colour from the fill, where an opacity or colour a little off would shift the whole plate;
    and, the blurs never mixing regions, such an offset leaves no edge along the letters."""
    out = seen_through.astype(np.float32).copy()
    fill_f = fill.astype(np.float32)
    for r in np.unique(regions[regions >= 0]):
        inside = (regions == r).astype(np.float32)
        weight = np.maximum(cv2.GaussianBlur(inside, (0, 0), sigma), 1e-4)[..., None]
        shift = cv2.GaussianBlur((fill_f - out) * inside[..., None], (0, 0), sigma) / weight
        out += np.where(inside[..., None] > 0, shift, 0.0)
    return out


def invert(observed: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The truth under an overlay of opacity ``alpha`` (broadcast against ``observed``), uint8."""
    a = np.minimum(alpha, 0.99).astype(np.float32)
    truth = (observed.astype(np.float32) - a * colour) / (1 - a)
    return np.clip(np.rint(truth), 0, 255).astype(np.uint8)


def least_squares_opacity(o: np.ndarray, p: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel least-squares opacity (in [0, 1]) of observed ``o`` over fill ``p`` (T, h, w, 3)
    towards ``colour``, and how well it is conditioned (mean squared distance of fill from colour)."""
    d = colour - p
    num, den = ((o - p) * d).sum(axis=(0, 3)), (d * d).sum(axis=(0, 3))
    return np.clip(num / np.maximum(den, 1e-3), 0, 1).astype(np.float32), den / (len(o) * 3)


def opacity_map(o: np.ndarray, p: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``least_squares_opacity``, median filtered (the plate's search reads it), and conditioning."""
    raw, weight = least_squares_opacity(o, p, colour)
    return cv2.medianBlur(raw, 5), weight


def plate_opacity(o: np.ndarray, hole: np.ndarray, p: np.ndarray
                  ) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(plate opacity or None, per-pixel opacity (median filtered), colour) from frames and a fill."""
    colour, plate = WHITE.copy(), None
    for _ in range(3):
        per_pixel, weight = opacity_map(o, p, colour)
        values = per_pixel[hole & (weight > CONDITIONED)]
        if values.size < 20:
            return None, per_pixel, colour
        hist, edges = np.histogram(values, bins=95, range=(0.05, 1.0))
        peak = edges[int(np.argmax(np.convolve(hist, np.ones(5) / 5, mode="same")))] + 0.005
        plate = float(np.median(values[np.abs(values - peak) < TOLERANCE]))
        if plate < 0.05:  # no plate: the peak is the clear pixels'
            return None, per_pixel, colour
        on_plate = hole & (np.abs(per_pixel - plate) < TOLERANCE)
        colour = np.clip(((o[:, on_plate] - (1 - plate) * p[:, on_plate]) / plate).reshape(-1, 3).mean(0),
                         0, 255).astype(np.float32)
    return plate, per_pixel, colour


def shifted(x: np.ndarray, dy: int, dx: int, fill: float | int | bool) -> np.ndarray:
    """``x[..., y + dy, x + dx]`` at (y, x), ``fill`` past the edge."""
    out = np.full_like(x, fill)
    h, w = x.shape[-2:]
    out[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = \
        x[..., max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    return out


def add_neighbour_cost(cost: np.ndarray, usable: list[bool], n_known: np.ndarray, n_label: np.ndarray,
                       gap_of: Callable[[int], np.ndarray]) -> None:
    """One neighbour's share of each label's cost: the label's gap to the neighbour (``gap_of(k)``,
    capped) where the neighbour is known, ``LOST_COST`` for a label that keeps the hole, and ``BETA``
    where the neighbour has another label (``n_label`` -2: outside the region)."""
    for k, can_invert in enumerate(usable):
        if can_invert:
            cost[k] += np.where(n_known, np.minimum(gap_of(k), GAP_CAP), 0.0)
        else:
            cost[k] += np.where(n_known, LOST_COST, 0.0)
        cost[k] += BETA * ((n_label != k) & (n_label > -2))


def estimate_overlay(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray,
                     box: tuple[int, int, int, int] = (0, 0, 0, 0), guarded: bool = True) -> Overlay | None:
    """The overlay over ``hole`` (h, w) seen in ``observed`` (T, h, w, 3 uint8, the hole static
    and a few pixels of known surroundings around it), with ``fill`` a plain fill of the same
    frames; None where it cannot be told (see the module's docstring). ``box``: where the crop
    lies in the frame (y0 and x0 count; the size comes from ``hole``). ``guarded=False`` drops the
    two refusals after the plate's (too few well-conditioned pixels, too few seen through), for
    measuring what they are worth."""
    o, f = observed.astype(np.float32), fill.astype(np.float32)
    plate, per_pixel, colour = plate_opacity(o, hole, f)
    if plate is None or plate > MAX_SEEN:
        return None
    own, weight = least_squares_opacity(o, f, colour)  # each pixel's, against the final colour
    if guarded and float((weight[hole] > CONDITIONED).mean()) < MIN_CONDITIONED_SHARE:
        return None
    free = np.minimum(own, 0.9)
    levels = [np.full(hole.shape, a, np.float32) for a in (0.0, plate, min(plate + 0.3, 0.97))]
    levels.append(free)
    labels = _motion_labels(o, f, hole, levels, per_pixel, plate, colour)
    lost = len(levels)
    alpha = np.ones(hole.shape, np.float32)
    for k, a in enumerate(levels):
        alpha = np.where(labels == k, a, alpha)
    see = hole & (labels >= 0) & (labels < lost) & (alpha < MAX_SEEN)
    interior = _interior(hole)
    if guarded and float((see & (alpha > 0) & interior).sum()) < MIN_SEEN_SHARE * interior.sum():
        return None
    y0, x0 = box[0], box[2]
    return Overlay((y0, y0 + hole.shape[0], x0, x0 + hole.shape[1]), alpha, see, colour,
                   labels.astype(np.int8))


def _interior(hole: np.ndarray) -> np.ndarray:
    """``hole`` less a ``RIM``-px band inside its edge (the whole hole when little is left): a mask
    grown around a logo (``--dilate``) adds clear pixels there, which say nothing of an overlay."""
    kernel = np.ones((2 * RIM + 1, 2 * RIM + 1), np.uint8)
    inner = cv2.erode(hole.astype(np.uint8), kernel, borderValue=1).astype(bool)
    return inner if inner.sum() >= 0.2 * hole.sum() else hole


def _motion_labels(o: np.ndarray, f: np.ndarray, hole: np.ndarray, levels: list[np.ndarray],
                   per_pixel: np.ndarray, plate: float, colour: np.ndarray) -> np.ndarray:
    """Each hole pixel's label (an index into ``levels``, or ``len(levels)``: lost; -1 outside)."""
    inverted = np.stack([(o - a[None, ..., None] * colour) / (1 - a[None, ..., None]) for a in levels])
    mean = inverted.mean(axis=1, keepdims=True)  # (K, 1, h, w, 3)
    motion, still = inverted - mean, mean[:, 0]
    del inverted
    fit = np.minimum(np.abs(np.clip(still, -50, 305) - f.mean(axis=0)).mean(axis=-1), FIT_CAP)
    lost = len(levels)
    fit = np.concatenate([fit, np.full((1,) + hole.shape, 0.8 * FIT_CAP, np.float32)])
    fit[3] += FREE_COST
    # start from the nearest of clear, plate, letters and lost to the smoothed per-pixel opacity
    nearest = np.argmin(np.abs(per_pixel[..., None] - np.array([0.0, plate, plate + 0.3, 1.0])), -1)
    labels = np.where(hole, np.array([0, 1, 2, lost])[nearest], -1)
    motion_t = np.moveaxis(motion, -1, 2)  # (K, T, 3, h, w)
    still_t = np.moveaxis(np.clip(still, -50, 305), -1, 1)  # (K, 3, h, w)
    for _ in range(8):
        pick = np.clip(labels, 0, lost - 1)
        cur_motion = np.take_along_axis(motion_t, pick[None, None, None], axis=0)[0]
        cur_still = np.take_along_axis(still_t, pick[None, None], axis=0)[0]
        usable = labels != lost
        cost = fit.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            n_motion, n_still = shifted(cur_motion, dy, dx, 0.0), shifted(cur_still, dy, dx, 0.0)
            n_label = shifted(labels, dy, dx, -2)
            n_known = shifted(usable, dy, dx, False) & (n_label > -2)
            add_neighbour_cost(
                cost, [True] * lost + [False], n_known, n_label,
                lambda k, moves=n_motion, stays=n_still:
                    np.abs(motion_t[k] - moves).mean(axis=(0, 1)) + np.abs(still_t[k] - stays).mean(axis=0))
        labels = np.where(hole, np.argmin(cost, axis=0), -1)
    return labels
