"""How well `--track` follows an object from one keyframe mask: IoU per frame over a shot.

    python benchmarks/track_quality.py [--seeds 0,1,2] [--frames 41]

Objects with known masks: a textured sprite (an elliptical cut of one of the photographs in
``../shared/data/photos``, so real texture, not a flat colour) moved along a curved path over each
real clip segment (Big Buck Bunny from frame 80, carphone, vtest, tree), its mask being the truth.
The keyframe is the middle frame; the tracker runs backward and forward from it. Rows: mean IoU
over the shot, IoU at 5, 10 and 20 frames from the keyframe (mean of both directions), the worst
frame, and the same with the colour re-fit off (flow only) for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidrestore.evaluate import load_clip  # noqa: E402
from vidrestore.track import TrackOptions, full_size, track  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SEGMENTS = {"bbb80": ("bigbuckbunny.mp4", 80), "carphone0": ("carphone.mp4", 0),
            "vtest0": ("vtest.avi", 0), "tree0": ("tree.avi", 0)}  # fmt: skip


def sprite_clip(clip: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``clip`` with a moving textured ellipse pasted on, and its masks (bool (T, H, W))."""
    rng = np.random.default_rng(seed)
    photos = sorted((DATA / "photos").glob("*.jpg"))
    photo = cv2.cvtColor(cv2.imread(str(photos[rng.integers(len(photos))])), cv2.COLOR_BGR2RGB)
    t, h, w = clip.shape[:3]
    sw, sh = int(w * rng.uniform(0.12, 0.2)), int(h * rng.uniform(0.15, 0.25))
    y0, x0 = rng.integers(photo.shape[0] - 64), rng.integers(photo.shape[1] - 64)
    texture = cv2.resize(photo[y0:, x0:], (sw, sh), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:sh, 0:sw]
    shape = ((yy - sh / 2) / (sh / 2)) ** 2 + ((xx - sw / 2) / (sw / 2)) ** 2 < 1
    speed = rng.uniform(1.0, 3.0) * w / 400  # pixels per frame
    frames, masks = clip.copy(), np.zeros((t, h, w), bool)
    for i in range(t):
        x = int(w * 0.15 + speed * i)
        y = int(h * 0.4 + 0.1 * h * np.sin(i / 7 + seed))
        x, y = min(max(x, 0), w - sw), min(max(y, 0), h - sh)
        frames[i, y : y + sh, x : x + sw][shape] = texture[shape]
        masks[i, y : y + sh, x : x + sw] = shape
    return frames, masks


def ious(frames: np.ndarray, truth: np.ndarray, key: int, options: TrackOptions) -> np.ndarray:
    h, w = truth.shape[1:]
    found = dict(track(iter(frames), key, truth[key], options))
    out = []
    for i, t in enumerate(truth):
        m = full_size(found[i], w, h) if i in found else np.zeros((h, w), bool)
        out.append(np.count_nonzero(m & t) / max(1, np.count_nonzero(m | t)))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--frames", type=int, default=41)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    key = args.frames // 2
    print("| clip | tracker | mean IoU | +-5 frames | +-10 | +-20 | worst | ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (file, start) in SEGMENTS.items():
        clip = load_clip(DATA / "clips" / file, start, args.frames)
        for label, options in (("flow + colour re-fit", TrackOptions()),
                               ("flow only", TrackOptions(max_change=0.0))):  # fmt: skip
            rows, seconds = [], 0.0
            for seed in seeds:
                frames, truth = sprite_clip(clip, seed)
                started = time.perf_counter()
                rows.append(ious(frames, truth, key, options))
                seconds += time.perf_counter() - started
            r = np.mean(rows, axis=0)
            at = {d: (r[key - d] + r[key + d]) / 2 for d in (5, 10, 20) if key + d < len(r)}
            print(f"| {name} | {label} | {r.mean():.3f} | {at.get(5, np.nan):.3f} | {at.get(10, np.nan):.3f} "
                  f"| {at.get(20, np.nan):.3f} | {np.min(rows):.3f} | "
                  f"{1000 * seconds / (len(seeds) * args.frames):.0f} |", flush=True)


if __name__ == "__main__":
    main()
