"""Finding scratch lines in one frame: thin vertical ridges, accumulated down the frame in bands,
linked into straight lines.

What a line is and how it is drawn into a mask; following lines over frames and telling film
scratches from scene structure is the scratch detector's (vidrestore.detect.scratch).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BAND_ROWS_TARGET = 90  # how many band rows a frame is squeezed to


SEGMENT = 8  # band rows per segment of vertical accumulation


@dataclass(frozen=True)
class ScratchSettings:
    """Contrast in luma levels (after band averaging), geometry in full-resolution pixels."""

    contrast: float = 6.0  # the line must beat both sides by this much (segment-row average)
    side: int = 5  # the sides are up to this many columns away: wider features are not scratches
    min_length: float = 0.33  # share of the frame height a scratch must span
    fill: float = 0.7  # share of a segment's rows where the column must peak
    max_angle_deg: float = 5.0
    half_width: int = 2  # the mask covers the peak column +- this much
    persistence: float = 3.0  # a line's partner in the next frame is at most this far, px
    max_wiggle: float = 1.5  # RMS distance of a line's peaks from a straight line, px
    row_support: float = 0.8  # share of band rows where the line must be a ridge
    segment_support: float = 0.6  # the same, for each segment of a line
    persistence_share: float = 0.3  # share of the frames within the look-ahead either side
    two_sided: float = 0.5  # (contrast to the nearer side) / (to the farther side) of a line
    # where the scene beside a line has not moved enough for its motion to tell (a still camera),
    # the line must beat both sides more evenly: median ratio, then the share of the frame's
    # height where rows reach ``two_sided`` if the median does not
    two_sided_still: float = 0.6
    two_sided_still_span: float = 0.4
    still_votes: int = 4  # frame pairs before a line that keeps exactly to the scene is scene
    still_mismatch: float = 0.012  # px^2: mean squared (line shift - scene shift) of such a line
    side_votes: bool = True  # also test the line against the scene on each side alone

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> ScratchSettings:
        """Higher sensitivity: fainter and shorter lines count; 1.0 is the default."""
        s = max(float(sensitivity), 1e-3)
        return cls(contrast=6.0 / s, min_length=min(0.9, 0.33 / s))


@dataclass
class ScratchLine:
    """One scratch found in one frame: the peak column of each band row it covers."""

    rows: np.ndarray  # band row indices
    cols: np.ndarray  # peak column in each of those rows
    x_min: int
    x_max: int
    slope: float = 0.0  # columns per band row, from a line fit
    offset: float = 0.0
    straightness: float = 0.0  # RMS distance of the peaks from the fitted line, px
    row_support: float = 1.0  # share of band rows where the line is a ridge
    ratios: np.ndarray | None = None  # per row, how evenly it beats both sides (_ridge_rows)
    track: int = -1  # the same scratch in other frames has the same track number

    def x_at(self, rows: np.ndarray) -> np.ndarray:
        return self.slope * rows + self.offset


def band_height(luma: np.ndarray) -> int:
    """Rows averaged into one band row."""
    return max(1, round(luma.shape[0] / BAND_ROWS_TARGET))


def ridge_peaks(rows: np.ndarray, contrast: float, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Narrow bright and dark row extrema of an image of averaged rows (float32): two bool maps.

    A pixel is a bright peak when it beats the pixels ``side`` columns left and right by
    ``contrast`` and is a local maximum of its row (the left end of a flat top counts), so
    lines wider than about 2 * side - 1 px are not found.
    """
    p = np.pad(rows, ((0, 0), (side, side)), mode="edge")
    w = rows.shape[1]
    l1, r1 = p[:, side - 1 : side - 1 + w], p[:, side + 1 : side + 1 + w]
    left, right = p[:, 0:w], p[:, 2 * side : 2 * side + w]
    bright = (rows - np.maximum(left, right) > contrast) & (rows >= r1) & (rows > l1)
    dark = (np.minimum(left, right) - rows > contrast) & (rows <= r1) & (rows < l1)
    return bright, dark


