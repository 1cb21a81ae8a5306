"""Which codec and pixel format an output gets: the user's choice, else what keeps the source's
chroma, depth and container happy (H.264 4:2:0 for plain 8-bit sources, VP9 in WebM)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from vidrestore.errors import OptionError
from vidrestore.io.decode import VideoInfo
from vidrestore.io.deep import bits_per_component, has_alpha, is_deep

_CRF_CODECS = ("libx264", "libx264rgb", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")


@dataclass(frozen=True)
class EncodeOptions:
    """How repaired frames are encoded. Defaults: H.264 CRF 18, preset medium, the source's chroma/depth."""

    codec: str | None = None  # None: libx264, or VP9 where the container takes no H.264 (WebM)
    crf: int = 18
    preset: str = "medium"
    lossless: bool = False
    pix_fmt: str | None = None
    fps: float | None = None  # frame rate for frame-folder input; video input keeps its own


#: FFmpeg's lambda per quantiser step (FF_QP2LAMBDA): MPEG-4 Part 2's fixed quality is q x this
_QP2LAMBDA = 118


def default_codec(output: Path) -> str:
    """H.264 for every container that holds it well; VP9 for WebM, which takes only VP8/VP9/AV1;
    MPEG-4 Part 2 for AVI. AVI stores no timestamps, and FFmpeg-based readers give H.264 in AVI
    one frame of decoding delay: every picture would come back one frame late against the sound."""
    suffix = output.suffix.lower()
    return {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")


def delays_in_avi(codec: str) -> bool:
    """Whether readers show this codec one frame late in AVI (see default_codec)."""
    return codec in ("libx264", "libx264rgb", "libx265", "h264", "hevc")


def choose_codec(output: Path, info: VideoInfo, options: EncodeOptions) -> tuple[str, str, dict[str, str]]:
    """Codec, pixel format and encoder options for the output file."""
    if options.lossless:
        if output.suffix.lower() in (".mkv", ".avi"):
            if has_alpha(info.pix_fmt):
                exact = "rgba64le"
            else:
                exact = "rgb48le" if is_deep(info.pix_fmt) else "bgr0"
            return "ffv1", options.pix_fmt or exact, {"level": "3", "g": "1", "slicecrc": "1"}
        return "libx264rgb", options.pix_fmt or "rgb24", {"qp": "0", "preset": options.preset}
    codec = options.codec or default_codec(output)
    try:
        formats = [f.name for f in av.codec.Codec(codec, "w").video_formats or []]
    except (av.FFmpegError, ValueError):
        raise OptionError(f"unknown or unavailable video codec {codec!r}") from None
    even = info.width % 2 == 0 and info.height % 2 == 0
    pix_fmt = options.pix_fmt
    if pix_fmt is None:
        pix_fmt = nearest_source_format(info.pix_fmt, formats, even)
    if pix_fmt is None:
        if "yuv420p" in formats and even:
            pix_fmt = "yuv420p"
        elif "yuv444p" in formats:
            pix_fmt = "yuv444p"  # odd frame sizes cannot be subsampled 2x2 without padding
        else:
            pix_fmt = formats[0] if formats else "yuv420p"
    elif formats and pix_fmt not in formats:
        raise OptionError(
            f"codec {codec} does not support --pix-fmt {pix_fmt} (try one of {', '.join(formats[:8])})"
        )
    codec_options: dict[str, str] = {}
    if codec == "mpeg4":  # fixed quantiser 2: near-transparent, as `ffmpeg -q:v 2`
        codec_options = {"flags": "+qscale", "global_quality": str(2 * _QP2LAMBDA)}
    if codec in _CRF_CODECS:
        codec_options["crf"] = str(options.crf)
        if codec.startswith("libx26"):
            codec_options["preset"] = options.preset
        if codec == "libvpx-vp9":
            # constant quality; libvpx's own default speed (cpu-used 1, one row at a time) runs at
            # under 1 fps at 720p on a small CPU
            codec_options.update({"b": "0", "cpu-used": "4", "row-mt": "1", "deadline": "good"})
    return codec, pix_fmt, codec_options


def nearest_source_format(source: str, formats: list[str], even: bool) -> str | None:
    """The codec's format closest to the source's: the same family (YUV, RGB or grey) and chroma
    subsampling at the source's bit depth, or the deepest the codec has below it.

    None for plain 8-bit 4:2:0 and RGB sources (they get yuv420p, which every player takes) and
    when the codec has nothing close. So 4:2:2 and 4:4:4 masters keep their colour detail and 10-bit
    ones their depth instead of silently coming back as 8-bit 4:2:0."""
    src = _layout(source)
    bits = bits_per_component(source)
    alpha = has_alpha(source)
    if src is None or (bits <= 8 and src in (("yuv", 1, 1), ("rgb", 0, 0)) and not alpha):
        return None
    wanted = [src]
    if src[0] == "rgb" or (src[1:] != (0, 0) and not even):
        wanted.append(("yuv", 0, 0))  # 4:4:4 YUV keeps the depth of RGB and of odd-sized subsampled sources
    # with alpha first, when the source has it and the codec can keep it (ProRes 4444, FFV1, VP9)
    searches = [(layout, keep) for keep in ([True, False] if alpha else [False]) for layout in wanted]
    for layout, with_alpha in searches:
        candidates, deeper = [], []
        for name in formats:
            if name.startswith(("yuvj", "nv", "p0", "p2", "p4")) or _layout(name) != layout:
                continue
            if has_alpha(name) != with_alpha:
                continue
            if layout[1:] != (0, 0) and not even:
                continue  # subsampled chroma needs even frame sizes
            depth = bits_per_component(name)
            if depth <= bits and (depth > 8 or bits <= 8 or layout == src):
                candidates.append((depth, name == source, name))
            elif depth > bits:
                deeper.append((depth, name))
        if candidates:
            return max(candidates)[2]
        if with_alpha and deeper:
            return min(deeper)[1]  # keeping alpha is worth a deeper format (8-bit RGBA -> ProRes 4444)
    return None


def _layout(pix_fmt: str) -> tuple[str, int, int] | None:
    """Family and chroma subsampling (log2 of the width and height ratios) of a pixel format."""
    try:
        fmt = av.VideoFormat(pix_fmt, 64, 64)
    except (ValueError, av.FFmpegError):
        return None
    if fmt.has_palette:
        return ("rgb", 0, 0)
    if fmt.is_rgb:
        return ("rgb", 0, 0)
    if len(fmt.components) < 3:
        return ("gray", 0, 0)
    chroma = fmt.components[1]
    log2_w = (64 // max(chroma.width, 1)).bit_length() - 1
    log2_h = (64 // max(chroma.height, 1)).bit_length() - 1
    return ("yuv", log2_w, log2_h)
