"""Temporal impulses: the spike detection index and the candidate pixels and speck clusters it finds.

A blotch or a dust speck lives on one frame, so its pixels differ from both neighbours in the same
direction (Kokaram 1998). These are the per-pixel tests and the grouping; the motion compensation
and the decisions are the blotch detector's (vidrestore.detect.blotch)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_RING = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])


@dataclass
class LumaFrame:
    """What the detector keeps of one frame while it is in the window."""

    position: int
    luma: np.ndarray  # uint8 (H, W)
    small: np.ndarray  # uint8, for flow
    half: np.ndarray  # uint8, luma area-averaged 2x: where to look for spikes


def neighbourhood_range(luma: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max (int16) of the 3x3 neighbourhood of each point (rows ``y``, columns ``x``,
    at least one pixel inside the border): a grey erosion and dilation read at the few points
    that need them instead of computed over the whole frame."""
    w = luma.shape[1]
    flat = (y * w + x)[:, None] + (_RING[:, 0] * w + _RING[:, 1])[None, :]
    values = luma.ravel()[flat]
    return values.min(axis=1).astype(np.int16), values.max(axis=1).astype(np.int16)


def spike_detection_index(prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Signed SDI on uint8 lumas: the smaller of the two same-signed differences, else 0.

    Positive where ``cur`` is brighter than both neighbours, negative where darker (int16).
    """
    up = cv2.min(cv2.subtract(cur, prev), cv2.subtract(cur, nxt)).astype(np.int16)
    down = cv2.min(cv2.subtract(prev, cur), cv2.subtract(nxt, cur)).astype(np.int16)
    return up - down


def _spike_candidates_shifted(
    a: np.ndarray, cur: np.ndarray, b: np.ndarray, shifts: list[tuple[int, int]], threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_spike_candidates`` against ``a`` and ``b`` moved by whole-pixel shifts (dx, dy) onto
    ``cur``, over the part of ``cur`` both cover: views, no warped copies."""
    h, w = cur.shape
    y0 = max(0, *(-dy for _, dy in shifts))
    y1 = min(h, *(h - dy for _, dy in shifts))
    x0 = max(0, *(-dx for dx, _ in shifts))
    x1 = min(w, *(w - dx for dx, _ in shifts))
    if y1 - y0 < 1 or x1 - x0 < 1:
        return (np.zeros(0, np.intp),) * 2 + (np.zeros(0, bool),)
    (dxa, dya), (dxb, dyb) = shifts
    y, x, bright = _spike_candidates(
        a[y0 + dya : y1 + dya, x0 + dxa : x1 + dxa],
        cur[y0:y1, x0:x1],
        b[y0 + dyb : y1 + dyb, x0 + dxb : x1 + dxb],
        threshold,
    )
    return y + y0, x + x0, bright


def spike_candidates_screened(
    a: LumaFrame, cur: LumaFrame, b: LumaFrame, shifts: list[tuple[int, int]], threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full-resolution spike candidates, looked for only inside the 2x2 blocks that spike
    at half resolution (by half the threshold: a speck at least 2 px across fills a block, a
    block on its rim is half filled): a quarter of the full-resolution work."""
    half_shifts = [(int(round(dx / 2)), int(round(dy / 2))) for dx, dy in shifts]
    by, bx, _ = _spike_candidates_shifted(a.half, cur.half, b.half, half_shifts, 0.5 * threshold)
    if by.size == 0:
        return by, bx, np.zeros(0, bool)
    y = (2 * by[:, None] + np.array([0, 0, 1, 1])).ravel()
    x = (2 * bx[:, None] + np.array([0, 1, 0, 1])).ravel()
    h, w = cur.luma.shape
    (dxa, dya), (dxb, dyb) = shifts
    # inside the frame, and inside both shifted references
    y0, y1 = max(0, -dya, -dyb), min(h, h - dya, h - dyb)
    x0, x1 = max(0, -dxa, -dxb), min(w, w - dxa, w - dxb)
    ok = (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
    y, x = y[ok], x[ok]
    # flat indices: one gather per image instead of a 2-D fancy index
    flat = y * w + x
    va = a.luma.ravel()[flat + (dya * w + dxa)]
    vb = b.luma.ravel()[flat + (dyb * w + dxb)]
    v = cur.luma.ravel()[flat].astype(np.int16)
    up = v - np.maximum(va, vb)
    down = np.minimum(va, vb) - v
    hit = np.maximum(up, down) > threshold
    return y[hit], x[hit], up[hit] > 0


def _spike_candidates(
    a: np.ndarray, cur: np.ndarray, b: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels whose uncompensated SDI exceeds ``threshold``: (rows, cols, is_bright)."""
    # saturating: cur - max(a, b) is the smaller brightening, min(a, b) - cur the smaller
    # darkening, and at most one of them is non-zero
    up = cv2.subtract(cur, cv2.max(a, b))
    down = cv2.subtract(cv2.min(a, b), cur)
    _, hit = cv2.threshold(cv2.max(up, down), threshold, 1, cv2.THRESH_BINARY)
    # a flat search over a bool view of the 0/1 map: numpy's 2-D nonzero, cv2.findNonZero and
    # a flat search over uint8 are each several times slower here
    flat = np.flatnonzero(hit.view(bool))
    y, x = np.divmod(flat, hit.shape[1])
    bright = up.ravel()[flat] > 0
    return y, x, bright


@dataclass
class Specks:
    """Candidate points grouped into specks: ``label[i]`` is point i's speck, ``boxes[k]`` the
    (y0, x0, y1, x1) box, inclusive, of speck k's points."""

    y: np.ndarray
    x: np.ndarray
    label: np.ndarray
    boxes: np.ndarray  # (specks, 4) intp

    def __len__(self) -> int:
        return len(self.boxes)

    def only(self, keep: np.ndarray) -> Specks:
        """The specks ``keep`` (bool per speck) says to keep, numbered again from 0."""
        renumber = np.cumsum(keep) - 1
        chosen = keep[self.label]
        return Specks(self.y[chosen], self.x[chosen], renumber[self.label[chosen]], self.boxes[keep])


def speck_clusters(
    y: np.ndarray, x: np.ndarray, shape: tuple[int, int], max_size: int, min_pixels: int
) -> Specks:
    """The detections that group into compact speck-sized clusters: big clusters are motion
    failures, thin arcs are the edges of moving objects."""
    cell = 4  # cluster on a coarse grid: cheap, and links pixels of one speck across small gaps
    h, w = shape
    if y.size == 0:
        return Specks(y, x, np.zeros(0, np.intp), np.zeros((0, 4), np.intp))
    # only the grid's part around the points, with an empty rim: the same clusters (under other
    # label numbers) as on the whole grid, for a fraction of the labelling
    gy, gx = y // cell, x // cell
    gy0, gx0 = int(gy.min()) - 1, int(gx.min()) - 1
    gy, gx = gy - gy0, gx - gx0
    grid = np.zeros((int(gy.max()) + 2, int(gx.max()) + 2), np.uint8)
    grid[gy, gx] = 1
    count, labels = cv2.connectedComponents(grid, connectivity=8)
    lab = labels[gy, gx]
    pixels = np.bincount(lab, minlength=count)
    y0 = np.full(count, h, np.intp)
    x0 = np.full(count, w, np.intp)
    y1 = np.zeros(count, np.intp)
    x1 = np.zeros(count, np.intp)
    np.minimum.at(y0, lab, y)
    np.minimum.at(x0, lab, x)
    np.maximum.at(y1, lab, y)
    np.maximum.at(x1, lab, x)
    bh, bw = y1 - y0 + 1, x1 - x0 + 1
    good = (bh <= max_size) & (bw <= max_size) & (pixels >= min_pixels)
    # compact, not an arc: judged on the cells, so that a grainy speck whose pixels pass the
    # spike test only here and there still counts as the solid blob it is
    cells = np.bincount(labels.ravel(), minlength=count)
    box_cells = (y1 // cell - y0 // cell + 1) * (x1 // cell - x0 // cell + 1)
    good &= (pixels >= 0.25 * bh * bw) | (cells >= 0.5 * box_cells)
    good &= np.maximum(bh, bw) <= 4 * np.minimum(bh, bw)
    good[0] = False
    return Specks(y, x, lab, np.stack([y0, x0, y1, x1], axis=1)).only(good)


def drop_moving_specks(
    specks: Specks, luma: np.ndarray, references: list[tuple[np.ndarray, tuple[int, int]]],
    radius: int, ratio: float, context: int = 5,
) -> Specks:
    """The specks less those that are moving content.

    A blotch is new on its frame: nothing like it lies near its place in the frames before and
    after. A walking foot or a swinging hand spikes just like one when the motion around it is
    the background's (the coarse motion cells follow the ground), but its patch is found again a
    few pixels away in both neighbours. So each speck's patch (its box plus ``context`` pixels) is
    searched for within ``radius`` pixels of its place moved by the global motion in each
    reference (luma, (dx, dy)); where the best match in both is ``ratio`` times closer (squared
    error) than that place itself, the speck is dropped. Near the border a speck is kept.
    """
    keep = np.ones(len(specks), bool)
    for k, box in enumerate(specks.boxes.tolist()):
        place = _patch_place(box, context, luma.shape)
        patch = _patch(luma, place)
        moving = True
        for ref, shift in references:
            scores = _search(patch, ref, place, shift, radius)
            if scores is None or not float(scores.min()) * ratio < float(scores[radius, radius]):
                moving = False
                break
        keep[k] = not moving
    return specks.only(keep)


def drop_uncovered_specks(
    specks: Specks,
    luma: np.ndarray,
    references: list[tuple[np.ndarray, np.ndarray]],
    ratio: float,
    ring: int = 3,
    radius: int = 2,
) -> Specks:
    """The specks less those whose surroundings the reference frames do not show either.

    Seen from one side only (the first and last frames of a shot), ground that an object uncovers
    (or is about to cover) differs from both references just like dust, and a dark dot of that
    ground stands out of its own frame like dust too. What tells them apart is the ground around
    the speck: around dust the references show the same picture, around uncovered ground they
    show the object. Each speck's surroundings (its box grown by ``ring`` pixels, less its own
    points and their neighbours) are matched in each reference within ``radius`` pixels of where
    the motion leads (``references``: (luma, per speck (dx, dy) int (specks, 2))); the speck is
    kept when, at the best match in every reference, the surroundings differ by less than
    ``ratio`` times the speck itself (root mean square). A speck too near the border for the
    search is dropped.

    The blotch detector asks this of specks seen from one side only, and of specks where the
    flow failed its checks (there the search stands in for the flow).
    """
    if len(specks) == 0:
        return specks
    h, w = luma.shape
    keep = np.ones(len(specks), bool)
    for k, box in enumerate(specks.boxes.tolist()):
        place = _patch_place(box, ring, luma.shape)
        y0, y1, x0, x1 = place
        own = specks.label == k
        inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
        inside[specks.y[own] - y0, specks.x[own] - x0] = 1
        spot = inside.view(bool)
        around = ~cv2.dilate(inside, np.ones((3, 3), np.uint8)).view(bool)
        if not around.any():
            continue
        patch = _patch(luma, place)
        weight = around.astype(np.float32)
        for ref, shifts in references:
            dx, dy = (int(v) for v in shifts[k])
            sy0, sx0 = y0 + dy - radius, x0 + dx - radius
            sy1, sx1 = y1 + dy + radius, x1 + dx + radius
            if sy0 < 0 or sx0 < 0 or sy1 > h or sx1 > w:
                keep[k] = False  # too near the border to tell: no benefit of the doubt
                break
            area = ref[sy0:sy1, sx0:sx1].astype(np.float32)
            scores = cv2.matchTemplate(area, patch, cv2.TM_SQDIFF, mask=weight)
            by, bx = np.unravel_index(int(np.argmin(scores)), scores.shape)
            there = area[by : by + patch.shape[0], bx : bx + patch.shape[1]]
            ring_error = float(scores[by, bx]) / float(np.count_nonzero(around))
            speck_error = float(np.mean((patch[spot] - there[spot]) ** 2))
            if not ring_error < ratio * ratio * speck_error:
                keep[k] = False
                break
    return specks.only(keep)


def drop_graded_specks(
    specks: Specks,
    luma: np.ndarray,
    near: list[tuple[np.ndarray, np.ndarray]],
    far: list[tuple[np.ndarray, np.ndarray]],
    band: float,
    radius: int = 4,
    context: int = 3,
) -> Specks:
    """The specks less those whose patch is clearly nearer to the frames one away than to the
    frames two away, or the other way round.

    Dust lies on one frame only: the frames one and two away both show the ground under it, so
    its patch (box plus ``context`` pixels) is about as far from the best match in either
    (squared error, searched within ``radius`` pixels of its place moved by the global motion).
    Content changes by degrees: a foot mid-stride is nearer to the frames next to it, a patch of
    sky that flickers between leaves is nearer to where it shows again two frames away. A speck
    whose ratio (two away / one away) lies outside [1 / ``band``, ``band``] is dropped. ``near``
    and ``far``: (luma, per speck (dx, dy) int (specks, 2)) of the frames one and two away; with
    no ``far``, or near the border, a speck is kept.
    """
    if not far or len(specks) == 0:
        return specks
    keep = np.ones(len(specks), bool)
    for k, box in enumerate(specks.boxes.tolist()):
        place = _patch_place(box, context, luma.shape)
        patch = _patch(luma, place)
        nearest = [_search(patch, ref, place, tuple(shifts[k]), radius) for ref, shifts in near]
        farthest = [_search(patch, ref, place, tuple(shifts[k]), radius) for ref, shifts in far]
        if any(v is None for v in nearest + farthest):
            continue
        one = min(float(v.min()) for v in nearest if v is not None) / patch.size
        two = min(float(v.min()) for v in farthest if v is not None) / patch.size
        ratio = max(two, 1.0) / max(one, 1.0)
        keep[k] = 1.0 / band <= ratio <= band
    return specks.only(keep)


def _patch_place(box: list[int], context: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1), end exclusive: a speck's inclusive box grown by ``context`` pixels,
    within the frame."""
    by0, bx0, by1, bx1 = box
    h, w = shape[:2]
    return max(0, by0 - context), min(h, by1 + 1 + context), max(0, bx0 - context), min(w, bx1 + 1 + context)


def _patch(luma: np.ndarray, place: tuple[int, int, int, int]) -> np.ndarray:
    y0, y1, x0, x1 = place
    return luma[y0:y1, x0:x1].astype(np.float32)


def _search(
    patch: np.ndarray, ref: np.ndarray, place: tuple[int, int, int, int], shift: tuple[int, int], radius: int
) -> np.ndarray | None:
    """Squared error of ``patch`` at each place within ``radius`` of ``place`` moved by
    ``shift`` (dx, dy) in ``ref``, (2 radius + 1) square, the unmoved place in the middle; None
    when the search reaches past the border."""
    y0, y1, x0, x1 = place
    dx, dy = shift
    h, w = ref.shape
    sy0, sy1, sx0, sx1 = y0 + dy - radius, y1 + dy + radius, x0 + dx - radius, x1 + dx + radius
    if sy0 < 0 or sx0 < 0 or sy1 > h or sx1 > w:
        return None
    return cv2.matchTemplate(ref[sy0:sy1, sx0:sx1].astype(np.float32), patch, cv2.TM_SQDIFF)
