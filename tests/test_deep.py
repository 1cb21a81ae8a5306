"""High bit depth sources: 10-bit video and 16-bit frames keep their depth (and chroma) outside the holes."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import box_mask, write_mask

from vidrestore import restore
from vidrestore.io.colour import ColourInfo, frame_to_rgb
from vidrestore.io.decode import open_source
from vidrestore.io.deep import merge_repair, to_8bit, to_16bit
from vidrestore.io.formats import nearest_source_format

W, H, N = 64, 48, 6
BOX = (20, 14, 40, 30)


def smooth_frames() -> list[np.ndarray]:
    """uint16 RGB gradients finer than 8 bits can hold, changing a little every frame."""
    y, x = np.mgrid[0:H, 0:W]
    return [
        np.dstack([x * 65535 // (W - 1), (y + i) * 65535 // (H + N), np.full_like(x, 20000 + 300 * i)])
        .astype(np.uint16)
        for i in range(N)
    ]


def write_deep_video(path: Path, codec: str, pix_fmt: str, audio: bool = False) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        a = out.add_stream("pcm_s16le", rate=48000, layout="mono") if audio else None
        for image in smooth_frames():
            frame = av.VideoFrame.from_ndarray(image, format="rgb48le")
            out.mux(stream.encode(frame.reformat(format=pix_fmt)))
        out.mux(stream.encode())
        if a is not None:
            samples = (np.sin(np.arange(48000 * N // 25) / 9) * 8000).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(a.encode(frame))
            out.mux(a.encode())


def deep_frames(path: Path) -> np.ndarray:
    source = open_source(path)
    frames = list(source.frames())
    source.close()
    assert all(f.deep is not None for f in frames), "a deep source decodes to uint16 too"
    return np.stack([f.deep for f in frames])


@pytest.fixture(params=[("prores_ks", "yuv422p10le"), ("libx264", "yuv420p10le")], ids=["422", "420"])
def master(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A 10-bit clip with PCM audio: 4:2:2 ProRes, as archive masters often are, or 4:2:0 H.264."""
    codec, pix_fmt = request.param
    path = tmp_path / "master.mov"
    write_deep_video(path, codec, pix_fmt, audio=True)
    return path


def test_deep_decode_agrees_with_the_8_bit_decode(master: Path) -> None:
    """Both conversions use the same matrix, range and chroma interpolation; only precision differs.
    (swscale's packed 16-bit RGB output with full chroma interpolation once garbled 4:2:0 rows.)"""
    with av.open(str(master)) as c:
        frame = next(c.decode(video=0))
    colour = ColourInfo.from_frame(frame)
    deep = frame_to_rgb(frame, colour, deep=True).astype(float) / 257
    eight = frame_to_rgb(frame, colour).astype(float)
    assert np.abs(deep - eight).max() <= 2.0  # 8-bit conversions round in between


@pytest.fixture
def box(tmp_path: Path) -> Path:
    path = tmp_path / "box.png"
    write_mask(path, box_mask(W, H, BOX))
    return path


