"""How low the flicker figure can go on moving blobs, next to what the temporal path reaches (issue #6).

    python benchmarks/flicker_floor.py [--weights WEIGHTS] [--seeds 0,1,2,3,4] [--frames 40]

Issue #6 asks the temporal path for at least 30% less flicker than the per-frame GAN on moving
holes. The flicker figure (vidrestore.metrics.flicker) compares the fill's frame-to-frame change
with the clean clip's, so any fill that does not hold the clip's own fine detail and noise pays for
it, however steady it is. Where no frame within reach shows what a blob hides, the fill is
invented, and the figure has a floor that depends on the clip, not on the inpainter.

To show where that floor lies, this script measures, on the same blob masks `vidrestore eval`
paints (seeded per kind and seed), next to the per-frame GAN and GAN + temporal:

- ``truth, blur 2`` and ``truth, blur 1``: the clean clip itself, Gaussian-blurred (sigma 2 or
  1 px) inside the holes. These fills know the answer, move exactly with the content and never
  flicker on their own; they only lack the finest detail. No real inpainter does better than
  such an oracle on invented pixels.
- ``propagated``: the share of hole pixels the temporal path filled from other frames.

Each figure is given as the change against the per-frame GAN of the same seed, with the mean over
seeds, so the bar (-30%) can be read against what even the oracles reach.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vidrestore.evaluate import EvalOptions, evaluate, load_clip, synthetic_damage
from vidrestore.metrics import flicker

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
HELD_OUT = (("Big Buck Bunny", "bigbuckbunny.mp4", 80), ("carphone", "carphone.mp4", 0))  # as the README
BLURS = (2.0, 1.0)


def blurred_truth(reference: np.ndarray, holes: np.ndarray, sigma: float) -> np.ndarray:
    """The clean clip with its hole pixels replaced by the same frame Gaussian-blurred by ``sigma``."""
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), sigma) for frame in reference])
    return np.where(holes[..., None], blurred, reference)


def measure(path: Path, start: int, frames: int, seed: int, weights: str | None) -> dict[str, float]:
    """Flicker of the per-frame GAN, GAN + temporal and the oracles on one seed's blobs."""
    rows = evaluate(
        path,
        EvalOptions(methods=("gan", "gan+temporal"), kinds=("blob",), frames=frames, start=start,
                    seed=seed, weights=weights),
    )
    per_frame, temporal = (next(r for r in rows if r["method"] == m) for m in ("gan", "gan+temporal"))
    reference = load_clip(path, start, frames)
    holes, _ = synthetic_damage(reference, "blob", seed)
    figures = {
        "psnr gan": float(per_frame["psnr_hole"]),
        "psnr gan+temporal": float(temporal["psnr_hole"]),
        "gan": float(per_frame["flicker"]),
        "gan+temporal": float(temporal["flicker"]),
        "propagated": float(temporal["propagated"]),
    }
    for sigma in BLURS:
        figures[f"truth, blur {sigma:g}"] = flicker(reference, blurred_truth(reference, holes, sigma), holes)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="generator weights (default: the packaged model)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--clips", type=Path, default=CLIPS)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    fills = ["gan+temporal", *(f"truth, blur {s:g}" for s in BLURS)]
    header = ["clip", "seed", "hole PSNR: GAN -> + temporal", "flicker: per-frame GAN", *fills, "propagated"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, file, start in HELD_OUT:
        changes: dict[str, list[float]] = {fill: [] for fill in fills}
        gains: list[float] = []
        for seed in seeds:
            f = measure(args.clips / file, start, args.frames, seed, args.weights)
            gains.append(f["psnr gan+temporal"] - f["psnr gan"])
            psnrs = f"{f['psnr gan']:.2f} -> {f['psnr gan+temporal']:.2f} ({gains[-1]:+.2f} dB)"
            cells = [name, str(seed), psnrs, f"{f['gan']:.2f}"]
            for fill in fills:
                change = f[fill] / f["gan"] - 1
                changes[fill].append(change)
                cells.append(f"{f[fill]:.2f} ({100 * change:+.0f}%)")
            cells.append(f"{100 * f['propagated']:.0f}%")
            lines.append("| " + " | ".join(cells) + " |")
            print(f"measured {file} seed {seed}", flush=True)
        mean = [f"**{100 * float(np.mean(changes[fill])):+.1f}%**" for fill in fills]
        lines.append("| " + " | ".join([name, "mean", f"**{np.mean(gains):+.2f} dB**", "", *mean, ""]) + " |")
    print("\nMoving blobs: hole PSNR (dB); flicker (levels; change against the per-frame GAN of the seed)\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
