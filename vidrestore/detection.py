"""`vidrestore detect`: find damage in a video or frame folder, write one mask PNG per frame
(named so that `fix --mask DIR` reads them back in order) and optionally a tinted preview video;
say where each logo found is present, in time ranges `fix --box` takes."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vidrestore.detect.probe import probe_for
from vidrestore.detect.report import tint_one
from vidrestore.errors import OptionError, OutputError
from vidrestore.io.atomic import check_output, commit, discard, temp_path_for
from vidrestore.io.decode import open_source
from vidrestore.io.encode import EncodeOptions, VideoSink
from vidrestore.io.paths import is_video_path
from vidrestore.io.regions import FrameClock
from vidrestore.io.threads import BackgroundIterator
from vidrestore.pipeline import batch_frames


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
    source = open_source(input, fps=fps)
    info = source.info
    try:
        probed = probe_for(input, options.kinds, options.logo_sensitivity, options.logo_frames, fps)
    except BaseException:
        source.close()
        raise
    detector = DamageDetector(options, logo_candidates=probed)
    clock_of = FrameClock(info.time_base, info.start_pts, info.fps)
    times: list[float] = []  # each frame's time, for the logos' ranges (8 bytes a frame)
    temp = temp_path_for(out_dir, directory=True) if out_dir is not None else None
    sink = VideoSink(preview_path, info, EncodeOptions(fps=fps)) if preview_path is not None else None
    names = [Path(n).stem + ".png" for n in info.frame_names] if info.frame_names else None
    started = time.perf_counter()
    frames = 0
    decoded = BackgroundIterator(batch_frames(source.frames(), 8, info.time_base), maxsize=2)
    bar = tqdm(
        total=info.frame_count, unit="frame", desc="detect", disable=not (progress and sys.stderr.isatty())
    )
    try:
        with bar:
            for batch in detector.run(iter(decoded)):
                masks = batch.ensure_masks()
                for i, index in enumerate(batch.indices):
                    times.append(float(clock_of.seconds(index, batch.pts[i])))
                    if temp is not None:
                        name = names[index] if names else f"{index:06d}.png"
                        cv2.imwrite(str(temp / name), masks[i].astype(np.uint8) * 255)
                    if sink is not None:
                        sink.write(
                            index, batch.pts[i], tint_one(batch.frames[i], batch.detected, i)
                        )
                frames += len(batch)
                bar.update(len(batch))
        if sink is not None:
            sink.close()
        if temp is not None:
            commit(temp, out_dir)
    except BaseException:
        if sink is not None:
            sink.abort()
        if temp is not None:
            discard(temp)
        raise
    finally:
        decoded.close()
        source.close()
    return DetectSummary(
        frames,
        detector.summary(),
        time.perf_counter() - started,
        str(out_dir) if out_dir else None,
        str(preview_path) if preview_path else None,
        logo_presence(detector.logo_ranges(), times, float(1 / info.fps) if info.fps else 0.04),
    )


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
