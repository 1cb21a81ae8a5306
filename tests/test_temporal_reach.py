"""Temporal propagation beyond the window: a slow hole uncovers its background late, the fill of
what no frame shows is held steady, and the longer stream buffer keeps every frame in order."""

from __future__ import annotations

import numpy as np
import pytest
from test_temporal import run_stage_batches, texture

from vidrestore.metrics import psnr
from vidrestore.temporal.propagate import TemporalOptions
from vidrestore.temporal.steady import SteadyFill


def slow_hole_clip(frames: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Still textured background, a bright square racing along the bottom, and a 16 px hole
    drifting right by 1 px per frame: a hole pixel is uncovered only 8 or more frames away."""
    still = texture(72, 96, seed=7)
    clean = np.repeat(still[None], frames, axis=0).copy()
    masks = np.zeros(clean.shape[:3], bool)
    for t in range(frames):
        x = (3 * t) % 86
        clean[t, 56:66, x : x + 10] = (250, 240, 20)  # the moving foreground object
        masks[t, 20:36, 10 + t : 26 + t] = True
    damaged = clean.copy()
    damaged[masks] = 0
    return clean, damaged, masks


def test_slow_hole_background_is_recovered_from_beyond_the_window() -> None:
    clean, damaged, masks = slow_hole_clip()
    out, remaining, stage, _ = run_stage_batches(damaged, masks, TemporalOptions(window=3, reach=12))
    assert stage.stats.fraction > 0.9
    assert psnr(clean, out, masks & ~remaining) > 30.0
    assert np.array_equal(out[~masks], damaged[~masks])  # nothing outside the hole changes
    # The window alone sees no uncovered background for most hole pixels.
    _, _, near_only, _ = run_stage_batches(damaged, masks, TemporalOptions(window=3, reach=3))
    assert near_only.stats.fraction < stage.stats.fraction - 0.2


@pytest.mark.parametrize("refine", [False, True])
def test_second_flow_pass_keeps_the_recovery_exact(refine: bool) -> None:
    clean, damaged, masks = slow_hole_clip(20)
    out, remaining, stage, _ = run_stage_batches(damaged, masks, TemporalOptions(reach=12, refine=refine))
    assert stage.stats.fraction > 0.8 and psnr(clean, out, masks & ~remaining) > 30.0


@pytest.mark.parametrize("frames,reach,batch", [(30, 4, 3), (13, 6, 5), (3, 12, 2)])
def test_stream_with_long_reach_keeps_every_frame(frames: int, reach: int, batch: int) -> None:
    clean, damaged, masks = slow_hole_clip(frames)
    options = TemporalOptions(window=2, reach=reach)
    out, remaining, _, _ = run_stage_batches(damaged, masks, options, batch=batch)
    assert out.shape == clean.shape and remaining.shape == masks.shape
    assert not (remaining & ~masks).any()  # what is left to inpaint stays inside the holes


def test_steady_fill_holds_what_no_frame_shows() -> None:
    """A hole no frame uncovers (still shot, still box): the per-frame guess changes each frame,
    the steadied one much less, and pixels outside the hole are untouched."""
    still = texture(48, 64, seed=9)
    frames = np.repeat(still[None], 12, axis=0).copy()
    masks = np.zeros(frames.shape[:3], bool)
    masks[:, 10:30, 20:40] = True
    _, remaining, _, batches = run_stage_batches(frames, masks, TemporalOptions(window=2))
    assert np.array_equal(remaining, masks)  # nothing to borrow: all of it is hallucinated
    rng = np.random.default_rng(0)
    guesses = []
    for b in batches:  # stand-in for the inpainter: a noisy guess inside the holes
        noise = rng.integers(0, 255, b.frames.shape, dtype=np.uint8)
        b.frames[b.masks] = noise[b.masks]
        guesses.append(b.frames.copy())
    steadied = np.concatenate([b.frames for b in SteadyFill().run(iter(batches))])
    guessed = np.concatenate(guesses)
    change = lambda x: np.abs(np.diff(x.astype(np.float32), axis=0))[masks[1:]].mean()  # noqa: E731
    assert change(steadied) < 0.3 * change(guessed)
    assert np.array_equal(steadied[~masks], frames[~masks])
