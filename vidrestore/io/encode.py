"""Frame sinks: a PyAV encoder that keeps the source's timing, colour tags, rotation, audio and
subtitles, and a frame-folder writer. Both write to a hidden temp path and rename on success."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from vidrestore.errors import OptionError, OutputError
from vidrestore.io.atomic import commit, discard, temp_path_for
from vidrestore.io.audio import COUNTED_AUDIO_CODEC, AudioRecoder
from vidrestore.io.colour import ColourInfo, is_rgb_format, rgb_to_frame
from vidrestore.io.decode import VideoInfo, decode_image_file, is_interlaced, top_field_first
from vidrestore.io.deep import bits_per_component, has_alpha, is_deep, merge_repair, to_8bit, to_16bit
from vidrestore.io.dpx import dpx_format, encode_dpx
from vidrestore.io.formats import EncodeOptions, choose_codec, delays_in_avi

# Codecs each container takes as a stream copy; None means "whatever the source has".
_COPYABLE: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "mov_text"}),
    "mov": frozenset(
        {"aac", "mp3", "ac3", "eac3", "alac", "mov_text", "pcm_s16le", "pcm_s24le", "pcm_f32le"}
    ),
    "matroska": None,
    "webm": frozenset({"opus", "vorbis", "webvtt"}),
    "avi": frozenset({"mp3", "ac3", "pcm_s16le"}),
    "mpegts": frozenset({"aac", "mp2", "mp3", "ac3", "eac3", "opus", "dvb_subtitle", "dvb_teletext"}),
}
_AUDIO_FALLBACK = {"webm": "libopus", "avi": COUNTED_AUDIO_CODEC}
# Containers that count frames instead of storing timestamps: the time base must be one frame.
_FRAME_COUNTED_FORMATS = frozenset({"avi"})
_DEEP_IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".dpx")  # image formats that store 16 bits per channel


class FrameSink(Protocol):
    frames_written: int
    warnings: list[str]

    def write(
        self, index: int, pts: int | None, image: np.ndarray, untouched: bool = False,
        deep: np.ndarray | None = None,
    ) -> None:
        """``image``: the repaired uint8 RGB frame; ``deep``: its decoded uint16 original, if any."""

    def close(self) -> None: ...

    def abort(self) -> None: ...


@dataclass
class _ExtraStreams:
    """Audio/subtitle packets from the source, muxed in time order alongside the video."""

    container: av.container.InputContainer
    packets: Iterator[av.Packet]
    # source index -> (output stream, None to copy packets or the re-encoder)
    mapping: dict[int, tuple[av.stream.Stream, AudioRecoder | None]]
    pending: av.Packet | None = None
    done: bool = False
    warnings: list[str] = field(default_factory=list)


class VideoSink:
    """Encodes RGB frames into a video file, muxing the source's other streams in time order."""

    def __init__(
        self, output: Path, info: VideoInfo, options: EncodeOptions, copy_streams: bool = True
    ) -> None:
        self.output = output
        self.info = info
        self.frames_written = 0
        self.warnings: list[str] = []
        self.temp = temp_path_for(output)
        try:
            # Keep source timestamps as they are: by default some muxers (Matroska) shift every stream
            # so that audio priming (negative dts) starts at zero, which moves the video's timestamps.
            self.container = av.open(
                str(self.temp), mode="w", container_options={"avoid_negative_ts": "disabled"}
            )
        except (av.FFmpegError, ValueError) as exc:
            discard(self.temp)
            raise OutputError(f"cannot write a video to {output} ({exc})") from None
        try:
            self.frame_ticks = self.container.format.name in _FRAME_COUNTED_FORMATS
            self.time_base = (
                info.time_base if info.kind == "video" and not self.frame_ticks else 1 / self._rate(options)
            )
            self.stream = self._add_video_stream(options)
            self.extras = self._add_extra_streams() if info.kind == "video" and copy_streams else None
        except BaseException:
            self.abort()
            raise
        self._last_pts: int | None = None

    def _rate(self, options: EncodeOptions) -> Fraction:
        if self.info.kind == "folder" and options.fps:
            return Fraction(options.fps).limit_denominator(1001)
        return self.info.fps

    def _add_video_stream(self, options: EncodeOptions) -> av.VideoStream:
        codec, pix_fmt, codec_options = choose_codec(self.output, self.info, options)
        if has_alpha(self.info.pix_fmt) and not has_alpha(pix_fmt):
            self.warnings.append(
                f"the source's alpha channel ({self.info.pix_fmt}) is not kept in video output"
            )
        if self.frame_ticks and delays_in_avi(codec):
            self.warnings.append(
                f"{codec} in AVI is shown one frame late by FFmpeg-based players (AVI stores no "
                "timestamps); the default codec for .avi, mpeg4, keeps the timing"
            )
        if is_deep(self.info.pix_fmt) and not is_deep(pix_fmt):
            self.warnings.append(
                f"the {bits_per_component(self.info.pix_fmt)}-bit source is written as 8-bit {pix_fmt}"
                + (" (use .mkv for lossless at full depth)" if options.lossless else "")
            )
        try:
            stream = self.container.add_stream(codec, rate=self._rate(options))
        except (av.FFmpegError, ValueError) as exc:
            raise OptionError(f"codec {codec!r} is not available for {self.output.suffix} ({exc})") from None
        stream.width, stream.height = self.info.width, self.info.height
        stream.pix_fmt = pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if self.frame_ticks:  # without timestamps, reordered (B) frames come back shifted and out of order
            codec_options = {**codec_options, "bf": "0"}
        if is_interlaced(self.info.field_order):
            codec_options = self._keep_interlacing(stream, codec, codec_options)
        stream.options = codec_options
        if not is_rgb_format(pix_fmt):
            c = self.info.colour
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_range = c.colorspace, int(c.yuv_range(pix_fmt))
            ctx.color_primaries, ctx.color_trc = c.color_primaries, c.color_trc
        if self.info.rotation:
            stream.set_display_rotation(self.info.rotation)
        self.pix_fmt = pix_fmt
        self.alpha_output = has_alpha(pix_fmt)
        self.deep_output = is_deep(pix_fmt) or self.alpha_output
        self.colour: ColourInfo = self.info.colour
        return stream

    def _keep_interlacing(
        self, stream: av.VideoStream, codec: str, options: dict[str, str]
    ) -> dict[str, str]:
        """Code and flag an interlaced source's output as interlaced, in its field order.

        Flagged progressive, interlaced pictures are shown without deinterlacing: combing on every
        moving edge. The repair itself works on whole frames, as the source stores them."""
        ctx = stream.codec_context
        ctx.field_order = self.info.field_order
        ctx.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        if codec in ("libx264", "libx264rgb"):
            order = "tff=1" if top_field_first(self.info.field_order) else "bff=1"
            options = {**options, "x264-params": order}
        return options

    def _add_extra_streams(self) -> _ExtraStreams | None:
        source = av.open(str(self.info.path))
        wanted = [s for s in source.streams if s.type in ("audio", "subtitle")]
        for s in source.streams.video:
            if s.index != self.info.stream_index:
                size = f"{s.codec_context.width}x{s.codec_context.height}"
                self.warnings.append(
                    f"video stream {s.index} ({s.codec_context.name}, {size}) is not carried over; "
                    f"only stream {self.info.stream_index} is repaired"
                )
        if not wanted:
            source.close()
            return None
        allowed = _COPYABLE.get(self.container.format.name.split(",")[0], None)
        mapping: dict[int, tuple[av.stream.Stream, AudioRecoder | None]] = {}
        # AVI has no timestamps: its audio starts with the first video frame, so audio that starts
        # elsewhere is re-encoded with the offset written as samples (see vidrestore.io.audio). Nor
        # can it say how many priming samples to skip: compressed audio is copied only from an AVI.
        zero = float((self.info.start_pts or 0) * self.info.time_base) if self.frame_ticks else None
        from_avi = "avi" in source.format.name.split(",")
        for s in wanted:
            name = s.codec_context.codec.canonical_name  # "mp3", not its decoder "mp3float"
            placed = zero is None or s.type != "audio" or (
                _starts_at(s, zero) and (from_avi or name.startswith("pcm_"))
            )
            if (allowed is None or name in allowed) and placed:
                mapping[s.index] = (self.container.add_stream_from_template(s), None)
            elif s.type == "audio":
                fallback = _AUDIO_FALLBACK.get(self.container.format.name, "aac")
                channels = s.codec_context.channels
                layout = (
                    s.codec_context.layout.name if channels > 2 else ("stereo" if channels == 2 else "mono")
                )
                # Opus runs at 48 kHz only; PyAV's encoder resamples whatever the source has
                rate = 48000 if fallback == "libopus" else s.codec_context.sample_rate or 48000
                out = self.container.add_stream(fallback, rate=rate, layout=layout)
                mapping[s.index] = (out, AudioRecoder(out, zero))
                why = " (AVI keeps no start time or encoder delay)"
                if allowed is not None and name not in allowed:
                    why = f" for {self.output.suffix}"
                self.warnings.append(f"audio stream {s.index} ({name}) re-encoded to {fallback}{why}")
            else:
                self.warnings.append(
                    f"subtitle stream {s.index} ({name}) cannot be stored in {self.output.suffix}; dropped"
                )
        if not mapping:
            source.close()
            return None
        packets = source.demux([source.streams[i] for i in mapping])
        return _ExtraStreams(source, packets, mapping)

    def write(
        self, index: int, pts: int | None, image: np.ndarray, untouched: bool = False,
        deep: np.ndarray | None = None,
    ) -> None:
        if deep is not None and self.deep_output:
            image = merge_repair(image, deep)
            if image.shape[2] == 4 and not self.alpha_output:
                image = image[..., :3]
        frame = rgb_to_frame(image, self.pix_fmt, self.colour)
        if self.frame_ticks and self.info.kind == "video" and pts is not None:
            # one tick a frame from the first frame on; a gap in the source (a capture's dropped
            # frames) stays a gap, so later pictures keep their place against the sound
            pts = round((pts - (self.info.start_pts or 0)) * self.info.time_base / self.time_base)
        elif self.info.kind == "folder" or self.frame_ticks or pts is None:
            pts = index if self.info.kind == "folder" or self.frame_ticks else (self._last_pts or 0) + 1
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders need rising timestamps; broken sources get nudged
        frame.pts, frame.time_base = pts, self.time_base
        self._last_pts = pts
        for packet in self.stream.encode(frame):
            self._mux_video(packet)
        self.frames_written += 1

    def _mux_video(self, packet: av.Packet) -> None:
        if self.extras is not None and packet.dts is not None:
            self._mux_extras_until(float(packet.dts * packet.time_base))
        self.container.mux(packet)

    def _mux_extras_until(self, seconds: float | None) -> None:
        ex = self.extras
        assert ex is not None
        while not ex.done:
            if ex.pending is None:
                try:
                    ex.pending = next(ex.packets)
                except (StopIteration, av.FFmpegError):
                    ex.done = True
                    break
            packet = ex.pending
            if packet.dts is None:  # the demuxer's empty flush packet
                ex.pending = None
                continue
            if seconds is not None and float(packet.dts * packet.time_base) > seconds:
                break
            ex.pending = None
            out, recoder = ex.mapping[packet.stream.index]
            if recoder is None:
                packet.stream = out
                self.container.mux(packet)
            else:
                for frame in packet.decode():
                    self.container.mux(recoder.encode(frame))

    def close(self) -> None:
        try:
            for packet in self.stream.encode():
                self._mux_video(packet)
            if self.extras is not None:
                self._mux_extras_until(None)
                for _, recoder in self.extras.mapping.values():
                    if recoder is not None:
                        self.container.mux(recoder.flush())
                self.extras.container.close()
            self.container.close()
        except BaseException:
            self.abort()
            raise
        commit(self.temp, self.output)

    def abort(self) -> None:
        for closeable in (
            getattr(self, "container", None),
            getattr(self.extras, "container", None) if getattr(self, "extras", None) else None,
        ):
            try:
                if closeable is not None:
                    closeable.close()
            except Exception:  # noqa: BLE001 - best effort while failing anyway
                pass
        discard(self.temp)


