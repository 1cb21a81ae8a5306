"""Speed of the GAN engine, as ratios against work measured in the same run (these machines are noisy).

    python benchmarks/gan_throughput.py [--clip PATH] [--weights PATH] [--device cpu] [--json out.json]

1. Bare generator: crops/s of 256x256 per variant (random weights; speed does not depend on them).
   The forward pass only: a Telea pre-fill, where the variant starts from one, is made beforehand
   (the engine makes it on the host, one batch ahead).
2. `fix --method gan` at the clip's size (720p for the default clip) with a static centred box mask of
   2% of the frame, against codec-only work (the same `fix` with an empty mask), and the ratio
   (goal: >= 0.5), in wall time and in CPU time per frame (steadier when others share the machine).
   Temporal propagation is switched off so that the GAN fills every hole pixel.
3. The engine on decoded frames: fps, and the crop-and-batch path against a whole-frame run with the
   same weights (PSNR in the hole against the clean frames; goal: within 0.1 dB). With --weights this
   checks a trained model; without, a freshly initialised small model (its pre-fill).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidrestore import restore
from vidrestore.inpaint.device import cpu_threads, resolve_device
from vidrestore.inpaint.engine import GanInpainter
from vidrestore.metrics import psnr
from vidrestore.models import (
    GENERATOR_VARIANTS,
    build_generator,
    count_parameters,
    load_generator,
    save_generator,
)
from vidrestore.models.generator import telea_fill

DEFAULT_CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clips" / "bigbuckbunny.mp4"


def centred_box(height: int, width: int, fraction: float = 0.02) -> np.ndarray:
    """A 2:1 box covering ``fraction`` of the frame, in the middle (a logo-sized hole)."""
    bw = int((2 * fraction * width * height) ** 0.5)
    bh = bw // 2
    mask = np.zeros((height, width), bool)
    mask[(height - bh) // 2 : (height + bh) // 2, (width - bw) // 2 : (width + bw) // 2] = True
    return mask


def synthetic_clip(path: Path, frames: int = 96, width: int = 1280, height: int = 720) -> None:
    """A moving textured 720p clip, for machines without the shared sample clips."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            r = 128 + 100 * np.sin((xx + 4 * i) / 37)
            g = 128 + 100 * np.cos((yy - 3 * i) / 23)
            b = 128 + 60 * np.sin((xx + yy + 5 * i) / 51)
            image = np.stack([r, g, b], axis=-1).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())


