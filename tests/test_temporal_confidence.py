"""Propagated pixels that cannot be trusted are left to the inpainter: candidates from the past and
the future that disagree, and chains of repairs that saw the pixel too long ago."""

from __future__ import annotations

import numpy as np
from test_temporal import run_stage_batches, texture

from vidrestore.temporal.propagate import TemporalOptions


def changing_under_hole_clip() -> tuple[np.ndarray, np.ndarray]:
    """Still texture; a patch of it changes colour at frame 3 while a hole covers it in frame 2 only,
    so frame 2's past shows one colour there and its future another."""
    still = texture(48, 64, seed=3)
    frames = np.repeat(still[None], 5, axis=0).copy()
    patch = frames[3:, 16:32, 24:40].astype(np.int16)
    frames[3:, 16:32, 24:40] = np.where(patch < 128, patch + 100, patch - 100)  # 100 levels off
    masks = np.zeros(frames.shape[:3], bool)
    masks[2, 12:36, 20:44] = True
    return frames, masks


def test_candidates_that_disagree_are_left_to_the_inpainter() -> None:
    frames, masks = changing_under_hole_clip()
    changed = np.zeros(masks.shape[1:], bool)
    changed[18:30, 26:38] = True  # well inside the changed patch
    _, remaining, _, _ = run_stage_batches(frames, masks, TemporalOptions(window=2))
    assert remaining[2][changed].all()
    assert not remaining[2][14:34, 20:23].any()  # unchanged and seen on both sides: propagated
    # Without the agreement test the same pixels would have been filled with a blend of the two.
    _, trusting, _, _ = run_stage_batches(frames, masks, TemporalOptions(window=2, agreement=1e9))
    assert not trusting[2][changed].any()


def test_chains_of_repairs_older_than_max_age_are_left_to_the_inpainter() -> None:
    """Frame 0 shows the background, a hole covers it from frame 1 on and frame 0 is beyond reach
    from frame 6 on: each fill is carried from the previous repair, one frame older each time."""
    still = texture(48, 64, seed=5)
    frames = np.repeat(still[None], 14, axis=0).copy()
    masks = np.zeros(frames.shape[:3], bool)
    masks[1:, 14:34, 20:44] = True
    out, remaining, _, _ = run_stage_batches(frames, masks, TemporalOptions(window=2, reach=5, max_age=6))
    assert not remaining[1:6].any()  # seen 1..5 frames ago: propagated
    assert np.abs(out[1:6].astype(int) - frames[1:6].astype(int)).max() <= 2
    assert remaining[6:].sum() == masks[6:].sum()  # seen 6 or more frames ago: all left
    _, unlimited, _, _ = run_stage_batches(frames, masks, TemporalOptions(window=2, reach=5, max_age=255))
    assert not unlimited.any()
