"""`fix` on video files: timing, size, audio and untouched pixels survive; only the holes change."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import box_mask, make_clip, read_times, read_video, stream_summary, write_mask
from conftest import LOGO_BOX, H, N, W

from vidrestore import restore
from vidrestore.metrics import psnr


def dilated(mask: np.ndarray, pixels: int = 3) -> np.ndarray:
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def test_static_mask_keeps_count_timing_size_and_audio(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    summary = restore(clip, out, mask=logo_mask, method="telea")
    _, pts_in, _ = read_video(clip)
    images, pts_out, _ = read_video(out)
    assert summary.frames == N and len(images) == N
    assert pts_out == pts_in
    a, b = stream_summary(clip), stream_summary(out)
    assert (b["width"], b["height"]) == (W, H)
    assert b["rate"] == a["rate"] == 25
    assert b["time_base"] == a["time_base"]
    assert b["audio_codec"] == "aac" and b["audio_packets"] == a["audio_packets"] > 0


def test_pixels_outside_mask_unchanged_within_codec_tolerance(
    clip: Path, logo_mask: Path, tmp_path: Path
) -> None:
    """Outside the mask, `fix` loses no more than a plain re-encode of the same clip does."""
    empty = tmp_path / "empty.png"
    write_mask(empty, np.zeros((H, W), bool))
    restore(clip, tmp_path / "plain.mp4", mask=empty, method="telea")
    restore(clip, tmp_path / "out.mp4", mask=logo_mask, method="telea")
    source, _, _ = read_video(clip)
    plain, _, _ = read_video(tmp_path / "plain.mp4")
    result, _, _ = read_video(tmp_path / "out.mp4")
    outside = ~dilated(box_mask(W, H, LOGO_BOX), 8)
    ours = np.mean([psnr(a, b, outside) for a, b in zip(source, result, strict=True)])
    reencode = np.mean([psnr(a, p, outside) for a, p in zip(source, plain, strict=True)])
    assert ours > reencode - 1.0  # x264's rate control moves a few tenths of a dB on a 64x48 clip


def test_high_quality_output_is_near_exact_outside_mask(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea", pix_fmt="yuv444p", crf=0)
    source, _, _ = read_video(clip)
    result, _, _ = read_video(out)
    outside = ~dilated(box_mask(W, H, LOGO_BOX))
    for a, b in zip(source, result, strict=True):
        assert psnr(a, b, outside) > 45.0


def test_lossless_output_is_exact_outside_the_mask(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    for name in ("out.mkv", "out.mp4"):
        out = tmp_path / name
        restore(clip, out, mask=logo_mask, method="telea", lossless=True)
        source, _, _ = read_video(clip)
        result, _, _ = read_video(out)
        assert read_times(out) == pytest.approx(read_times(clip), abs=1e-3)
        mask = dilated(box_mask(W, H, LOGO_BOX))
        for a, b in zip(source, result, strict=True):
            assert np.array_equal(a[~mask], b[~mask]), name


def test_holes_are_filled_from_surroundings(tmp_path: Path) -> None:
    clip = tmp_path / "flat.mp4"
    with av.open(str(clip), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "bgr0"
        for i in range(3):
            img = np.full((32, 32, 3), 90, np.uint8)
            img[12:20, 12:20] = 255  # the "damage"
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(32, 32, (12, 12, 20, 20)))
    out = tmp_path / "out.mkv"
    restore(clip, out, mask=mask, method="ns", lossless=True, dilate=1)
    result, _, _ = read_video(out)
    assert np.abs(result[0][12:20, 12:20].astype(int) - 90).max() <= 2


@pytest.mark.parametrize("size", [(65, 49), (33, 20)])
def test_odd_and_small_sizes(tmp_path: Path, size: tuple[int, int]) -> None:
    w, h = size
    clip = tmp_path / "odd.mp4"
    make_clip(clip, frames=5, width=w, height=h, audio=False)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(w, h, (2, 2, 9, 9)))
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=mask, method="telea")
    images, _, _ = read_video(out)
    assert len(images) == 5 and images[0].shape == (h, w, 3)


def test_variable_frame_rate_timestamps_are_kept(tmp_path: Path, logo_mask: Path) -> None:
    clip = tmp_path / "vfr.mp4"
    pts = [0, 512, 1024, 2560, 2600, 3072, 5120, 5632, 6000, 6144, 8192, 8704]
    make_clip(clip, frames=N, width=W, height=H, pts=pts, audio=False)
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea")
    _, pts_out, _ = read_video(out)
    assert pts_out == pts


def test_non_zero_start_time_and_ntsc_rate(tmp_path: Path, logo_mask: Path) -> None:
    clip = tmp_path / "ntsc.mp4"
    tb = Fraction(1, 30000)
    pts = [3003 * (i + 10) for i in range(N)]
    make_clip(clip, frames=N, width=W, height=H, pts=pts, time_base=tb, fps=30, audio=False)
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea")
    _, pts_in, _ = read_video(clip)
    _, pts_out, stream = read_video(out)
    assert [p - pts_in[0] for p in pts_out] == [p - pts_in[0] for p in pts_in]


def test_rotation_metadata_is_kept(tmp_path: Path, logo_mask: Path) -> None:
    clip = tmp_path / "rot.mp4"
    make_clip(clip, frames=4, width=W, height=H, rotation=90, audio=False)
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea")
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_per_frame_mask_folder_and_empty_mask_frames_untouched(
    clip: Path, mask_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.mkv"
    summary = restore(clip, out, mask=mask_folder, method="telea", lossless=True)
    assert summary.frames == N and summary.masked_frames == N - 1
    source, _, _ = read_video(clip)
    result, _, _ = read_video(out)
    assert np.array_equal(source[3], result[3])


def test_mask_video(clip: Path, tmp_path: Path) -> None:
    mask_video = tmp_path / "masks.mkv"
    with av.open(str(mask_video), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "gray"
        for i in range(N):
            m = (box_mask(W, H, (10, 10, 20, 20)) * 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(m, format="gray")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    out = tmp_path / "out.mkv"
    summary = restore(clip, out, mask=mask_video, method="telea", lossless=True)
    assert summary.masked_frames == N
    source, _, _ = read_video(clip)
    result, _, _ = read_video(out)
    outside = ~dilated(box_mask(W, H, (10, 10, 20, 20)))
    assert all(np.array_equal(a[outside], b[outside]) for a, b in zip(source, result, strict=True))


def test_audio_is_reencoded_when_the_container_cannot_copy_it(tmp_path: Path, logo_mask: Path) -> None:
    clip = tmp_path / "pcm.mkv"
    with av.open(str(clip), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "bgr0"
        a = c.add_stream("pcm_s16le", rate=8000)
        a.layout = "mono"
        for i in range(10):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), i * 20, np.uint8), format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode())
        samples = (np.sin(np.arange(3200) / 5) * 8000).astype(np.int16)[None]
        af = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        af.sample_rate, af.pts = 8000, 0
        c.mux(a.encode(af))
        c.mux(a.encode())
    out = tmp_path / "out.mp4"
    summary = restore(clip, out, mask=logo_mask, method="telea")
    assert any("re-encoded" in w for w in summary.warnings)
    assert stream_summary(out)["audio_codec"] == "aac"


def test_webm_output_gets_vp9_and_opus_at_48_khz(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    """libx264 cannot go into WebM and Opus takes 48 kHz only; the 44.1 kHz AAC source must still fit."""
    out = tmp_path / "out.webm"
    summary = restore(clip, out, mask=logo_mask, method="telea")
    info = stream_summary(out)
    assert info["video_codec"] == "vp9" and info["audio_codec"] == "opus"
    assert summary.frames == N
    assert read_times(out) == pytest.approx(read_times(clip), abs=1e-3)


def test_avi_output_counts_frames_at_the_source_rate(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    """AVI stores no timestamps: with the source's fine time base it claimed hundreds of frames per second."""
    out = tmp_path / "out.avi"
    restore(clip, out, mask=logo_mask, method="telea")
    assert stream_summary(out)["rate"] == 25
    times = read_times(out)
    assert len(times) == N
    steps = np.diff(times)
    assert steps == pytest.approx(np.full(N - 1, 0.04), abs=1e-6), "one frame per tick, in order"


