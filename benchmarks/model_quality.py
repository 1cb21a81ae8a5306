"""Quality of a trained generator against OpenCV Telea and Navier-Stokes on held-out clips (issue #4's bar).

    python benchmarks/model_quality.py --weights weights/default.safetensors [--seeds 0,1,2] [--write-card]

Runs `vidrestore eval` (same synthetic damage for every method, masks dilated by 3 px as `fix`
does) on carphone (never trained on) and on Big Buck Bunny from frame 79 (the default model
trained on frames 0-78 only), with damage seed 0 or, averaged, each of ``--seeds`` (one damage
pattern per kind is a small sample: a few blotches or one or two blobs), prints one table, and
checks the bar: the GAN's PSNR inside the holes at least 1 dB above the better classical fill on
logo boxes and moving blobs, and not below it (rounded to 0.1 dB) on thin scratches and small
blotches. ``--write-card`` stores the table and both verdicts in the model card beside the
weights; `--method auto` picks the GAN when either holds (``never_worse_than_classical``: no kind
below the better classical fill).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips"
HELD_OUT = {
    "carphone (all held out), frames 0-47": ("carphone.mp4", 0),
    "bigbuckbunny frames 79-126 (held out)": ("bigbuckbunny.mp4", 79),
}
MUST_WIN = {"logo": 1.0, "blob": 1.0}  # dB above the better classical fill
MUST_NOT_LOSE = ("scratch", "blotch")


def evaluate(clip: Path, start: int, frames: int, weights: str, seed: int = 0) -> list[dict]:
    """Rows of `vidrestore eval --json` for telea, ns and gan on one clip and damage seed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        command = [
            sys.executable, "-m", "vidrestore", "eval", str(clip), "--start", str(start),
            "--frames", str(frames), "--seed", str(seed), "--methods", "telea,ns,gan",
            "--weights", weights, "--json", str(out),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())["rows"]


def margins(per_seed: list[list[dict]]) -> dict[str, dict[str, float]]:
    """Per kind: each method's hole PSNR (mean over seeds) and the GAN's margin over the better
    classical method; with several seeds, also the margin on each seed (``gan_minus_best_seeds``)."""
    psnrs: dict[str, dict[str, list[float]]] = {}
    for rows in per_seed:
        for row in rows:
            psnrs.setdefault(row["kind"], {}).setdefault(row["method"], []).append(row["psnr_hole"])
    table: dict[str, dict[str, float]] = {}
    for kind, methods in psnrs.items():
        values: dict = {m: round(float(sum(v) / len(v)), 3) for m, v in methods.items()}
        values["gan_minus_best"] = round(values["gan"] - max(values["telea"], values["ns"]), 2)
        if len(per_seed) > 1:
            values["gan_minus_best_seeds"] = [
                round(g - max(t, n), 2)
                for g, t, n in zip(methods["gan"], methods["telea"], methods["ns"], strict=True)
            ]
        table[kind] = values
    return table


def bar_met(results: dict[str, dict[str, dict[str, float]]]) -> bool:
    for per_kind in results.values():
        for kind, need in MUST_WIN.items():
            if per_kind[kind]["gan_minus_best"] < need:
                return False
        for kind in MUST_NOT_LOSE:
            if round(per_kind[kind]["gan_minus_best"], 1) < 0:
                return False
    return True


def never_worse(results: dict[str, dict[str, dict[str, float]]]) -> bool:
    """The weaker claim `--method auto` needs: no kind on any clip below the better classical fill."""
    return all(round(v["gan_minus_best"], 1) >= 0 for per_kind in results.values() for v in per_kind.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="runs/default2/default.safetensors")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--seeds", default="0", help="damage seeds; figures and verdicts use their mean")
    parser.add_argument("--write-card", action="store_true", help="store the results in the model card")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    results = {}
    for name, (file, start) in HELD_OUT.items():
        per_seed = []
        for seed in seeds:
            per_seed.append(evaluate(args.clips / file, start, args.frames, args.weights, seed))
            print(f"measured {file} seed {seed}", flush=True)
        results[name] = margins(per_seed)
    several = len(seeds) > 1
    print(f"\nhole PSNR (dB){', mean over seeds ' + args.seeds if several else ', seed ' + args.seeds}")
    print("| clip | damage | Telea | NS | GAN | GAN - best classical |" + (" per seed |" if several else ""))
    print("|---|---|---|---|---|---|" + ("---|" if several else ""))
    for name, per_kind in results.items():
        for kind, v in per_kind.items():
            each = " " + " ".join(f"{m:+.2f}" for m in v["gan_minus_best_seeds"]) + " |" if several else ""
            print(f"| {name} | {kind} | {v['telea']:.2f} | {v['ns']:.2f} | {v['gan']:.2f} | "
                  f"{v['gan_minus_best']:+.2f} |{each}")  # fmt: skip
    met, safe = bar_met(results), never_worse(results)
    print(f"quality bar ({', '.join(f'{k} >= +{v:g} dB' for k, v in MUST_WIN.items())}, "
          f"{' and '.join(MUST_NOT_LOSE)} >= 0.0 dB): {'MET' if met else 'not met'}")  # fmt: skip
    print(f"never worse than the better classical fill (every kind >= 0.0 dB): {'yes' if safe else 'no'}")
    if args.write_card:
        card_file = Path(args.weights).with_suffix(".json")
        card = json.loads(card_file.read_text())
        card["evaluation"] = {
            "command": f"python benchmarks/model_quality.py --weights WEIGHTS --seeds {args.seeds} "
            "(vidrestore eval CLIP [--start 79] --frames 48 --seed N --methods telea,ns,gan "
            "--weights WEIGHTS)",
            "metric": "psnr_hole (dB, vidrestore eval; masks dilated by 3 as fix does)"
            + (f", mean over damage seeds {args.seeds}; verdicts on the mean" if several else ""),
            "seeds": seeds,
            "psnr_hole": results,
            "quality_bar": "gan_minus_best >= +1.0 dB on logo and blob, >= 0.0 dB (rounded to 0.1) on "
            "scratch and blotch, on every held-out clip",
            "quality_bar_met": met,
            "never_worse_than_classical": safe,
        }
        card_file.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        print(f"wrote the evaluation into {card_file}")


if __name__ == "__main__":
    main()
