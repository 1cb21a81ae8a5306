"""Where a trained generator stops beating OpenCV Telea, and where a blend of the two beats both (issue #4).

    python benchmarks/thin_holes.py --weights runs/x/default.safetensors [--seeds 1,2]
        [--kinds scratch,blotch] [--blend 0.25,0.5,0.75] [--save bins.json | --load bins.json] [--write-card]

Paints damage (scratches and small blotches by default; blobs and logos with ``--kinds``) as `vidrestore
eval` paints it, seeded by kind and seed, on the two held-out clips, grows the masks by 3 px as `fix`
does, and fills every frame twice: with the network alone (no thin-hole routing) and with Telea. Holes
are grouped as the inference engine groups them, each group is binned by its radius (largest distance
from a hole pixel to a known pixel) and PSNR is pooled per bin over seeds, for the network, Telea and
per-pixel blends ``w * network + (1 - w) * Telea`` at the ``--blend`` weights.

The engine's ``classical_radius`` is the radius below which Telea is better in every bin (scratch and
blotch only, pooled over clips); ``--write-card`` stores it and that table in the model card as
``thin_holes``, which `fix` then follows. Choose it on seeds other than the one `vidrestore eval` and
``model_quality.py`` report (seed 0), so the reported figures do not grade their own tuning.

The blends are a measurement only: the engine has no blend mode. The script prints the bands where
one weight would beat both fills by at least ``MIN_GAIN`` dB on every clip and every kind with enough
pixels there; on the default model (seeds 1-2) there are none, the best blend gaining at most ~0.1 dB.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
from pathlib import Path

import cv2
import numpy as np

from vidrestore.evaluate import load_clip, synthetic_damage
from vidrestore.inpaint.classical import ClassicalInpainter
from vidrestore.inpaint.crops import CropSettings
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.models.weights import card_path, load_generator
from vidrestore.train.data import grow_masks

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
HELD_OUT = (("carphone.mp4", 0), ("bigbuckbunny.mp4", 79))
THIN_KINDS = ("scratch", "blotch")  # what classical_radius is chosen on
# Bin edges in px of radius: 2 px steps where the crossover is, wider ones for blob- and logo-size holes.
EDGES = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, math.inf)
DILATE = 3  # as `fix --dilate` by default
MIN_GAIN = 0.1  # dB a blend must beat both fills by, on every clip and kind, to be used
MIN_PIXELS = 2000  # hole pixels a (clip, kind) needs in a bin for its figure to count


def group_radii(mask: np.ndarray, group_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the engine's group label and that group's radius (as ``crops.plan_frame`` computes them)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    grouping = cv2.dilate(mask.astype(np.uint8), np.ones((group_gap + 1,) * 2, np.uint8))
    count, labels = cv2.connectedComponents(grouping, connectivity=8)
    radius = np.zeros(count, np.float32)
    np.maximum.at(radius, labels[mask], dist[mask])
    return labels, radius


def bin_of(radius: float) -> int:
    """Index of the bin [EDGES[i], EDGES[i + 1]) holding this radius."""
    return bisect.bisect_right(EDGES, radius) - 1


def method_names(weights: list[float]) -> list[str]:
    return ["telea", "network", *(f"blend {w:g}" for w in weights)]


def accumulate(
    bins: dict[int, np.ndarray], reference: np.ndarray, fills: dict[str, np.ndarray],
    holes: np.ndarray, grown: np.ndarray, group_gap: int, weights: list[float],
) -> None:  # fmt: skip
    """Add each fill's squared errors inside the damage (before growing) to its group's radius bin.

    bins[i] = [sse telea, sse network, sse blend w..., channel values counted].
    """
    for f in range(len(reference)):
        if not holes[f].any():
            continue
        labels, radius = group_radii(grown[f], group_gap)
        for group in np.unique(labels[holes[f]]):
            where = holes[f] & (labels == group)
            entry = bins.setdefault(bin_of(float(radius[group])), np.zeros(3 + len(weights)))
            truth = reference[f][where].astype(np.float64)
            telea = fills["telea"][f][where].astype(np.float64)
            network = fills["gan"][f][where].astype(np.float64)
            # rounded as the engine rounds its mix (its feather band lies outside the damage)
            candidates = [telea, network, *(np.rint(w * network + (1 - w) * telea) for w in weights)]
            for slot, fill in enumerate(candidates):
                entry[slot] += float(((fill - truth) ** 2).sum())
            entry[-1] += truth.size


def measure(
    weights_file: str, seeds: list[int], frames: int, clips: Path, kinds: list[str], weights: list[float]
) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """Squared errors per clip, kind and radius bin, pooled over seeds."""
    model, _card = load_generator(weights_file)
    network = GanInpainter(model, precision="fp32",  # the model card's figures: the same on every CPU
                           settings=CropSettings.for_model(model.config))  # no thin-hole routing
    telea = ClassicalInpainter("telea")
    table: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for file, start in HELD_OUT:
        reference = load_clip(clips / file, start, frames)
        for kind in kinds:
            bins = table.setdefault(Path(file).stem, {}).setdefault(kind, {})
            for seed in seeds:
                holes, damaged = synthetic_damage(reference, kind, seed)
                grown = grow_masks(holes, DILATE)
                fills = {"telea": telea.inpaint(damaged, grown), "gan": network.inpaint(damaged, grown)}
                accumulate(bins, reference, fills, holes, grown, network.settings.group_gap, weights)
                print(f"measured {file} {kind} seed {seed}", flush=True)
    return table


def psnr(sse: float, n: float) -> float:
    return 10 * math.log10(255**2 / max(sse / n, 1e-12))


def pooled(
    table: dict, clips: list[str] | None = None, kinds: list[str] | None = None
) -> dict[int, np.ndarray]:
    """Sum the bins over the chosen clips and kinds (all when None)."""
    out: dict[int, np.ndarray] = {}
    for clip, per_kind in table.items():
        if clips is not None and clip not in clips:
            continue
        for kind, bins in per_kind.items():
            if kinds is not None and kind not in kinds:
                continue
            for key, entry in bins.items():
                out[key] = out.get(key, 0) + np.asarray(entry, np.float64)
    return out


def crossover(bins: dict[int, np.ndarray]) -> float:
    """The radius below which Telea is better in every bin (0 when the network wins the thinnest)."""
    radius = 0.0
    for key in sorted(bins):
        telea, gan = bins[key][:2]
        if gan < telea:
            break
        radius = EDGES[key + 1]
    return radius


def blend_gains(entry: np.ndarray) -> list[float]:
    """dB each blend gains over the better of Telea and the network in one bin."""
    n = entry[-1]
    best = max(psnr(entry[0], n), psnr(entry[1], n))
    return [psnr(sse, n) - best for sse in entry[2:-1]]


def choose_blend(table: dict, weights: list[float]) -> list[dict[str, float]]:
    """Bands of bins where one weight beats both fills by MIN_GAIN dB on every clip and kind measured there.

    Per bin the weight with the largest worst-case gain is taken; adjacent bins with the same weight merge.
    """
    chosen: dict[int, float] = {}
    for key in sorted(pooled(table)):
        counted = [
            (clip, bins[key]) for clip, per_kind in table.items() for bins in per_kind.values()
            if key in bins and bins[key][-1] / 3 >= MIN_PIXELS
        ]  # fmt: skip
        if {clip for clip, _ in counted} != set(table):  # every clip must have been measured there
            continue
        entries = [entry for _, entry in counted]
        worst = np.min([blend_gains(e) for e in entries], axis=0)
        best = int(np.argmax(worst))
        if worst[best] >= MIN_GAIN:
            chosen[key] = weights[best]
    bands: list[dict[str, float]] = []
    for key in sorted(chosen):
        if bands and bands[-1]["radius_to"] == EDGES[key] and bands[-1]["network_weight"] == chosen[key]:
            bands[-1]["radius_to"] = EDGES[key + 1]
        else:
            band = {"radius_from": EDGES[key], "radius_to": EDGES[key + 1], "network_weight": chosen[key]}
            bands.append(band)
    return bands


def rows_of(bins: dict[int, np.ndarray], names: list[str]) -> list[dict[str, object]]:
    rows = []
    for key in sorted(bins):
        entry = bins[key]
        row: dict[str, object] = {"radius_from": EDGES[key], "radius_to": EDGES[key + 1],
                                  "pixels": int(entry[-1] // 3)}  # fmt: skip
        for name, sse in zip(names, entry[:-1], strict=True):
            row[name] = round(psnr(sse, entry[-1]), 2)
        rows.append(row)
    return rows


def print_table(title: str, rows: list[dict[str, object]], names: list[str]) -> None:
    print(f"\n{title}")
    print(f"| group radius (px) | hole pixels | {' | '.join(names)} | network - Telea | best blend - best |")
    print("|---|---|" + "---|" * (len(names) + 2))
    for row in rows:
        values = [float(row[n]) for n in names]  # type: ignore[arg-type]
        best = max(values[:2])
        blends = f"{max(values[2:]) - best:+.2f}" if len(values) > 2 else ""
        cells = " | ".join(f"{v:.2f}" for v in values)
        print(f"| {row['radius_from']:g}-{row['radius_to']:g} | {row['pixels']} | {cells} | "
              f"{values[1] - values[0]:+.2f} | {blends} |")  # fmt: skip


def to_json(table: dict) -> dict:
    """clip -> kind -> bin index (as text) -> squared errors and count, as lists."""
    return {
        clip: {kind: {str(i): e.tolist() for i, e in bins.items()} for kind, bins in per_kind.items()}
        for clip, per_kind in table.items()
    }


def from_json(data: dict) -> dict:
    return {
        clip: {kind: {int(i): np.array(e) for i, e in bins.items()} for kind, bins in per_kind.items()}
        for clip, per_kind in data.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--seeds", default="1,2", help="tuning seeds; keep 0 for the reported figures")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--kinds", default=",".join(THIN_KINDS), help="damage kinds to paint")
    parser.add_argument("--blend", default="0.25,0.5,0.75", help="network weights of the blends ('' = none)")
    parser.add_argument("--save", type=Path, help="write the raw squared errors here (JSON)")
    parser.add_argument("--load", type=Path, help="tabulate saved squared errors instead of measuring")
    parser.add_argument("--write-card", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    kinds = args.kinds.split(",")
    weights = [float(w) for w in args.blend.split(",") if w]
    names = method_names(weights)

    if args.load:
        saved = json.loads(args.load.read_text())
        table, weights, names = from_json(saved["bins"]), saved["blend"], method_names(saved["blend"])
        seeds, kinds, args.frames = saved["seeds"], saved["kinds"], saved["frames"]
    else:
        table = measure(args.weights, seeds, args.frames, args.clips, kinds, weights)
    if args.save:
        payload = {"seeds": seeds, "kinds": kinds, "frames": args.frames, "blend": weights}
        payload["bins"] = to_json(table)
        args.save.write_text(json.dumps(payload) + "\n")

    thin = [k for k in kinds if k in THIN_KINDS]
    rows = rows_of(pooled(table, kinds=thin), names)
    print_table(f"{' and '.join(thin)}, both clips", rows, names)
    for clip in table:
        print_table(f"{clip}, {', '.join(kinds)}", rows_of(pooled(table, clips=[clip]), names), names)
        for kind in kinds:
            print_table(f"{clip}, {kind}", rows_of(table[clip][kind], names), names)
    radius = crossover(pooled(table, kinds=thin))
    bands = choose_blend(table, weights) if weights else []
    print(f"\nclassical_radius: {radius:g} px (Telea fills groups up to this radius)")
    print(f"blend bands (>= {MIN_GAIN} dB over both fills on every clip and kind with >= {MIN_PIXELS} px): "
          f"{bands or 'none'}")  # fmt: skip
    if args.write_card and set(thin) != set(THIN_KINDS):
        parser.error(f"--write-card needs both {' and '.join(THIN_KINDS)} in --kinds")
    if args.write_card:
        card_file = card_path(Path(args.weights))
        card = json.loads(card_file.read_text())
        card["thin_holes"] = {
            "classical_radius": radius,
            "method": "telea (radius 5), at full resolution, for groups of holes no thicker than this",
            "measured_by": f"python benchmarks/thin_holes.py --weights WEIGHTS --seeds "
            f"{','.join(map(str, seeds))} --frames {args.frames} --kinds {','.join(kinds)} --blend "
            f"{','.join(f'{w:g}' for w in weights)} (masks grown by {DILATE} px, carphone frames 0-47 and "
            "bigbuckbunny frames 79-126)",
            "bins": rows,
        }
        card_file.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        print(f"wrote thin_holes into {card_file}")


if __name__ == "__main__":
    main()
