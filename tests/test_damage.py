"""The shared mask and damage generators: shapes, coverage per kind, determinism, temporal shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidrestore.damage import DAMAGE_KINDS, VISIBLE_DELTA, make_masks, render_damage

T, H, W = 12, 96, 128


def _clip(seed: int = 0) -> np.ndarray:
    """A mid-grey textured clip, so bright and dark damage both show."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(60, 200, (H, W, 3)).astype(np.uint8), (7, 7), 2)
    return np.repeat(base[None], T, axis=0)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_masks_shape_dtype_and_determinism(kind: str) -> None:
    a = make_masks(kind, T, H, W, np.random.default_rng(7))
    b = make_masks(kind, T, H, W, np.random.default_rng(7))
    assert a.shape == (T, H, W) and a.dtype == bool
    assert np.array_equal(a, b)
    assert a.any()


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        ("box", 0.02, 0.45),
        ("logo", 0.01, 0.03),
        ("blob", 0.01, 0.10),
        ("brush", 0.01, 0.5),
        ("scratch", 0.002, 0.08),
        ("blotch", 0.0005, 0.03),
    ],
)
def test_coverage_per_kind(kind: str, low: float, high: float) -> None:
    fractions = [make_masks(kind, T, H, W, np.random.default_rng(s)).mean() for s in range(8)]
    assert low <= float(np.mean(fractions)) <= high


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown damage kind"):
        make_masks("smudge", T, H, W, np.random.default_rng(0))


def test_zero_frames() -> None:
    assert make_masks("blob", 0, H, W, np.random.default_rng(0)).shape == (0, H, W)


def test_blotches_are_one_frame_impulses() -> None:
    m = make_masks("blotch", 30, H, W, np.random.default_rng(3))
    assert m.sum() > 0
    # no blotch pixel is also damaged in the neighbouring frames
    assert not (m[1:] & m[:-1]).any()
    assert not (m[2:] & m[:-2]).any()
    count, _, stats, _ = cv2.connectedComponentsWithStats(m[m.any(axis=(1, 2))][0].astype(np.uint8))
    assert (stats[1:, cv2.CC_STAT_WIDTH] <= 24).all() and (stats[1:, cv2.CC_STAT_HEIGHT] <= 24).all()


def test_logo_is_static_and_near_an_edge() -> None:
    for seed in range(5):
        m = make_masks("logo", T, H, W, np.random.default_rng(seed), moving=True)
        assert (m == m[0]).all()
        ys, xs = np.nonzero(m[0])
        near_edge = min(ys.min(), H - 1 - ys.max()) < 0.1 * H
        assert near_edge


def test_scratch_is_thin_tall_and_near_vertical() -> None:
    for seed in range(5):
        m = make_masks("scratch", T, 120, 160, np.random.default_rng(seed))
        frame = m[m.any(axis=(1, 2))][0]
        count, labels, stats, _ = cv2.connectedComponentsWithStats(frame.astype(np.uint8))
        for i in range(1, count):
            assert stats[i, cv2.CC_STAT_HEIGHT] >= 0.55 * 120
            ys, xs = np.nonzero(labels == i)
            widths = np.bincount(ys)[np.unique(ys)]
            assert widths.max() <= 8  # 1-4 px, more only where two scratches touch
            assert xs.max() - xs.min() <= 12  # a few degrees of slant over the frame height


def test_blob_moves_by_default_and_not_when_asked() -> None:
    moving = make_masks("blob", T, H, W, np.random.default_rng(1))
    still = make_masks("blob", T, H, W, np.random.default_rng(1), moving=False)
    assert not (moving == moving[0]).all()
    assert (still == still[0]).all()


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_render_marks_every_visibly_changed_pixel(kind: str) -> None:
    clean = _clip()
    damaged, true = render_damage(clean, kind, np.random.default_rng(11))
    assert damaged.shape == clean.shape and damaged.dtype == np.uint8
    assert true.shape == (T, H, W) and true.dtype == bool
    delta = np.abs(damaged.astype(np.int16) - clean.astype(np.int16)).max(axis=-1)
    assert not (delta > VISIBLE_DELTA)[~true].any()
    assert (delta > 0).any()
    again, true2 = render_damage(clean, kind, np.random.default_rng(11))
    assert np.array_equal(again, damaged) and np.array_equal(true, true2)


def test_render_respects_given_masks() -> None:
    clean = _clip()
    masks = np.zeros((T, H, W), dtype=bool)
    masks[:, 10:20, 30:40] = True
    damaged, true = render_damage(clean, "box", np.random.default_rng(0), masks=masks)
    assert np.array_equal(true, masks)
    assert np.array_equal(damaged[:, ~masks[0]], clean[:, ~masks[0]])


def test_logo_is_semi_transparent_and_static() -> None:
    rng = np.random.default_rng(4)
    clean = (np.random.default_rng(0).integers(0, 256, (T, H, W, 3))).astype(np.uint8)
    damaged, true = render_damage(clean, "logo", rng)
    assert (true == true[0]).all()
    delta = np.abs(damaged.astype(np.int16) - clean.astype(np.int16))[true]
    # the content behind still shows: the emblem neither leaves pixels alone nor replaces them
    changed = damaged[true].astype(np.int16)
    assert delta.mean() > 10
    assert np.corrcoef(changed[:, 0], clean[true][:, 0].astype(np.int16))[0, 1] > 0.2


def test_scratch_has_soft_profile_and_both_polarities() -> None:
    clean = np.full((T, H, W, 3), 128, dtype=np.uint8)
    seen = set()
    for seed in range(12):
        damaged, true = render_damage(clean, "scratch", np.random.default_rng(seed))
        d = damaged[..., 0].astype(np.int16) - 128
        seen.update(np.unique(np.sign(d[true])).tolist())
        # soft shoulders: more than one level of change across the width
        assert len(np.unique(np.abs(d[true]))) > 3
    assert {-1, 1} <= seen
