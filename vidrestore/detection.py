"""`vidrestore detect`: find damage in a video or frame folder, write one mask PNG per frame
(named so that `fix --mask DIR` reads them back in order) and optionally a tinted preview video;
say where each logo found is present, in time ranges `fix --box` takes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vidrestore.detect.probe import probe_for
from vidrestore.detect.report import tint_detected
from vidrestore.errors import OptionError, OutputError
from vidrestore.frames import FrameBatch
from vidrestore.io.atomic import check_output, commit, discard, temp_path_for
from vidrestore.io.decode import open_source
from vidrestore.io.encode import EncodeOptions, FrameSink, VideoSink
from vidrestore.io.paths import is_video_path
from vidrestore.io.regions import FrameClock
from vidrestore.pipeline import Stage, run_pipeline


@dataclass(frozen=True)
class LogoPresence:
    """One logo found: its box in pixels and the time ranges (seconds from the stream's first
    frame, end exclusive) where it is present, as `fix --box X,Y,W,H@START-END` takes them."""

    box: tuple[int, int, int, int]
    ranges: tuple[tuple[float, float], ...]

    def line(self, number: int) -> str:
        x, y, w, h = self.box
        spans = ", ".join(f"{clock(a)}-{clock(b)}" for a, b in self.ranges)
        return f"logo {number} at {x},{y},{w},{h}: present {spans}"


@dataclass
class DetectSummary:
    frames: int
    flagged: dict[str, float] = field(default_factory=dict)  # share of all pixels per kind
    seconds: float = 0.0
    masks: str | None = None
    preview: str | None = None
    logos: list[LogoPresence] = field(default_factory=list)

    def line(self) -> str:
        found = ", ".join(f"{k} {100 * v:.3f}%" for k, v in self.flagged.items()) or "nothing"
        where = f" -> {self.masks}" if self.masks else ""
        text = f"{self.frames} frames in {self.seconds:.1f}s; damage found (share of pixels): {found}{where}"
        return "\n".join([text, *(logo.line(i + 1) for i, logo in enumerate(self.logos))])


def clock(seconds: float) -> str:
    """Seconds as HH:MM:SS.mmm (what `--box ...@START-END` reads back)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest / 1000:06.3f}"


def detect(
    input: str | Path,
    output: str | Path | None,
    *,
    kinds: tuple[str, ...] = ("scratch", "blotch", "logo"),
    preview: str | Path | None = None,
    sensitivity: dict[str, float] | None = None,
    overwrite: bool = False,
    fps: float | None = None,
    progress: bool = False,
) -> DetectSummary:
    """Detect damage of ``kinds`` in ``input``; write masks to the folder ``output`` (None: report only)."""
    from vidrestore.detect.stage import DETECTOR_KINDS, DamageDetector, DetectOptions

    bad = [k for k in kinds if k not in DETECTOR_KINDS]
    if bad or not kinds:
        raise OptionError(
            f"unknown damage kind(s) {', '.join(bad) or '(none)'}; choose from {', '.join(DETECTOR_KINDS)}"
        )
    input = Path(input)
    out_dir = Path(output) if output is not None else None
    preview_path = Path(preview) if preview is not None else None
    if out_dir is not None:
        if is_video_path(out_dir):
            raise OutputError(f"masks go to a folder, not a video file: {out_dir}")
        check_output(out_dir, [input], overwrite)
    if preview_path is not None:
        check_output(preview_path, [input], overwrite)
    options = DetectOptions(
        kinds=tuple(kinds), **{f"{k}_sensitivity": v for k, v in (sensitivity or {}).items()}
    )
    source = open_source(input, fps=fps)  # run_pipeline closes it
    info = source.info
    try:
        probed = probe_for(input, options.kinds, options.logo_sensitivity, options.logo_frames, fps)
    except BaseException:
        source.close()
        raise
    detector = DamageDetector(options, logo_candidates=probed)
    temp = temp_path_for(out_dir, directory=True) if out_dir is not None else None
    names = [Path(n).stem + ".png" for n in info.frame_names] if info.frame_names else None
    recorder = _MaskRecorder(temp, names, FrameClock(info.time_base, info.start_pts, info.fps))
    stages: list[Stage] = [detector, recorder]
    sink: FrameSink = _NoVideo()
    if preview_path is not None:
        stages.append(_TintDetected())
        try:
            sink = VideoSink(preview_path, info, EncodeOptions(fps=fps))
        except BaseException:
            source.close()
            raise
    started = time.perf_counter()
    bar = tqdm(
        total=info.frame_count, unit="frame", desc="detect", disable=not (progress and sys.stderr.isatty())
    )
    try:
        with bar:
            result = run_pipeline(source, stages, sink, batch_size=8, on_batch=lambda b: bar.update(len(b)))
        if temp is not None:
            commit(temp, out_dir)
    except BaseException:
        if temp is not None:
            discard(temp)
        raise
    frames, times = result.frames_written, recorder.times
    return DetectSummary(
        frames,
        detector.summary(),
        time.perf_counter() - started,
        str(out_dir) if out_dir else None,
        str(preview_path) if preview_path else None,
        logo_presence(detector.logo_ranges(), times, float(1 / info.fps) if info.fps else 0.04),
    )


class _MaskRecorder:
    """Stage: writes each frame's mask as a PNG into ``folder`` (None: report only) and keeps each
    frame's time, for the logos' ranges (8 bytes a frame)."""

    lookahead = 0

    def __init__(self, folder: Path | None, names: list[str] | None, clock: FrameClock) -> None:
        self.folder, self.names, self.clock = folder, names, clock
        self.times: list[float] = []

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            masks = batch.ensure_masks()
            for i, index in enumerate(batch.indices):
                self.times.append(float(self.clock.seconds(index, batch.pts[i])))
                if self.folder is not None:
                    name = self.names[index] if self.names else f"{index:06d}.png"
                    cv2.imwrite(str(self.folder / name), masks[i].astype(np.uint8) * 255)
            yield batch


class _TintDetected:
    """Stage: the frames become the preview, with each kind of damage found tinted."""

    lookahead = 0

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            batch.frames = tint_detected(batch.frames, batch.detected)
            yield batch


class _NoVideo:
    """Sink for a run without a preview: counts the frames, writes nothing."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.warnings: list[str] = []

    def write(self, index: int, pts: int | None, image: np.ndarray, untouched: bool = False,
              deep: np.ndarray | None = None) -> None:
        self.frames_written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def logo_presence(
    found: list[tuple[tuple[int, int, int, int], list[tuple[int, int]]]], times: list[float], step: float
) -> list[LogoPresence]:
    """Frame ranges [start, stop) -> time ranges; a range that runs to the last frame ends one
    frame duration after it."""
    out = []
    for box, runs in found:
        ranges = []
        for a, b in runs:
            if a >= len(times):
                continue
            end = times[b] if b < len(times) else times[-1] + step
            ranges.append((times[a], end))
        if ranges:
            out.append(LogoPresence(box, tuple(ranges)))
    return out
