"""Crop planning on awkward masks: every hole pixel owned by exactly one crop, windows that fit."""

from __future__ import annotations

import numpy as np
import pytest

from vidrestore.inpaint.crops import Crop, CropSettings, plan_crops, plan_frame
from vidrestore.models import GENERATOR_VARIANTS

SETTINGS = CropSettings.for_model(GENERATOR_VARIANTS["small"])  # working size 256, stride 16, buckets of 32


def check_plan(mask: np.ndarray, crops: list[Crop], s: CropSettings = SETTINGS) -> None:
    """The properties the engine relies on."""
    owned = np.zeros(mask.shape, np.int32)
    for crop in crops:
        y0, y1, x0, x1 = crop.window
        assert 0 <= y0 < y1 <= mask.shape[0] and 0 <= x0 < x1 <= mask.shape[1]
        bh, bw = crop.bucket
        assert bh % s.stride == 0 and bw % s.stride == 0 and max(bh, bw) <= s.working_size
        assert crop.work_shape[0] <= bh and crop.work_shape[1] <= bw
        assert ((crop.ys >= y0) & (crop.ys < y1) & (crop.xs >= x0) & (crop.xs < x1)).all()
        assert len(crop.ys) == len(crop.xs) == len(crop.alpha) > 0
        np.add.at(owned, (crop.ys, crop.xs), 1)
    assert (owned[mask] == 1).all(), "a hole pixel is not filled exactly once"
    assert (owned[~mask] == 0).all(), "a crop owns a known pixel"


