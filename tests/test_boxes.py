"""Boxes and time ranges (`fix --box X,Y,W,H@START-END`, `--mask logo.png@START-END`): only the
box changes, and only on the frames whose presentation time lies in the range."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import box_mask, make_clip, read_video, write_mask

from vidrestore import restore
from vidrestore.batch import run_batch
from vidrestore.errors import OptionError
from vidrestore.io.regions import parse_box, parse_range, parse_time, split_mask_spec

W, H, N = 64, 48, 40  # 25 fps: 1.6 s
FAST = {"method": "telea", "lossless": True}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidrestore", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def clip40(tmp_path: Path) -> Path:
    path = tmp_path / "clip40.mp4"
    make_clip(path, frames=N, width=W, height=H, audio=False)
    return path


def changed_where(source: list[np.ndarray], result: list[np.ndarray]) -> np.ndarray:
    """bool (T, H, W): pixels that differ between two decodings."""
    return np.stack([(a != b).any(axis=-1) for a, b in zip(source, result, strict=True)])


def assert_only_box_in_frames(
    changed: np.ndarray, box: tuple[int, int, int, int], frames: range
) -> None:
    x, y, w, h = box
    inside = box_mask(W, H, (x, y, x + w, y + h))
    for i, diff in enumerate(changed):
        assert not diff[~inside].any(), f"frame {i}: pixels outside the box changed"
        if i in frames:
            assert diff[inside].mean() > 0.2, f"frame {i}: the box was not filled"
        else:
            assert not diff.any(), f"frame {i} is outside the range but changed"


def test_cli_box_with_a_range_changes_only_that_box_in_that_range(clip40: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    result = run_cli(
        "fix", str(clip40), "--box", "20,10,16,12@0.4-1.2", "-o", str(out), "--method", "telea",
        "--lossless", "-q",
    )
    assert result.returncode == 0, result.stderr
    source, _, _ = read_video(clip40)
    fixed, _, _ = read_video(out)
    assert len(fixed) == N
    # end exclusive: 0.4 s = frame 10 .. 1.2 s = frame 30 (not included)
    assert_only_box_in_frames(changed_where(source, fixed), (20, 10, 16, 12), range(10, 30))


def test_api_boxes_ranges_in_hh_mm_ss_and_an_open_end(clip40: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    restore(clip40, out, box=["4,4,10,8@00:00:00.2-00:00:00.6", (40, 30, 12, 10)], **FAST)
    restore(clip40, tmp_path / "open.mkv", box="40,30,12,10@1.0-", **FAST)
    source, _, _ = read_video(clip40)
    changed = changed_where(source, read_video(out)[0])
    first = box_mask(W, H, (4, 4, 14, 12))
    second = box_mask(W, H, (40, 30, 52, 40))  # no range: every frame
    assert not changed[:, ~(first | second)].any()
    assert all(changed[i][second].any() for i in range(N))
    assert [bool(changed[i][first].any()) for i in range(N)] == [5 <= i < 15 for i in range(N)]
    opened = changed_where(source, read_video(tmp_path / "open.mkv")[0])
    assert [bool(d.any()) for d in opened] == [i >= 25 for i in range(N)]


def test_a_single_image_mask_with_a_range(clip40: Path, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    write_mask(logo, box_mask(W, H, (30, 20, 40, 28)))
    out = tmp_path / "out.mkv"
    restore(clip40, out, mask=f"{logo}@0.8-1.0", dilate=0, **FAST)
    source, _, _ = read_video(clip40)
    assert_only_box_in_frames(changed_where(source, read_video(out)[0]), (30, 20, 10, 8), range(20, 25))


def test_times_count_from_the_stream_start_not_pts_zero(tmp_path: Path) -> None:
    clip = tmp_path / "late.mp4"
    step = 512  # time base 1/12800 at 25 fps
    make_clip(clip, frames=20, width=W, height=H, audio=False, pts=[(100 + i) * step for i in range(20)])
    out = tmp_path / "out.mkv"
    restore(clip, out, box="8,8,12,12@0.2-0.4", **FAST)  # frames 5..9, although they show at 4.2 s
    source, _, _ = read_video(clip)
    changed = changed_where(source, read_video(out)[0])
    assert [bool(d.any()) for d in changed] == [5 <= i < 10 for i in range(20)]


def test_frame_folder_with_fps(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    images = make_clip(tmp_path / "ignored.mp4", frames=12, width=W, height=H, audio=False)
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    result = run_cli(
        "fix", str(folder), "--fps", "10", "--box", "10,10,20,20@0.3-0.6", "-o", str(out),
        "--method", "telea", "-q",
    )
    assert result.returncode == 0, result.stderr
    written = sorted(out.iterdir())
    assert len(written) == 12
    changed = [
        bool((cv2.imread(str(w)) != cv2.imread(str(folder / f"f{i:03d}.png"))).any())
        for i, w in enumerate(written)
    ]
    assert changed == [3 <= i < 6 for i in range(12)]  # at 10 fps: frames 3, 4, 5


def test_manifest_box_column(tmp_path: Path) -> None:
    make_clip(tmp_path / "a.mp4", frames=20, width=W, height=H, audio=False)
    make_clip(tmp_path / "b.mp4", frames=20, width=W, height=H, audio=False)
    manifest = tmp_path / "jobs.csv"
    manifest.write_text('input,box\na.mp4,"4,4,8,8@0.2-0.4;30,20,10,10"\nb.mp4,"1,2@x"\n')
    report = run_batch(str(manifest), tmp_path / "out", progress=False, **FAST)
    rows = {Path(r.input).name: r for r in report.results}
    assert rows["a.mp4"].status == "done"
    failed = rows["b.mp4"]
    assert failed.status == "failed" and "line 3" in failed.error and "box" in failed.error
    source, _, _ = read_video(tmp_path / "a.mp4")
    changed = changed_where(source, read_video(tmp_path / "out" / "a.mp4")[0])
    small, big = box_mask(W, H, (4, 4, 12, 12)), box_mask(W, H, (30, 20, 40, 30))
    assert not changed[:, ~(small | big)].any()
    assert [bool(d[small].any()) for d in changed] == [5 <= i < 10 for i in range(20)]
    assert all(d[big].any() for d in changed)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--box", "10,10,20"], "bad box '10,10,20': want X,Y,W,H"),
        (["--box", "10,10,0,5"], "width and height must be positive"),
        (["--box", "10,10,5,5@2-1"], "must come after the start"),
        (["--box", "10,10,5,5@1:75-2:00"], "seconds must be below 60"),
        (["--box", "10,10,5,5@soon-later"], "give seconds (12.5) or HH:MM:SS"),
        (["--box", "500,500,5,5"], "lies outside the 64x48 frame"),
        (["--mask", "nothere.png@1-2"], "mask not found: nothere.png"),
        (["--mask", "logo.png@1"], "want START-END"),
    ],
)
def test_bad_specs_are_one_clear_line(clip40: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("fix", str(clip40), *args, "-o", str(tmp_path / "o.mp4"), "--method", "telea")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidrestore: error:") and message in lines[0], lines
    assert not (tmp_path / "o.mp4").exists()


def test_spec_parsing() -> None:
    assert parse_time("90") == 90
    assert parse_time("01:30") == 90
    assert parse_time("00:01:20.04") == Fraction(8004, 100)
    assert parse_range("-2") == parse_range("0-2")
    assert parse_range("5-").end is None
    box = parse_box("100,10,60,30@1-2")
    assert (box.x, box.y, box.w, box.h) == (100, 10, 60, 30) and box.during == parse_range("1-2")
    assert parse_box(box.spec()) == box
    assert split_mask_spec("dir/logo.png@00:00:05-00:01:20") == (Path("dir/logo.png"), parse_range("5-80"))
    with pytest.raises(OptionError, match="want four whole numbers"):
        parse_box((1, 2, 3))


def test_an_existing_file_with_an_at_sign_is_not_split(tmp_path: Path) -> None:
    odd = tmp_path / "logo@2x.png"
    odd.write_bytes(b"")
    assert split_mask_spec(odd) == (odd, None)


def test_segments_keep_the_range_on_the_stream_clock(tmp_path: Path) -> None:
    clip = tmp_path / "long.mp4"
    make_clip(clip, frames=60, width=W, height=H, audio=False)
    out = tmp_path / "out.mkv"
    restore(clip, out, box="8,8,12,12@1.0-1.8", segments=2, workers=1, **FAST)
    source, _, _ = read_video(clip)
    changed = changed_where(source, read_video(out)[0])
    assert [bool(d.any()) for d in changed] == [25 <= i < 45 for i in range(60)]