def model_speed(device: torch.device, batch: int, repeats: int) -> list[tuple[str, int, float, float]]:
    """(variant, parameters, crops/s in wall time with all threads, CPU ms per crop on one thread)."""
    rows = []
    for name, config in GENERATOR_VARIANTS.items():
        engine = GanInpainter(build_generator(config), device, batch_size=batch)
        image = torch.rand(batch, 3, 256, 256, device=device)
        mask = torch.zeros(batch, 1, 256, 256, device=device)
        mask[..., 96:160, 64:192] = 1
        inputs = [image, mask]
        if engine.model.needs_telea:
            inputs.append(telea_fill(image, mask))
        if engine.channels_last:
            inputs = [t.contiguous(memory_format=torch.channels_last) for t in inputs]
        with torch.inference_mode():
            engine.model(*inputs)  # warm-up: kernel selection, allocator
            start = time.perf_counter()
            for _ in range(repeats):
                engine.model(*inputs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            speed = batch * repeats / (time.perf_counter() - start)
            cpu_ms = float("nan")
            if device.type == "cpu":  # one thread's CPU time is what other load on the machine cannot inflate
                with cpu_threads(device, 1):
                    engine.model(*inputs)
                    cpu_ms = min(_thread_cpu_ms(engine.model, inputs) for _ in range(3)) / batch
        rows.append((name, count_parameters(engine.model), speed, cpu_ms))
        del engine
    return rows


def _thread_cpu_ms(model: torch.nn.Module, inputs: list[torch.Tensor]) -> float:
    start = time.thread_time()
    model(*inputs)
    return 1000 * (time.thread_time() - start)


def timed_fix(clip: Path, mask: Path, out: Path, **options: object) -> tuple[float, float, int]:
    """(frames per second of wall time, CPU milliseconds per frame, frames) of one `fix` run.

    CPU time (all threads of this process) barely moves when other jobs share the machine, so its
    ratio is the steadier figure; wall time is what a user sees.
    """
    if "temporal" in inspect.signature(restore).parameters:
        options["temporal"] = False
    cpu, start = _cpu_seconds(), time.perf_counter()
    summary = restore(clip, out, mask=mask, overwrite=True, **options)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return summary.frames / wall, 1000 * cpu / summary.frames, summary.frames


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode(clip: Path, count: int) -> np.ndarray:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = [
            f.to_ndarray(format="rgb24") for _, f in zip(range(count), container.decode(stream), strict=False)
        ]
    return np.stack(frames)


def engine_check(
    engine: GanInpainter, frames: np.ndarray, mask: np.ndarray, batch_frames: int
) -> dict[str, float]:
    masks = np.repeat(mask[None], len(frames), axis=0)
    engine.inpaint(frames[:1], masks[:1])  # warm-up
    start = time.perf_counter()
    crops = np.concatenate(
        [
            engine.inpaint(frames[i : i + batch_frames], masks[i : i + batch_frames])
            for i in range(0, len(frames), batch_frames)
        ]
    )
    fps = len(frames) / (time.perf_counter() - start)
    whole = engine.inpaint_whole_frames(frames, masks)
    crop_db = float(np.mean([psnr(f, c, m) for f, c, m in zip(frames, crops, masks, strict=True)]))
    whole_db = float(np.mean([psnr(f, w, m) for f, w, m in zip(frames, whole, masks, strict=True)]))
    telea = [
        cv2.inpaint(f, m.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        for f, m in zip(frames, masks, strict=True)
    ]
    telea_db = float(np.mean([psnr(f, t, m) for f, t, m in zip(frames, telea, masks, strict=True)]))
    return {"engine_fps": fps, "crop_db": crop_db, "whole_db": whole_db, "telea_db": telea_db}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--weights", help="trained weights to check; default: a fresh small generator")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="medium", help="x264 preset (the `fix` default is medium)")
    parser.add_argument("--batch", type=int, default=4, help="crops per forward pass for the model table")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating `fix` runs; the best of each counts"
    )
    parser.add_argument("--check-frames", type=int, default=24)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = resolve_device(args.device)
    results: dict[str, object] = {"device": str(device), "threads": torch.get_num_threads()}

    rows = model_speed(device, args.batch, args.repeats)
    print(f"\nBare generator on {device}, 256x256 crops, batch {args.batch}, load {os.getloadavg()[0]:.1f}")
    threads = torch.get_num_threads()
    print(
        f"| variant | parameters | crops/s ({threads} threads) | CPU ms/crop (1 thread) |\n|---|---|---|---|"
    )
    for name, params, speed, cpu_ms in rows:
        print(f"| {name} | {params / 1e6:.2f}M | {speed:.1f} | {cpu_ms:.1f} |")
    results["model"] = [
        dict(variant=n, parameters=p, crops_per_s=round(s, 2), cpu_ms_per_crop=round(c, 2))
        for n, p, s, c in rows
    ]

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        clip = args.clip
        if not clip.is_file():
            clip = t / "synthetic.mp4"
            synthetic_clip(clip)
        weights = args.weights
        if weights is None:
            weights = str(
                save_generator(build_generator(GENERATOR_VARIANTS["small"]), t / "fresh", {"steps": 0})
            )
        card = load_generator(weights)[1]
        with av.open(str(clip)) as c:
            width, height = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
        mask = centred_box(height, width)
        cv2.imwrite(str(t / "logo.png"), mask.astype(np.uint8) * 255)
        cv2.imwrite(str(t / "empty.png"), np.zeros((height, width), np.uint8))

        common = dict(preset=args.preset, device=args.device)
        ref_runs, gan_runs = [], []
        for _ in range(args.rounds):  # alternate and keep the best of each: other load only ever slows a run
            ref_fps, ref_cpu, frames = timed_fix(
                clip, t / "empty.png", t / "ref.mp4", method="telea", **common
            )
            ref_runs.append((ref_fps, ref_cpu))
            gan_fps, gan_cpu, _ = timed_fix(
                clip, t / "logo.png", t / "gan.mp4", method="gan", weights=weights, **common
            )
            gan_runs.append((gan_fps, gan_cpu))
        ref_fps, gan_fps = max(r[0] for r in ref_runs), max(r[0] for r in gan_runs)
        ref_cpu, gan_cpu = min(r[1] for r in ref_runs), min(r[1] for r in gan_runs)
        print(
            f"\n`fix` at {width}x{height}, {frames} frames, x264 preset {args.preset}, "
            f"{100 * mask.mean():.1f}% centred box mask, model {card['config']['variant']}, "
            f"best of {args.rounds} alternating runs, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print("| run | fps | ratio | CPU ms/frame | CPU ratio |\n|---|---|---|---|---|")
        print(f"| codec only (empty mask) | {ref_fps:.1f} | 1.00 | {ref_cpu:.0f} | 1.00 |")
        ratios = f"{gan_fps / ref_fps:.2f} | {gan_cpu:.0f} | {ref_cpu / gan_cpu:.2f}"
        print(f"| fix --method gan | {gan_fps:.1f} | {ratios} |")
        results["fix"] = dict(
            size=f"{width}x{height}",
            frames=frames,
            rounds=args.rounds,
            codec_fps=round(ref_fps, 2),
            gan_fps=round(gan_fps, 2),
            ratio=round(gan_fps / ref_fps, 3),
            codec_cpu_ms=round(ref_cpu, 1),
            gan_cpu_ms=round(gan_cpu, 1),
            cpu_ratio=round(ref_cpu / gan_cpu, 3),
        )

        engine = GanInpainter(load_generator(weights, device)[0], device)
        check = engine_check(engine, decode(clip, args.check_frames), mask, batch_frames=8)
        print(f"\nEngine alone on {args.check_frames} decoded frames: {check['engine_fps']:.1f} fps")
        print("| fill | PSNR in the hole (dB) |\n|---|---|")
        print(f"| crops + batches | {check['crop_db']:.2f} |\n| whole frames | {check['whole_db']:.2f} |")
        print(f"| OpenCV Telea (reference) | {check['telea_db']:.2f} |")
        print(f"crop minus whole: {check['crop_db'] - check['whole_db']:+.3f} dB")
        results["engine"] = {k: round(v, 3) for k, v in check.items()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