def outside_grown_box() -> np.ndarray:
    grown = cv2.dilate(box_mask(W, H, BOX).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return ~grown


def test_lossless_repair_of_a_10_bit_master_keeps_every_pixel_outside_the_hole_exactly(
    master: Path, box: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mkv"
    restore(master, out, mask=box, method="telea", lossless=True)
    before, after = deep_frames(master), deep_frames(out)
    outside = outside_grown_box()
    assert np.array_equal(after[:, outside], before[:, outside])
    assert np.unique(before[:, outside] % 257).size > 1, "the test clip has levels 8 bits cannot hold"
    inside = box_mask(W, H, BOX)
    assert not np.array_equal(after[:, inside], before[:, inside])
    with av.open(str(out)) as c:
        assert c.streams.audio, "the audio stream comes along"


def test_parallel_segments_keep_the_depth_too(master: Path, box: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    restore(master, out, mask=box, method="telea", lossless=True, segments=2, workers=2)
    outside = outside_grown_box()
    assert np.array_equal(deep_frames(out)[:, outside], deep_frames(master)[:, outside])


def test_10_bit_input_is_encoded_10_bit_with_its_chroma_by_default(
    master: Path, box: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mov"
    restore(master, out, mask=box, method="telea")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.format.name == source_format(master)
    before, after = deep_frames(master), deep_frames(out)
    outside = outside_grown_box()
    assert np.unique(after[:, outside] % 257).size > 1, "levels between 8-bit steps survive"
    assert np.abs(after.astype(float) - before)[:, outside].mean() / 257 < 3, "within the codec's loss"
    eight = tmp_path / "out8.mov"
    eight_bit = source_format(master).replace("10le", "")
    summary = restore(master, eight, mask=box, method="telea", pix_fmt=eight_bit)
    assert any("10-bit source is written as 8-bit yuv42" in w for w in summary.warnings)


def source_format(path: Path) -> str:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.format.name


def test_16_bit_frame_folder_comes_back_16_bit(tmp_path: Path, box: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    originals = smooth_frames()
    for i, image in enumerate(originals):
        cv2.imwrite(str(folder / f"scan{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "restored"
    restore(folder, out, mask=box, method="telea")
    outside = outside_grown_box()
    for i, image in enumerate(originals):
        written = cv2.imread(str(out / f"scan{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint16
        assert np.array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB)[outside], image[outside])


def test_merge_keeps_the_original_where_the_repair_left_the_8_bit_value() -> None:
    deep = np.array([[[1000, 40000, 65535]], [[300, 301, 302]]], dtype=np.uint16)
    repaired = to_8bit(deep).copy()
    repaired[1, 0, 1] = 200  # the repair changed one value
    merged = merge_repair(repaired, deep)
    expected = deep.copy()
    expected[1, 0, 1] = 200 * 257
    assert np.array_equal(merged, expected)
    assert np.array_equal(to_8bit(to_16bit(np.arange(256, dtype=np.uint8))), np.arange(256))


@pytest.mark.parametrize(
    ("source", "codec", "even", "expected"),
    [
        ("yuv420p", "libx264", True, None),  # plain 8-bit 4:2:0 keeps the player-friendly default
        ("yuv422p10le", "libx264", True, "yuv422p10le"),
        ("yuv420p12le", "libx264", True, "yuv420p10le"),  # the deepest the codec has below the source
        ("yuv444p", "libx264", False, "yuv444p"),
        ("yuv422p10le", "libx264", False, "yuv444p10le"),  # odd sizes cannot subsample chroma
        ("yuv422p", "libx264", False, "yuv444p"),
        ("gbrp10le", "libx264", True, "yuv444p10le"),  # deep RGB: 4:4:4 YUV keeps the depth
        ("rgb48le", "libx265", True, "gbrp12le"),
        ("rgb24", "libx265", True, None),
        ("gray10le", "libx264", True, "gray10le"),
        ("yuva444p10le", "prores_ks", True, "yuva444p10le"),
        ("yuva444p12le", "libx264", True, "yuv444p10le"),  # H.264 has no alpha; colour keeps its depth
        ("rgba", "prores_ks", True, "yuva444p10le"),  # alpha kept at a deeper format
        ("rgba", "ffv1", True, "bgra"),
    ],
)
def test_output_pixel_format_follows_the_source(
    source: str, codec: str, even: bool, expected: str | None
) -> None:
    formats = [f.name for f in av.codec.Codec(codec, "w").video_formats]
    assert nearest_source_format(source, formats, even) == expected


def write_dpx_sequence(folder: Path, pix_fmt: str) -> None:
    from fractions import Fraction

    folder.mkdir()
    for i, image in enumerate(smooth_frames()):
        ctx = av.CodecContext.create("dpx", "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = W, H, pix_fmt, Fraction(1, 25)
        frame = av.VideoFrame.from_ndarray(image, format="rgb48le").reformat(format=pix_fmt)
        data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
        (folder / f"scan.{i:05d}.dpx").write_bytes(data)


def read_dpx_frames(folder: Path) -> np.ndarray:
    frames = []
    for path in sorted(folder.glob("*.dpx")):
        with av.open(str(path)) as c:
            frames.append(next(c.decode(video=0)).to_ndarray(format="rgb48le"))
    return np.stack(frames)


def test_a_10_bit_dpx_scan_sequence_comes_back_as_10_bit_dpx(tmp_path: Path, box: Path) -> None:
    """The film-scan format: OpenCV cannot read it, FFmpeg can; each frame keeps its file's format."""
    write_dpx_sequence(tmp_path / "scans", "gbrp10le")
    out = tmp_path / "restored"
    summary = restore(tmp_path / "scans", out, mask=box, method="telea")
    assert summary.frames == N
    assert sorted(p.name for p in out.iterdir()) == [f"scan.{i:05d}.dpx" for i in range(N)]
    with av.open(str(out / "scan.00000.dpx")) as c:
        assert c.streams.video[0].codec_context.format.name == "gbrp10le"
    before, after = read_dpx_frames(tmp_path / "scans"), read_dpx_frames(out)
    outside = outside_grown_box()
    assert np.array_equal(after[:, outside], before[:, outside])
    assert not np.array_equal(after[:, box_mask(W, H, BOX)], before[:, box_mask(W, H, BOX)])
    video = tmp_path / "restored.mov"
    restore(tmp_path / "scans", video, mask=box, method="telea")
    with av.open(str(video)) as c:
        assert c.streams.video[0].codec_context.format.name == "yuv444p10le"  # deep RGB -> 4:4:4 10-bit


def write_alpha_master(path: Path) -> np.ndarray:
    """A ProRes 4444 clip whose alpha varies across the frame and over time; returns the RGBA sent."""
    y, x = np.mgrid[0:H, 0:W]
    frames = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("prores_ks", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuva444p10le"
        for i, rgb in enumerate(smooth_frames()):
            alpha = ((x * 900 + y * 300 + i * 2000) % 65536).astype(np.uint16)
            rgba = np.dstack([rgb, alpha])
            frames.append(rgba)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba64le")
            out.mux(stream.encode(frame.reformat(format="yuva444p10le")))
        out.mux(stream.encode())
    return np.stack(frames)


def test_a_video_alpha_channel_is_kept_where_the_codec_has_alpha(tmp_path: Path, box: Path) -> None:
    """ProRes 4444 (and FFV1) keep alpha: the repair is RGB, the alpha goes back on untouched."""
    master = tmp_path / "alpha.mov"
    write_alpha_master(master)
    before = deep_frames(master)
    assert before.shape[-1] == 4
    lossless = tmp_path / "out.mkv"
    summary = restore(master, lossless, mask=box, method="telea", lossless=True)
    assert not any("alpha" in w for w in summary.warnings)
    after = deep_frames(lossless)
    outside = outside_grown_box()
    assert np.array_equal(after[..., 3], before[..., 3]), "alpha untouched everywhere, holes included"
    assert np.array_equal(after[:, outside], before[:, outside])
    prores = tmp_path / "out.mov"
    restore(master, prores, mask=box, method="telea", codec="prores_ks")
    with av.open(str(prores)) as c:
        assert c.streams.video[0].codec_context.format.name.startswith("yuva444p")
    assert np.abs(deep_frames(prores)[..., 3].astype(float) - before[..., 3]).max() / 257 < 1