def test_the_main_picture_is_repaired_not_a_cover_image_stored_first(
    tmp_path: Path, logo_mask: Path
) -> None:
    """Some files carry cover art or a thumbnail as an extra, earlier video stream."""
    clip = tmp_path / "with_cover.mkv"
    with av.open(str(clip), "w") as c:
        cover = c.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        video = c.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        f.pts = 0
        c.mux(cover.encode(f))
        c.mux(cover.encode())
        for i in range(N):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), i * 20, np.uint8), format="rgb24")
            f.pts = i
            c.mux(video.encode(f))
        c.mux(video.encode())
    out = tmp_path / "out.mkv"
    summary = restore(clip, out, mask=logo_mask, method="telea")
    info = stream_summary(out)
    assert summary.frames == N and (info["width"], info["height"]) == (W, H)
    assert any("video stream 0 (mjpeg, 32x32) is not carried over" in w for w in summary.warnings)


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_interlaced_sources_stay_interlaced_in_their_field_order(
    order: str, tmp_path: Path, logo_mask: Path
) -> None:
    """Flagged progressive, interlaced pictures are shown without deinterlacing (combing)."""
    clip = tmp_path / f"{order}.mp4"
    with av.open(str(clip), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        v.options = {"x264-params": f"{order}=1"}
        rng = np.random.default_rng(0)
        for i in range(N):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode())

    def field_order(path: Path) -> tuple[int, bool]:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            return stream.codec_context.field_order, next(c.decode(stream)).interlaced_frame

    source_order, interlaced = field_order(clip)
    assert interlaced and source_order in (2, 3)  # TT / BB
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea")
    assert field_order(out) == (source_order, True)


def test_progressive_sources_stay_progressive(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    restore(clip, out, mask=logo_mask, method="telea")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.field_order in (0, 1)
        assert not next(c.decode(video=0)).interlaced_frame


def test_a_video_alpha_channel_that_cannot_be_kept_is_named(tmp_path: Path, logo_mask: Path) -> None:
    clip = tmp_path / "alpha.mov"
    with av.open(str(clip), "w") as c:
        v = c.add_stream("prores_ks", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "yuva444p10le"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 4), i * 40, np.uint8), format="rgba")
            f.pts = i
            c.mux(v.encode(f.reformat(format="yuva444p10le")))
        c.mux(v.encode())
    summary = restore(clip, tmp_path / "out.mov", mask=logo_mask, method="telea")
    assert summary.frames == 4
    assert any("alpha channel" in w and "not kept" in w for w in summary.warnings)
