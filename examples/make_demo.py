"""Rebuild the demo clip: 3 s of Big Buck Bunny with a burned-in logo and moving dirt, plus masks.

Usage: python examples/make_demo.py ../shared/data/clips/bigbuckbunny.mp4
Writes examples/demo.mp4, examples/masks/logo.png (static) and examples/masks/frames/ (per frame).
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import cv2
import numpy as np

from vidrestore.damage import make_masks

HERE = Path(__file__).parent
SECONDS = 3.0


def logo_layer(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A broadcaster-style emblem at the top right: (alpha (H, W) float, colour (H, W, 3))."""
    ink = np.zeros((height, width), np.uint8)
    x0, y0 = width - 250, 30
    cv2.rectangle(ink, (x0, y0), (x0 + 210, y0 + 70), 255, 4)
    cv2.putText(ink, "VR TV", (x0 + 18, y0 + 52), cv2.FONT_HERSHEY_DUPLEX, 1.6, 255, 4, cv2.LINE_AA)
    colour = np.full((height, width, 3), 255, np.float32)
    return ink.astype(np.float32) / 255 * 0.65, colour


def main(source: Path) -> None:
    (HERE / "masks" / "frames").mkdir(parents=True, exist_ok=True)
    with av.open(str(source)) as inp:
        vin = inp.streams.video[0]
        w, h = vin.codec_context.width, vin.codec_context.height
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(vin) if f.time < SECONDS]
    n = len(frames)
    alpha, colour = logo_layer(h, w)
    logo_mask = alpha > 0.02
    dirt = make_masks("blob", n, h, w, np.random.default_rng(7))
    cv2.imwrite(str(HERE / "masks" / "logo.png"), logo_mask.astype(np.uint8) * 255)
    with (
        av.open(str(source)) as inp,
        av.open(str(source)) as audio_in,
        av.open(str(HERE / "demo.mp4"), "w") as out,
    ):
        vin, ain = inp.streams.video[0], audio_in.streams.audio[0]
        v = out.add_stream("libx264", rate=vin.average_rate)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.time_base = v.codec_context.time_base = vin.time_base
        v.options = {"crf": "23", "preset": "slow"}
        a = out.add_stream_from_template(ain)
        for i, frame in enumerate(inp.decode(vin)):
            if i >= n:
                break
            img = frame.to_ndarray(format="rgb24").astype(np.float32)
            img = img * (1 - alpha[..., None]) + colour * alpha[..., None]
            img[dirt[i]] = (35, 30, 25)  # dark dirt that a scratch-and-dust pass would find
            vf = av.VideoFrame.from_ndarray(img.clip(0, 255).astype(np.uint8), format="rgb24")
            vf.pts, vf.time_base = frame.pts, frame.time_base
            out.mux(v.encode(vf))
            cv2.imwrite(
                str(HERE / "masks" / "frames" / f"{i:04d}.png"), (logo_mask | dirt[i]).astype(np.uint8) * 255
            )
        out.mux(v.encode())
        for packet in audio_in.demux(ain):
            if packet.dts is None or packet.pts * packet.time_base >= SECONDS:
                continue
            packet.stream = a
            out.mux(packet)
    print(f"wrote {n} frames of {w}x{h} to {HERE / 'demo.mp4'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/clips/bigbuckbunny.mp4"))
