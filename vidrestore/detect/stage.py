"""The detection stage: runs the damage detectors over a stream of frame batches.

Each detector is a small streaming object (``push`` a luma frame, get back the masks of the
frames it can now decide, ``finish`` at the end) with its own bounded window; this stage feeds
them, holds batches back until every detector has decided their frames, ORs the detected damage
into ``batch.masks`` and records it per kind in ``batch.detected``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import cv2
import numpy as np

from vidrestore.detect.blotch import BlotchDetector
from vidrestore.detect.handover import HandoverDetector
from vidrestore.detect.logo import LogoCandidate
from vidrestore.detect.logo_stream import LogoDetector
from vidrestore.detect.mask_merge import blank_masks, merge_mask
from vidrestore.detect.scratch import ScratchDetector
from vidrestore.detect.worker import PointMask, WorkerDetector, start_worker
from vidrestore.errors import InputError, OptionError
from vidrestore.frames import FrameBatch

DETECTOR_KINDS = ("scratch", "blotch", "logo")
WORKER_PREFERENCE = ("blotch", "scratch", "logo")  # costliest first (per frame at 720p)
WORKER_MIN_PIXELS = 640 * 360  # below this a second process costs more than it saves


@dataclass(frozen=True)
class DetectOptions:
    """Which detectors run and how sensitive each is (1.0 = default; higher finds fainter damage
    at the cost of more false alarms). ``logo_frames``: frames of statistics before the logo
    decision (they are held back until then)."""

    kinds: tuple[str, ...] = DETECTOR_KINDS
    scratch_sensitivity: float = 1.0
    blotch_sensitivity: float = 1.0
    logo_sensitivity: float = 1.0
    logo_frames: int = 60
    # Detected damage is grown by this many pixels (a disc, as `fix --dilate` grows mask files)
    # before it joins ``batch.masks``; ``batch.detected`` keeps it as found.
    grow: int = 0

    def __post_init__(self) -> None:
        kinds = tuple(self.kinds)
        object.__setattr__(self, "kinds", kinds)
        unknown = [k for k in kinds if k not in DETECTOR_KINDS]
        if unknown:
            raise OptionError(
                f"unknown damage kind {unknown[0]!r} for detection; choose from {', '.join(DETECTOR_KINDS)}"
            )
        if not kinds:
            raise OptionError("no damage kind to detect; choose from " + ", ".join(DETECTOR_KINDS))
        if len(set(kinds)) != len(kinds):
            raise OptionError(f"damage kinds listed twice: {', '.join(kinds)}")
        for name in ("scratch_sensitivity", "blotch_sensitivity", "logo_sensitivity"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.05 <= value <= 20):
                raise OptionError(f"{name.replace('_', ' ')} must be between 0.05 and 20, got {value!r}")
        if not isinstance(self.grow, int) or self.grow < 0:
            raise OptionError(f"detected damage can only grow by 0 or more pixels, got {self.grow!r}")
        if not isinstance(self.logo_frames, int) or self.logo_frames < 1:
            raise OptionError(f"logo frames must be a positive whole number, got {self.logo_frames!r}")

    @classmethod
    def parse_kinds(cls, text: str, **kwargs: float | int) -> DetectOptions:
        """Options from a comma-separated list such as ``"scratch,blotch"``."""
        kinds = tuple(k.strip().lower() for k in text.split(",") if k.strip())
        return cls(kinds=kinds, **kwargs)  # type: ignore[arg-type]


Detection = np.ndarray | PointMask | None  # one frame's mask from a detector (None: nothing found)


class FrameDetector(Protocol):
    """What the stage needs from one detector. ``prepare`` is the large-array work on one frame
    (called once per frame, in order; the stage may run it in a worker thread, ahead), ``push``
    takes the frame with its result, in order (``None``: it prepares the frame itself)."""

    kind: str
    lookahead: int
    prepare_in_order: bool  # False: ``prepare`` keeps no state and may see frames in any order

    def prepare(self, luma: np.ndarray) -> Any: ...

    def push(self, luma: np.ndarray, prepared: Any = None) -> list[tuple[int, Detection]]: ...

    def finish(self) -> list[tuple[int, Detection]]: ...


def build_detectors(
    options: DetectOptions, logo_candidates: Sequence[LogoCandidate] = ()
) -> list[FrameDetector]:
    """One fresh detector per requested kind, in the order given (the logo detector following
    ``logo_candidates`` from the first frame: logos a probing pass found)."""
    made: dict[str, FrameDetector] = {}
    for kind in options.kinds:
        if kind == "scratch":
            made[kind] = ScratchDetector(options.scratch_sensitivity)
        elif kind == "blotch":
            made[kind] = BlotchDetector(options.blotch_sensitivity)
        else:
            made[kind] = LogoDetector(
                options.logo_sensitivity, frames=options.logo_frames, candidates=logo_candidates
            )
    return list(made.values())


class DamageDetector:
    """Streaming stage: batches in, the same batches out (same order, none dropped), each with
    ``masks |= detected damage`` and ``batch.detected = {kind: bool (N, H, W)}``.

    Memory is bounded by ``lookahead`` frames (plus the batch they arrive in), whatever the
    length of the video: 2 for blotches, 6 for scratches, ``logo_frames`` for logos.
    """

    def __init__(
        self,
        options: DetectOptions,
        threads: bool = True,
        worker: bool | None = None,
        logo_candidates: Sequence[LogoCandidate] = (),
    ) -> None:
        self.options = options
        self.threads = threads
        self.worker = worker
        self.logo_candidates = tuple(logo_candidates)
        self._detectors: list[FrameDetector] = build_detectors(options, self.logo_candidates)
        self.lookahead = max(d.lookahead for d in self._detectors)
        self._used = False
        self._flagged = dict.fromkeys(options.kinds, 0)
        self._pixels = 0
        self._frames = 0

    def run(self, batches: Iterable[FrameBatch]) -> Iterator[FrameBatch]:
        """Detect damage in ``batches`` (consumed in order); yields them as soon as decided.

        The detectors run one after the other in this thread: their work is mostly short numpy
        calls that hold the GIL, and a worker thread per detector cost more CPU than it saved
        (measured at 720p on two cores: 9.6 against 7.5 ms per frame, and fewer frames per
        second). With ``threads``, only the work made of large-array OpenCV and numpy calls
        (which release the GIL) goes to two worker threads, ahead of the decisions here: the
        luma conversion and each detector's ``prepare`` (the scratch band image, the blotch
        motion between frames, the logo statistics); see ``_prepared``. ``threads=False`` gives
        the same masks in this thread alone. Where a second process pays (``_start_worker``),
        the blotch detector moves to one instead, and no threads are used (measured slower).
        """
        held: deque[FrameBatch] = deque()
        slots: dict[int, tuple[FrameBatch, int]] = {}
        waiting: dict[int, int] = {}  # position -> detectors still to report
        open_rows: dict[int, int] = {}  # id(batch) -> frames not yet decided
        position = 0
        shape: tuple[int, int] | None = None
        kinds = self.options.kinds
        if self._used:  # each run starts from fresh detectors (a stopped run leaves them midway)
            self._detectors = build_detectors(self.options, self.logo_candidates)
            self.lookahead = max(d.lookahead for d in self._detectors)
        self._used = True

        def apply(kind: str, pos: int, mask: Detection) -> None:
            batch, row = slots[pos]
            if mask is not None:
                found, union = batch.detected[kind][row], batch.masks[row]
                self._flagged[kind] += merge_mask(mask, found, union, self.options.grow)
            waiting[pos] -= 1
            if waiting[pos] == 0:
                self._pixels += batch.masks[row].size
                self._frames += 1
                del waiting[pos], slots[pos]
                open_rows[id(batch)] -= 1

        pools = None
        started: list[WorkerDetector | HandoverDetector] = []
        try:
            for batch in batches:
                n = len(batch)
                held.append(batch)
                open_rows[id(batch)] = n
                if n:
                    first = shape is None
                    shape = self._check(batch, shape, position)
                    if first:
                        started = self._start_worker(shape)
                        if self.threads and not started:  # with a worker, threads measured slower
                            pools = (ThreadPoolExecutor(1), ThreadPoolExecutor(1))
                    if batch.masks is None:
                        batch.masks = blank_masks(n, *shape)
                    batch.detected = {k: blank_masks(n, *shape) for k in kinds}
                for row, (luma, prepared) in enumerate(self._prepared(batch.frames[:n], pools)):
                    slots[position] = (batch, row)
                    waiting[position] = len(self._detectors)
                    position += 1
                    for detector, ahead in zip(self._detectors, prepared, strict=True):
                        for pos, mask in detector.push(luma, ahead):
                            apply(detector.kind, pos, mask)
                while held and open_rows[id(held[0])] == 0:
                    del open_rows[id(held[0])]
                    yield held.popleft()
            for pool in pools or ():
                pool.shutdown(wait=True, cancel_futures=True)
            pools = None
            for detector in self._detectors:
                for pos, mask in detector.finish():
                    apply(detector.kind, pos, mask)
        finally:
            for pool in pools or ():
                pool.shutdown(wait=True, cancel_futures=True)
            for worker in started:
                worker.close()
        if waiting:  # a detector failed to decide a frame: a bug, not a user error
            raise RuntimeError(f"detection left {len(waiting)} frames undecided")
        while held:
            yield held.popleft()

    def _start_worker(self, shape: tuple[int, int]) -> list[WorkerDetector | HandoverDetector]:
        """Move the costliest detector to its own process (``vidrestore.detect.worker``) when
        that pays: at least two detectors, two CPUs and frames of ``WORKER_MIN_PIXELS`` or more
        (``worker=None``); always (``True``) or never (``False``) when asked. A detector with a
        bounded ``support`` runs here until the worker has started (``HandoverDetector``).
        Returns what was started, for the stage to close."""
        wanted = self.worker
        if wanted is None:
            wanted = (
                len(self._detectors) >= 2 and _cores() >= 2 and shape[0] * shape[1] >= WORKER_MIN_PIXELS
            )
        if not wanted:
            return []
        kind = next(k for k in WORKER_PREFERENCE if k in self.options.kinds)
        if kind == "logo" and self.logo_candidates:
            return []  # the probed logos live here; the worker would start without them
        index = next(i for i, d in enumerate(self._detectors) if d.kind == kind)
        sensitivity = getattr(self.options, f"{kind}_sensitivity")
        worker = start_worker(kind, sensitivity, shape, self.options.logo_frames)
        if worker is None:
            return []
        local = self._detectors[index]
        moved = worker if getattr(local, "support", None) is None else HandoverDetector(local, worker)
        self._detectors[index] = moved
        self.lookahead = max(d.lookahead for d in self._detectors)
        return [moved]

    def _prepared(
        self, frames: np.ndarray, pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None
    ) -> Iterator[tuple[np.ndarray, list[Any]]]:
        """Each frame's luma (uint8 (H, W)) and what each detector prepares from it, in order.

        With pools, all is worked out in two worker threads while the caller works through the
        first frames (large-array OpenCV and numpy calls, which release the GIL): the first
        turns frames to luma and runs the preparations that may run in any order, the second
        those that must see the frames in order (from the first's lumas). Without pools, the
        detectors prepare in ``push``.
        """
        if pools is None:
            for frame in frames:
                yield cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), [None] * len(self._detectors)
            return
        free = [d for d in self._detectors if not d.prepare_in_order]
        ordered = [d for d in self._detectors if d.prepare_in_order]
        first = deque(pools[0].submit(_prepare_first, frame, free) for frame in frames)
        second = deque(pools[1].submit(_prepare_second, luma, ordered) for luma in first)
        while first:
            luma, done = first.popleft().result()
            done.update(second.popleft().result())
            yield luma, [done[id(d)] for d in self._detectors]

    @staticmethod
    def _check(batch: FrameBatch, shape: tuple[int, int] | None, position: int) -> tuple[int, int]:
        frames = batch.frames
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise InputError(f"frames must be uint8 RGB (N, H, W, 3), got {frames.dtype} {frames.shape}")
        if shape is not None and frames.shape[1:3] != shape:
            raise InputError(
                f"frame size changed from {shape[1]}x{shape[0]} to "
                f"{frames.shape[2]}x{frames.shape[1]} at frame {position}"
            )
        return frames.shape[1], frames.shape[2]

    def summary(self) -> dict[str, float]:
        """Share of pixels flagged per kind over the frames decided so far."""
        if self._pixels == 0:
            return dict.fromkeys(self.options.kinds, 0.0)
        return {k: v / self._pixels for k, v in self._flagged.items()}

    @property
    def frames_done(self) -> int:
        return self._frames

    def logo_ranges(self) -> list[tuple[tuple[int, int, int, int], list[tuple[int, int]]]]:
        """Each logo found: its box (x, y, w, h) and the [start, stop) frame positions where it
        is present (empty when logos were not looked for, or were looked for in a worker)."""
        ranges = getattr(next((d for d in self._detectors if d.kind == "logo"), None), "ranges", None)
        return ranges() if ranges is not None else []


def _cores() -> int:
    """Cores this process may use: those it may run on, and no more than OpenCV was told to use
    (a batch worker sharing the machine with others is set to its share)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(usable, max(1, cv2.getNumThreads()))


def _prepare_first(frame: np.ndarray, detectors: list[FrameDetector]) -> tuple[np.ndarray, dict[int, Any]]:
    """One RGB frame's luma and what ``detectors`` prepare from it (by detector id)."""
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return luma, {id(d): d.prepare(luma) for d in detectors}


def _prepare_second(
    first: Future[tuple[np.ndarray, dict[int, Any]]], detectors: list[FrameDetector]
) -> dict[int, Any]:
    """What ``detectors`` prepare from the luma ``first`` gives (by detector id)."""
    luma = first.result()[0]
    return {id(d): d.prepare(luma) for d in detectors}


def detect_frames(
    frames: np.ndarray, options: DetectOptions, batch_size: int = 16, probe: bool = True
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Detect damage in an in-memory clip, uint8 (T, H, W, 3): (all damage, {kind: masks}).

    A convenience over ``DamageDetector`` for tests, benchmarks and small clips. ``probe``:
    look for logos in samples from the whole clip first, as `detect` does on a file.
    """
    t = len(frames)

    def batches() -> Iterator[FrameBatch]:
        for start in range(0, t, batch_size):
            stop = min(t, start + batch_size)
            yield FrameBatch(
                indices=list(range(start, stop)),
                pts=list(range(start, stop)),
                time_base=Fraction(1, 25),
                frames=frames[start:stop],
            )

    candidates: list[LogoCandidate] = []
    if probe and "logo" in options.kinds and t:
        from vidrestore.detect.logo import LogoSettings
        from vidrestore.detect.probe import probe_frames

        settings = LogoSettings.from_sensitivity(options.logo_sensitivity)
        candidates = probe_frames(frames, settings, min_span=2 * options.logo_frames)
    detector = DamageDetector(options, logo_candidates=candidates)
    shape = frames.shape[1:3]
    union = np.zeros((t, *shape), dtype=bool)
    per_kind = {k: np.zeros((t, *shape), dtype=bool) for k in options.kinds}
    for batch in detector.run(batches()):
        if not len(batch):
            continue
        sl = slice(batch.indices[0], batch.indices[-1] + 1)
        union[sl] = batch.masks
        for k in options.kinds:
            per_kind[k][sl] = batch.detected[k]
    return union, per_kind
