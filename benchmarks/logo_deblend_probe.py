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
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality_suite import CLIPS_DIR, SEGMENTS  # noqa: E402  (the suite's segments)

import vidrestore.damage as damage  # noqa: E402
from vidrestore.evaluate import load_clip, synthetic_damage  # noqa: E402
from vidrestore.geometry import margin_box  # noqa: E402
from vidrestore.inpaint.classical import ClassicalInpainter  # noqa: E402
from vidrestore.metrics import psnr  # noqa: E402

WHITE = np.full(3, 255.0, np.float32)


def invert(observed: np.ndarray, alpha: np.ndarray, colour: np.ndarray, use: np.ndarray,
           fallback: np.ndarray) -> np.ndarray:
    """The overlay undone where ``use`` (H, W), ``fallback`` elsewhere."""
    o = observed.astype(np.float32)
    a = np.minimum(alpha, 0.99)[None, ..., None]
    truth = (o - a * colour) / (1 - a)
    out = np.where(use[None, ..., None], truth, fallback.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


BETA, LOST, TOLERANCE = 4.0, 12.0, 0.08


def opacity_map(o: np.ndarray, p: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel least-squares opacity of observed ``o`` over fill ``p`` (median-filtered), and
    the weight behind it (how far the fill is from the colour)."""
    d = colour - p
    num, den = ((o - p) * d).sum(axis=(0, 3)), (d * d).sum(axis=(0, 3))
    per_pixel = cv2.medianBlur(np.clip(num / np.maximum(den, 1e-3), 0, 1).astype(np.float32), 5)
    return per_pixel, den / (len(o) * 3)


def plate_opacity(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray
                  ) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(plate opacity or None, per-pixel opacity, colour) from the frames and a fill."""
    o, p = observed.astype(np.float32), fill.astype(np.float32)
    colour, plate = WHITE.copy(), None
    for _ in range(3):
        per_pixel, weight = opacity_map(o, p, colour)
        values = per_pixel[hole & (weight > 40**2)]
        if values.size < 20:
            return None, per_pixel, colour
        hist, edges = np.histogram(values, bins=95, range=(0.05, 1.0))
        peak = edges[int(np.argmax(np.convolve(hist, np.ones(5) / 5, mode="same")))] + 0.005
        plate = float(np.median(values[np.abs(values - peak) < TOLERANCE]))
        on_plate = hole & (np.abs(per_pixel - plate) < TOLERANCE)
        colour = np.clip(((o[:, on_plate] - (1 - plate) * p[:, on_plate]) / plate).reshape(-1, 3).mean(0),
                         0, 255).astype(np.float32)
    return plate, per_pixel, colour


def plate_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The ``plate`` estimator above."""
    plate, per_pixel, colour = plate_opacity(observed, hole, fill)
    if plate is None or plate > 0.9:
        return fill
    inverted = invert(observed, np.full(hole.shape, plate, np.float32), colour,
                      hole & (np.abs(per_pixel - plate) < TOLERANCE), fill)
    return np.where((hole & (per_pixel < 0.04))[None, ..., None], observed, inverted)


def _shifted(x: np.ndarray, dy: int, dx: int, fill: float | int | bool) -> np.ndarray:
    """``x[..., y + dy, x + dx]`` at (y, x), ``fill`` past the edge."""
    out = np.full_like(x, fill)
    h, w = x.shape[-2:]
    out[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = \
        x[..., max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    return out


def add_neighbour_cost(cost: np.ndarray, usable: list[bool], n_known: np.ndarray, n_label: np.ndarray,
                       gap_of: Callable[[int], np.ndarray]) -> None:
    """One neighbour's share of each label's cost in the label search: the label's gap to the
    neighbour (``gap_of(k)``, capped at 60) where the neighbour is known, ``LOST`` for a label
    that keeps the fill, and ``BETA`` where the neighbour has another label."""
    for k, can_invert in enumerate(usable):
        if can_invert:
            cost[k] += np.where(n_known, np.minimum(gap_of(k), 60.0), 0.0)
        else:
            cost[k] += np.where(n_known, LOST, 0.0)
        cost[k] += BETA * ((n_label != k) & (n_label > -2))


def labelled_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The ``plate + labels`` estimator above."""
    plate, per_pixel, colour = plate_opacity(observed, hole, fill)
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
            n_value, n_label = _shifted(current, dy, dx, 0.0), _shifted(labels, dy, dx, -2)
            n_known = _shifted(known, dy, dx, False) & (n_label > -2)
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


FREE_COST, FIT_CAP = 4.0, 30.0


def well_conditioned_share(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray,
                           colour: np.ndarray) -> float:
    """Share of hole pixels whose fill lies far (over 40 levels rms) from the overlay's colour:
    where few do, the overlay barely changes the picture and its opacity cannot be told."""
    _, weight = opacity_map(observed.astype(np.float32), fill.astype(np.float32), colour)
    return float((weight[hole] > 40**2).mean())


def motion_labelled_estimate(observed: np.ndarray, hole: np.ndarray, fill: np.ndarray,
                             guarded: bool = False) -> np.ndarray:
    """The ``motion labels`` estimator above; ``guarded``: the fill unless at least half the hole
    is well conditioned (``well_conditioned_share``)."""
    plate, per_pixel, colour = plate_opacity(observed, hole, fill)
    if plate is None or plate > 0.9:
        return fill
    if guarded and well_conditioned_share(observed, hole, fill, colour) < 0.5:
        return fill
    y0, y1, x0, x1 = margin_box(hole, 4)  # type: ignore[misc]  # the hole has pixels
    region = hole[y0:y1, x0:x1]
    o = observed[:, y0:y1, x0:x1].astype(np.float32)  # (T, h, w, 3)
    f = fill[:, y0:y1, x0:x1].astype(np.float32)
    d = colour - f
    free = np.clip(((o - f) * d).sum(axis=(0, 3)) / np.maximum((d * d).sum(axis=(0, 3)), 1e-3), 0, 0.9)
    levels = [np.full(region.shape, a, np.float32) for a in (0.0, plate, min(plate + 0.3, 0.97))]
    levels.append(free.astype(np.float32))
    inverted = np.stack([(o - a[None, ..., None] * colour) / (1 - a[None, ..., None]) for a in levels])
    mean = inverted.mean(axis=1, keepdims=True)  # (K, 1, h, w, 3)
    motion, still = inverted - mean, mean[:, 0]
    fit = np.minimum(np.abs(np.clip(still, -50, 305) - f.mean(axis=0)).mean(axis=-1), FIT_CAP)
    lost = len(levels)  # the label that keeps the fill
    fit = np.concatenate([fit, np.full((1,) + region.shape, 0.8 * FIT_CAP, np.float32)])
    fit[3] += FREE_COST
    # start from the nearest of clear, plate, letters and lost to the smoothed per-pixel opacity
    nearest = np.argmin(np.abs(per_pixel[y0:y1, x0:x1, None] - np.array([0.0, plate, plate + 0.3, 1.0])), -1)
    labels = np.where(region, np.array([0, 1, 2, lost])[nearest], -1)
    for _ in range(8):
        pick = np.clip(labels, 0, lost - 1)[None, None, ..., None]
        cur_motion = np.take_along_axis(motion, pick, axis=0)[0]
        cur_still = np.take_along_axis(still[:, None], pick, axis=0)[0, 0]
        usable = labels != lost
        cost = fit.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            n_motion = _shifted(np.moveaxis(cur_motion, -1, 1), dy, dx, 0.0)
            n_still = _shifted(np.moveaxis(cur_still, -1, 0), dy, dx, 0.0)
            n_label = _shifted(labels, dy, dx, -2)
            n_known = _shifted(usable, dy, dx, False) & (n_label > -2)
            add_neighbour_cost(
                cost, [True] * lost + [False], n_known, n_label,
                lambda k, moves=n_motion, stays=n_still:
                    np.abs(np.moveaxis(motion[k], -1, 1) - moves).mean(axis=(0, 1))
                    + np.abs(np.clip(np.moveaxis(still[k], -1, 0), -50, 305) - stays).mean(axis=0))
        labels = np.where(region, np.argmin(cost, axis=0), -1)
    alpha = np.ones(hole.shape, np.float32)
    use = np.zeros(hole.shape, bool)
    inside = np.zeros(region.shape, np.float32)
    for k, a in enumerate(levels):
        inside = np.where(labels == k, a, inside)
    alpha[y0:y1, x0:x1] = inside
    use[y0:y1, x0:x1] = region & (labels >= 0) & (labels < lost)
    return invert(observed, alpha, colour, hole & use & (alpha < 0.9), fill)


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
