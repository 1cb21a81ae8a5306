"""Temporal propagation: panning texture is recovered nearly exactly, cuts and static shots are
respected, the stream keeps every frame in order at window boundaries."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clips import box_mask, make_clip, read_video, write_mask

from vidrestore import restore
from vidrestore.frames import FrameBatch
from vidrestore.metrics import psnr
from vidrestore.push_pull import push_pull_fill
from vidrestore.temporal.propagate import TemporalOptions, TemporalPropagation
from vidrestore.temporal.scenecut import is_cut, thumbnail


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (blurred noise at two scales) that optical flow can track."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    big = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (5, 5), 1.5)
    return cv2.addWeighted(big, 0.7, fine, 0.3, 0)


def panning_clip(frames: int, height: int = 72, width: int = 96, speed: int = 3) -> np.ndarray:
    """Frames of a camera panning right over a wide texture, ``speed`` pixels per frame."""
    wide = texture(height, width + speed * frames + 8)
    return np.stack([wide[:, i * speed : i * speed + width] for i in range(frames)])


def run_stage(
    frames: np.ndarray, masks: np.ndarray, batch: int = 4, window: int = 3
) -> tuple[np.ndarray, np.ndarray, TemporalPropagation]:
    out, remaining, stage, _ = run_stage_batches(frames, masks, TemporalOptions(window=window), batch)
    return out, remaining, stage


def run_stage_batches(frames: np.ndarray, masks: np.ndarray, options: TemporalOptions, batch: int = 4):
    """The stage over ``frames`` cut into batches: repaired frames, remaining holes, stage, batches."""
    stage = TemporalPropagation(options)
    batches = [
        FrameBatch(list(range(i, min(i + batch, len(frames)))), list(range(i, min(i + batch, len(frames)))),
                   Fraction(1, 25), frames[i : i + batch].copy(), masks[i : i + batch].copy())
        for i in range(0, len(frames), batch)
    ]
    out = list(stage.run(iter(batches)))
    assert [i for b in out for i in b.indices] == list(range(len(frames)))
    return np.concatenate([b.frames for b in out]), np.concatenate([b.masks for b in out]), stage, out


def test_push_pull_keeps_known_values_and_fills_smoothly() -> None:
    y, x = np.mgrid[0:40, 0:50]
    ramp = np.stack([x * 0.2, -y * 0.1], -1).astype(np.float32)
    hole = np.zeros((40, 50), bool)
    hole[10:30, 15:35] = True
    filled = push_pull_fill(ramp, hole)
    assert np.array_equal(filled[~hole], ramp[~hole])
    assert np.abs(filled - ramp)[hole].max() < 2.0


def test_pan_under_fixed_hole_is_recovered_nearly_exactly() -> None:
    clean = panning_clip(12, speed=4)
    masks = np.zeros(clean.shape[:3], bool)
    masks[:, 24:48, 42:54] = True  # fixed hole; the pan uncovers it within +-3 frames
    damaged = clean.copy()
    damaged[masks] = 0
    out, remaining, stage = run_stage(damaged, masks)
    assert stage.stats.fraction > 0.9
    filled = masks & ~remaining
    assert psnr(clean, out, filled) > 30.0
    assert np.array_equal(out[~masks], damaged[~masks])  # nothing outside the hole changes


def test_moving_hole_on_static_background_is_recovered() -> None:
    still = texture(72, 96, seed=3)
    clean = np.repeat(still[None], 10, axis=0)
    masks = np.stack([box_mask(96, 72, (10 + 6 * i, 20, 30 + 6 * i, 40)) for i in range(10)])
    damaged = clean.copy()
    damaged[masks] = 255
    out, remaining, stage = run_stage(damaged, masks)
    assert stage.stats.fraction > 0.8
    assert psnr(clean, out, masks & ~remaining) > 35.0


def test_static_logo_on_static_shot_is_left_to_the_inpainter() -> None:
    still = texture(72, 96, seed=5)
    clean = np.repeat(still[None], 8, axis=0)
    masks = np.repeat(box_mask(96, 72, (60, 5, 90, 20))[None], 8, axis=0)
    out, remaining, stage = run_stage(clean.copy(), masks)
    assert stage.stats.fraction == 0.0 and np.array_equal(remaining, masks)


def test_nothing_crosses_a_scene_cut() -> None:
    a, b = texture(72, 96, seed=1), texture(72, 96, seed=2) // 3 + 150  # another shot, other tones
    clean = np.stack([a] * 5 + [b] * 5)
    masks = np.zeros(clean.shape[:3], bool)
    masks[5, 20:40, 20:40] = True  # hole on the first frame after the cut; the one before differs
    masks[6:, 20:40, 20:40] = True  # later frames of the same shot cannot help either
    damaged = clean.copy()
    damaged[masks] = 0
    assert is_cut(thumbnail(a), thumbnail(b)) and not is_cut(thumbnail(a), thumbnail(a))
    out, remaining, _ = run_stage(damaged, masks)
    assert remaining[5].sum() == masks[5].sum()  # frame 4 (other shot) was not used


@pytest.mark.parametrize("frames,window", [(1, 3), (2, 3), (5, 3), (9, 2)])
def test_window_boundaries_keep_every_frame(frames: int, window: int) -> None:
    clean = panning_clip(frames)
    masks = np.zeros(clean.shape[:3], bool)
    masks[:, 30:40, 40:50] = True
    out, remaining, _ = run_stage(clean.copy(), masks, batch=3, window=window)
    assert out.shape == clean.shape and remaining.shape == masks.shape


def test_fix_with_temporal_on_video(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=10, width=64, height=48, audio=False)
    mask = tmp_path / "m.png"
    write_mask(mask, box_mask(64, 48, (20, 20, 32, 30)))
    summary = restore(clip, tmp_path / "t.mkv", mask=mask, method="telea", lossless=True)
    off = restore(clip, tmp_path / "n.mkv", mask=mask, method="telea", lossless=True, temporal=False)
    assert summary.propagated_fraction > 0 and off.propagated_fraction == 0
    images, _, _ = read_video(tmp_path / "t.mkv")
    assert len(images) == 10
