"""Film scratch detection: thin, long, near-vertical lines that persist over frames.

What AviSynth's DeScratch looks for, done on a frame squeezed vertically (rows averaged in
bands of ~8, which keeps every column and makes a vertical line stand out from noise):

1. in each band row, a narrow luma extremum: brighter (or darker) than the pixels a few columns
   to both sides, and the local peak of its row (a line at most ~7 px wide);
2. vertical accumulation: within segments of 8 band rows (~64 px), a column that is a peak in
   most rows, allowing one column of slant per row;
3. segments link into a chain with small horizontal steps; a chain must be long (a third of
   the frame height by default) and steep (a few degrees from vertical);
4. a chain must reappear at about the same place in a good share (30%) of the frames nearby,
   must not move with the scene beside it, and must beat the scene on both sides (a bright
   rim along an edge of the scene beats only its dark side).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from vidrestore.detect.lookahead import LookaheadDecisions

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

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> ScratchSettings:
        """Higher sensitivity: fainter and shorter lines count; 1.0 is the default."""
        s = max(float(sensitivity), 1e-3)
        return cls(contrast=6.0 / s, min_length=min(0.9, 0.33 / s))


@dataclass
class _Chain:
    """One scratch found in one frame: the peak column of each band row it covers."""

    rows: np.ndarray  # band row indices
    cols: np.ndarray  # peak column in each of those rows
    x_min: int
    x_max: int
    slope: float = 0.0  # columns per band row, from a line fit
    offset: float = 0.0
    straightness: float = 0.0  # RMS distance of the peaks from the fitted line, px
    row_support: float = 1.0  # share of band rows where the line is a ridge
    ratios: np.ndarray | None = None  # per row, how evenly it beats both sides (_ridge_profile)
    track: int = -1  # the same scratch in other frames has the same track number

    def x_at(self, rows: np.ndarray) -> np.ndarray:
        return self.slope * rows + self.offset


@dataclass
class _Votes:
    """Evidence, over a track's life, on whether a line moves with the scene behind it."""

    scene_motion: float = 0.0  # sum of squared frame-to-frame shifts of the scene beside it
    mismatch: float = 0.0  # sum of squared differences between line and scene shifts

    @property
    def scene_structure(self) -> bool:
        """The scene moved enough to tell, and the line followed it closely."""
        return self.scene_motion >= 1.0 and self.mismatch < 0.25 * self.scene_motion


@dataclass
class _Track:
    """One line followed over frames."""

    last: _Chain
    last_seen: int
    seen: list[int]
    votes: _Votes


