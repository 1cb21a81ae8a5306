"""Logo detection: a static semi-transparent overlay over moving content gives one static mask."""

from __future__ import annotations

import numpy as np
import pytest
from test_detect_fixtures import iou, panning_clip

from vidrestore.damage import render_damage
from vidrestore.detect import DetectOptions, detect_frames

ONLY = DetectOptions(kinds=("logo",), logo_frames=40)


@pytest.mark.parametrize("seed", [0, 1])
def test_finds_a_semi_transparent_logo_while_the_camera_pans(seed: int) -> None:
    clip = panning_clip(n=40, height=240, width=320, seed=seed)
    damaged, true = render_damage(clip, "logo", np.random.default_rng(seed))
    _, found = detect_frames(damaged, ONLY)
    masks = found["logo"]
    assert (masks == masks[0]).all()  # one static mask, on every frame
    assert iou(masks[0], true[0]) >= 0.8


def test_static_camera_scene_has_no_logo() -> None:
    clip = panning_clip(n=40, height=240, width=320, dx=0, dy=0, seed=3)
    _, found = detect_frames(clip, ONLY)
    assert not found["logo"].any()


def test_moving_scene_without_logo_has_no_logo() -> None:
    clip = panning_clip(n=40, height=240, width=320, dx=5, dy=-2, seed=4)
    _, found = detect_frames(clip, ONLY)
    assert not found["logo"].any()


def test_clip_shorter_than_the_window_is_decided_on_what_there_is() -> None:
    clip = panning_clip(n=24, height=240, width=320, seed=0)
    damaged, true = render_damage(clip, "logo", np.random.default_rng(0))
    _, found = detect_frames(damaged, DetectOptions(kinds=("logo",), logo_frames=60))
    assert len(found["logo"]) == 24
    assert iou(found["logo"][-1], true[-1]) >= 0.7


def test_real_looking_scene() -> None:
    data = pytest.importorskip("skimage.data")
    import cv2

    image = cv2.resize(data.chelsea(), (600, 420))
    frames = np.stack([image[60 + i : 300 + i, 4 * i : 4 * i + 320] for i in range(40)])
    damaged, true = render_damage(frames, "logo", np.random.default_rng(5))
    _, found = detect_frames(damaged, ONLY)
    assert iou(found["logo"][0], true[0]) >= 0.7


def test_a_plate_with_a_faint_side_is_found_whole() -> None:
    # the plate fades out on its right half: the outline there is a faint fixed edge, found
    # because it joins the strong edges of the rest of the plate
    clip = panning_clip(n=40, height=240, width=320, seed=0).astype(np.float32)
    alpha = np.zeros((240, 320), np.float32)
    alpha[20:70, 200:250] = 0.5
    alpha[20:70, 250:300] = 0.15
    alpha[35:55, 215:235] = 0.9  # a bold letter
    frames = np.clip(np.rint(clip + alpha[None, :, :, None] * (255 - clip)), 0, 255).astype(np.uint8)
    _, found = detect_frames(frames, ONLY)
    assert iou(found["logo"][0], alpha > 0) >= 0.75


@pytest.mark.parametrize("n", [20, 30])
def test_frames_prepared_ahead_give_the_same_mask(n: int) -> None:
    # the stage adds frames to the statistics in a worker thread, up to a batch ahead of the
    # decision: whether at the end of the window or of a shorter clip, it must see each frame once
    import cv2

    from vidrestore.detect.logo_stream import LogoDetector

    clip = panning_clip(n=n, height=240, width=320, seed=0)
    damaged, true = render_damage(clip, "logo", np.random.default_rng(0))
    lumas = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in damaged]
    masks = []
    for ahead in (True, False):
        detector = LogoDetector(frames=24)
        prepared = [detector.prepare(luma) for luma in lumas] if ahead else [None] * n
        found = [p for luma, pre in zip(lumas, prepared, strict=True) for p in detector.push(luma, pre)]
        found += detector.finish()
        assert [p for p, _ in found] == list(range(n))
        assert found[0][1] is not None
        masks.append(found[0][1])
    assert np.array_equal(masks[0], masks[1])
    assert iou(masks[0], true[0]) >= 0.7


@pytest.mark.parametrize("n", [120, 121])
def test_the_probe_searches_a_clip_two_windows_long(n: int) -> None:
    # spans of at least two windows (here 2 x 60 frames) are the probe's: a sampled span reaches
    # to the clip's end, not to the start of its last sample place
    from vidrestore.detect.logo import LogoSettings
    from vidrestore.detect.probe import probe_frames

    clip = panning_clip(n=n, height=144, width=192, seed=0)
    damaged, true = render_damage(clip, "logo", np.random.default_rng(0))
    (found,) = probe_frames(damaged, LogoSettings(), min_span=120)
    assert iou(found.mask, true[0]) >= 0.8
