"""Long videos: split at keyframes, repair the segments in parallel processes, join them.

Each segment is decoded with a temporal overlap on both sides (so propagation and steadying see
across the cut), written losslessly (FFV1) with the overlap dropped, and the pieces are joined in
order by one encoder that takes every frame's timestamp from the source and muxes the source's
audio once. The result has exactly the frame count, timestamps and audio of a single pass.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidrestore.config import FixConfig
from vidrestore.errors import InputError
from vidrestore.io.atomic import temp_path_for
from vidrestore.io.decode import VideoFileSource, open_source
from vidrestore.io.encode import EncodeOptions, FrameSink, VideoSink
from vidrestore.job import make_sink, prepare_job, run_job, temporal_options
from vidrestore.summary import RestoreSummary


@dataclass(frozen=True)
class Segment:
    start: int  # first frame this segment writes
    stop: int  # one past the last frame it writes
    read_start: int  # first frame it decodes (start minus the overlap)
    read_stop: int  # one past the last frame it decodes


def plan_segments(frame_count: int, keyframes: list[int], parts: int, overlap: int) -> list[Segment]:
    """Cut ``frame_count`` frames into up to ``parts`` segments, at the keyframes nearest to equal
    shares when the file has enough of them, else at the equal shares themselves (each segment's
    decoder then starts at the keyframe before it)."""
    parts = max(1, min(parts, frame_count))
    ideal = [round(i * frame_count / parts) for i in range(1, parts)]
    candidates = [k for k in keyframes if 0 < k < frame_count]
    if len(candidates) >= parts - 1:
        cuts = sorted({min(candidates, key=lambda k, t=t: abs(k - t)) for t in ideal})
    else:
        cuts = ideal
    bounds = [0, *[c for c in cuts if 0 < c < frame_count], frame_count]
    return [
        Segment(a, b, max(0, a - overlap), min(frame_count, b + overlap))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        if b > a
    ]


class RangeSink:
    """Writes only frames ``start <= index < stop`` to the wrapped sink (drops the overlap)."""

    def __init__(self, sink: FrameSink, start: int, stop: int) -> None:
        self.sink, self.start, self.stop = sink, start, stop
        self.warnings = sink.warnings

    @property
    def frames_written(self) -> int:
        return self.sink.frames_written

    def write(
        self, index: int, pts: int | None, image: np.ndarray, untouched: bool = False,
        deep: np.ndarray | None = None,
    ) -> None:
        if self.start <= index < self.stop:
            self.sink.write(index, pts, image, untouched, deep)

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


def restore_segment(config: FixConfig, segment: Segment, path: Path) -> dict[str, object]:
    """Worker: repair one segment into a lossless video-only file; returns its statistics."""
    job = prepare_job(config, start=segment.read_start, stop=segment.read_stop)
    job.stages.count_only(segment.start, segment.stop)
    try:
        sink = VideoSink(path, job.source.info, EncodeOptions(lossless=True), copy_streams=False)
    except BaseException:
        job.source.close()
        raise
    summary = run_job(
        job, RangeSink(sink, segment.start, segment.stop), dataclasses.replace(config, progress=False)
    )
    return {
        "frames": summary.frames,
        "masked_frames": summary.masked_frames,
        "hole_pixels": summary.masked_fraction * summary.frames,
        "propagated": summary.propagated_fraction,
        "seen_through": summary.seen_through_fraction,
        "bad_packets": summary.bad_packets,
        "method": summary.method,
        "detected": summary.detected,
        "warnings": summary.warnings,
    }


def restore_in_segments(config: FixConfig) -> RestoreSummary:
    """Repair ``config.input`` in ``config.segments`` parallel parts and join them into ``config.output``."""
    started = time.perf_counter()
    source = open_source(config.input, strict=config.strict)
    if not isinstance(source, VideoFileSource):
        raise InputError("--segments needs a video file input")
    info = source.info
    pts_list, keyframes = source.frame_table()
    source.close()
    # propagation reads its context, and steadying carries its fill on, across a segment's cut
    overlap = 2 * temporal_options(config).context if config.temporal is not False else 0
    segments = plan_segments(len(pts_list), keyframes, config.segments, overlap)
    workers = config.workers or min(len(segments), os.cpu_count() or 1)
    work = temp_path_for(config.output, directory=True)
    results: dict[int, dict[str, float]] = {}
    try:
        context = multiprocessing.get_context("spawn")  # no fork of PyAV/torch threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(restore_segment, config, seg, work / f"{i:05d}.mkv"): i
                for i, seg in enumerate(segments)
            }
            bar = tqdm(
                total=len(segments),
                unit="segment",
                desc="segments",
                disable=not (config.progress and sys.stderr.isatty()),
            )
            with bar:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update(1)
        sink = make_sink(config.output, info, config.encode)
        try:
            joined = _join(segments, work, pts_list, sink)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    frames = sum(int(r["frames"]) for r in results.values())
    if frames != len(pts_list) or joined != len(pts_list):
        raise InputError(f"segments produced {frames} frames but the video has {len(pts_list)}")
    total_pixels = frames * info.width * info.height
    return RestoreSummary(
        input=str(config.input),
        output=str(config.output),
        method=str(results[0]["method"]),
        frames=joined,
        masked_frames=sum(int(r["masked_frames"]) for r in results.values()),
        masked_fraction=sum(r["hole_pixels"] for r in results.values()) / max(frames, 1)
        if total_pixels
        else 0.0,
        seconds=seconds,
        fps=joined / max(seconds, 1e-9),
        propagated_fraction=_weighted(results, "propagated", by="hole_pixels"),
        seen_through_fraction=_weighted(results, "seen_through", by="frames"),
        bad_packets=sum(int(r["bad_packets"]) for r in results.values()),
        detected={k: _weighted(results, k, by="frames", inside="detected")
                  for k in results[0]["detected"]},  # fmt: skip
        warnings=_unique([*sink.warnings, *(w for i in sorted(results) for w in results[i]["warnings"])]),
    )


def _weighted(results: dict[int, dict], key: str, by: str, inside: str | None = None) -> float:
    """The parts' ``key`` (or ``[inside][key]``), averaged with each part's ``by`` as its weight."""
    weights = np.array([float(r[by]) for r in results.values()])
    values = np.array([float((r[inside] if inside else r)[key]) for r in results.values()])
    return float((weights * values).sum() / weights.sum()) if weights.sum() > 0 else 0.0


def _unique(lines: list[str]) -> list[str]:
    """Each warning once, in first-seen order (every part says the same about the source)."""
    return list(dict.fromkeys(lines))


def _join(segments: list[Segment], work: Path, pts_list: list[int], sink: FrameSink) -> int:
    """Append every segment's frames in order, with the source's own timestamps."""
    written = 0
    for i, segment in enumerate(segments):
        part = open_source(work / f"{i:05d}.mkv")
        try:
            for offset, frame in enumerate(part.frames()):
                index = segment.start + offset
                sink.write(index, pts_list[index], frame.image, deep=frame.deep)
                written += 1
        finally:
            part.close()
    return written
