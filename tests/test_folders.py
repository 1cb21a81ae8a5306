"""Frame folders in and out: natural order, names kept, untouched frames copied byte for byte."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from clips import box_mask, pattern_frame, read_video, write_mask
from conftest import LOGO_BOX, H, W

from vidrestore import restore
from vidrestore.io.paths import natural_key


def make_folder(folder: Path, count: int, ext: str = ".png") -> list[np.ndarray]:
    folder.mkdir()
    images = [pattern_frame(i, W, H) for i in range(count)]
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"frame{i}{ext}"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return images


def test_natural_sort() -> None:
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "frame2.png", "Frame3.png", "frame10.png"]


def test_folder_to_folder_keeps_names_and_exact_pixels(tmp_path: Path, logo_mask: Path) -> None:
    images = make_folder(tmp_path / "in", 11)
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(11):
        write_mask(masks / f"m{i:02d}.png", box_mask(W, H, LOGO_BOX if i % 2 else (0, 0, 0, 0)))
    out = tmp_path / "out"
    summary = restore(tmp_path / "in", out, mask=masks, method="telea")
    assert summary.frames == 11 and summary.masked_frames == 5
    assert sorted(p.name for p in out.iterdir()) == sorted(f"frame{i}.png" for i in range(11))
    assert (out / "frame0.png").read_bytes() == (tmp_path / "in" / "frame0.png").read_bytes()
    frame10 = cv2.cvtColor(cv2.imread(str(out / "frame10.png")), cv2.COLOR_BGR2RGB)
    outside = ~cv2.dilate(box_mask(W, H, LOGO_BOX).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert np.array_equal(frame10[outside], images[10][outside])  # frame10 sorted after frame9, not frame1


def test_folder_to_video_with_fps(tmp_path: Path, logo_mask: Path) -> None:
    make_folder(tmp_path / "in", 6)
    out = tmp_path / "out.mp4"
    restore(tmp_path / "in", out, mask=logo_mask, method="telea", fps=12)
    images, pts, stream = read_video(out)
    assert len(images) == 6 and stream.average_rate == 12
    assert [float(p * stream.time_base) for p in pts] == [i / 12 for i in range(6)]


def test_video_to_folder(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    restore(clip, out, mask=logo_mask, method="telea")
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(12)]


def test_existing_empty_folder_is_an_acceptable_output(clip: Path, logo_mask: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    out.mkdir()
    restore(clip, out, mask=logo_mask, method="telea", overwrite=True)
    assert len(list(out.iterdir())) == 12


def test_repaired_frames_keep_their_alpha_channel(tmp_path: Path, logo_mask: Path) -> None:
    """RGBA frames (plates with transparency): the repair is RGB, the alpha goes back on as it was."""
    folder = tmp_path / "rgba"
    folder.mkdir()
    yy, xx = np.mgrid[0:H, 0:W]
    alphas = []
    for i in range(4):
        alpha = ((xx + yy * 3 + i * 17) % 256).astype(np.uint8)
        alphas.append(alpha)
        bgra = np.dstack([cv2.cvtColor(pattern_frame(i, W, H), cv2.COLOR_RGB2BGR), alpha])
        cv2.imwrite(str(folder / f"f{i}.png"), bgra)
    out = tmp_path / "out"
    restore(folder, out, mask=logo_mask, method="telea")
    for i in range(4):
        written = cv2.imread(str(out / f"f{i}.png"), cv2.IMREAD_UNCHANGED)
        assert written.shape == (H, W, 4)
        assert np.array_equal(written[..., 3], alphas[i])


def test_a_frame_folder_is_repaired_with_temporal_propagation_by_default(tmp_path: Path) -> None:
    """A scan sequence is a video: a hole that moves over the pattern is filled from other frames."""
    images = make_folder(tmp_path / "in", 10)
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(10):
        write_mask(masks / f"m{i:02d}.png", box_mask(W, H, (4 + 3 * i, 30, 14 + 3 * i, 40)))
    default = restore(tmp_path / "in", tmp_path / "out", mask=masks, method="telea")
    assert default.propagated_fraction > 0.3
    per_frame = restore(tmp_path / "in", tmp_path / "out2", mask=masks, method="telea", temporal=False)
    assert per_frame.propagated_fraction == 0
    hole = box_mask(W, H, (4 + 15, 30, 14 + 15, 40))

    def error(folder: str) -> float:
        frame = cv2.cvtColor(cv2.imread(str(tmp_path / folder / "frame5.png")), cv2.COLOR_BGR2RGB)
        return float(np.abs(frame[hole].astype(int) - images[5][hole]).mean())

    assert error("out") < error("out2")


def test_unrelated_images_in_a_folder_borrow_nothing_from_each_other(tmp_path: Path) -> None:
    """Propagation is on for folders, but a folder of different pictures is all scene cuts."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        base = rng.integers(0, 60, (H // 4, W // 4, 3)).astype(np.uint8) + 35 * i
        image = cv2.resize(base, (W, H), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"p{i}.png"), image)
    mask = tmp_path / "box.png"
    write_mask(mask, box_mask(W, H, (20, 14, 40, 30)))
    default = restore(folder, tmp_path / "a", mask=mask, method="telea")
    restore(folder, tmp_path / "b", mask=mask, method="telea", temporal=False)
    assert default.propagated_fraction == 0
    for i in range(6):
        assert (tmp_path / "a" / f"p{i}.png").read_bytes() == (tmp_path / "b" / f"p{i}.png").read_bytes()