def scratch_peaks(luma: np.ndarray, band: int, s: ScratchSettings) -> tuple[np.ndarray, list[np.ndarray]]:
    """The band image (float32) of one frame (uint8 luma (H, W)) and, per polarity (bright,
    dark), its segment-row peaks that may belong to a line: bool (nseg, W); none when the frame
    is too small to hold a scratch.

    Ridges are looked for in segment rows (SEGMENT band rows averaged, ~64 px at 720p): over that
    height texture averages out while a near-vertical line keeps its contrast. Only large-array
    work, and no state: the stage may run it in a worker thread ahead of the decisions.
    """
    w = luma.shape[1]
    bands = band_rows(luma, band)
    nseg = bands.shape[0] // SEGMENT
    if nseg < 2 or w < 2 * s.side + 3:
        return bands, []
    segments = bands[: nseg * SEGMENT].reshape(nseg, SEGMENT, w).mean(axis=1)
    margin = s.side + 2  # frame borders often carry a dark or bright column of their own
    support = _segment_support(bands[: nseg * SEGMENT], s.side)
    out = []
    for peaks, rows_ok in zip(ridge_peaks(segments, s.contrast, s.side), support, strict=True):
        # a segment peak made by a line is a ridge in most of its band rows, one made by
        # texture that happens to average into a ridge is not
        peaks &= rows_ok >= s.segment_support
        peaks[:, :margin] = False
        peaks[:, w - margin :] = False
        out.append(peaks)
    return bands, out


