"""Frames or crops under 32 px high and much wider than high: OpenCV's DIS flow crashes the
process on them, so every flow goes through ``dis_calc``, which pads them."""

from __future__ import annotations

import numpy as np
import pytest

from vidrestore.detect import DetectOptions, detect_frames
from vidrestore.temporal.flow import DIS_PRESETS, dis_calc, dis_flow


@pytest.mark.parametrize("use", sorted(DIS_PRESETS))
@pytest.mark.parametrize("shape", [(24, 480), (8, 1280), (31, 320), (12, 40)])
def test_flow_on_a_short_wide_image_is_measured(use: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, shape).astype(np.uint8)
    b = np.roll(a, 2, axis=1)
    flow = dis_calc(dis_flow(use), a, b)
    assert flow.shape == (*shape, 2)
    assert np.isfinite(flow).all()


def test_detection_on_short_wide_frames_runs() -> None:
    frames = np.random.default_rng(1).integers(0, 255, (6, 24, 480, 3)).astype(np.uint8)
    union, per_kind = detect_frames(frames, DetectOptions(kinds=("scratch", "blotch")))
    assert union.shape == frames.shape[:3]
    assert set(per_kind) == {"scratch", "blotch"}
