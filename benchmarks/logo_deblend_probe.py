"""How much a see-through fill could win on semi-transparent logos, and how far one estimator gets.

A burned-in logo is usually an overlay: observed = (1 - a) * truth + a * colour, with a fixed
opacity map ``a`` and colour. Where ``a`` < 1 the truth is still there, dimmed, and
truth = (observed - a * colour) / (1 - a) recovers it exactly. `fix` treats every masked pixel
as lost; this probe measures, on the quality suite's logo damage, what inverting the overlay
would give (hole PSNR, dB) with

- ``oracle``: the renderer's own opacity map and colour (the upper bound), and
- ``plate``: one opacity for the whole plate, estimated from the frames alone: per pixel, the
  least-squares opacity against a Telea fill; the mode of those values over well-conditioned
  pixels is the plate's opacity (the colour is re-estimated from the plate, three rounds from
  white); pixels near it are inverted, pixels near 0 kept as observed, the rest keep the fill.
- ``plate + labels``: the same opacity, and each pixel labelled clear (0), plate, letters (plate
  + 0.3) or lost by iterated conditional modes: the label whose inverted pixels best continue
  their four neighbours' (mean absolute difference over 8 frames, capped), plus ``BETA`` for each
  neighbour with another label; a lost pixel pays ``LOST`` per neighbour and keeps the fill.
- ``motion labels``: the same opacity and colour; labels clear, plate, letters, free (the pixel's
  own least-squares opacity against the fill, unsmoothed, at most 0.9) or lost, by iterated
  conditional modes over all frames. A label's cost against each neighbour is how far its
  inverted pixel's motion (the frame-to-frame part, mean removed per pixel) and its mean over
  time differ from the neighbour's, capped at 60, plus ``BETA`` per neighbour with another label;
  plus, once per pixel, how far its mean over time lies from the fill's (capped at 30), and
  ``FREE_COST`` for the free label; the labels start from the smoothed per-pixel opacity's nearest.
  Motion is what a wrong opacity scales, whatever the fill.
- ``guarded``: ``motion labels``, or the fill where fewer than half the hole's pixels have a fill
  over 40 levels (rms) from the colour (chosen on tuning seed 6 of Big Buck Bunny: a white logo
  over bright sky, where the opacity cannot be told).

    python benchmarks/logo_deblend_probe.py --seeds 5,6,7   # tuning seeds only

Nothing here is used by `fix`; see docs/experiments.md ("Seeing through a semi-transparent logo").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality_suite import CLIPS_DIR, SEGMENTS  # noqa: E402  (the suite's segments)

import vidrestore.damage as damage  # noqa: E402
from vidrestore.evaluate import load_clip, synthetic_damage  # noqa: E402
from vidrestore.geometry import margin_box  # noqa: E402
from vidrestore.inpaint.classical import ClassicalInpainter  # noqa: E402
from vidrestore.metrics import psnr  # noqa: E402
from vidrestore.temporal.overlay import (  # noqa: E402
    TOLERANCE,
    add_neighbour_cost,
    estimate_overlay,
    plate_opacity,
    shifted,
)
from vidrestore.temporal.overlay import invert as undo_blend  # noqa: E402


def invert(observed: np.ndarray, alpha: np.ndarray, colour: np.ndarray, use: np.ndarray,
           fallback: np.ndarray) -> np.ndarray:
    """The overlay undone where ``use`` (H, W), ``fallback`` elsewhere."""
    truth = undo_blend(observed, np.asarray(alpha, np.float32)[None, ..., None], colour)
    return np.where(use[None, ..., None], truth, fallback)


def plate_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The ``plate`` estimator above."""
    plate, per_pixel, colour = plate_opacity(observed.astype(np.float32), hole, fill.astype(np.float32))
    if plate is None or plate > 0.9:
        return fill
    inverted = invert(observed, np.full(hole.shape, plate, np.float32), colour,
                      hole & (np.abs(per_pixel - plate) < TOLERANCE), fill)
    return np.where((hole & (per_pixel < 0.04))[None, ..., None], observed, inverted)


