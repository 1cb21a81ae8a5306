"""Logos that appear over a still shot: found from their arrival (the scenery of a still camera
is as fixed as a logo, so the fixed-edge statistics alone cannot tell them apart); regions that
change otherwise (an object coming to rest, a light coming on) are not logos."""

from __future__ import annotations

import numpy as np
import pytest
from test_detect_fixtures import still_shot_clip

from vidrestore.damage import logo_box, logo_emblem
from vidrestore.detect import DetectOptions, detect_frames

ONLY = DetectOptions(kinds=("logo",))
N, ARRIVES = 120, 50


def with_overlay(frames: np.ndarray, alpha: np.ndarray, colour: float, start: int) -> np.ndarray:
    out = frames.astype(np.float32)
    out[start:] += alpha[None, :, :, None] * (colour - out[start:])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def test_a_logo_arriving_over_a_still_shot_is_found_from_its_arrival() -> None:
    clip = still_shot_clip(N, seed=1)
    h, w = clip.shape[1:3]
    rng = np.random.default_rng(3)
    y, x, bh, bw = logo_box(h, w, rng)
    alpha = np.zeros((h, w), np.float32)
    alpha[y : y + bh, x : x + bw] = logo_emblem(bh, bw, rng)
    _, found = detect_frames(with_overlay(clip, alpha, 255.0, ARRIVES), ONLY)
    masks = found["logo"]
    true = alpha * 255 > 8
    recall = np.array([(m & true).sum() / true.sum() for m in masks])
    assert np.mean(recall[ARRIVES + 2 :] >= 0.8) >= 0.9  # found on the frames that show it
    assert not masks[: ARRIVES - 2].any()  # and on none before it arrived
    assert (masks & ~true).mean() < 0.003  # the mask is the filled outline, little more


def test_the_same_still_shot_without_a_logo_has_none() -> None:
    _, found = detect_frames(still_shot_clip(N, seed=1), ONLY)
    assert not found["logo"].any()


def test_an_object_coming_to_rest_in_a_still_shot_is_not_a_logo() -> None:
    clip = still_shot_clip(N, seed=2, walker=False).astype(np.float32)
    h, w = clip.shape[1:3]
    rng = np.random.default_rng(5)
    patch = rng.integers(30, 90, (h // 4, w // 5, 3)).astype(np.float32)  # a dark, mottled object
    for i in range(N):
        x = min(w // 10 + 3 * i, w // 2)  # slides in, stops at frame ~45, then stirs a little
        x += int(2 * np.sin(i / 3)) if x == w // 2 else 0
        clip[i, h // 10 : h // 10 + patch.shape[0], x : x + patch.shape[1]] = patch
    _, found = detect_frames(np.clip(clip, 0, 255).astype(np.uint8), ONLY)
    assert not found["logo"].any()


def test_a_light_coming_on_over_part_of_a_still_shot_is_not_a_logo() -> None:
    clip = still_shot_clip(N, seed=3).astype(np.float32)
    h, w = clip.shape[1:3]
    lit = np.s_[ARRIVES:, h // 8 : h // 3, w // 2 : w - w // 8]
    clip[lit] = clip[lit] * 1.25 + 8  # brighter, and more contrast: light, not a plate over it
    _, found = detect_frames(np.clip(clip, 0, 255).astype(np.uint8), ONLY)
    assert not found["logo"].any()


@pytest.mark.parametrize("gain", [0.5, 0.7])
def test_light_dimming_or_a_hard_shadow_over_part_of_a_still_shot_is_not_a_logo(gain: float) -> None:
    # the picture scaled down with no tint: a lamp going off, a shadow (a dark plate would look
    # the same, and is not taken either)
    clip = still_shot_clip(N, seed=3).astype(np.float32)
    h, w = clip.shape[1:3]
    shaded = np.s_[ARRIVES:, h // 8 : h // 3, w // 2 : w - w // 8]
    clip[shaded] = clip[shaded] * gain - 5
    _, found = detect_frames(np.clip(clip, 0, 255).astype(np.uint8), ONLY)
    assert not found["logo"].any()