def _starts_at(stream: av.stream.Stream, seconds: float) -> bool:
    """Whether a source stream starts at ``seconds`` (within half a sample or tick)."""
    if stream.start_time is None or stream.time_base is None:
        return seconds == 0
    rate = getattr(stream.codec_context, "sample_rate", 0) or 0
    tolerance = 0.5 / rate if rate else float(stream.time_base) / 2
    return abs(float(stream.start_time * stream.time_base) - seconds) <= tolerance


class FolderSink:
    """Writes one image per frame into a temp folder that replaces ``output`` on success.

    Frame-folder input keeps its file names (and copies untouched frames byte for byte);
    video input gets ``000000.png``, ``000001.png``, ...
    """

    def __init__(self, output: Path, info: VideoInfo) -> None:
        self.output = output
        self.info = info
        self.frames_written = 0
        self.warnings: list[str] = []
        self.temp = temp_path_for(output, directory=True)
        first = info.path / info.frame_names[0] if info.frame_names else None
        self.alpha = first is not None and alpha_channel(first) is not None
        # a scan sequence shares one DPX format: read it once, write every repaired frame in it
        self.dpx_format = dpx_format(first) if first is not None and first.suffix.lower() == ".dpx" else None

    def write(
        self, index: int, pts: int | None, image: np.ndarray, untouched: bool = False,
        deep: np.ndarray | None = None,
    ) -> None:
        if self.info.frame_names:
            name = self.info.frame_names[index]
            if untouched:
                shutil.copyfile(self.info.path / name, self.temp / name)
                self.frames_written += 1
                return
        else:
            name = f"{index:06d}.png"
        if deep is not None and Path(name).suffix.lower() in _DEEP_IMAGE_EXTENSIONS:
            image = merge_repair(image, deep)
        if self.alpha:  # the repair is RGB; a frame's own alpha goes back on (re-read: RGBA folders are rare)
            alpha = alpha_channel(self.info.path / name)
            if alpha is not None:
                image = with_alpha(image, alpha)
        write_image(self.temp / name, image, self.dpx_format)
        self.frames_written += 1

    def close(self) -> None:
        commit(self.temp, self.output)

    def abort(self) -> None:
        discard(self.temp)