def labelled_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The ``plate + labels`` estimator above."""
    plate, per_pixel, colour = plate_opacity(observed.astype(np.float32), hole, fill.astype(np.float32))
    if plate is None or plate > 0.9:
        return fill
    levels = [0.0, plate, min(plate + 0.3, 0.97), 1.0]  # the last: lost, keeps the fill
    y0, y1, x0, x1 = margin_box(hole, 4)  # type: ignore[misc]  # the hole has pixels
    region = hole[y0:y1, x0:x1]
    picks = np.linspace(0, len(observed) - 1, min(len(observed), 8)).astype(int)
    o = np.moveaxis(observed[picks, y0:y1, x0:x1].astype(np.float32), 3, 1).reshape(-1, *region.shape)
    c = np.tile(colour, len(picks))[:, None, None]
    inverted = np.stack([(o - a * c) / (1 - a) if a < 0.9 else o for a in levels])
    usable = np.array([a < 0.9 for a in levels])
    start = np.argmin(np.abs(per_pixel[y0:y1, x0:x1, None] - np.array(levels[:-1])), axis=-1)
    labels = np.where(region, start, -1)
    for _ in range(6):
        current = o.copy()
        for k in range(len(levels)):
            current = np.where((labels == k)[None], inverted[k], current)
        known = (labels < 0) | usable[np.clip(labels, 0, None)]
        cost = np.zeros((len(levels),) + region.shape, np.float32)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            n_value, n_label = shifted(current, dy, dx, 0.0), shifted(labels, dy, dx, -2)
            n_known = shifted(known, dy, dx, False) & (n_label > -2)
            add_neighbour_cost(
                cost, usable.tolist(), n_known, n_label,
                lambda k, near=n_value: np.abs(np.clip(inverted[k], -50, 305) - near).mean(axis=0))
        labels = np.where(region, np.argmin(cost, axis=0), -1)
    alpha = np.zeros(hole.shape, np.float32)
    full = np.full(hole.shape, -1)
    full[y0:y1, x0:x1] = labels
    for k, a in enumerate(levels):
        alpha[full == k] = a
    return invert(observed, alpha, colour, hole & (full >= 0) & (alpha < 0.9), fill)


def motion_labelled_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray,
                             guarded: bool = False) -> np.ndarray:
    """``motion labels`` / ``guarded`` above: `vidrestore.temporal.overlay.estimate_overlay` (which
    is guarded, and refuses a hole it would see through less than half of) undone where it sees."""
    y0, y1, x0, x1 = margin_box(hole, 8)  # type: ignore[misc]  # the hole has pixels
    overlay = estimate_overlay(observed[:, y0:y1, x0:x1], hole[y0:y1, x0:x1], fill[:, y0:y1, x0:x1],
                               (y0, y1, x0, x1), guarded=guarded)
    out = fill.copy()
    if overlay is not None:
        for frame, source in zip(out, observed, strict=True):
            crop, seen = overlay.undo(source, hole)
            frame[y0:y1, x0:x1][seen] = crop[seen]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="5,6,7")
    parser.add_argument("--segments", default=",".join(SEGMENTS))
    args = parser.parse_args()
    captured: dict[str, np.ndarray] = {}
    emblem = damage.logo_emblem

    def recording_emblem(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        captured["alpha"] = emblem(height, width, rng)
        return captured["alpha"]

    damage.logo_emblem = recording_emblem  # the renderer's opacity map, for the oracle only
    print("| segment | seed | Telea | plate | plate + labels | motion labels | guarded | oracle |")
    print("|---|---|---|---|---|---|---|---|")
    for segment in args.segments.split(","):
        file, start = SEGMENTS[segment]
        reference = load_clip(CLIPS_DIR / file, start, 40)
        for seed in (int(s) for s in args.seeds.split(",")):
            holes, damaged = synthetic_damage(reference, "logo", seed)
            hole = holes[0]
            ys, xs = np.nonzero(hole)
            alpha = np.zeros(hole.shape, np.float32)
            alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = captured["alpha"]
            strong = alpha > 0.5
            colour = ((damaged[:, strong] - (1 - alpha[strong])[None, :, None] * reference[:, strong])
                      / alpha[strong][None, :, None]).reshape(-1, 3).mean(axis=0)
            fill = ClassicalInpainter("telea").inpaint(damaged, holes)
            oracle = invert(damaged, alpha, colour.astype(np.float32), hole & (alpha < 0.9), fill)
            plate, labelled = plate_estimate(damaged, hole, fill), labelled_estimate(damaged, hole, fill)
            moving = motion_labelled_estimate(damaged, hole, fill)
            guarded = motion_labelled_estimate(damaged, hole, fill, guarded=True)
            print(f"| {segment} | {seed} | {psnr(reference, fill, holes):.2f} "
                  f"| {psnr(reference, plate, holes):.2f} | {psnr(reference, labelled, holes):.2f} "
                  f"| {psnr(reference, moving, holes):.2f} | {psnr(reference, guarded, holes):.2f} "
                  f"| {psnr(reference, oracle, holes):.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