def box(h: int, w: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    for y0, y1, x0, x1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def test_empty_masks_cost_nothing() -> None:
    assert plan_crops(np.zeros((4, 720, 1280), bool), SETTINGS) == []


def test_a_logo_gets_one_unscaled_crop_with_context() -> None:
    mask = box(720, 1280, (40, 110, 1100, 1220))  # 70x120
    (crop,) = plan_frame(mask, SETTINGS)
    check_plan(mask, [crop])
    y0, y1, x0, x1 = crop.window
    assert not crop.scaled and crop.bucket == crop.work_shape == (y1 - y0, x1 - x0)
    assert y0 <= 40 - 35 and y1 >= 110 + 35 and x0 <= 1100 - 35 and x1 >= 1220 + 35  # margin = half-thickness
    assert y0 % 16 == 0 and x0 % 8 == 0  # on the whole-frame pixel grid, as far as the slack allows


@pytest.mark.parametrize(
    "boxes",
    [
        [(0, 30, 0, 40)],  # corner
        [(100, 140, 1250, 1280)],  # right edge
        [(690, 720, 600, 700)],  # bottom edge
        [(0, 720, 0, 1280)],  # everything
        [(0, 720, 500, 506), (300, 306, 0, 1280)],  # a cross of scratches through the frame
    ],
)
def test_holes_touching_the_border(boxes: list[tuple[int, int, int, int]]) -> None:
    mask = box(720, 1280, *boxes)
    check_plan(mask, plan_frame(mask, SETTINGS))


def test_many_small_blobs_are_grouped() -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros((360, 640), bool)
    for y, x in zip(rng.integers(0, 358, 300), rng.integers(0, 638, 300), strict=True):
        mask[y : y + 2, x : x + 2] = True
    crops = plan_frame(mask, SETTINGS)
    check_plan(mask, crops)
    assert len(crops) < 30  # neighbours whose windows would overlap share one
    assert sum(c.bucket[0] * c.bucket[1] for c in crops) < 2 * mask.size
    assert all(not c.scaled for c in crops)  # specks never need shrinking


def test_one_huge_hole_is_downscaled_to_the_working_size() -> None:
    mask = box(720, 1280, (100, 600, 200, 1000))
    (crop,) = plan_frame(mask, SETTINGS)
    check_plan(mask, [crop])
    assert crop.scaled and max(crop.work_shape) == 256
    assert crop.window[1] - crop.window[0] == 720  # all the context the frame has


def test_long_thin_scratches_are_tiled_at_full_resolution() -> None:
    mask = box(1080, 1920, (0, 1080, 900, 905))
    crops = plan_frame(mask, SETTINGS)
    check_plan(mask, crops)
    assert len(crops) >= 5 and not any(c.scaled for c in crops)


def test_margin_grows_with_the_hole() -> None:
    def context(size: int) -> int:
        (crop,) = plan_frame(
            box(2000, 2000, (1000, 1000 + size, 1000, 1000 + size)), CropSettings(bucket_step=16)
        )
        return (crop.window[1] - crop.window[0]) - size

    assert context(4) >= 2 * SETTINGS.min_margin
    assert context(100) >= 100 > context(20) >= 2 * SETTINGS.min_margin


def test_feather_weights_fall_towards_the_mask_edge() -> None:
    mask = box(200, 200, (50, 150, 50, 150))
    (crop,) = plan_frame(mask, SETTINGS)
    alpha = np.zeros(mask.shape, np.float32)
    alpha[crop.ys, crop.xs] = crop.alpha
    assert alpha[50, 100] == pytest.approx(1 / 3) and alpha[52, 100] == pytest.approx(1.0)
    assert alpha[100, 100] == 1.0
    assert np.all(np.diff(alpha[50:60, 100]) >= 0)
    (hard,) = plan_frame(mask, CropSettings(feather=0))
    assert (hard.alpha == 1).all()


def test_the_feather_band_follows_the_users_holes_not_what_propagation_left() -> None:
    edge = box(200, 200, (50, 150, 50, 150))  # the grown hole; its left half was propagated
    mask = box(200, 200, (50, 150, 100, 150))
    (crop,) = plan_frame(mask, SETTINGS, edge=edge)
    check_plan(mask, [crop])
    alpha = np.zeros(mask.shape, np.float32)
    alpha[crop.ys, crop.xs] = crop.alpha
    assert alpha[100, 100] == 1.0  # next to propagated pixels: the frame there is the damage itself
    assert alpha[50, 120] == pytest.approx(1 / 3) and alpha[100, 149] == pytest.approx(1 / 3)  # outer edge
    (plain,) = plan_frame(mask, SETTINGS)
    assert plain.alpha[(plain.ys == 100) & (plain.xs == 100)][0] == pytest.approx(1 / 3)
    crops = plan_crops(np.stack([mask, mask]), SETTINGS, np.stack([edge, mask]))
    (again,) = [c for c in crops if c.frame == 1]
    assert np.array_equal(again.alpha, plain.alpha)  # same mask, other edges: planned anew, not reused


def test_a_static_mask_is_planned_once_and_reused() -> None:
    mask = box(240, 320, (20, 60, 30, 90), (150, 155, 0, 320))
    masks = np.stack([mask, mask, np.zeros_like(mask), mask])
    crops = plan_crops(masks, SETTINGS)
    per_frame = {f: [c.window for c in crops if c.frame == f] for f in (0, 1, 3)}
    assert per_frame[0] == per_frame[1] == per_frame[3] and per_frame[0]
    assert not any(c.frame == 2 for c in crops)
    for f in (0, 1, 3):
        check_plan(mask, [c for c in crops if c.frame == f])


def test_frames_smaller_than_a_bucket_are_padded_not_stretched() -> None:
    mask = box(20, 28, (8, 12, 10, 14))
    (crop,) = plan_frame(mask, SETTINGS)
    check_plan(mask, [crop])
    assert crop.window == (0, 20, 0, 28) and crop.work_shape == (20, 28) and crop.bucket == (32, 32)


def test_settings_follow_the_model() -> None:
    assert CropSettings() == SETTINGS
    base = CropSettings.for_model(GENERATOR_VARIANTS["base"], feather=2)
    assert (base.working_size, base.stride, base.bucket_step, base.feather) == (512, 8, 64, 2)
    with pytest.raises(ValueError, match="bucket_step"):
        CropSettings(bucket_step=12)


def test_thin_groups_are_marked_for_the_classical_fill_and_never_downscaled() -> None:
    # A full-height 3 px scratch (radius 2) and a 60 px box (radius 30), far apart.
    mask = box(720, 1280, (0, 720, 100, 103), (300, 360, 800, 860))
    settings = CropSettings(classical_radius=4.0)
    crops = plan_frame(mask, settings)
    check_plan(mask, crops, settings)
    scratch = [c for c in crops if c.xs.max() < 200]
    blob = [c for c in crops if c.xs.min() > 700]
    assert scratch and all(c.classical and not c.scaled for c in scratch)
    assert blob and not any(c.classical for c in blob)
    assert not any(c.classical for c in plan_frame(mask, SETTINGS))  # 0 = never
