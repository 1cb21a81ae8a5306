"""Where a trained generator stops beating OpenCV Telea: hole PSNR per hole thickness (issue #4).

    python benchmarks/thin_holes.py --weights runs/x/default.safetensors [--seeds 1,2] [--write-card]

Paints thin scratches and small blotches (as `vidrestore eval` paints them, seeded by kind and seed)
on the two held-out clips, grows the masks by 3 px as `fix` does, and fills every frame twice: with
the network alone (no thin-hole routing) and with Telea. Holes are grouped as the inference engine
groups them, each group is binned by its radius (largest distance from a hole pixel to a known pixel)
and PSNR is pooled per bin over clips and seeds. The engine's ``classical_radius`` is the radius
below which Telea is better in every bin; ``--write-card`` stores it and the table in the model card
as ``thin_holes``, which `fix` then follows. Choose it on seeds other than the one `vidrestore eval`
and ``model_quality.py`` report (seed 0), so the reported figures do not grade their own tuning.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

from vidrestore.damage import make_masks, render_damage
from vidrestore.evaluate import _KIND_SEED, load_clip
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.inpaint.crops import CropSettings
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.models.weights import card_path, load_generator
from vidrestore.train.data import grow_masks

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
HELD_OUT = (("carphone.mp4", 0), ("bigbuckbunny.mp4", 79))
KINDS = ("scratch", "blotch")
BIN = 2.0  # px of radius per bin
DILATE = 3  # as `fix --dilate` by default


def group_radii(mask: np.ndarray, group_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the engine's group label and that group's radius (as ``crops.plan_frame`` computes them)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    grouping = cv2.dilate(mask.astype(np.uint8), np.ones((group_gap + 1,) * 2, np.uint8))
    count, labels = cv2.connectedComponents(grouping, connectivity=8)
    radius = np.zeros(count, np.float32)
    np.maximum.at(radius, labels[mask], dist[mask])
    return labels, radius


def accumulate(
    bins: dict[int, list[float]], reference: np.ndarray, fills: dict[str, np.ndarray],
    holes: np.ndarray, grown: np.ndarray, group_gap: int,
) -> None:  # fmt: skip
    """Add each fill's squared errors inside the damage (before growing) to its group's radius bin."""
    for f in range(len(reference)):
        if not holes[f].any():
            continue
        labels, radius = group_radii(grown[f], group_gap)
        for group in np.unique(labels[holes[f]]):
            where = holes[f] & (labels == group)
            key = int(radius[group] // BIN)
            entry = bins.setdefault(key, [0.0, 0.0, 0])
            truth = reference[f][where].astype(np.float64)
            for slot, name in enumerate(("telea", "gan")):
                entry[slot] += float(((fills[name][f][where] - truth) ** 2).sum())
            entry[2] += int(where.sum()) * 3


def measure(weights: str, seeds: list[int], frames: int, clips: Path) -> dict[int, list[float]]:
    model, _card = load_generator(weights)
    network = GanInpainter(model, settings=CropSettings.for_model(model.config))  # no thin-hole routing
    telea = ClassicalInpainter("telea")
    bins: dict[int, list[float]] = {}
    for file, start in HELD_OUT:
        reference = load_clip(clips / file, start, frames)
        t, h, w, _ = reference.shape
        for seed in seeds:
            for kind in KINDS:
                rng = np.random.default_rng(seed * 1000 + _KIND_SEED[kind])
                holes = make_masks(kind, t, h, w, rng)
                painted, _ = render_damage(reference, kind, rng, masks=holes)
                damaged = np.where(holes[..., None], painted, reference)
                grown = grow_masks(holes, DILATE)
                fills = {"telea": telea.inpaint(damaged, grown), "gan": network.inpaint(damaged, grown)}
                accumulate(bins, reference, fills, holes, grown, network.settings.group_gap)
    return bins


def psnr(sse: float, n: int) -> float:
    return 10 * math.log10(255**2 / max(sse / n, 1e-12))


def crossover(bins: dict[int, list[float]]) -> float:
    """The radius below which Telea is better in every bin (0 when the network wins the thinnest)."""
    radius = 0.0
    for key in sorted(bins):
        telea, gan, n = bins[key]
        if gan < telea:
            break
        radius = (key + 1) * BIN
    return radius


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--seeds", default="1,2", help="tuning seeds; keep 0 for the reported figures")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--write-card", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    bins = measure(args.weights, seeds, args.frames, args.clips)
    rows = []
    print("| group radius (px) | hole pixels | Telea | network | network - Telea |")
    print("|---|---|---|---|---|")
    for key in sorted(bins):
        telea, gan, n = bins[key]
        row = {"radius_from": key * BIN, "radius_to": (key + 1) * BIN, "pixels": n // 3,
               "telea": round(psnr(telea, n), 2), "network": round(psnr(gan, n), 2)}  # fmt: skip
        rows.append(row)
        print(f"| {row['radius_from']:g}-{row['radius_to']:g} | {row['pixels']} | {row['telea']:.2f} | "
              f"{row['network']:.2f} | {row['network'] - row['telea']:+.2f} |")  # fmt: skip
    radius = crossover(bins)
    print(f"classical_radius: {radius:g} px (Telea fills groups up to this radius)")
    if args.write_card:
        card_file = card_path(Path(args.weights))
        card = json.loads(card_file.read_text())
        card["thin_holes"] = {
            "classical_radius": radius,
            "method": "telea (radius 5), at full resolution, for groups of holes no thicker than this",
            "measured_by": f"python benchmarks/thin_holes.py --weights WEIGHTS --seeds {args.seeds} "
            f"--frames {args.frames} (scratch and blotch damage, masks grown by {DILATE} px, carphone "
            "frames 0-47 and bigbuckbunny frames 79-126)",
            "bins": rows,
        }
        card_file.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        print(f"wrote thin_holes into {card_file}")


if __name__ == "__main__":
    main()
