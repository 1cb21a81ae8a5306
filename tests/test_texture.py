"""`--texture`: invented pixels get fine detail copied from known pixels nearby; nothing else moves."""

from __future__ import annotations

import cv2
import numpy as np

from vidrestore.inpaint.registry import InpaintOptions, create_inpainter
from vidrestore.inpaint.texture import add_texture


def grass(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    """Fine random blades over a slow colour gradient: texture a blur cannot imitate."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (h, w)).astype(np.float32), (0, 0), 0.8)
    base = np.stack([np.linspace(60, 90, w)[None].repeat(h, 0), np.full((h, w), 150.0),
                     np.full((h, w), 50.0)], -1)  # fmt: skip
    return np.clip(base + noise[..., None] * [0.5, 1.0, 0.4], 0, 255).astype(np.uint8)


def detail(image: np.ndarray, hole: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[hole].mean())


def smear(truth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The hole filled with the blurred truth: right colours, no detail (what a weak model gives)."""
    out = truth.copy()
    out[hole] = cv2.GaussianBlur(truth, (0, 0), 6)[hole]
    return out


def test_a_smeared_fill_gets_back_detail_like_its_surroundings_and_nothing_else_changes() -> None:
    truth = grass()
    hole = np.zeros(truth.shape[:2], bool)
    hole[40:80, 50:110] = True
    flat = smear(truth, hole)
    out = add_texture(flat, hole, 1.0)
    assert np.array_equal(out[~hole], flat[~hole])
    assert detail(flat, hole) < 0.3 * detail(truth, hole)
    assert 0.6 * detail(truth, hole) < detail(out, hole) < 1.5 * detail(truth, hole)
    # the coarse content stays: the hole's mean colour moves by little
    assert np.abs(out[hole].mean(axis=0) - flat[hole].mean(axis=0)).max() < 4


def test_strength_scales_the_change_and_zero_is_off() -> None:
    truth = grass(seed=1)
    hole = np.zeros(truth.shape[:2], bool)
    hole[30:70, 40:90] = True
    flat = smear(truth, hole)
    assert np.array_equal(add_texture(flat, hole, 0.0), flat)
    half, full = add_texture(flat, hole, 0.5), add_texture(flat, hole, 1.0)
    change_half = np.abs(half.astype(int) - flat).mean()
    change_full = np.abs(full.astype(int) - flat).mean()
    assert 0.35 * change_full < change_half < 0.65 * change_full
    assert np.array_equal(add_texture(flat, hole, 1.0), full)  # the same input gives the same output


def test_the_option_wraps_any_backend_and_keeps_pixels_outside_the_holes() -> None:
    frames = np.stack([grass(seed=s) for s in range(3)])
    masks = np.zeros(frames.shape[:3], bool)
    masks[:, 40:70, 60:100] = True
    plain = create_inpainter(InpaintOptions(method="telea")).inpaint(frames, masks)
    textured = create_inpainter(InpaintOptions(method="telea", texture=1.0)).inpaint(frames, masks)
    assert np.array_equal(textured[~masks], plain[~masks])
    assert detail(textured[0], masks[0]) > 1.5 * detail(plain[0], masks[0])
