"""Small synthetic clips for tests: a moving pattern with a sine audio track, written with PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """A textured frame that pans with ``index``: gradients plus a moving square and stripes."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(width - 1, 1) + index * 3) % 256
    g = (y * 255 // max(height - 1, 1) + index * 5) % 256
    b = ((np.sin((x + 2 * index) / 4.0) + np.cos(y / 5.0)) * 60 + 128).clip(0, 255)
    frame = np.stack([r, g, b], axis=-1).astype(np.uint8)
    s = max(4, min(width, height) // 5)
    x0 = (index * 2) % max(width - s, 1)
    frame[height // 3 : height // 3 + s, x0 : x0 + s] = (240, 40, 40)
    return frame


def make_clip(
    path: Path,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    audio: bool = True,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 12800),
    rotation: int = 0,
    codec: str = "libx264",
) -> list[np.ndarray]:
    """Write a clip and return the RGB frames that went in. ``pts`` makes it variable-frame-rate."""
    images = [pattern_frame(i, width, height) for i in range(frames)]
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height = width, height
        v.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        v.time_base = time_base
        v.codec_context.time_base = time_base
        if codec == "libx264":
            v.options = {"preset": "ultrafast", "crf": "12"}
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=44100)
            a.layout = "mono"
        step = int(round(1 / (fps * time_base)))
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts[i] if pts is not None else i * step
            frame.time_base = time_base
            out.mux(v.encode(frame))
        out.mux(v.encode())
        if a is not None:
            seconds = frames / fps
            n = int(seconds * 44100)
            samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)
            for start in range(0, n, 1024):
                chunk = samples[None, start : start + 1024]
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate = 44100
                af.pts = start
                out.mux(a.encode(af))
            out.mux(a.encode())
    return images


def write_mask(path: Path, mask: np.ndarray) -> None:
    """bool (H, W) -> white-on-black PNG."""
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """bool mask with a (x0, y0, x1, y1) rectangle set."""
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


@dataclass(frozen=True)
class StreamFacts:
    """What the tests read of a video stream, taken while its file is open (PyAV 18.1.1 refuses
    to read a stream's rate once its container is closed)."""

    average_rate: Fraction | None
    time_base: Fraction | None
    width: int
    height: int


def read_video(path: Path) -> tuple[list[np.ndarray], list[int], StreamFacts]:
    """All frames as vidrestore decodes them (RGB), their pts, and facts about the file's video
    stream."""
    from vidrestore.io.decode import open_source

    source = open_source(path)
    stream = source.stream
    facts = StreamFacts(stream.average_rate, stream.time_base, stream.width, stream.height)
    frames = list(source.frames())
    source.close()
    return [f.image for f in frames], [f.pts for f in frames], facts


def read_times(path: Path) -> list[float]:
    """Presentation times in seconds of every video frame (comparable across time bases)."""
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def stream_summary(path: Path) -> dict[str, object]:
    """Codec names, frame rate, time base and audio packet count of a file."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        audio = c.streams.audio[0] if c.streams.audio else None
        audio_packets = sum(1 for p in c.demux(audio) if p.size) if audio is not None else 0
        return {
            "video_codec": v.codec_context.name, "rate": v.average_rate, "time_base": v.time_base,
            "width": v.codec_context.width, "height": v.codec_context.height,
            "audio_codec": audio.codec_context.name if audio is not None else None,
            "audio_packets": audio_packets,
        }
