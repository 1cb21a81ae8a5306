"""The streaming logo detector: logos found in sliding windows (and, for files, in samples from
the whole clip), then looked for in every frame, so that masks are empty where a logo is absent.

Why windows: a logo may appear late (after black frames or a title card), leave and come back
after a cut; statistics over the first frames only miss it. The running sums are kept per block
of frames (a few float images each); every block, the sums of the last ``frames`` frames (and
of the last half of them, for logos seen only briefly) are searched for overlays, and its two
halves are compared for a logo arriving over a still shot (``logo_arrival``). Each overlay
found becomes a track; every frame then gets a presence score per track (``presence``: its
gradients against the logo's fixed edges), and a frame is masked where the median score of the
frames around it says the logo is there. A frame is decided once ``lookahead`` later frames are
in, so a logo found up to a window after it appeared still masks its first frames.

Memory: the block sums of one window, the means of the halves of the last few windows (a few
float images each), and the working-scale lumas of the frames not yet decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from vidrestore.detect.logo import (
    LogoCandidate,
    LogoSettings,
    LogoSums,
    confirm,
    find_candidates,
    presence,
    work_scale,
)
from vidrestore.detect.logo_arrival import Stretch, confirm_arrival, find_arrivals

MAX_TRACKS = 8  # distinct logos followed at once
STATS_EVERY = 2  # frames a block's sums take in (consecutive frames say much the same)
HOLD = 0.6  # share of the presence threshold a logo already present must keep


@dataclass
class LogoTrack:
    """One logo: its current candidate, the frames (positions) it is present on as runs."""

    candidate: LogoCandidate
    support: int  # frames the statistics behind the candidate span (a better-supported one replaces it)
    probed: bool = False  # found in samples from the whole file
    scores: dict[int, float] = field(default_factory=dict)
    runs: list[tuple[int, int]] = field(default_factory=list)  # [start, stop) positions
    open_since: int | None = None

    def mark(self, position: int, present: bool) -> None:
        if present and self.open_since is None:
            self.open_since = position
        elif not present and self.open_since is not None:
            self.runs.append((self.open_since, position))
            self.open_since = None

    def close(self, end: int) -> None:
        if self.open_since is not None:
            self.runs.append((self.open_since, end))
            self.open_since = None


class LogoDetector:
    """Streaming logo detector: push luma frames in order, get (position, mask) back, mask None
    where no logo is present.

    ``frames``: the statistics window (and, with one block, the look-ahead); ``candidates``:
    logos already found elsewhere (a probing pass over the whole file), followed from frame 0.
    """

    kind = "logo"
    prepare_in_order = True

    def __init__(
        self,
        sensitivity: float = 1.0,
        frames: int = 60,
        settings: LogoSettings | None = None,
        candidates: Iterable[LogoCandidate] = (),
        smooth: int = 3,
    ) -> None:
        if frames < 1:
            raise ValueError("logo frames must be at least 1")
        self.settings = settings or LogoSettings.from_sensitivity(sensitivity)
        self.frames = frames
        self.block = max(1, frames // 6)
        self.smooth = min(smooth, frames)
        self.lookahead = frames + self.block - 1
        self.tracks: list[LogoTrack] = []
        self._blocks: dict[int, LogoSums] = {}
        self._window: LogoSums | None = None  # sums of the blocks in ``_window_blocks``
        self._window_blocks: list[int] = []
        # the second half of each window, kept until it is the first half of a later one
        self._stretches: dict[tuple[int, int], Stretch] = {}
        self._window_updates = 0
        self._searched = -1  # the frame count at the last search
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None
        self._smalls: dict[int, np.ndarray] = {}
        self._full_shape: tuple[int, int] | None = None
        self._prepared = 0  # frames seen by ``prepare``
        self._count = 0  # frames pushed
        self._next = 0  # next frame to decide
        for candidate in candidates:
            self._add(candidate, support=0, first=0, probed=True)

    @property
    def mask(self) -> np.ndarray | None:
        """The union of every logo found so far (None when none was)."""
        if not self.tracks:
            return None
        return np.logical_or.reduce([t.candidate.mask for t in self.tracks])

    def prepare(self, luma: np.ndarray) -> np.ndarray:
        """Add the frame to its block's sums; returns its working-scale luma (resize, Sobel,
        running sums: OpenCV calls, which the stage may run in a worker thread ahead of
        ``push``; called once per frame, in order)."""
        small = work_scale(luma)
        if self._buffers is None:
            self._full_shape = luma.shape
            self._buffers = (np.empty(small.shape, np.float32), np.empty(small.shape, np.float32))
        index = self._prepared // self.block
        sums = self._blocks.get(index)
        if sums is None:
            sums = self._blocks[index] = LogoSums(small.shape)
        if self._prepared % STATS_EVERY == 0 or self.block < 2 * STATS_EVERY:
            sums.add(small, self._buffers)
        self._prepared += 1
        return small

    def push(
        self, luma: np.ndarray, prepared: np.ndarray | None = None
    ) -> list[tuple[int, np.ndarray | None]]:
        """Add the next frame's luma (uint8 (H, W)) (``prepared``: what ``prepare`` returned for
        it); returns (position, mask) for the frames that became decidable."""
        small = self.prepare(luma) if prepared is None else prepared
        position = self._count
        self._count += 1
        self._smalls[position] = small
        for track in self.tracks:
            track.scores[position] = presence(track.candidate, small)
        if self._count % self.block:
            return []
        self._discover(self._count)
        return self._decide(self._count - self.frames)

    def finish(self) -> list[tuple[int, np.ndarray | None]]:
        """Search the last window and decide every frame left."""
        if self._searched != self._count:
            self._discover(self._count, final=True)
        out = self._decide(self._count)
        for track in self.tracks:
            track.close(self._count)
        self._blocks.clear()
        self._stretches.clear()
        return out

    def ranges(self) -> list[tuple[tuple[int, int, int, int], list[tuple[int, int]]]]:
        """Each logo's box (x, y, w, h) and the [start, stop) positions where it was present."""
        out = []
        for track in self.tracks:
            runs = list(track.runs)
            if track.open_since is not None:
                runs.append((track.open_since, self._next))
            if runs:
                out.append((track.candidate.box, runs))
        return out

    def _discover(self, end: int, final: bool = False) -> None:
        """Search the sums of the last window (every other block) and of its last half (every
        fourth) for overlays: a logo is found a window after it appears at the latest, so
        before its first frames are decided."""
        assert self._full_shape is not None
        last = (end - 1) // self.block
        first = max(0, (end - self.frames) // self.block)
        half = max(first, (end - self.frames // 2) // self.block)
        spans = []
        if last % 3 == 2 or final:
            spans.append((first, self._window_sums(first, last)))
        if half > first and (last % 6 == 5 or final):
            spans.append((half, None))
        if spans:
            self._searched = end
        for start, sums in spans:
            blocks = [self._blocks[i] for i in range(start, last + 1) if i in self._blocks]
            if not blocks:
                continue
            sums = sums or LogoSums.total(blocks)
            found = find_candidates(sums, self.settings, self._full_shape, thirds(blocks))
            if not found:
                continue
            window = [self._smalls[p] for p in range(start * self.block, end) if p in self._smalls]
            for candidate in found:
                confirmed = confirm(candidate, window, self.settings)
                if confirmed is not None:
                    self._add(confirmed, end - start * self.block, first=max(0, self._next - self.smooth))
        self._arrivals(first, last, end)
        keep = min([first, *self._window_blocks])  # the running sums still hold these
        for index in [i for i in list(self._blocks) if i < keep]:
            self._blocks.pop(index, None)
        for key in [k for k in self._stretches if k[0] < first]:
            del self._stretches[key]

    def _arrivals(self, first: int, last: int, end: int) -> None:
        """Logos that arrived between the first and the second half of the window (a still
        shot, where the fixed edges of a logo and of the scenery look alike; ``logo_arrival``),
        looked for at every block, so that the arrival falls near the middle of some window."""
        if last - first < 1:
            return
        middle = first + (last + 1 - first) // 2
        before = self._stretches.pop((first, middle), None) or self._stretch(first, middle)
        after = self._stretch(middle, last + 1)
        if before is None or after is None:
            return
        self._stretches[(middle, last + 1)] = after  # the first half of a window to come
        assert self._full_shape is not None
        split = middle * self.block
        early = [self._smalls[p] for p in range(first * self.block, split) if p in self._smalls]
        late = [self._smalls[p] for p in range(split, end) if p in self._smalls]
        for candidate in find_arrivals(before, after, self.settings, self._full_shape):
            if confirm_arrival(candidate, early, late, self.settings):
                self._add(candidate, end - split, first=max(0, self._next - self.smooth))

    def _stretch(self, a: int, b: int) -> Stretch | None:
        """The ``Stretch`` of blocks a..b-1; None if a block is missing."""
        if any(i not in self._blocks for i in range(a, b)):
            return None
        return Stretch.of([self._blocks[i] for i in range(a, b)])

    def _window_sums(self, first: int, last: int) -> LogoSums:
        """The sums of blocks ``first..last``, kept up to date by adding the blocks that joined
        and taking away those that left (remade from the blocks now and then: float32)."""
        wanted = [i for i in range(first, last + 1) if i in self._blocks]
        held = self._window_blocks
        if self._window is None or self._window_updates >= 32 or (held and held[0] > first):
            self._window = LogoSums.total([self._blocks[i] for i in wanted])
            self._window_updates = 0
        else:
            for i in held:
                if i < first:
                    self._window.add_sums(self._blocks[i], -1)
            for i in wanted:
                if i not in held:
                    self._window.add_sums(self._blocks[i])
            self._window_updates += 1
        self._window_blocks = wanted
        return self._window

    def _add(self, candidate: LogoCandidate, support: int, first: int, probed: bool = False) -> None:
        """Follow a new logo, or give a known one a better candidate; score the frames still
        undecided (and those the median looks back on) against it.

        Better: from a longer stretch of statistics (early, short windows of a clip take in
        passing content); a logo found in samples of the whole file is kept, unless a full
        window finds a fuller outline of it (it may have missed a faint part)."""
        same = next((t for t in self.tracks if t.candidate.same_as(candidate)), None)
        if same is not None:
            if same.probed:
                old = same.candidate.work_mask
                inside = np.count_nonzero(old & candidate.work_mask) >= 0.9 * np.count_nonzero(old)
                bigger = np.count_nonzero(candidate.work_mask) > np.count_nonzero(old)
                if not (support >= self.frames and inside and bigger):
                    return
            elif support <= same.support:
                return
            same.candidate, same.support, same.probed = candidate, support, probed
            track = same
        elif len(self.tracks) >= MAX_TRACKS:
            return
        else:
            track = LogoTrack(candidate, support, probed=probed)
            self.tracks.append(track)
        for position in range(first, self._count):
            small = self._smalls.get(position)
            if small is not None:
                track.scores[position] = presence(candidate, small)

    def _decide(self, stop: int) -> list[tuple[int, np.ndarray | None]]:
        out = []
        threshold = self.settings.presence
        while self._next < stop:
            p = self._next
            masks = []
            for track in self.tracks:
                around = range(p - self.smooth, p + self.smooth + 1)
                near = [track.scores[q] for q in around if q in track.scores]
                # hysteresis: a logo seen stays while the evidence only dips (bright content
                # behind a light logo hides part of its outline for a few frames)
                level = threshold * (HOLD if track.open_since is not None else 1.0)
                present = bool(near) and float(np.median(near)) > level
                track.mark(p, present)
                if present:
                    masks.append(track.candidate.mask)
            mask = None if not masks else masks[0] if len(masks) == 1 else np.logical_or.reduce(masks)
            out.append((p, mask))
            self._next += 1
            old = p - self.smooth
            self._smalls.pop(old, None)
            for track in self.tracks:
                track.scores.pop(old, None)
        return out


def thirds(blocks: list[LogoSums]) -> list[list[LogoSums]]:
    """The first, middle and last third of consecutive blocks (none for fewer than 3)."""
    if len(blocks) < 3:
        return []
    n = len(blocks)
    return [blocks[i * n // 3 : (i + 1) * n // 3] for i in range(3)]