def alpha_channel(path: Path) -> np.ndarray | None:
    """The alpha channel of an image file (uint8 or uint16), None when it has none or is unreadable."""
    image = decode_image_file(path)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        return None
    return image[..., 3]


def with_alpha(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGB + alpha -> RGBA in the image's dtype (alpha rescaled between 8 and 16 bits if needed)."""
    if alpha.dtype != image.dtype:
        alpha = to_16bit(alpha) if image.dtype == np.uint16 else to_8bit(alpha)
    return np.dstack([image, alpha])


def write_image(path: Path, image: np.ndarray, dpx_pix_fmt: str | None = None) -> None:
    """uint8 (or, for PNG/TIFF/DPX, uint16) RGB or RGBA -> image file in the format its extension
    names (PNG fast compression, JPEG q95; DPX in ``dpx_pix_fmt`` when given)."""
    ext = path.suffix.lower()
    if ext == ".dpx":
        path.write_bytes(encode_dpx(image, dpx_pix_fmt))
        return
    params = {
        ".png": [cv2.IMWRITE_PNG_COMPRESSION, 1],
        ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
        ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
        ".webp": [cv2.IMWRITE_WEBP_QUALITY, 101],
    }.get(ext, [])
    order = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(ext, cv2.cvtColor(image, order), params)
    if not ok:
        raise OutputError(f"cannot encode {path.name}")
    data.tofile(str(path))
