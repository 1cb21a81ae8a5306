"""Before/after picture strip of the demo: damaged frame, its mask, repaired frame, one row per frame.

    python examples/make_strip.py                      # runs the quickstart repair first if needed
    python examples/make_strip.py --fixed demo_fixed.mp4 --frames 10,44 -o docs/demo_strip.png

The repaired clip is what the README's quickstart command writes
(``vidrestore fix examples/demo.mp4 --mask examples/masks/frames -o demo_fixed.mp4``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames numbered ``wanted`` (decode order), as uint8 RGB HxWx3."""
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                found[index] = frame.to_ndarray(format="rgb24")
            if len(found) == len(wanted):
                break
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"{path} has no frame {min(missing)}")
    return found


def read_mask(folder: Path, index: int, shape: tuple[int, int]) -> np.ndarray:
    """Mask ``index`` of a per-frame mask folder (sorted names), True = damaged."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    mask = cv2.imread(str(files[index]), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) >= 128


def panel(image: np.ndarray, width: int, label: str) -> np.ndarray:
    """``image`` scaled to ``width`` with a caption bar on top."""
    height = round(image.shape[0] * width / image.shape[1])
    scaled = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    bar = np.full((28, width, 3), 24, np.uint8)
    cv2.putText(bar, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, scaled])


def tinted(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The damaged frame with its mask painted half-transparent red."""
    out = image.astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array([255, 40, 40], np.float32)
    return out.round().astype(np.uint8)


def make_strip(damaged: Path, masks: Path, fixed: Path, frames: list[int], width: int) -> np.ndarray:
    before = read_frames(damaged, set(frames))
    after = read_frames(fixed, set(frames))
    rows = []
    for index in frames:
        mask = read_mask(masks, index, before[index].shape[:2])
        row = [
            panel(before[index], width, f"frame {index}: damaged"),
            panel(tinted(before[index], mask), width, f"frame {index}: mask ({100 * mask.mean():.1f}%)"),
            panel(after[index], width, f"frame {index}: repaired"),
        ]
        gap = np.full((row[0].shape[0], 4, 3), 255, np.uint8)
        rows.append(np.hstack([row[0], gap, row[1], gap, row[2]]))
    separator = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    return np.vstack([part for row in rows for part in (row, separator)][:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=HERE / "demo.mp4")
    parser.add_argument("--mask", type=Path, default=HERE / "masks" / "frames")
    parser.add_argument("--fixed", type=Path, default=ROOT / "demo_fixed.mp4",
                        help="the repaired clip; made with the quickstart command when missing")
    parser.add_argument("--frames", default="10,44", help="comma-separated frame numbers, one row each")
    parser.add_argument("--width", type=int, default=400, help="width of each panel in pixels")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "demo_strip.png")
    args = parser.parse_args()
    if not args.fixed.exists():
        command = ["vidrestore", "fix", str(args.input), "--mask", str(args.mask), "-o", str(args.fixed)]
        print("running:", " ".join(command), file=sys.stderr)
        subprocess.run([sys.executable, "-m", *command], check=True)
    frames = [int(f) for f in args.frames.split(",") if f.strip()]
    strip = make_strip(args.input, args.mask, args.fixed, frames, args.width)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(args.output), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"cannot write {args.output}")
    print(f"{args.output}: {strip.shape[1]}x{strip.shape[0]}, frames {', '.join(map(str, frames))}")


if __name__ == "__main__":
    main()
