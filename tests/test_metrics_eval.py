"""Quality figures and `vidrestore eval`: hand-checked values, and the eval loop on a fixture clip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vidrestore.damage import DAMAGE_KINDS
from vidrestore.evaluate import (
    _KIND_SEED,
    EvalOptions,
    evaluate,
    format_table,
    load_clip,
    synthetic_damage,
)
from vidrestore.metrics import flicker, psnr, ssim


def test_psnr_known_value() -> None:
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 10  # MSE over all channels = 100 / 3
    assert abs(psnr(a, b) - 10 * math.log10(255**2 / (100 / 3))) < 1e-9
    assert psnr(a, a) == math.inf


def test_psnr_region_only_counts_the_region() -> None:
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    region = np.zeros((1, 4, 4), bool)
    region[0, 2:, 2:] = True
    assert psnr(a, b, region) == math.inf
    assert psnr(a, b, ~region) < 30


def test_ssim_identity_and_degradation() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    noisy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == 1.0
    assert ssim(a, noisy) < 0.9


def test_flicker_zero_for_steady_fill_positive_for_flicker() -> None:
    ref = np.full((4, 8, 8, 3), 100, np.uint8)
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:6, 2:6] = True
    steady = ref.copy()
    steady[masks] = 120  # wrong but steady
    flickering = ref.copy()
    flickering[1::2][masks[1::2]] = 140
    assert flicker(ref, steady, masks) == 0.0
    assert flicker(ref, flickering, masks) > 10


def test_eval_on_fixture_clip(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    rows = evaluate(
        clip, EvalOptions(methods=("telea", "ns"), kinds=("box", "blotch"), frames=6), json_out=out
    )
    assert [(r["kind"], r["method"]) for r in rows] == [
        ("box", "telea"),
        ("box", "ns"),
        ("blotch", "telea"),
        ("blotch", "ns"),
    ]
    for r in rows:
        assert 5 < r["psnr_hole"] < 60 and r["psnr_full"] >= r["psnr_hole"]
    assert out.exists() and "psnr_hole" in format_table(rows)


def test_eval_damage_does_not_depend_on_the_order_of_kinds(clip: Path) -> None:
    def figures(kinds: tuple[str, ...]) -> dict[str, float]:
        rows = evaluate(clip, EvalOptions(methods=("telea",), kinds=kinds, frames=4))
        return {str(r["kind"]): float(r["psnr_hole"]) for r in rows}

    assert figures(("box", "blotch")) == figures(("blotch", "box"))
    assert set(_KIND_SEED) == set(DAMAGE_KINDS)


def test_eval_reports_how_much_of_the_holes_neighbours_filled(clip: Path) -> None:
    rows = evaluate(clip, EvalOptions(methods=("telea", "telea+temporal"), kinds=("blotch",), frames=6))
    per_frame, temporal = rows
    assert "propagated" not in per_frame
    # one-frame blotches on a moving clip: the neighbours show almost all of what each one hides
    assert 0.5 < temporal["propagated"] <= 1.0
    assert "propagated" in format_table(rows).splitlines()[0]


def test_synthetic_damage_is_seeded_and_only_inside_the_holes(clip: Path) -> None:
    reference = load_clip(clip, 0, 4)
    holes, damaged = synthetic_damage(reference, "blob", seed=3)
    again, _ = synthetic_damage(reference, "blob", seed=3)
    other, _ = synthetic_damage(reference, "blob", seed=4)
    assert holes.any() and np.array_equal(holes, again) and not np.array_equal(holes, other)
    assert np.array_equal(damaged[~holes], reference[~holes])
