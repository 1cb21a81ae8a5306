"""The restore chain: decode -> masks -> (detect) -> inpaint -> composite -> encode.

Each stage takes an iterator of FrameBatch and yields FrameBatch, in order, never dropping or
duplicating a frame. Decoding runs ahead in one thread and encoding behind in another, through
bounded queues, so memory stays flat however long the video is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import numpy as np

from vidrestore.errors import MaskError
from vidrestore.frames import FrameBatch, composite
from vidrestore.inpaint.base import Inpainter
from vidrestore.io.decode import DecodedFrame, FrameSource
from vidrestore.io.deep import DeepFrames
from vidrestore.io.encode import FrameSink
from vidrestore.io.threads import BackgroundConsumer, BackgroundIterator


class Stage(Protocol):
    """Batches in, the same frames out, in order. ``lookahead``: how many frames past frame t the
    stage must have received before it yields frame t (fed one frame a batch); what it holds."""

    lookahead: int

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]: ...


def batch_frames(
    frames: Iterable[DecodedFrame], size: int, time_base: Fraction, deep: DeepFrames | None = None
) -> Iterator[FrameBatch]:
    """Group decoded frames into batches of ``size`` (the last one may be shorter).

    Full-depth originals of high bit depth sources go to ``deep``, for the encoder, instead of
    through the stages."""
    chunk: list[DecodedFrame] = []
    for frame in frames:
        if frame.deep is not None and deep is not None:
            deep.put(frame.index, frame.deep)
        chunk.append(frame)
        if len(chunk) == size:
            yield _to_batch(chunk, time_base)
            chunk = []
    if chunk:
        yield _to_batch(chunk, time_base)


def _to_batch(chunk: list[DecodedFrame], time_base: Fraction) -> FrameBatch:
    return FrameBatch(
        indices=[f.index for f in chunk], pts=[f.pts for f in chunk], time_base=time_base,
        frames=np.stack([f.image for f in chunk]),
    )


class AttachMasks:
    """Unites the masks from a mask source (one per frame, in order) with the batch's masks."""

    lookahead = 0

    def __init__(self, masks: Iterator[np.ndarray]) -> None:
        self.masks = masks

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            current = batch.ensure_masks()
            for i, index in enumerate(batch.indices):
                mask = next(self.masks, None)
                if mask is None:
                    raise MaskError(
                        f"the masks ran out at frame {index}; the video has more frames than masks")
                current[i] |= mask
            yield batch


@dataclass
class InpaintStats:
    frames: int = 0
    masked_frames: int = 0
    masked_pixels: int = 0
    total_pixels: int = 0


class InpaintHoles:
    """Fills the holes of frames that have any, then composites so only masked pixels change."""

    lookahead = 0

    def __init__(self, inpainter: Inpainter) -> None:
        self.inpainter = inpainter
        self.stats = InpaintStats()
        self.count_range: tuple[int, int] | None = None  # segments count only the frames they write

    def run(self, batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for batch in batches:
            masks = batch.ensure_masks()
            holed = np.flatnonzero(masks.reshape(len(batch), -1).any(axis=1))
            if holed.size:
                edges = None if batch.holes is None else batch.holes[holed]  # before propagation shrank them
                filled = self.inpainter.inpaint(batch.frames[holed], masks[holed], edges)
                batch.frames[holed] = composite(batch.frames[holed], filled, masks[holed])
            batch.mark_touched(holed)
            touched = batch.touched
            counted = np.ones(len(batch), bool)
            if self.count_range is not None:
                counted = np.array([self.count_range[0] <= i < self.count_range[1] for i in batch.indices])
            s = self.stats
            s.frames += int(counted.sum())
            s.masked_frames += int((touched & counted).sum())
            s.masked_pixels += int(np.count_nonzero(masks[counted]))  # far faster than a bool sum
            s.total_pixels += int(masks[0].size * counted.sum())
            yield batch


@dataclass
class PipelineResult:
    frames_written: int
    warnings: list[str] = field(default_factory=list)


def run_pipeline(
    source: FrameSource,
    stages: list[Stage],
    sink: FrameSink,
    batch_size: int = 8,
    on_batch: Callable[[FrameBatch], None] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> PipelineResult:
    """Drive frames ``start..stop`` of ``source`` through ``stages`` into ``sink``.

    The sink is aborted on any failure."""
    frames = source.frames(start, stop) if (start or stop is not None) else source.frames()
    decoded: BackgroundIterator[FrameBatch] | None = None
    writer: BackgroundConsumer[FrameBatch] | None = None
    ahead: list[BackgroundIterator[FrameBatch]] = []  # stages that work in their own thread
    deep = DeepFrames()
    try:
        decoded = BackgroundIterator(
            batch_frames(frames, batch_size, source.info.time_base, deep), maxsize=2
        )
        writer = BackgroundConsumer(lambda b: _write_batch(sink, b, deep), maxsize=2)
        batches: Iterator[FrameBatch] = iter(decoded)
        for stage in stages:
            batches = stage.run(batches)
            if getattr(stage, "runs_ahead", False):
                ahead.append(BackgroundIterator(batches, maxsize=1, name=type(stage).__name__))
                batches = iter(ahead[-1])
        for batch in batches:
            writer.put(batch)
            if on_batch is not None:
                on_batch(batch)
        writer.finish()
        sink.close()
    except BaseException:
        if writer is not None:
            writer.cancel()
        _close(ahead, decoded)
        sink.abort()
        raise
    finally:
        _close(ahead, None)
        if decoded is not None:
            decoded.close()
        source.close()
    return PipelineResult(sink.frames_written, list(sink.warnings))


def _close(ahead: list[BackgroundIterator[FrameBatch]],
           decoded: BackgroundIterator[FrameBatch] | None) -> None:
    """Stop the threads in the chain, the latest stage first (it may be waiting on an earlier one)."""
    for stage in reversed(ahead):
        stage.close()
    ahead.clear()
    if decoded is not None:
        decoded.close()


def _write_batch(sink: FrameSink, batch: FrameBatch, deep: DeepFrames) -> None:
    # no stage said whether it changed the frames (no inpainter ran): treat them all as changed
    touched = batch.touched if batch.touched is not None else np.ones(len(batch), bool)
    for i, (index, pts) in enumerate(zip(batch.indices, batch.pts, strict=True)):
        sink.write(index, pts, batch.frames[i], untouched=not touched[i], deep=deep.pop(index))
