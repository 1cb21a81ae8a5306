"""`vidrestore detect` as a user runs it: a mask folder, a preview, --report-only, --kinds, bad
input, and a logo that only appears after black frames and a title card."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import make_clip, read_video
from test_detect_fixtures import late_logo_clip

from vidrestore import restore
from vidrestore.detection import detect

N_LATE, LOGO_FROM, GAP = 170, 70, (120, 135)  # 25 fps: the logo shows 2.8-4.8 s and 5.4-6.8 s


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidrestore", *args], capture_output=True, text=True, timeout=120
    )


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "16"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def late_logo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 192x144 H.264 clip: black, a title card, then panning shots with cuts and a
    semi-transparent logo from frame 70 (absent 120-134); its visible pixels and presence."""
    frames, true, present = late_logo_clip(n=N_LATE, logo_from=LOGO_FROM, gap=GAP)
    path = tmp_path_factory.mktemp("late") / "late.mp4"
    write_video(path, frames)
    return path, true, present


def read_masks(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]) > 127


def test_a_late_semi_transparent_logo_is_found_where_it_shows(
    late_logo: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path, true, present = late_logo
    result = run_cli("detect", str(path), "-o", str(tmp_path / "masks"), "--kinds", "logo", "-q")
    assert result.returncode == 0, result.stderr
    masks = read_masks(tmp_path / "masks")
    assert len(masks) == N_LATE
    shown = masks[present]
    recall = np.mean([(m & true).sum() / true.sum() for m in shown])
    assert recall >= 0.8  # most of the logo's pixels, on the frames that show it
    assert (masks & ~true).mean() < 0.002  # almost nothing elsewhere (the mask is the filled outline)
    flagged = masks.reshape(N_LATE, -1).any(axis=1)
    assert flagged[present].mean() >= 0.9
    assert flagged[~present].mean() <= 0.05  # empty masks where the logo is absent


def test_report_only_prints_where_the_logo_is_present_and_writes_nothing(
    late_logo: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path, true, _ = late_logo
    result = run_cli("detect", str(path), "--report-only", "--kinds", "logo", "-o", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{N_LATE} frames") and "logo" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("logo 1 at ")
    box, spans = lines[1].removeprefix("logo 1 at ").split(": present ")
    x, y, w, h = (int(v) for v in box.split(","))
    ys, xs = np.nonzero(true)
    assert abs(x - xs.min()) <= 2 and abs(y - ys.min()) <= 2
    assert abs(x + w - xs.max() - 1) <= 2 and abs(y + h - ys.max() - 1) <= 2
    ranges = [[_seconds(t) for t in span.split("-")] for span in spans.split(", ")]
    expected = [[LOGO_FROM / 25, GAP[0] / 25], [GAP[1] / 25, N_LATE / 25]]
    assert np.allclose(ranges, expected, atol=0.25), ranges
    assert not (tmp_path / "m").exists()


def _seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_the_ranges_printed_fix_the_logo_with_boxes(
    late_logo: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path, _, present = late_logo
    summary = detect(path, None, kinds=("logo",))
    (logo,) = summary.logos
    boxes = [f"{','.join(map(str, logo.box))}@{a}-{b}" for a, b in logo.ranges]
    out = tmp_path / "fixed.mkv"
    restore(path, out, box=boxes, method="telea", lossless=True)
    source, _, _ = read_video(path)
    fixed, _, _ = read_video(out)
    changed = np.array([bool((a != b).any()) for a, b in zip(source, fixed, strict=True)])
    assert changed[present].mean() >= 0.9 and changed[~present].mean() <= 0.05


def test_mask_folder_and_preview(clip_with_blotches: Path, tmp_path: Path) -> None:
    masks, preview = tmp_path / "masks", tmp_path / "check.mp4"
    result = run_cli("detect", str(clip_with_blotches), "-o", str(masks), "--preview", str(preview))
    assert result.returncode == 0, result.stderr
    files = sorted(masks.glob("*.png"))
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(16)]
    found = read_masks(masks)
    assert found.shape == (16, 96, 128) and found[:, 40:56, 60:76].any()  # the painted blotch
    images, _, _ = read_video(preview)
    source, _, _ = read_video(clip_with_blotches)
    assert len(images) == 16
    tinted = [np.abs(a.astype(int) - b.astype(int)).sum(-1) > 60 for a, b in zip(images, source, strict=True)]
    hit = next(i for i in range(16) if found[i].any())
    assert tinted[hit][found[hit]].mean() > 0.5 and tinted[hit][~found[hit]].mean() < 0.02
    assert "frames in" in result.stdout and "-> " in result.stdout
    # the folder is what `fix --mask` reads back, frame for frame
    restore(clip_with_blotches, tmp_path / "fixed.mp4", mask=masks, method="telea")


@pytest.fixture
def clip_with_blotches(tmp_path: Path) -> Path:
    """A 128x96 panning clip with one dark blotch on frame 5."""
    from test_detect_fixtures import panning_clip

    frames = panning_clip(n=16, height=96, width=128, seed=7)
    cv2.circle(frames[5], (68, 48), 6, (10, 10, 10), -1, cv2.LINE_AA)
    path = tmp_path / "blotched.mp4"
    write_video(path, frames)
    return path


def test_kinds_limit_the_report(clip_with_blotches: Path) -> None:
    result = run_cli("detect", str(clip_with_blotches), "--report-only", "--kinds", "blotch")
    assert result.returncode == 0, result.stderr
    assert "blotch" in result.stdout and "scratch" not in result.stdout and "logo" not in result.stdout


def test_frame_folder_input(tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    folder.mkdir()
    frames, _, _ = late_logo_clip(n=40, logo_from=0, gap=(0, 0), shot=40)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"reel_{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    result = run_cli("detect", str(folder), "-o", str(tmp_path / "masks"), "--kinds", "logo", "--fps", "10")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert names == [f"reel_{i:04d}.png" for i in range(40)]  # named after the frames


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothere.mp4", "-o", "m"], "input not found"),
        (["CLIP", "--kinds", "scratch,smudge", "--report-only"], "unknown damage kind"),
        (["CLIP", "-o", "masks.mp4"], "masks go to a folder, not a video file"),
        (["CLIP"], "give -o MASK_FOLDER, --preview VIDEO or --report-only"),
        (["NOTVIDEO", "--report-only"], "NOTVIDEO"),
        (["CLIP", "--logo-sensitivity", "0", "--report-only"], "logo sensitivity must be between"),
        (["CLIP", "-o", "EXISTING"], "exists"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=6)
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    (tmp_path / "existing").mkdir()
    swap = {"CLIP": str(clip), "NOTVIDEO": str(junk), "EXISTING": str(tmp_path / "existing")}
    args = [swap.get(a, str(tmp_path / a) if a in ("m", "masks.mp4") else a) for a in args]
    result = run_cli("detect", *args)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidrestore: error:"), lines
    assert message.replace("NOTVIDEO", "junk.mp4") in lines[0], lines[0]


@pytest.mark.parametrize("error", [RuntimeError("disk gone"), KeyboardInterrupt()])
def test_a_detect_failing_midway_leaves_no_masks_no_preview_and_no_litter(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException,
) -> None:
    """`detect` runs through the same pipeline as `fix`: a failure after some masks were written
    removes them and the half-written preview."""
    import vidrestore.detection as detection

    real = detection._MaskRecorder.run

    def failing(self, batches):  # noqa: ANN001, ANN202
        for n, batch in enumerate(real(self, batches)):
            if n == 1:
                raise error
            yield batch

    monkeypatch.setattr(detection._MaskRecorder, "run", failing)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(type(error)):
        detect(clip, out / "masks", preview=out / "preview.mp4", kinds=("blotch",))
    assert sorted(p.name for p in out.iterdir()) == []
