"""Scratch detection: long thin near-vertical lines found, texture, motion and scene lines left alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_detect_fixtures import panning_clip, texture, tolerant_scores

from vidrestore.damage import render_damage
from vidrestore.detect import DetectOptions, detect_frames
from vidrestore.detect.scratch import ScratchDetector
from vidrestore.detect.scratch_lines import _hough_lines, ridge_peaks

ONLY = DetectOptions(kinds=("scratch",))


@pytest.mark.parametrize("seed", [0, 1])
def test_finds_simulated_scratches_over_a_panning_scene(seed: int) -> None:
    clip = panning_clip(n=24, height=240, width=320, seed=seed)
    damaged, true = render_damage(clip, "scratch", np.random.default_rng(seed))
    _, found = detect_frames(damaged, ONLY)
    recall, precision = tolerant_scores(found["scratch"], true)
    assert recall >= 0.85 and precision >= 0.8, (recall, precision)


def test_clean_scene_with_fine_texture_and_fast_motion_is_not_flagged() -> None:
    clip = panning_clip(n=24, height=240, width=320, dx=6, dy=2, seed=3)
    _, found = detect_frames(clip, ONLY)
    assert found["scratch"].mean() < 0.001


def test_a_pole_that_moves_with_the_scene_is_not_a_scratch() -> None:
    # a thin dark vertical pole is part of the scene: the camera pans, the pole moves with it
    scene = texture(240, 480, seed=5)
    scene[:, 200:202] = 25
    frames = np.stack([scene[:, 3 * i : 3 * i + 320] for i in range(30)])
    _, found = detect_frames(frames, ONLY)
    assert found["scratch"].mean() < 0.001


def test_a_line_that_stays_while_the_scene_pans_is_a_scratch() -> None:
    scene = texture(240, 480, seed=5)
    frames = np.stack([scene[:, 3 * i : 3 * i + 320] for i in range(30)])
    frames[:, 20:220, 150:152] = 235  # fixed to the frame, not to the scene
    _, found = detect_frames(frames, ONLY)
    hit = found["scratch"][:, 40:200, 148:155].any(axis=2).mean()
    assert hit > 0.8
    assert found["scratch"][:, :, :140].sum() == 0


def test_ridge_peaks_keep_narrow_lines_and_refuse_wide_bars() -> None:
    rows = np.full((4, 60), 100.0, dtype=np.float32)
    rows[:, 10:12] = 140  # a 2-px bright line
    rows[:, 30:45] = 140  # a 15-px bright bar
    rows[:, 50] = 60  # a 1-px dark line
    bright, dark = ridge_peaks(rows, contrast=6.0, side=5)
    assert bright[:, 10:12].any(axis=1).all()
    assert not bright[:, 25:50].any()
    assert dark[:, 50].all() and not dark[:, :49].any()


def test_detector_streams_one_mask_per_frame_in_order() -> None:
    clip = panning_clip(n=10, height=96, width=128)
    detector = ScratchDetector()
    got = []
    for frame in clip:
        got += [p for p, _ in detector.push(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))]
    got += [p for p, _ in detector.finish()]
    assert got == list(range(10))


def test_real_looking_scene() -> None:
    data = pytest.importorskip("skimage.data")
    image = cv2.resize(data.astronaut(), (480, 480))
    frames = np.stack([image[100 + i : 340 + i, 2 * i : 2 * i + 320] for i in range(24)])
    damaged, true = render_damage(frames, "scratch", np.random.default_rng(2))
    _, found = detect_frames(damaged, ONLY)
    recall, precision = tolerant_scores(found["scratch"], true)
    assert recall >= 0.8 and precision >= 0.8, (recall, precision)
    _, clean = detect_frames(frames, ONLY)
    assert clean["scratch"].mean() < 0.001


def static_shot(n: int = 24, seed: int = 11) -> np.ndarray:
    """A locked-off shot: the same textured scene every frame, with a little sensor noise."""
    scene = texture(240, 320, seed=seed)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1.5, (n, 240, 320, 1))
    return np.clip(scene[None].astype(np.float32) + noise, 0, 255).astype(np.uint8)


def test_a_bright_rim_along_an_edge_of_a_static_shot_is_not_a_scratch() -> None:
    # a lit cheek against a dark seat: a bright 2-px rim on the bright side of a step edge,
    # present identically in every frame of a static shot
    frames = static_shot()
    # the lit object: bright and low in contrast, a third of the frame high
    frames[:, 70:170, 150:230] = (frames[:, 70:170, 150:230] // 4 + 130).astype(np.uint8)
    frames[:, 70:170, 230:] = 30
    frames[:, 70:170, 228:230] = 200
    _, found = detect_frames(frames, ONLY)
    assert found["scratch"].mean() < 0.0005


def test_a_line_seen_in_two_frames_out_of_twenty_is_not_a_scratch() -> None:
    frames = static_shot()
    for t in (5, 9):
        frames[t, 20:220, 150:152] = 235
    _, found = detect_frames(frames, ONLY)
    assert not found["scratch"].any()


@pytest.mark.parametrize("seed", [0, 5])
def test_simulated_scratches_on_a_static_shot_are_found(seed: int) -> None:
    frames = static_shot()
    damaged, true = render_damage(frames, "scratch", np.random.default_rng(seed))
    _, found = detect_frames(damaged, ONLY)
    recall, precision = tolerant_scores(found["scratch"], true)
    assert recall >= 0.85 and precision >= 0.8, (recall, precision)


def test_a_pole_on_a_still_camera_is_not_a_scratch() -> None:
    # a locked-off shot of a lamp post: the line never moves, and neither does the scene beside it
    frames = static_shot(n=30)
    frames[:, 20:220, 150:152] = 40
    _, found = detect_frames(frames, ONLY)
    assert found["scratch"][6:-6].mean() < 0.0005


def test_a_wandering_line_on_a_still_camera_is_a_scratch() -> None:
    # the same line, drifting by a few tenths of a pixel per frame as a scratch on film does
    frames = static_shot(n=30)
    drift = np.round(np.cumsum(np.random.default_rng(4).normal(0, 0.5, 30))).astype(int)
    for t, dx in enumerate(drift):
        frames[t, 20:220, 150 + dx : 152 + dx] = 40
    _, found = detect_frames(frames, ONLY)
    hit = found["scratch"][:, 40:200, 140:165].any(axis=2).mean()
    assert hit > 0.8


def test_a_line_among_dense_texture_peaks_is_found() -> None:
    # textured footage (leaves, grass) gives dozens of ridge peaks per segment; the scratch's
    # peaks are among them and the vote must still single its line out
    rng = np.random.default_rng(0)
    nseg, width = 10, 320
    peaks = rng.random((nseg, width)) < 0.1
    line_segments = [0, 1, 2, 3, 5, 6, 8, 9]
    for g in line_segments:
        peaks[g, 122 + int(rng.integers(-1, 2))] = True
    lines = _hough_lines(peaks, max_slope=2.1, min_segments=4)
    slope, offset, segments, _ = lines[0]
    assert set(line_segments) <= set(segments.tolist())
    ends = slope * np.array([0.5, nseg - 0.5]) + offset
    assert np.all(np.abs(ends - 122) <= 1.5), ends


def test_the_lit_edge_of_a_moving_object_on_a_still_background_is_not_a_scratch() -> None:
    # a head turning in front of a still seat: its bright rim moves with the head on one side
    # only, so the scene on both sides together hardly tells
    background = (texture(240, 320, seed=7) // 2 + 40).astype(np.uint8)
    head = (texture(240, 480, seed=8) // 2 + 60).astype(np.uint8)
    frames = []
    for t in range(30):
        edge = 140 + int(round(6 * np.sin(t / 4)))
        frame = background.copy()
        frame[30:200, 60:edge] = head[30:200, 260 - edge : 200]  # the head's texture moves with it
        frame[30:200, edge : edge + 2] = 235
        frames.append(frame)
    _, found = detect_frames(np.stack(frames), ONLY)
    assert found["scratch"].mean() < 0.0005


def test_a_scratch_inside_a_large_group_of_texture_peaks_is_linked() -> None:
    # leaves to the left and right of x = 222 join every peak of columns 100-300 into one group;
    # the scratch's line must come out of it, at its own place (the group starts at column 100)
    from vidrestore.detect.scratch_lines import ScratchSettings, _link_segments

    found = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        peaks = np.zeros((10, 400), dtype=bool)
        peaks[:, 100:300] = rng.random((10, 200)) < 0.12
        for g in [0, 1, 2, 3, 5, 6, 8, 9]:
            peaks[g, 222 + int(rng.integers(-1, 2))] = True
        chains = _link_segments(peaks, band=3, h=240, s=ScratchSettings())
        found += any(abs(float(c.x_at(c.rows).mean()) - 222) <= 1.5 for c in chains)
    assert found == 8


def test_where_the_scene_stands_still_a_line_must_beat_both_sides_more_evenly() -> None:
    # a rim-like line: over most rows it beats its near side by under half as much as its far
    # one, and evenly only over 36% of the frame's height. Where the scene moves, that is
    # enough (its motion decides the rest); where it stands still, it is not
    from vidrestore.detect.scratch import _two_sided
    from vidrestore.detect.scratch_lines import ScratchLine, ScratchSettings

    rows = np.arange(80)
    ratios = np.where(rows < 29, 0.55, 0.45).astype(np.float32)
    chain = ScratchLine(rows, np.full(80, 100), 100, 100, ratios=ratios)
    s = ScratchSettings()
    assert _two_sided(chain, band=3, height=240, s=s, still=False)
    assert not _two_sided(chain, band=3, height=240, s=s, still=True)
    # an even line passes either way
    even = ScratchLine(rows, np.full(80, 100), 100, 100, ratios=np.full(80, 0.9, dtype=np.float32))
    assert _two_sided(even, band=3, height=240, s=s, still=True)
    # a low sensitivity (longer lines) is never looser where the scene is still
    low = ScratchSettings.from_sensitivity(0.5)
    part = np.where(rows < 36, 0.55, 0.1).astype(np.float32)  # 0.5 or more over 45% of the height
    partial = ScratchLine(rows, np.full(80, 100), 100, 100, ratios=part)
    assert not _two_sided(partial, band=3, height=240, s=low, still=False)
    assert not _two_sided(partial, band=3, height=240, s=low, still=True)
