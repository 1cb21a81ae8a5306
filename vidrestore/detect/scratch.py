"""Film scratch detection: thin, long, near-vertical lines that persist over frames.

What AviSynth's DeScratch looks for, done on a frame squeezed vertically (rows averaged in
bands of ~8, which keeps every column and makes a vertical line stand out from noise):

1. in each band row, a narrow luma extremum: brighter (or darker) than the pixels a few columns
   to both sides, and the local peak of its row (a line at most ~7 px wide);
2. vertical accumulation: within segments of 8 band rows (~64 px), a column that is a peak in
   most rows, allowing one column of slant per row;
3. segments link into a chain with small horizontal steps; a chain must be long (a third of
   the frame height by default) and steep (a few degrees from vertical). Where texture joins
   the peaks of a whole frame into one group, every peak votes for the line it lies on;
4. a chain must reappear at about the same place in a good share (30%) of the frames nearby,
   must not move with the scene beside it (on both sides, or on one side: the edge of a moving
   object), must not stand exactly as still as the scene does (a pole on a still camera: a
   scratch wanders by a few tenths of a pixel), and must beat the scene on both sides (a bright
   rim along an edge of the scene beats only its dark side; stricter where the scene is still).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vidrestore.detect.lookahead import LookaheadDecisions
from vidrestore.detect.scratch_lines import (
    ScratchLine,
    ScratchSettings,
    band_height,
    draw_line,
    find_scratch_chains,
    scratch_peaks,
)


@dataclass
class _Votes:
    """Evidence, over a track's life, on whether a line moves with the scene behind it."""

    scene_motion: float = 0.0  # sum of squared frame-to-frame shifts of the scene beside it
    mismatch: float = 0.0  # sum of squared differences between line and scene shifts
    count: int = 0  # frame pairs that voted
    # the same two sums for the scene on each side alone (left, right): the edge of an object
    # (a lit cheek against a seat) moves with the object on its one side, not with the seat
    side_motion: list[float] = field(default_factory=lambda: [0.0, 0.0])
    side_mismatch: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def scene_structure(self, still_votes: int, still_mismatch: float) -> bool:
        """The line belongs to the scene when:

        - the scene beside it (both sides, or one side alone: the edge of a moving object)
          moved enough to tell and the line followed it closely; or
        - over ``still_votes`` frame pairs or more the line kept to the scene's motion within a
          fraction of a pixel (mean squared difference under ``still_mismatch`` px^2). This also
          holds on a still camera, where a pole and the scene stand still together, while a
          film scratch wanders by a few tenths of a pixel from frame to frame.
        """
        for motion, mismatch in zip(
            [self.scene_motion, *self.side_motion], [self.mismatch, *self.side_mismatch], strict=True
        ):
            if motion >= 1.0 and mismatch < 0.25 * motion:
                return True
        return self.count >= still_votes and self.mismatch < still_mismatch * self.count


@dataclass
class _Track:
    """One line followed over frames."""

    last: ScratchLine
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
        self._window: deque[tuple[int, list[ScratchLine], int, tuple[int, int]]] = deque(
            maxlen=self.lookahead + 1)
        self._tracks: dict[int, _Track] = {}
        self._last_bands: np.ndarray | None = None
        self._made = 0
        self._count = 0
        self._next = 0

    def prepare(self, luma: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The large-array part of the work on one frame (``scratch_peaks``); no state, so it
        may run in another thread, ahead of ``push``."""
        return scratch_peaks(luma, band_height(luma), self.settings)

    def push(
        self, luma: np.ndarray, prepared: tuple[np.ndarray, list[np.ndarray]] | None = None
    ) -> list[tuple[int, np.ndarray | None]]:
        """Add the next frame's luma (uint8 (H, W)), and what ``prepare`` gave for it if that
        ran; returns (position, mask) for the frames that became decidable, mask None where
        nothing was found."""
        band = band_height(luma)
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

    def _follow(self, t: int, bands: np.ndarray, chains: list[ScratchLine]) -> None:
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

    def _vote(self, track: _Track, chain: ScratchLine, before: np.ndarray, after: np.ndarray) -> None:
        if before.shape != after.shape:
            return
        rows = _overlap(track.last, chain)
        xs = track.last.x_at(rows)
        line_shift = _line_shift(before, after, rows, xs)
        scene_shift = _context_shift(before, after, rows, xs, self.settings.side)
        if scene_shift is not None and line_shift is not None:
            track.votes.scene_motion += scene_shift**2
            track.votes.mismatch += (line_shift - scene_shift) ** 2
            track.votes.count += 1
        if line_shift is None or not self.settings.side_votes:
            return
        for k, offsets in enumerate(_side_offsets(self.settings.side)):
            shift = _profile_shift(before, after, rows, xs, offsets)
            if shift is not None:
                track.votes.side_motion[k] += shift**2
                track.votes.side_mismatch[k] += (line_shift - shift) ** 2

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
            if track.votes.scene_structure(s.still_votes, s.still_mismatch):
                continue
            if not _two_sided(chain, band, shape[0], s, still=track.votes.scene_motion < 1.0):
                continue
            if mask is None:
                mask = np.zeros(shape, dtype=bool)
            draw_line(mask, chain, band, self.settings.half_width)
        return mask


def _two_sided(chain: ScratchLine, band: int, height: int, s: ScratchSettings, still: bool = False) -> bool:
    """Whether a line beats the scene on both sides, as a scratch lying over it does.

    A bright rim along an edge of the scene (a cheek against a dark seat, a lit trim) beats its
    dark side by far more than its bright side. Lines like that are still tracked (their motion
    tells whether they belong to the scene) but not drawn, unless they beat both sides over a
    scratch's length elsewhere: a scratch may run along such an edge for a while. Where the
    scene has not moved enough to tell lines of the scene by their motion (``still``), the test
    is stricter.
    """
    if chain.ratios is None:
        return True
    # never looser than where the scene moves (a low sensitivity asks for longer lines)
    median, span = (s.two_sided_still, max(s.two_sided_still_span, s.min_length)) if still else (
        s.two_sided, s.min_length)
    if float(np.median(chain.ratios)) >= median:
        return True
    return int(np.count_nonzero(chain.ratios >= s.two_sided)) * band >= span * height


def _overlap(a: ScratchLine, b: ScratchLine) -> np.ndarray:
    lo, hi = max(a.rows[0], b.rows[0]), min(a.rows[-1], b.rows[-1])
    return np.arange(lo, hi + 1)


def _context_shift(
    before: np.ndarray, after: np.ndarray, rows: np.ndarray, xs: np.ndarray, side: int, reach: int = 16
) -> float | None:
    """How far the scene beside a line moved between two band images (px), the line itself
    (+- side) left out; None when the context is too flat to tell."""
    return _profile_shift(before, after, rows, xs, np.concatenate(_side_offsets(side, reach)))


def _side_offsets(side: int, reach: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the scene left and right of a line, the line itself (+- side) left out."""
    return np.arange(-reach, -side), np.arange(side + 1, reach + 1)


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


