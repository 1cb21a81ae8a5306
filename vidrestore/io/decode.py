"""Streaming frame sources: video files through PyAV, and folders of frame images.

Both yield ``DecodedFrame`` one at a time so memory does not grow with the length of the video.
Corrupt packets in the middle of a stream are skipped and counted (FFmpeg conceals what it can);
a file that yields no frame at all is an error. With ``strict=True`` any decode error is fatal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Protocol

import av
import cv2
import numpy as np

from vidrestore.errors import InputError
from vidrestore.io.colour import ColourInfo, frame_to_rgb
from vidrestore.io.deep import has_alpha, is_deep, to_8bit, to_16bit
from vidrestore.io.dpx import read_dpx
from vidrestore.io.paths import list_images

FIELD_PROGRESSIVE, FIELD_TOP_FIRST = 1, 2  # AVFieldOrder: 0 unknown, 1 progressive, 2 TT, 3 BB, 4 TB, 5 BT


def is_interlaced(field_order: int) -> bool:
    return 2 <= field_order <= 5


def top_field_first(field_order: int) -> bool:
    return field_order in (2, 5)  # TT, and BT (bottom coded first, top shown first)


class DecodedFrame(NamedTuple):
    index: int
    pts: int | None
    image: np.ndarray  # (H, W, 3) uint8 RGB
    deep: np.ndarray | None = None  # (H, W, 3) uint16 RGB of deep sources; (H, W, 4) RGBA with alpha


@dataclass(frozen=True)
class VideoInfo:
    """What the rest of the pipeline needs to know about an input before decoding it."""

    path: Path
    kind: str  # "video" or "folder"
    width: int
    height: int
    frame_count: int  # from the container (or a packet count) for video; exact for folders
    fps: Fraction
    time_base: Fraction
    rotation: int = 0
    colour: ColourInfo = field(default_factory=ColourInfo)
    pix_fmt: str = "rgb24"
    codec: str = ""
    has_audio: bool = False
    frame_names: tuple[str, ...] = ()
    start_pts: int | None = None
    stream_index: int = 0  # the container's stream that is repaired (the main picture, not cover art)
    field_order: int = FIELD_PROGRESSIVE  # FFmpeg's AVFieldOrder; 2-5 = interlaced


class FrameSource(Protocol):
    info: VideoInfo
    bad_packets: int

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]: ...

    def close(self) -> None: ...


def open_source(path: str | Path, fps: float | None = None, strict: bool = False) -> FrameSource:
    """Open a video file or a frame folder; raises InputError with a one-line reason if it cannot."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        return FolderSource(path, fps=fps)
    return VideoFileSource(path, strict=strict)


