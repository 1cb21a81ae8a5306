"""Audio that must be re-encoded for the output container, kept in its place against the video.

A stream copy keeps every timestamp. A re-encode must keep them too: each decoded frame goes to the
encoder with its presentation time, so the encoder's own start delay (AAC's 1024 priming samples,
Opus's pre-skip) is written by the muxer as an edit list or codec delay, and a source whose audio
starts 30 ms after zero still does.

AVI stores no timestamps: its audio starts with the file, and so does its first video frame. There
the audio's offset from the first video frame is written as leading silence (or the audio before
the first frame is cut off), in PCM, which has no start delay of its own.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

#: what a frame-counted container (AVI) gets when its audio cannot be copied as it is
COUNTED_AUDIO_CODEC = "pcm_s16le"


def frame_seconds(frame: av.AudioFrame) -> float | None:
    """Presentation time of a decoded audio frame, or None when it has none."""
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base)


class AudioRecoder:
    """Re-encodes one audio stream into ``out``.

    ``counted_zero``: for containers without timestamps, the source time (seconds) that the output
    file's start stands for, the first video frame's; None where the container keeps timestamps."""

    def __init__(self, out: av.AudioStream, counted_zero: float | None = None) -> None:
        self.out = out
        self.counted_zero = counted_zero
        self._started = False

    def encode(self, frame: av.AudioFrame) -> list[av.Packet]:
        if self.counted_zero is None:
            return list(self.out.encode(frame))  # the frame keeps its time; the muxer keeps the delay
        frames = [frame]
        if not self._started:
            start = frame_seconds(frame)
            frames = _placed_at(frame, (start if start is not None else 0.0) - self.counted_zero)
        self._started = self._started or bool(frames)
        packets: list[av.Packet] = []
        for f in frames:
            f.pts = None  # the file counts samples; the encoder numbers them from the first
            packets += self.out.encode(f)
        return packets

    def flush(self) -> list[av.Packet]:
        return list(self.out.encode(None))


def _placed_at(frame: av.AudioFrame, offset: float) -> list[av.AudioFrame]:
    """The first frame of a stream made to start ``offset`` seconds after the file's start:
    led by that much silence, or with the samples before the start cut off (an empty list when
    the whole frame lies before it)."""
    samples = round(offset * frame.sample_rate)
    if samples == 0:
        return [frame]
    data = frame.to_ndarray()
    planar = frame.format.is_planar
    channels = frame.layout.nb_channels
    if samples > 0:
        shape = (channels, samples) if planar else (1, samples * channels)
        return [_frame_like(frame, np.zeros(shape, data.dtype)), frame]
    cut = min(-samples, frame.samples)
    rest = data[:, cut:] if planar else data[:, cut * channels :]
    return [_frame_like(frame, np.ascontiguousarray(rest))] if cut < frame.samples else []


def _frame_like(frame: av.AudioFrame, data: np.ndarray) -> av.AudioFrame:
    """A frame with ``frame``'s format, layout and rate holding ``data``."""
    out = av.AudioFrame.from_ndarray(data, format=frame.format.name, layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    out.time_base = Fraction(1, frame.sample_rate)
    return out
