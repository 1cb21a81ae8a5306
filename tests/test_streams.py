"""Side streams and metadata: subtitles copied where the container allows, colour tags kept."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import make_clip, pattern_frame

from vidrestore import restore

SRT = "1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,200 --> 00:00:00,380\nworld\n"


@pytest.fixture
def subtitled(tmp_path: Path) -> Path:
    """A 10-frame FFV1 .mkv with an SRT subtitle track (muxed from a real .srt file)."""
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    path = tmp_path / "subbed.mkv"
    with av.open(str(srt)) as src, av.open(str(path), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "bgr0"
        s = out.add_stream_from_template(src.streams[0])
        for i in range(10):
            f = av.VideoFrame.from_ndarray(pattern_frame(i, 32, 32), format="rgb24")
            f.pts = i
            out.mux(v.encode(f))
        out.mux(v.encode())
        for p in src.demux(src.streams[0]):
            if p.dts is not None:
                p.stream = s
                out.mux(p)
    return path


def subtitle_texts(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.subtitles:
            return []
        return [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]


def test_subtitles_are_copied_into_matroska(subtitled: Path, tmp_path: Path) -> None:
    mask = tmp_path / "m.png"
    import cv2

    cv2.imwrite(str(mask), np.pad(np.full((4, 4), 255, np.uint8), 14))
    restore(subtitled, tmp_path / "out.mkv", mask=mask, method="telea")
    assert subtitle_texts(tmp_path / "out.mkv") == [b"hello", b"world"]
    summary = restore(subtitled, tmp_path / "out.mp4", mask=mask, method="telea")
    assert any("subtitle" in w and "dropped" in w for w in summary.warnings)


def test_colour_tags_are_kept(tmp_path: Path) -> None:
    clip = tmp_path / "bt709.mp4"
    make_clip(clip, frames=4, audio=False)
    tagged = tmp_path / "tagged.mp4"
    with av.open(str(clip)) as src, av.open(str(tagged), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        ctx = v.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 1, 1, 1, 1
        for f in src.decode(video=0):
            g = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24").reformat(
                format="yuv420p"
            )
            g.pts = f.pts
            out.mux(v.encode(g))
        out.mux(v.encode())
    mask = tmp_path / "m.png"
    import cv2

    cv2.imwrite(str(mask), np.pad(np.full((8, 8), 255, np.uint8), ((20, 20), (28, 28))))
    restore(tagged, tmp_path / "out.mp4", mask=mask, method="telea")
    with av.open(str(tmp_path / "out.mp4")) as c:
        f = next(c.decode(video=0))
        assert (int(f.colorspace), int(f.color_primaries), int(f.color_trc), int(f.color_range)) == (
            1,
            1,
            1,
            1,
        )