class VideoFileSource:
    """Decodes the first video stream of a file with PyAV, frame by frame, in presentation order."""

    def __init__(self, path: Path, strict: bool = False) -> None:
        self.path = path
        self.strict = strict
        self.bad_packets = 0
        self.container = _open_container(path)
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"{path} has no video stream")
        self.stream = main_video_stream(self.container)
        self.stream.thread_type = "AUTO"
        self._table: tuple[list[int], list[int]] | None = None
        self.info = self._probe()
        # deep sources, and sources with alpha (kept as a 4th channel beside the 8-bit RGB frames)
        self.alpha = has_alpha(self.info.pix_fmt)
        self.deep = is_deep(self.info.pix_fmt) or self.alpha

    def _probe(self) -> VideoInfo:
        s = self.stream
        ctx = s.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"{self.path}: video stream has no frame size (corrupt header?)")
        fps = s.average_rate or s.guessed_rate or s.base_rate or Fraction(25)
        colour, rotation, start_pts, interlaced = self._peek_first_frame()
        field_order = int(getattr(ctx, "field_order", 0) or 0)
        if not is_interlaced(field_order):
            # the stream header may not say; the frame does (its field order then is a guess: top first)
            field_order = FIELD_TOP_FIRST if interlaced else FIELD_PROGRESSIVE
        return VideoInfo(
            path=self.path, kind="video", width=ctx.width, height=ctx.height,
            frame_count=s.frames or _count_packets(self.path, s.index), fps=Fraction(fps),
            time_base=Fraction(s.time_base) if s.time_base else Fraction(1, 90000),
            rotation=rotation, colour=colour, pix_fmt=ctx.format.name if ctx.format else "yuv420p",
            codec=ctx.name, has_audio=bool(self.container.streams.audio), start_pts=start_pts,
            stream_index=s.index, field_order=field_order,
        )

    def _peek_first_frame(self) -> tuple[ColourInfo, int, int | None, bool]:
        """Decode one frame in a separate container to learn colour tags, rotation and interlacing."""
        with _open_container(self.path) as probe:
            stream = probe.streams[self.stream.index]
            errors = 0
            packets = probe.demux(stream)
            while errors < 64:
                try:
                    packet = next(packets)
                    for frame in packet.decode():
                        return (ColourInfo.from_frame(frame), int(frame.rotation or 0), frame.pts,
                                bool(frame.interlaced_frame))
                except StopIteration:
                    break
                except av.FFmpegError:
                    errors += 1
        raise InputError(f"{self.path}: the video stream has no decodable frames (corrupt or truncated file)")

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]:
        """Frames ``start <= index < stop`` in presentation order; a later start seeks to a keyframe."""
        if start > 0:
            yield from self._frames_from(start, stop)
            return
        index = 0
        last_pts: int | None = None
        step = _pts_step(self.info)
        demux = self.container.demux(self.stream)
        while stop is None or index < stop:
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.FFmpegError as exc:  # broken container structure: stop here
                if self.strict:
                    raise InputError(f"{self.path}: demux error after {index} frames ({exc})") from None
                self.bad_packets += 1
                break
            for frame in self._decode_packet(packet, index):
                if stop is not None and index >= stop:
                    break
                pts = frame.pts if frame.pts is not None else (None if last_pts is None else last_pts + step)
                if pts is None and index == 0:
                    pts = 0
                yield self._decoded(index, pts, frame)
                last_pts = pts
                index += 1
        if index == 0:
            raise InputError(f"{self.path}: no frame could be decoded (corrupt or truncated file)")

    def frame_table(self) -> tuple[list[int], list[int]]:
        """Every frame's pts in presentation order, and the indices of keyframes (demux only, cached)."""
        if self._table is None:
            entries: list[tuple[int, bool]] = []
            with _open_container(self.path) as c:
                for packet in c.demux(c.streams[self.stream.index]):
                    if packet.size and packet.pts is not None:
                        entries.append((packet.pts, packet.is_keyframe))
            entries.sort()
            self._table = ([p for p, _ in entries], [i for i, (_, key) in enumerate(entries) if key])
        return self._table

    def _frames_from(self, start: int, stop: int | None) -> Iterator[DecodedFrame]:
        pts_list, keyframes = self.frame_table()
        if start >= len(pts_list):
            return
        position = {p: i for i, p in enumerate(pts_list)}
        # Seeking is exact in MP4 and Matroska; in MPEG-TS/PS it may land past the frame asked
        # for. Then seek again from an earlier keyframe, and at last from the start.
        earlier = [pts_list[k] for k in reversed(keyframes) if k < start]
        for target in [pts_list[start], *earlier[1:3], None]:
            frames = self._indexed_after_seek(target, start, position)
            first = next(frames, None)
            if first is None or (first[0] > start and target is not None):
                continue  # nothing, or landed too late
            for index, frame in itertools.chain([first], frames):
                if stop is not None and index >= stop:
                    return
                yield self._decoded(index, frame.pts, frame)
            return

    def _indexed_after_seek(
        self, target: int | None, start: int, position: dict[int, int]
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """(index, frame) from a seek to ``target`` (None: the file's start), frames before
        ``start`` skipped."""
        if target is None:
            self.container.seek(0, backward=True, any_frame=False)
        else:
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        for packet in self.container.demux(self.stream):
            for frame in self._decode_packet(packet, start):
                index = position.get(frame.pts) if frame.pts is not None else None
                if index is not None and index >= start:
                    yield index, frame

    def _decoded(self, index: int, pts: int | None, frame: av.VideoFrame) -> DecodedFrame:
        if not self.deep:
            return DecodedFrame(index, pts, frame_to_rgb(frame, self.info.colour))
        deep = frame_to_rgb(frame, self.info.colour, deep=True, alpha=self.alpha)
        return DecodedFrame(index, pts, to_8bit(deep[..., :3]), deep)

    def _decode_packet(self, packet: av.Packet, index: int) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.FFmpegError as exc:
            if self.strict:
                raise InputError(f"{self.path}: corrupt data near frame {index} ({exc})") from None
            self.bad_packets += 1
            return []

    def close(self) -> None:
        self.container.close()


class FolderSource:
    """A folder of frame images in natural order; every image must have the same size."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = path
        self.bad_packets = 0
        self.files = list_images(path)
        if not self.files:
            raise InputError(f"{path} contains no frame images (png, jpg, tif, bmp, webp, dpx)")
        first, first_deep = read_image_deep(self.files[0])
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
        self.info = VideoInfo(
            path=path, kind="folder", width=first.shape[1], height=first.shape[0],
            frame_count=len(self.files), fps=rate, time_base=1 / rate,
            pix_fmt="rgb48le" if first_deep is not None else "rgb24",
            frame_names=tuple(f.name for f in self.files), start_pts=0,
        )

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]:
        for index in range(start, len(self.files) if stop is None else min(stop, len(self.files))):
            file = self.files[index]
            image, deep = read_image_deep(file)
            if image.shape[:2] != (self.info.height, self.info.width):
                raise InputError(
                    f"{file.name} is {image.shape[1]}x{image.shape[0]} but the first frame is "
                    f"{self.info.width}x{self.info.height}; all frames must have one size"
                )
            if self.info.pix_fmt == "rgb48le" and deep is None:
                deep = to_16bit(image)  # an 8-bit frame in a 16-bit sequence
            yield DecodedFrame(index, index, image, deep if self.info.pix_fmt == "rgb48le" else None)

    def close(self) -> None:
        pass


def decode_image_file(path: Path) -> np.ndarray | None:
    """An image file as OpenCV decodes it (grey, BGR or BGRA; uint8 or uint16); None if unreadable.

    DPX, which OpenCV does not read, goes through FFmpeg and comes back the same way."""
    if path.suffix.lower() == ".dpx":
        return read_dpx(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None or image.dtype not in (np.uint8, np.uint16):
        return None
    return image


def decode_image_8bit(path: Path) -> np.ndarray | None:
    """An image file as OpenCV decodes it (grey, BGR or BGRA), 16-bit scaled to 8-bit; None if unreadable.

    Frames and masks both read through here, so a 16-bit file means the same levels for either.
    """
    image = decode_image_file(path)
    return to_8bit(image) if image is not None and image.dtype == np.uint16 else image


def read_image(path: Path) -> np.ndarray:
    """Any 8/16-bit, grey/RGB/RGBA image file -> uint8 (H, W, 3) RGB."""
    return read_image_deep(path)[0]


def read_image_deep(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Any 8/16-bit image file -> uint8 (H, W, 3) RGB, and the uint16 RGB original if it is 16-bit."""
    image = decode_image_file(path)
    if image is None:
        raise InputError(f"cannot read image {path} (not an 8/16-bit image OpenCV or FFmpeg can decode)")
    if image.dtype == np.uint16:
        deep = _as_rgb(image)
        return to_8bit(deep), deep
    return _as_rgb(image), None


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Grey, BGR or BGRA (as OpenCV decodes) -> RGB of the same dtype."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{path} is not a readable video, or is truncated or corrupt ({reason})") from None


def main_video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The picture a file is about: FFmpeg's best video stream, which passes over cover art and
    thumbnails that some files carry as an extra video stream (often the first one)."""
    try:
        return container.streams.best("video") or container.streams.video[0]
    except (av.FFmpegError, ValueError):
        return container.streams.video[0]


def _count_packets(path: Path, index: int) -> int:
    """Frame count for containers that do not store it: demux (no decode) and count packets."""
    with _open_container(path) as c:
        try:
            return sum(1 for p in c.demux(c.streams[index]) if p.size)
        except av.FFmpegError:
            return 0


def _pts_step(info: VideoInfo) -> int:
    """Nominal pts increment per frame, for frames that arrive without a timestamp."""
    return max(1, round(1 / (info.fps * info.time_base)))