class ScratchDetector(LookaheadDecisions):
    """Streaming scratch detector: push luma frames in order, get (position, mask) back.

    A scratch sits on the film, not in the scene: when the scene beside a line moves and the
    line moves with it, the line is a pole or a window frame, not a scratch. Lines are tracked
    over frames (bridging a few frames where they fade), that evidence is gathered over the
    track, and frame t is decided once ``lookahead`` later frames have added theirs.
    """

    kind = "scratch"
    prepare_in_order = False
    lookahead = 6
    memory = 12  # a track that has not been seen for this many frames ends

    def __init__(self, sensitivity: float = 1.0, settings: ScratchSettings | None = None) -> None:
        self.settings = settings or ScratchSettings.from_sensitivity(sensitivity)
        self._window: deque[tuple[int, list[_Chain], int, tuple[int, int]]] = deque(maxlen=self.lookahead + 1)
        self._tracks: dict[int, _Track] = {}
        self._last_bands: np.ndarray | None = None
        self._made = 0
        self._count = 0
        self._next = 0

    def prepare(self, luma: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The large-array part of the work on one frame (``scratch_peaks``); no state, so it
        may run in another thread, ahead of ``push``."""
        return scratch_peaks(luma, _band_height(luma), self.settings)

    def push(
        self, luma: np.ndarray, prepared: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> list[tuple[int, np.ndarray | None]]:
        """Add the next frame's luma (uint8 (H, W)), and what ``prepare`` gave for it if that
        ran; returns (position, mask) for the frames that became decidable, mask None where
        nothing was found."""
        band = _band_height(luma)
        bands, chains = find_scratch_chains(luma, band, self.settings, prepared)
        t = self._count
        self._follow(t, bands, chains)
        self._last_bands = bands
        self._window.append((t, chains, band, luma.shape))
        self._count += 1
        return self._ready()

    def finish(self) -> list[tuple[int, np.ndarray | None]]:
        """Masks for the frames still waiting for look-ahead."""
        out = self._ready(final=True)
        self._window.clear()
        self._tracks.clear()
        self._last_bands = None
        return out

    def _follow(self, t: int, bands: np.ndarray, chains: list[_Chain]) -> None:
        """Attach each chain to the nearest live track (or start one), and vote on motion."""
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.last_seen <= self.memory}
        taken: set[int] = set()
        for chain in chains:
            best, best_d = None, float("inf")
            for k, track in self._tracks.items():
                if k in taken:
                    continue
                rows = _overlap(track.last, chain)
                if rows.size == 0:
                    continue
                d = float(np.abs(chain.x_at(rows) - track.last.x_at(rows)).mean())
                if d <= self.settings.persistence + 0.5 * (t - track.last_seen - 1) and d < best_d:
                    best, best_d = k, d
            if best is None:
                best = self._made
                self._made += 1
                self._tracks[best] = _Track(chain, t, [], _Votes())
            taken.add(best)
            track = self._tracks[best]
            chain.track = best
            if track.last_seen == t - 1 and self._last_bands is not None:
                self._vote(track, chain, self._last_bands, bands)
            track.last, track.last_seen = chain, t
            track.seen.append(t)

    def _vote(self, track: _Track, chain: _Chain, before: np.ndarray, after: np.ndarray) -> None:
        if before.shape != after.shape:
            return
        rows = _overlap(track.last, chain)
        xs = track.last.x_at(rows)
        line_shift = _line_shift(before, after, rows, xs)
        scene_shift = _context_shift(before, after, rows, xs, self.settings.side)
        if scene_shift is not None and line_shift is not None:
            track.votes.scene_motion += scene_shift**2
            track.votes.mismatch += (line_shift - scene_shift) ** 2

    def _decide(self, t: int) -> np.ndarray | None:
        entry = next(e for e in self._window if e[0] == t)
        _, chains, band, shape = entry
        s = self.settings
        mask = None
        for chain in chains:
            track = self._tracks.get(chain.track)
            if track is None:
                continue
            # persistent: seen in a good share of the frames nearby (a scratch flickers out
            # for a frame or three; a streak of texture or the rim of a moving object comes
            # and goes at random)
            recent = track.seen[-2 * self.lookahead - 2 :]
            near = sum(1 for p in recent if abs(p - t) <= self.lookahead)
            span = min(t + self.lookahead, self._count - 1) - max(0, t - self.lookahead) + 1
            if near < max(2, self.settings.persistence_share * span):
                continue
            if track.votes.scene_structure:
                continue
            if not _two_sided(chain, band, shape[0], s):
                continue
            if mask is None:
                mask = np.zeros(shape, dtype=bool)
            _draw(mask, chain, band, self.settings.half_width)
        return mask


def _band_height(luma: np.ndarray) -> int:
    """Rows averaged into one band row."""
    return max(1, round(luma.shape[0] / BAND_ROWS_TARGET))


def _two_sided(chain: _Chain, band: int, height: int, s: ScratchSettings) -> bool:
    """Whether a line beats the scene on both sides, as a scratch lying over it does.

    A bright rim along an edge of the scene (a cheek against a dark seat, a lit trim) beats its
    dark side by far more than its bright side. Lines like that are still tracked (their motion
    tells whether they belong to the scene) but not drawn, unless they beat both sides over a
    scratch's length elsewhere: a scratch may run along such an edge for a while.
    """
    if chain.ratios is None:
        return True
    if float(np.median(chain.ratios)) >= s.two_sided:
        return True
    return int(np.count_nonzero(chain.ratios >= s.two_sided)) * band >= s.min_length * height


def _overlap(a: _Chain, b: _Chain) -> np.ndarray:
    lo, hi = max(a.rows[0], b.rows[0]), min(a.rows[-1], b.rows[-1])
    return np.arange(lo, hi + 1)


def _context_shift(
    before: np.ndarray, after: np.ndarray, rows: np.ndarray, xs: np.ndarray, side: int, reach: int = 16
) -> float | None:
    """How far the scene beside a line moved between two band images (px), the line itself
    (+- side) left out; None when the context is too flat to tell."""
    offsets = np.concatenate([np.arange(-reach, -side), np.arange(side + 1, reach + 1)])
    return _profile_shift(before, after, rows, xs, offsets)


def _line_shift(before: np.ndarray, after: np.ndarray, rows: np.ndarray, xs: np.ndarray) -> float | None:
    """How far the line itself moved between two band images (px)."""
    return _profile_shift(before, after, rows, xs, np.arange(-2, 3))


def _profile_shift(
    before: np.ndarray,
    after: np.ndarray,
    rows: np.ndarray,
    xs: np.ndarray,
    offsets: np.ndarray,
    max_shift: int = 4,
) -> float | None:
    """Horizontal shift (sub-pixel) that best maps ``before`` onto ``after`` at the columns
    ``xs + offsets`` of ``rows``; None when the match is not clearly better than others."""
    w = after.shape[1]
    cols = np.rint(xs).astype(np.intp)[:, None] + offsets[None, :]
    valid = (cols - max_shift >= 0) & (cols + max_shift < w)
    if valid.mean() < 0.5:
        return None
    r = np.broadcast_to(rows[:, None], cols.shape)[valid]
    c = cols[valid]
    target = after[r, c]
    costs = np.array([np.abs(target - before[r, c - s]).mean() for s in range(-max_shift, max_shift + 1)])
    k = int(np.argmin(costs))
    if costs[k] > 0.8 * float(np.median(costs)):
        return None  # flat or repetitive: no clear motion
    shift = float(k - max_shift)
    if 0 < k < costs.size - 1:  # parabola through the minimum and its neighbours
        a, b, c2 = costs[k - 1], costs[k], costs[k + 1]
        den = a - 2 * b + c2
        if den > 0:
            shift += 0.5 * (a - c2) / den
    return shift


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
) -> tuple[np.ndarray, list[_Chain]]:
    """The band image (float32) and the scratch chains of one frame (uint8 luma (H, W)); ``peaks``:
    what ``scratch_peaks`` gives for it, if already worked out."""
    h = luma.shape[0]
    bands, polarities = peaks if peaks is not None else scratch_peaks(luma, band, s)
    chains: list[_Chain] = []
    for sign, found in zip((1, -1), polarities, strict=False):
        for chain in _link_segments(found, band, h, s):
            chain.row_support, chain.ratios = _ridge_profile(bands, chain, sign, s.side)
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


def _ridge_profile(bands: np.ndarray, chain: _Chain, sign: int, side: int) -> tuple[float, np.ndarray]:
    """(row support, two-sidedness per row) of a chain in the band image.

    Row support: share of the chain's band rows where the line (+-1 px) is an extremum of the
    right sign against both sides: near 1 for a scratch, near one half for a streak of texture.
    Two-sidedness: (contrast to the nearer side) / (contrast to the farther side) in each row:
    about 1 for a line over even ground, small for a rim along a step edge.
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
    return float(np.mean(best > 1.0)), ratio


def _link_segments(peaks: np.ndarray, band: int, h: int, s: ScratchSettings) -> list[_Chain]:
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
    """RANSAC over segment peaks: the steep line passing within 1.5 px of peaks in the most
    segments, as x = slope * (segment + 0.5) + offset, with which peaks lie on it."""
    steps = np.flatnonzero(np.diff(segs))  # segs come sorted: where a new segment starts
    if steps.size + 1 < min_segments:
        return None
    centre = segs + 0.5
    if segs.size <= 32:
        i, j = _pairs(segs.size)
        a, b = i, j
    else:
        pick = np.linspace(0, segs.size - 1, 32).astype(np.intp)
        i, j = _pairs(32)
        a, b = pick[i], pick[j]
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
    # least-squares line x = s * centre + o through the inliers
    cx, cy = centre[inliers], xs[inliers].astype(np.float64)
    mx, my = cx.mean(), cy.mean()
    var = float(((cx - mx) ** 2).sum())
    s_fit = float(((cx - mx) * (cy - my)).sum()) / var if var > 0 else 0.0
    return s_fit, float(my - s_fit * mx), inliers


_PAIRS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, 1)``, cached: RANSAC asks for the same few sizes every frame."""
    if n not in _PAIRS:
        _PAIRS[n] = np.triu_indices(n, 1)
    return _PAIRS[n]


def _chain_from_line(segs: np.ndarray, xs: np.ndarray, slope: float, offset: float) -> _Chain | None:
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
    return _Chain(rows, cols, int(cols.min()), int(cols.max()), per_row, offset + 0.5 * per_row, resid)


def _draw(mask: np.ndarray, chain: _Chain, band: int, half_width: int) -> None:
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
