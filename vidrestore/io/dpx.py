"""DPX frames, the film-scan format (often 10-bit RGB), read and written through FFmpeg.

OpenCV does not read DPX; PyAV's FFmpeg reads and writes it. Frames come back the way OpenCV
returns other images (BGR or BGRA, uint8 or uint16) so one code path serves every format, and a
repaired frame is written in its source file's own pixel format (10-bit stays 10-bit).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidrestore.io.deep import bits_per_component

_ENCODER_FORMATS: frozenset[str] | None = None


def read_dpx(path: Path) -> np.ndarray | None:
    """A DPX file as OpenCV returns images: BGR(A), uint16 when deeper than 8 bits; None if unreadable."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, OSError, ValueError):
        return None
    name = frame.format.name
    alpha = len(frame.format.components) == 4
    if bits_per_component(name) > 8:
        rgb = frame.to_ndarray(format="rgba64le" if alpha else "rgb48le")
    else:
        rgb = frame.to_ndarray(format="rgba" if alpha else "rgb24")
    return cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if alpha else cv2.COLOR_RGB2BGR)


def dpx_format(path: Path) -> str | None:
    """Pixel format of an existing DPX file (from its header), None if unreadable."""
    try:
        with av.open(str(path)) as container:
            ctx = container.streams.video[0].codec_context
            return ctx.format.name if ctx.format else None
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return None


def encode_dpx(image: np.ndarray, pix_fmt: str | None = None) -> bytes:
    """uint8/uint16 RGB(A) -> DPX bytes, in ``pix_fmt`` (a source file's) when the encoder has it."""
    global _ENCODER_FORMATS
    if _ENCODER_FORMATS is None:
        _ENCODER_FORMATS = frozenset(f.name for f in av.codec.Codec("dpx", "w").video_formats or [])
    alpha = image.shape[2] == 4
    if image.dtype == np.uint16:
        source = "rgba64le" if alpha else "rgb48le"
    else:
        source = "rgba" if alpha else "rgb24"
    target = pix_fmt
    if target not in _ENCODER_FORMATS or (len(av.VideoFormat(target).components) == 4) != alpha:
        target = source
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=source)
    if target != source:
        frame = frame.reformat(format=target)
    ctx = av.CodecContext.create("dpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = image.shape[1], image.shape[0], target
    ctx.time_base = Fraction(1, 25)
    packets = ctx.encode(frame) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)
