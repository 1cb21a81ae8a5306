"""What keeping a 10-bit source at 10 bits costs, against the same clip at 8 bits in the same run.

    python benchmarks/bit_depth.py [--clip ../shared/data/clips/bigbuckbunny.mp4] [--frames 60]

The clip's first frames are written twice with x264 (CRF 16): once 8-bit 4:2:0, once 10-bit 4:2:0.
`fix` repairs a 240x80 box in both, per frame with Telea (I/O dominates) and with the default
GAN + temporal path. A 10-bit source is decoded at 16 bits beside the 8-bit working copy and
encoded 10-bit, so the table shows the price of that against the 8-bit run, and how far the output
lies from the decoded source outside the box (in 8-bit levels, at 16-bit precision).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidrestore import restore
from vidrestore.io.decode import open_source

DEFAULT_CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips" / "bigbuckbunny.mp4"
BOX = (500, 300, 740, 380)  # x0, y0, x1, y1 at 720p


def write_copy(frames: list[np.ndarray], path: Path, pix_fmt: str, rate: int) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt, s.options = pix_fmt, {"preset": "veryfast", "crf": "16"}
        for i, image in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
            vf.pts = i
            out.mux(s.encode(vf))
        out.mux(s.encode())


def full_depth(path: Path) -> np.ndarray:
    """Frames as the decoder sees them, at 16 bits (8-bit sources scaled by 257)."""
    source = open_source(path)
    frames = [f.deep if f.deep is not None else f.image.astype(np.uint16) * 257 for f in source.frames()]
    source.close()
    return np.stack(frames).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    with av.open(str(args.clip)) as c:
        decoded = c.decode(video=0)
        frames = [next(decoded).to_ndarray(format="rgb24") for _ in range(args.frames)]
    h, w = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mask = np.zeros((h, w), np.uint8)
        x0, y0, x1, y1 = BOX
        mask[y0:y1, x0:x1] = 255
        cv2.imwrite(str(work / "box.png"), mask)
        outside = ~cv2.dilate(mask, np.ones((9, 9), np.uint8)).astype(bool)
        rows = []
        for method, temporal in (("telea", False), ("gan", True)):
            seconds = {}
            for depth, pix_fmt in ((8, "yuv420p"), (10, "yuv420p10le")):
                source = work / f"in{depth}.mp4"
                if not source.exists():
                    write_copy(frames, source, pix_fmt, 25)
                out = work / f"out{depth}_{method}.mp4"
                started = time.perf_counter()
                restore(source, out, mask=work / "box.png", method=method, temporal=temporal)
                seconds[depth] = time.perf_counter() - started
                with av.open(str(out)) as c:
                    written = c.streams.video[0].codec_context.format.name
                error = np.abs(full_depth(out) - full_depth(source))[:, outside].mean() / 257
                rows.append((method + ("+temporal" if temporal else ""), f"{depth}-bit", written,
                             len(frames) / seconds[depth], error))
            rows[-1] = (*rows[-1], seconds[8] / seconds[10])
    print(f"\n{len(frames)} frames of {args.clip.name} at {w}x{h}, box {x1 - x0}x{y1 - y0}\n")
    print("| method | source | written as | fps | error outside the box (8-bit levels) | speed vs 8-bit |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row[5]:.2f}x" if len(row) > 5 else "1.00x"
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.1f} | {row[4]:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
