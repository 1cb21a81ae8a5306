"""Where the default `fix` spends its time, stage by stage, against codec-only work in the same run.

    python benchmarks/stage_profile.py                      # 720p Big Buck Bunny, 2% logo box + the demo
    python benchmarks/stage_profile.py --cases logo --repeat 2

Cases: ``logo`` (Big Buck Bunny 720p, a static box of 2% of the frame near the top right corner,
as benchmarks/throughput.py draws it) and ``demo`` (examples/demo.mp4 with its mask folder: a logo
and large moving dirt blobs). Each case runs `restore()` as `vidrestore fix` does (defaults:
propagation, the checked inpainter, steadying) and, first, the same pipeline with an empty mask
(decode + colour conversion + encode only).

Stage times are the seconds spent inside each stage's work, summed over frames (decode and encode
run in their own threads and overlap the rest, so the stages add up to more than the wall time):
decode, flow (DIS + completion + checks), propagation (the rest of the temporal stage), trials
(the checked inpainter's test fills), fill (the chosen backends on the real holes), steadying,
encode.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from throughput import logo_mask  # noqa: E402  (benchmarks/ is on the path when run as a script)

from vidrestore.api import restore  # noqa: E402
from vidrestore.inpaint.registry import create_inpainter  # noqa: E402
from vidrestore.io import decode, encode  # noqa: E402
from vidrestore.temporal import propagate, steady  # noqa: E402

CLIP = ROOT.parent / "shared" / "data" / "clips" / "bigbuckbunny.mp4"
TIMES: collections.Counter[str] = collections.Counter()


def _timed(name: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start
    return wrapper


def _timed_iterator(name: str, fn: Callable[..., Iterator]) -> Callable[..., Iterator]:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> Iterator:  # noqa: ANN002, ANN003
        it = fn(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                TIMES[name] += time.perf_counter() - start
                return
            TIMES[name] += time.perf_counter() - start
            yield item
    return wrapper


def instrument() -> None:
    """Wrap each stage's work in a timer (nested timers are subtracted in `table`)."""
    decode.VideoFileSource.frames = _timed_iterator("decode", decode.VideoFileSource.frames)
    encode.VideoSink.write = _timed("encode", encode.VideoSink.write)
    encode.VideoSink.close = _timed("encode", encode.VideoSink.close)
    tp = propagate.TemporalPropagation
    tp._process = _timed("temporal", tp._process)
    tp._slot = _timed("temporal", tp._slot)
    for name in ("_flow", "_measure_flow"):
        setattr(tp, name, _timed("flow", getattr(tp, name)))
    steady.SteadyFill._blend = _timed("steadying", steady.SteadyFill._blend)


def run(clip: Path, mask: Path, out: Path) -> tuple[float, int]:
    TIMES.clear()
    made = []

    def make_inpainter(options):  # noqa: ANN001, ANN202 - keep the inpainter to read its clocks
        made.append(create_inpainter(options))
        return made[-1]

    start = time.perf_counter()
    summary = restore(clip, out, mask=mask, overwrite=True, progress=False, make_inpainter=make_inpainter)
    wall = time.perf_counter() - start
    for inpainter in made:
        for part, seconds in getattr(inpainter, "seconds", {}).items():
            TIMES[part] += seconds
    return wall, summary.frames


def table(name: str, wall: float, codec: float, frames: int) -> str:
    t = dict(TIMES)
    flow = t.get("flow", 0.0)
    rows = [
        ("decode (own thread)", t.get("decode", 0.0)),
        ("flow", flow),
        ("propagation, less flow", t.get("temporal", 0.0) - flow),
        ("inpainting: test fills (checked)", t.get("trials", 0.0)),
        ("inpainting: the holes", t.get("fill", 0.0)),
        ("steadying", t.get("steadying", 0.0)),
        ("encode (own thread)", t.get("encode", 0.0)),
    ]
    lines = [f"\n{name}: {frames} frames, {wall:.1f} s, {frames / wall:.1f} fps; codec only {codec:.1f} s "
             f"({frames / codec:.1f} fps); ratio to codec only {codec / wall:.2f}",
             "| stage | seconds | ms/frame |", "|---|---|---|"]
    lines += [f"| {label} | {sec:.2f} | {1000 * sec / frames:.1f} |" for label, sec in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="logo,demo")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is kept")
    args = parser.parse_args()
    instrument()
    with tempfile.TemporaryDirectory(prefix="vidrestore-profile-") as tmp:
        work = Path(tmp)
        cases = {
            "logo": (CLIP, work / "logo.png"),
            "demo": (ROOT / "examples" / "demo.mp4", ROOT / "examples" / "masks" / "frames"),
        }
        logo_mask(work / "logo.png", 1280, 720)
        for name in args.cases.split(","):
            clip, mask = cases[name]
            empty = work / f"empty-{name}.png"
            cv2.imwrite(str(empty), np.zeros((720, 1280), np.uint8))
            codec = min(run(clip, empty, work / "codec.mp4")[0] for _ in range(args.repeat))
            best = None
            for _ in range(args.repeat):
                wall, frames = run(clip, mask, work / "out.mp4")
                if best is None or wall < best[0]:
                    best = (wall, frames, dict(TIMES))
            assert best is not None
            TIMES.clear()
            TIMES.update(best[2])
            print(table(name, best[0], codec, best[1]), flush=True)


if __name__ == "__main__":
    main()
