"""How much to enlarge small network inputs before the generator fills them (issue #4).

    python benchmarks/small_windows.py --weights weights/default.safetensors [--caps 1,1.5,2]
        [--seeds 5,6,7,8,9] [--kinds logo,blob,blotch] [--frames 48] [--write-card]

The generator learned on frames scaled down so that a hole and its context fill a 160 px crop;
on a small frame (carphone is 176x144) the engine's windows are far smaller than the working size
and the network sees content at a scale it rarely trained on. ``CropSettings.max_upscale`` lets
the engine enlarge such inputs (bicubic, towards the working size, by at most that factor) and
shrink the fill back (area averaging). This script paints damage as `vidrestore eval` does on the
two held-out clips, grows the masks by 3 px as `fix` does, fills every frame with the packaged
engine (thin-hole routing included) at each factor of ``--caps``, and prints hole PSNR per clip and
kind (mean over seeds).

``--write-card`` stores the factor with the largest mean gain over factor 1 among those that lose
no more than ``MAX_LOSS`` dB on any clip and kind, in the model card as ``small_windows``, which
`fix` then follows. Choose it on seeds other than the ones `vidrestore eval` and
``model_quality.py`` report (0-4), so the reported figures do not grade their own tuning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# the same held-out clips, frames and mask growth as the thin-hole measurement of the same card
from thin_holes import CLIPS, DILATE, HELD_OUT  # a sibling script in benchmarks/

from vidrestore.evaluate import load_clip, synthetic_damage
from vidrestore.inpaint.crops import CropSettings
from vidrestore.inpaint.engine import GanInpainter, classical_radius
from vidrestore.metrics import psnr
from vidrestore.models.weights import card_path, load_generator
from vidrestore.train.data import grow_masks

MAX_LOSS = 0.05  # dB a factor may lose on any clip and kind and still be chosen


def measure(
    weights: str, caps: list[float], seeds: list[int], kinds: list[str], frames: int, clips: Path
) -> dict[str, dict[str, dict[float, float]]]:
    """clip -> kind -> factor -> hole PSNR (dB, mean over seeds)."""
    model, card = load_generator(weights)
    radius = classical_radius(card)
    engines = {
        cap: GanInpainter(model, precision="fp32",  # model card figures: the same on every CPU
                          settings=CropSettings.for_model(model.config, classical_radius=radius,
                                                          max_upscale=cap))
        for cap in caps
    }
    table: dict[str, dict[str, dict[float, float]]] = {}
    for file, start in HELD_OUT:
        name = Path(file).stem
        reference = load_clip(clips / file, start, frames)
        for kind in kinds:
            scores: dict[float, list[float]] = {cap: [] for cap in caps}
            for seed in seeds:
                holes, damaged = synthetic_damage(reference, kind, seed)
                grown = grow_masks(holes, DILATE)
                for cap, engine in engines.items():
                    scores[cap].append(psnr(reference, engine.inpaint(damaged, grown), holes))
                print(f"measured {file} {kind} seed {seed}", flush=True)
            table.setdefault(name, {})[kind] = {cap: round(float(np.mean(v)), 3) for cap, v in scores.items()}
    return table


def choose(table: dict[str, dict[str, dict[float, float]]], caps: list[float]) -> float:
    """The factor with the largest mean gain over 1 that loses at most MAX_LOSS dB anywhere (1 if none)."""
    best, best_gain = 1.0, 0.0
    for cap in caps:
        gains = [row[cap] - row[1.0] for per_kind in table.values() for row in per_kind.values()]
        if min(gains) >= -MAX_LOSS and float(np.mean(gains)) > best_gain:
            best, best_gain = cap, float(np.mean(gains))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--caps", default="1,1.5,2")
    parser.add_argument("--seeds", default="5,6,7,8,9")
    parser.add_argument("--kinds", default="logo,blob,blotch")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--write-card", action="store_true", help="store the chosen factor in the model card")
    args = parser.parse_args()
    caps = sorted({1.0, *(float(c) for c in args.caps.split(","))})
    seeds = [int(s) for s in args.seeds.split(",")]
    table = measure(args.weights, caps, seeds, args.kinds.split(","), args.frames, args.clips)

    print(f"\nhole PSNR (dB, mean over seeds {args.seeds}) by enlargement factor of small network inputs")
    print("| clip | damage | " + " | ".join(f"x{c:g}" for c in caps) + " |")
    print("|---|---|" + "---|" * len(caps))
    for name, per_kind in table.items():
        for kind, row in per_kind.items():
            cells = [f"{row[c]:.2f}" + (f" ({row[c] - row[1.0]:+.2f})" if c != 1.0 else "") for c in caps]
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    chosen = choose(table, caps)
    print(f"\nmax_upscale: {chosen:g} (largest mean gain; no clip and kind more than {MAX_LOSS} dB below x1)")
    if args.write_card:
        path = card_path(Path(args.weights))
        card = json.loads(path.read_text())
        card["small_windows"] = {
            "max_upscale": chosen,
            "measured_by": f"python benchmarks/small_windows.py --weights WEIGHTS --caps {args.caps} "
            f"--seeds {args.seeds} --kinds {args.kinds} --frames {args.frames}",
            "psnr_hole": {
                name: {kind: {f"x{c:g}": v for c, v in row.items()} for kind, row in per_kind.items()}
                for name, per_kind in table.items()
            },
        }
        path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        print(f"wrote small_windows into {path}")


if __name__ == "__main__":
    main()