def find_scratch_chains(
    luma: np.ndarray,
    band: int,
    s: ScratchSettings,
    peaks: tuple[np.ndarray, list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, list[ScratchLine]]:
    """The band image (float32) and the scratch chains of one frame (uint8 luma (H, W)); ``peaks``:
    what ``scratch_peaks`` gives for it, if already worked out."""
    h = luma.shape[0]
    bands, polarities = peaks if peaks is not None else scratch_peaks(luma, band, s)
    chains: list[ScratchLine] = []
    for sign, found in zip((1, -1), polarities, strict=False):
        for chain in _link_segments(found, band, h, s):
            best, chain.ratios = _ridge_rows(bands, chain, sign, s.side)
            chain.row_support = float(np.mean(best > 1.0))
            if chain.straightness <= s.max_wiggle and chain.row_support >= s.row_support:
                chains.append(chain)
    return bands, chains


def band_rows(luma: np.ndarray, band: int) -> np.ndarray:
    """uint8 luma (H, W) squeezed to H // band rows, each the mean of ``band`` rows (float32)."""
    h, w = luma.shape
    nb = max(1, h // band)
    if band == 1 or h < band:
        return luma[:nb].astype(np.float32)
    rows = luma[: nb * band].reshape(nb, band, w)
    # row by row into a 16-bit sum (bands up to 257 rows): twice as fast as numpy's sum over
    # the middle axis
    sums = rows[:, 0].astype(np.uint16 if band <= 257 else np.uint32)
    for k in range(1, band):
        sums += rows[:, k]
    # rounded to whole levels, like OpenCV's area resize: the thresholds were tuned on that
    return np.rint(sums.astype(np.float32) * np.float32(1.0 / band))


def _segment_support(bands: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per segment and column, the share of band rows where a bright (then a dark) ridge passes
    within one column: (nseg, W) float32 each."""
    nb, w = bands.shape
    # band values are whole levels: in saturating uint8, "beats both sides by more than 1"
    # is exactly the float test, at a quarter of the memory traffic
    p = cv2.copyMakeBorder(bands.astype(np.uint8), 0, 0, side + 1, side + 1, cv2.BORDER_REPLICATE)
    centre = p[:, side : side + w + 2]
    left, right = p[:, 0 : w + 2], p[:, 2 * side : 2 * side + w + 2]
    out = []
    for beat in (cv2.subtract(centre, cv2.max(left, right)), cv2.subtract(cv2.min(left, right), centre)):
        ok = (beat > 1).view(np.uint8)
        loose = ok[:, 0:w] | ok[:, 1 : w + 1] | ok[:, 2 : w + 2]
        rows = loose.reshape(nb // SEGMENT, SEGMENT, w)
        counts = rows[:, 0].copy()
        for k in range(1, SEGMENT):
            counts += rows[:, k]
        out.append(counts.astype(np.float32) * np.float32(1.0 / SEGMENT))
    return out[0], out[1]


def _ridge_rows(bands: np.ndarray, chain: ScratchLine, sign: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Per band row of a chain: (contrast to the nearer side, two-sidedness), for lines of the
    given sign (1 bright, -1 dark).

    A scratch beats its nearer side by over a level in nearly every row (row support near 1),
    a streak of texture in about half. Two-sidedness: (contrast to the nearer side) / (contrast
    to the farther side): about 1 for a line over even ground, small for a rim along a step edge.
    """
    w = bands.shape[1]
    rows = chain.rows
    x = np.rint(chain.x_at(rows)).astype(np.intp)
    # the three candidate columns (-1, 0, +1) at once, (3, rows); the first best one counts
    c = np.minimum(np.maximum(x[None, :] + np.array([[-1], [0], [1]]), 0), w - 1)
    v = sign * bands[rows, c]
    left = sign * bands[rows, np.maximum(c - side, 0)]
    right = sign * bands[rows, np.minimum(c + side, w - 1)]
    near = v - np.maximum(left, right)
    pick = near.argmax(axis=0)
    cols = np.arange(rows.size)
    best = near[pick, cols]
    far = (v - np.minimum(left, right))[pick, cols]
    ratio = np.clip(best, 0.0, None) / np.maximum(far, 1e-3)
    return best, ratio


MAX_LINES = 16  # lines the vote takes out of one component, best first
SAMPLED_PEAKS = 32  # components with more peaks than this vote (_hough_lines) instead of pairing them


def _hough_lines(
    peaks: np.ndarray, max_slope: float, min_segments: int, tolerance: float = 1.5
) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """Steep lines through the peaks of one polarity (bool (nseg, W)), best first, each as
    (slope, offset, segments, columns of its peaks) with x = slope * (segment + 0.5) + offset.

    A vote over a grid of (slope, column at mid-height) counts, for each line, the segments
    holding a peak within a column of it. Every peak votes: on textured footage the peaks of a
    scratch are mixed with those of leaves or grass, and a search that samples a few of them
    misses the line. The best line's peaks are taken out before the next is looked for.
    """
    nseg, w = peaks.shape
    segs, xs = np.nonzero(peaks)
    if np.unique(segs).size < min_segments:
        return []
    centre = segs + 0.5 - nseg / 2.0  # lines pivot at mid-height: the slope grid errs least there
    # slope steps small enough that a line is off its grid neighbour by <= 0.5 px at the ends
    count = 2 * int(np.ceil(max_slope * nseg / 2.0)) + 1
    slopes = np.linspace(-max_slope, max_slope, count)
    pad = int(np.ceil(max_slope * nseg / 2.0)) + 2
    width = w + 2 * pad
    # bins[k, i]: the grid column of peak i's line at slope k; a segment's peaks never share one
    bins = np.rint(xs[None, :] - slopes[:, None] * centre[None, :]).astype(np.intp) + pad
    every = np.arange(count)[:, None]
    present = np.zeros((count, nseg, width), dtype=bool)
    present[every, segs[None, :], bins] = True
    near = present.copy()  # a peak one column off the grid line still counts
    near[:, :, 1:] |= present[:, :, :-1]
    near[:, :, :-1] |= present[:, :, 1:]
    score = near.sum(axis=1, dtype=np.int16)
    alive = np.ones(segs.size, dtype=bool)
    lines: list[tuple[float, float, np.ndarray, np.ndarray]] = []
    while len(lines) < MAX_LINES:
        k, b = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[k, b] < min_segments:
            break
        score[k, b] = -1  # taken
        # every peak that voted for this cell lies within 1.5 px (a column of slack plus the
        # rounding), so the inliers span the cell's score in segments
        inliers = alive & (np.abs(xs - (b - pad) - slopes[k] * centre) <= tolerance)
        lines.append((*_fit_line(segs[inliers], xs[inliers]), segs[inliers], xs[inliers]))
        alive &= ~inliers
        # take the line's peaks out, and count again only the grid cells they voted for
        present[every, segs[None, inliers], bins[:, inliers]] = False
        cells_k = np.repeat(np.arange(count), 3 * int(inliers.sum()))
        cells_b = (bins[:, inliers][:, :, None] + np.arange(-1, 2)).ravel()
        again = present[cells_k, :, cells_b - 1] | present[cells_k, :, cells_b]
        recount = (again | present[cells_k, :, cells_b + 1]).sum(axis=1, dtype=np.int16)
        score[cells_k, cells_b] = np.where(score[cells_k, cells_b] < 0, -1, recount)
    return lines


def _link_segments(peaks: np.ndarray, band: int, h: int, s: ScratchSettings) -> list[ScratchLine]:
    """Long straight steep lines through segment-row peaks of one polarity."""
    nseg, w = peaks.shape
    max_slope = np.tan(np.deg2rad(s.max_angle_deg)) * band * SEGMENT  # columns per segment
    step = int(np.ceil(max_slope)) + 1
    hits = peaks.astype(np.uint8)
    linked = cv2.dilate(hits, np.ones((1, 2 * step + 1), np.uint8))
    linked = cv2.morphologyEx(linked, cv2.MORPH_CLOSE, np.ones((3, 1), np.uint8))
    # labels only: OpenCV's statistics cost several times the labelling here
    count, labels = cv2.connectedComponents(linked, connectivity=8)
    chains = []
    min_segments = max(2, int(np.ceil(s.min_length * h / (SEGMENT * band))))
    # segments holding a peak, per component: most components are texture spanning a few
    flat = np.flatnonzero(peaks)
    seg_rows, seg_cols = np.divmod(flat, w)
    owner = labels.ravel()[flat]
    present = np.zeros((count, nseg), dtype=bool)
    present[owner, seg_rows] = True
    for i in np.flatnonzero(present.sum(axis=1) >= min_segments).tolist():
        if i == 0:
            continue
        # the component's peaks in row-major order (sorted by segment)
        mine = owner == i
        segs, xs = seg_rows[mine], seg_cols[mine]
        if segs.size > SAMPLED_PEAKS:
            # texture (leaves, grass) joins the whole frame into one component, and a few
            # sampled peaks would miss the scratch among it: every peak votes instead
            x0 = int(xs.min())
            local = np.zeros((nseg, int(xs.max()) - x0 + 1), dtype=bool)
            local[segs, xs - x0] = True
            for slope, offset, line_segs, line_xs in _hough_lines(local, max_slope, min_segments):
                chain = _chain_from_line(line_segs, line_xs + x0, slope, offset + x0)
                if chain is not None:
                    chains.append(chain)
            continue
        # a component may hold texture beside the line, or two lines: take them out one by one
        for _ in range(3):
            line = _best_line(segs, xs, max_slope, min_segments)
            if line is None:
                break
            slope, offset, inliers = line
            chain = _chain_from_line(segs[inliers], xs[inliers], slope, offset)
            if chain is not None:
                chains.append(chain)
            segs, xs = segs[~inliers], xs[~inliers]
    return chains


def _best_line(
    segs: np.ndarray, xs: np.ndarray, max_slope: float, min_segments: int
) -> tuple[float, float, np.ndarray] | None:
    """Over every pair of segment peaks (at most SAMPLED_PEAKS of them): the steep line passing
    within 1.5 px of peaks in the most segments, as x = slope * (segment + 0.5) + offset, with
    which peaks lie on it."""
    steps = np.flatnonzero(np.diff(segs))  # segs come sorted: where a new segment starts
    if steps.size + 1 < min_segments:
        return None
    centre = segs + 0.5
    a, b = _pairs(segs.size)  # every pair: larger groups vote instead (_hough_lines)
    order = segs[a] != segs[b]
    a, b = a[order], b[order]
    if a.size == 0:
        return None
    slope = (xs[b] - xs[a]) / (centre[b] - centre[a])
    ok = np.abs(slope) <= max_slope
    a, slope = a[ok], slope[ok]
    if a.size == 0:
        return None
    offset = xs[a] - slope * centre[a]
    near = np.abs(slope[:, None] * centre[None, :] + offset[:, None] - xs[None, :]) <= 1.5
    # segments with a peak near each candidate line (segs are sorted: reduce over their runs)
    starts = np.concatenate(([0], steps + 1))
    score = np.logical_or.reduceat(near, starts, axis=1).sum(axis=1)
    k = int(np.argmax(score))
    if score[k] < min_segments:
        return None
    inliers = near[k]
    return (*_fit_line(segs[inliers], xs[inliers]), inliers)


def _fit_line(segs: np.ndarray, xs: np.ndarray) -> tuple[float, float]:
    """Least-squares (slope, offset) of x = slope * (segment + 0.5) + offset through peaks."""
    cx, cy = segs + 0.5, xs.astype(np.float64)
    mx, my = cx.mean(), cy.mean()
    var = float(((cx - mx) ** 2).sum())
    slope = float(((cx - mx) * (cy - my)).sum()) / var if var > 0 else 0.0
    return slope, float(my - slope * mx)


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, 1)``, cached: RANSAC asks for the same few sizes every frame."""
    if n not in _PAIRS:
        _PAIRS[n] = np.triu_indices(n, 1)
    return _PAIRS[n]


def _chain_from_line(segs: np.ndarray, xs: np.ndarray, slope: float, offset: float) -> ScratchLine | None:
    """The band rows a line covers: its supporting segments, bridging one-segment gaps."""
    lo = int(segs.min())
    covered = np.bincount(segs - lo).astype(bool)
    span = np.arange(lo, lo + covered.size)
    # a missing segment between two present ones is bridged; longer gaps stay open
    bridged = covered.copy()
    bridged[1:-1] |= covered[:-2] & covered[2:]
    if bridged.sum() < 0.6 * span.size:
        return None
    seg_rows = span[bridged]
    rows = (seg_rows[:, None] * SEGMENT + np.arange(SEGMENT)[None, :]).ravel()
    per_row = slope / SEGMENT
    x_rows = per_row * (rows + 0.5) + offset
    resid = float(np.sqrt(np.mean((xs - (slope * (segs + 0.5) + offset)) ** 2)))
    cols = np.rint(x_rows).astype(np.intp)
    return ScratchLine(rows, cols, int(cols.min()), int(cols.max()), per_row, offset + 0.5 * per_row, resid)


def draw_line(mask: np.ndarray, chain: ScratchLine, band: int, half_width: int) -> None:
    """Paint a chain at full resolution; gaps of up to two band rows are bridged."""
    h, w = mask.shape
    rows, cols = chain.rows, chain.cols
    full = np.arange(rows[0], rows[-1] + 1)
    # bridge short gaps only: a long gap is where the scratch does not show
    gap_ok = np.ones(full.size, dtype=bool)
    idx = np.searchsorted(rows, full)
    missing = rows[np.minimum(idx, rows.size - 1)] != full
    if missing.any():
        prev_row = rows[np.maximum(np.searchsorted(rows, full, side="right") - 1, 0)]
        next_row = rows[np.minimum(idx, rows.size - 1)]
        gap_ok = ~missing | (next_row - prev_row <= 3)
    xs = np.interp(full, rows, cols)
    for r, x, ok in zip(full.tolist(), xs.tolist(), gap_ok.tolist(), strict=True):
        if not ok:
            continue
        xi = int(round(x))
        mask[r * band : (r + 1) * band, max(0, xi - half_width) : min(w, xi + half_width + 1)] = True
