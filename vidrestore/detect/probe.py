"""A probing pass for logo detection: statistics sampled across the whole clip before the main pass.

Why: the main pass finds logos in a sliding window of a few seconds, which is enough where the
camera moves, but over a still camera a logo and the scenery are both fixed within a shot; only
across shots (and cuts) does the scenery change while the logo stays. So a few frames are taken
from many places in the file: from keyframes, which encoders put at cuts and at regular
intervals, so reaching them costs a seek and a few decoded frames each (about 100 frames in all,
whatever the length of the file). Their sums, over the whole clip and over its halves, quarters
and eighths (a logo shown for part of the clip), are searched for overlays; the main pass then
looks for each one in every frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from vidrestore.detect.logo import (
    LogoCandidate,
    LogoSettings,
    LogoSums,
    confirm,
    find_candidates,
    work_scale,
)
from vidrestore.io.decode import open_source

GROUPS = 32  # places sampled across the clip
FRAMES_PER_PROBE = 96  # frames decoded in all (at least 3 per place, at most 24)
STRETCHES = 6  # consecutive stretches of a span in which a logo's edges must be fixed (see AGREE)


def sample_spans(count: int, keyframes: list[int] | None = None) -> list[tuple[int, int]]:
    """[start, stop) of each sampled place: up to ``GROUPS`` keyframes spread evenly, a few
    frames from each (evenly spread places of 3 frames when the keyframes are unknown)."""
    if count <= 0:
        return []
    if keyframes:
        points = sorted(set(keyframes))
        if len(points) > GROUPS:
            spread = (points[round(i * (len(points) - 1) / (GROUPS - 1))] for i in range(GROUPS))
            points = list(dict.fromkeys(spread))
        per = min(24, max(3, math.ceil(FRAMES_PER_PROBE / len(points))))
    else:
        n = max(1, min(GROUPS, count // 3))
        points, per = sorted({i * count // n for i in range(n)}), 3
    ends = [*points[1:], count]
    return [(p, min(p + per, end)) for p, end in zip(points, ends, strict=True)]


def candidates_from_groups(
    groups: Iterable[tuple[int, list[np.ndarray]]],
    settings: LogoSettings,
    full_shape: tuple[int, int],
    min_span: int = 0,
    frame_count: int | None = None,
) -> list[LogoCandidate]:
    """Logos in working-scale luma groups (first frame index, lumas; in time order): over all of
    them, then over halves, quarters and eighths of at least 8 groups reaching over at least
    ``min_span`` frames (shorter spans are the sliding windows' work; each group reaches to the
    next one's start, the last to ``frame_count`` when known); a logo found in a wider span wins
    over the same one in a narrower span. Each is checked on its span (``confirm``)."""
    lumas: list[list[np.ndarray]] = []
    sums: list[LogoSums] = []
    starts: list[int] = []
    ends: list[int] = []  # where each group's stretch of the clip ends: the next group's start
    for start, group in groups:
        if not group:
            continue
        if ends:
            ends[-1] = start
        starts.append(start)
        ends.append(start + len(group))
        part = LogoSums(group[0].shape)
        for small in group:
            part.add(small)
        lumas.append(group)
        sums.append(part)
    if ends and frame_count is not None:
        ends[-1] = max(ends[-1], frame_count)
    found: list[LogoCandidate] = []
    for pieces in (1, 2, 4, 8):
        if pieces > len(sums):
            break
        for i in range(pieces):
            a, b = i * len(sums) // pieces, (i + 1) * len(sums) // pieces
            span = sums[a:b]
            if (pieces > 1 and len(span) < 8) or ends[b - 1] - starts[a] < min_span:
                continue
            k = min(STRETCHES, len(span))
            cuts = [j * len(span) // k for j in range(k + 1)]
            stretches = [span[cuts[j] : cuts[j + 1]] for j in range(k)]
            # one frame a place: consecutive samples of a still camera differ only from place to place
            frames = [group[0] for group in lumas[a:b]]
            for candidate in find_candidates(LogoSums.total(span), settings, full_shape, stretches):
                if any(candidate.same_as(known) for known in found):
                    continue
                confirmed = confirm(candidate, frames, settings, far=True)
                if confirmed is not None:
                    found.append(confirmed)
    return found


def probe_file(
    path: str | Path, settings: LogoSettings, fps: float | None = None, min_span: int = 0
) -> list[LogoCandidate]:
    """Logos in samples from the whole of a video file or frame folder (see the module doc)."""
    source = open_source(path, fps=fps)
    try:
        info = source.info
        table = getattr(source, "frame_table", None)
        keyframes = table()[1] if table is not None else None
        spans = sample_spans(info.frame_count, keyframes)
        shape = (info.height, info.width)

        def groups() -> Iterator[tuple[int, list[np.ndarray]]]:
            for start, stop in spans:
                frames = source.frames(start, stop)
                try:
                    yield start, [work_scale(cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY)) for f in frames]
                finally:
                    frames.close()  # type: ignore[attr-defined]

        return candidates_from_groups(groups(), settings, shape, min_span, info.frame_count)
    finally:
        source.close()


def probe_frames(frames: np.ndarray, settings: LogoSettings, min_span: int = 0) -> list[LogoCandidate]:
    """The same over an in-memory clip, uint8 RGB (T, H, W, 3) (keyframes unknown: even spacing)."""
    groups = (
        (a, [work_scale(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in frames[a:b]])
        for a, b in sample_spans(len(frames))
    )
    return candidates_from_groups(groups, settings, frames.shape[1:3], min_span, len(frames))


def probe_for(
    path: str | Path, kinds: tuple[str, ...], sensitivity: float, window: int, fps: float | None = None
) -> list[LogoCandidate]:
    """The probing pass `detect` and `fix --detect` run before the main pass: logos in samples
    of the whole of ``path`` when logos are looked for (else none). ``window``: the main pass's
    logo window (spans shorter than two windows are left to it)."""
    if "logo" not in kinds:
        return []
    return probe_file(path, LogoSettings.from_sensitivity(sensitivity), fps=fps, min_span=2 * window)
