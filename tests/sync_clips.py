"""Clips for lip-sync tests: a picture that flashes on one frame and a click at the same instant.

The sync of a file is the click's onset minus the flash frame's presentation time, both read back
through FFmpeg as a player would. A repair keeps sync when that figure does not change."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25
FLASH = 10  # the frame that flashes; the click starts at its time
W, H = 64, 48


def make_sync_clip(
    path: Path, vcodec: str, acodec: str | None, video_start: float = 0.0, audio_start: float = 0.0,
    frames: int = 20, rate: int = 44100, gop: int | None = None,
) -> None:
    """Write ``frames`` dark frames with one bright one (``FLASH``), and, with ``acodec``, mono
    silence with a 10 ms 1 kHz burst at the flash's time; video and audio start where told."""
    with av.open(str(path), "w") as out:
        video = out.add_stream(vcodec, rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        time_base = Fraction(1, FPS) if path.suffix == ".avi" else Fraction(1, 90000)
        video.time_base = time_base
        if vcodec == "mpeg2video":
            video.codec_context.time_base = Fraction(1, FPS)
        if gop:
            video.options = {"g": str(gop)}
        audio = None
        if acodec:
            audio = out.add_stream(acodec, rate=rate)
            audio.layout = "mono"
        for i in range(frames):
            image = np.full((H, W, 3), 230 if i == FLASH else 30, np.uint8)
            image[4:12, 4 + i : 12 + i] = 120  # some motion, so codecs have work
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round((video_start + i / FPS) / time_base), time_base
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is None:
            return
        n = int(frames / FPS * rate)
        samples = np.zeros(n, np.float32)
        click, length = round(FLASH / FPS * rate), rate // 100
        samples[click : click + length] = 0.6 * np.sin(2 * np.pi * 1000 * np.arange(length) / rate)
        size = audio.codec_context.frame_size or 1024
        for first in range(0, n, size):
            frame = av.AudioFrame.from_ndarray(samples[None, first : first + size].copy(), format="flt",
                                               layout="mono")  # fmt: skip
            frame.sample_rate = rate
            frame.pts, frame.time_base = first + round(audio_start * rate), Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode())


@dataclass(frozen=True)
class Timing:
    """What a player sees of a file's timing (seconds)."""

    first_video: float
    last_video: float
    frames: int
    first_audio: float | None = None  # the first decoded sample's time
    audio_seconds: float | None = None  # decoded audio length
    sync: float | None = None  # click onset minus flash time
    audio_codec: str | None = None
    audio_frame: float = 0.0  # one coded audio frame, seconds (0 for PCM)


def timing(path: Path) -> Timing:
    with av.open(str(path)) as c:
        pictures = [(float(f.pts * f.time_base), float(f.to_ndarray(format="gray").mean()))
                    for f in c.decode(video=0)]  # fmt: skip
    flash = max(pictures, key=lambda p: p[1])[0]
    video = dict(first_video=pictures[0][0], last_video=pictures[-1][0], frames=len(pictures))
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return Timing(**video)
        stream = c.streams.audio[0]
        frames = list(c.decode(stream))
        name = stream.codec_context.codec.canonical_name
    # one coded frame: what a codec change may add or hide at either end (PCM has no frames)
    size = 0 if name.startswith("pcm_") else max(f.samples for f in frames)
    rate = frames[0].sample_rate
    onset = None
    for frame in frames:
        samples = _mono(frame)
        hits = np.flatnonzero(np.abs(samples) > 0.3)
        if hits.size and onset is None:
            onset = float(frame.pts * frame.time_base) + hits[0] / rate
    return Timing(
        **video, first_audio=float(frames[0].pts * frames[0].time_base),
        audio_seconds=sum(f.samples for f in frames) / rate,
        sync=None if onset is None else onset - flash, audio_codec=name, audio_frame=size / rate,
    )  # fmt: skip


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """The first channel of a decoded frame as float in [-1, 1]."""
    data = frame.to_ndarray()
    data = data[0] if frame.format.is_planar else data.reshape(-1)[:: frame.layout.nb_channels]
    if data.dtype.kind in "iu":
        return data.astype(np.float64) / float(np.iinfo(data.dtype).max)
    return data.astype(np.float64)
