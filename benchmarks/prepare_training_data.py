"""Extract the training and held-out frame folders for fine-tuning on real footage (PyAV, cv2.imwrite).

    python benchmarks/prepare_training_data.py            # writes runs/data/...; existing folders are kept
    python benchmarks/prepare_training_data.py --force    # rewrite them

Training folders (frame numbers are decode order, as `vidrestore.evaluate.load_clip` counts them):

- ``runs/data/bunny_train``: bigbuckbunny.mp4 frames 0-78 (79-131 held out: ``bunny_heldout``);
- ``runs/data/vtest_train/{a,b}``: vtest.avi, every 2nd frame of 60-379 and of 460-794;
- ``runs/data/tree_train/{a,b}``: tree.avi, every frame of 60-279 and of 360-443. The decoder finds
  only 68 pictures in tree.avi (frames 0-67; the container counts 444 slots, most of them empty),
  so this is frames 60-67 alone, and ``tree_train/b`` stays empty (removed).

Held out, never written into a training folder: vtest 0-59 and 380-459, tree 0-59 and 280-359 (the
quality suite measures vtest 0-39 and 400-439, tree 0-39 and 300-339), Big Buck Bunny 79-131, and
carphone.mp4 entirely (an evaluation clip; this script never opens it). ``runs/data/val_real/{vtest,tree}``
holds vtest 0-59 and tree 0-59 for validation during training.

Each continuous range is its own sub-folder, so a frame folder is never a clip with a jump in it.
The photos (``../shared/data/photos``) are used in place (``images:../shared/data/photos``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "clips"
OUT = ROOT / "runs" / "data"
sys.path.insert(0, str(ROOT))

from vidrestore.io.decode import open_source  # noqa: E402

#: folder (relative to runs/data) -> (clip file, frame numbers)
FOLDERS: dict[str, tuple[str, range]] = {
    "bunny_train": ("bigbuckbunny.mp4", range(0, 79)),
    "bunny_heldout": ("bigbuckbunny.mp4", range(79, 132)),
    "vtest_train/a": ("vtest.avi", range(60, 380, 2)),
    "vtest_train/b": ("vtest.avi", range(460, 795, 2)),
    "tree_train/a": ("tree.avi", range(60, 280)),
    "tree_train/b": ("tree.avi", range(360, 444)),
    "val_real/vtest": ("vtest.avi", range(0, 60)),
    "val_real/tree": ("tree.avi", range(0, 60)),
}
#: frames no training folder may hold (held-out and suite segments)
HELD_OUT = {
    "bigbuckbunny.mp4": range(79, 132),
    "vtest.avi": [*range(0, 60), *range(380, 460)],
    "tree.avi": [*range(0, 60), *range(280, 360)],
}


def check_split() -> None:
    """Fail loudly if a training folder would hold a held-out frame or an evaluation clip."""
    for folder, (clip, frames) in FOLDERS.items():
        if clip == "carphone.mp4":
            raise SystemExit("carphone.mp4 is an evaluation clip: never extract it for training")
        if folder.split("/")[0].endswith("_train"):
            leaked = sorted(set(frames) & set(HELD_OUT[clip]))
            if leaked:
                raise SystemExit(f"{folder} would hold held-out frames of {clip}: {leaked[:5]}...")


def extract(clip: str, wanted: dict[int, Path]) -> int:
    """Decode ``clip`` once and write the frames numbered in ``wanted`` (index -> PNG path).

    Frames are numbered in decode order, as the project's decoder (and so the quality suite)
    numbers them. tree.avi holds 68 pictures over 444 frame slots (its container's count), so
    ranges past its 68th frame find nothing; that is reported, not an error.
    """
    written = 0
    source = open_source(CLIPS / clip)  # PyAV, with the colour conversion `fix` and the suite use
    try:
        for frame in source.frames(0, max(wanted) + 1):
            path = wanted.get(frame.index)
            if path is not None:
                if not cv2.imwrite(str(path), np.ascontiguousarray(frame.image[..., ::-1])):
                    raise SystemExit(f"cannot write {path}")
                written += 1
    finally:
        source.close()
    if written != len(wanted):
        print(f"{clip}: only {written} of the {len(wanted)} frames asked for exist", file=sys.stderr)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--force", action="store_true", help="rewrite folders that exist")
    args = parser.parse_args()
    check_split()
    per_clip: dict[str, dict[int, Path]] = {}
    for folder, (clip, frames) in FOLDERS.items():
        target = args.out / folder
        if target.is_dir() and any(target.iterdir()) and not args.force:
            print(f"{target}: exists, kept", file=sys.stderr)
            continue
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for i in frames:
            per_clip.setdefault(clip, {})[i] = target / f"{clip.split('.')[0]}_{i:05d}.png"
    for clip, wanted in per_clip.items():
        # a frame wanted by two folders (none here) would keep only the last path
        n = extract(clip, wanted)
        print(f"{clip}: {n} frames written", file=sys.stderr)
    for folder in FOLDERS:
        target = args.out / folder
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
            print(f"{target}: no frames in that range; removed", file=sys.stderr)
    for folder in FOLDERS:
        target = args.out / folder
        count = len(list(target.glob("*.png"))) if target.is_dir() else 0
        print(f"{folder}: {count} frames", file=sys.stderr)


if __name__ == "__main__":
    main()
