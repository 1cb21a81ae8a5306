"""What a CUDA machine does with vidrestore, in one short run: precision, speed, memory.

    bash benchmarks/gpu_check.sh                 # gpu tests, then this script (under 5 minutes)
    python benchmarks/gpu_check.py [--json out.json] [--frames 48] [--amp-frames 12]
    python benchmarks/gpu_check.py --dry-run     # CPU, tiny sizes, seconds: the script itself works

1. Reduced precision against fp32: hole PSNR of the per-frame generator on the quality suite's
   segments (the real clips in ``../shared/data/clips``, or ``--clips DIR``) with its four damage
   kinds (seed 0, masks as drawn), for fp16 and bf16 autocast and the NCHW layout, against fp32
   with TF32 off; every cell must stay within 0.05 dB.
2. Speed at 1080p and 720p: frames per second and peak device and host memory of `fix --method
   gan --no-temporal` (the per-frame generator) and of the default `fix` (propagation on), with a
   2% logo box and with the demo's large blobs, as ratios to codec-only work in the same run.
3. Memory against clip length: the default `fix` on a clip and on one ``--long-factor`` times
   longer; peak device memory and peak host memory must not grow (ratio at most 1.10).

Exits non-zero when a check fails. Figures depend on the host CPU too: decoding, crop planning,
the Telea pre-fill, optical flow and encoding run there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality_suite import KINDS, SEGMENTS  # noqa: E402  (the suite's segments and kinds)

from vidrestore.api import restore  # noqa: E402
from vidrestore.evaluate import load_clip, synthetic_damage  # noqa: E402
from vidrestore.inpaint.engine import GanInpainter  # noqa: E402
from vidrestore.inpaint.registry import InpaintOptions, create_inpainter  # noqa: E402
from vidrestore.metrics import psnr  # noqa: E402

CLIP_DIRS = (ROOT.parent / "shared" / "data" / "clips", ROOT / "runs" / "clips")
DEMO = ROOT / "examples" / "demo.mp4"
DEMO_MASKS = ROOT / "examples" / "masks" / "frames"
TOLERANCE_DB = 0.05
MAX_GROWTH = 1.10


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the real check, or the dry run's tiny CPU version."""

    device: torch.device
    segments: dict[str, tuple[str, int]]
    kinds: tuple[str, ...]
    amp_frames: int
    precisions: tuple[str, ...]  # besides the fp32 reference
    sizes: tuple[tuple[int, int], ...]  # (width, height) of the speed table
    frames: int
    long_factor: int
    fix_precision: str  # precision of the speed and memory runs


def make_plan(args: argparse.Namespace) -> Plan:
    if args.dry_run:
        return Plan(torch.device("cpu"), {"synthetic": ("", 0)}, ("logo", "blob"), 3, ("bf16",),
                    ((160, 96),), 4, 3, "fp32")  # fmt: skip
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device; use --dry-run to check the script on the CPU")
    precisions = ("fp32-tf32", "fp16", "bf16", "fp16-nchw")
    if not torch.cuda.is_bf16_supported():
        precisions = tuple(p for p in precisions if p != "bf16")
    return Plan(torch.device("cuda"), SEGMENTS, KINDS, args.amp_frames, precisions,
                ((1920, 1080), (1280, 720)), args.frames, args.long_factor, args.precision)  # fmt: skip


# ------------------------------------------------------------------------------------- helpers


def synthetic_frames(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A panning textured scene (waves, stripes, a little noise): stands in for real clips."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 90 * np.sin((xx + 4 * i) / 17) * np.cos(yy / 23)
        g = 128 + 90 * np.cos((yy - 3 * i) / 13)
        b = np.where((xx + 3 * i) % 48 < 24, 200.0, 60.0)
        out.append(np.stack([r, g, b], -1) + rng.normal(0, 3, (height, width, 3)))
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def find_clips(explicit: Path | None) -> Path | None:
    for folder in ([explicit] if explicit else list(CLIP_DIRS)):
        if folder is not None and (folder / "bigbuckbunny.mp4").is_file():
            return folder
    return None


def write_clip(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """Encode frames losslessly enough (x264 ultrafast, crf 12) that decoding gives them back."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast", "crf": "12"}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def write_masks(folder: Path, masks: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, mask in enumerate(masks):
        cv2.imwrite(str(folder / f"{i:05d}.png"), mask.astype(np.uint8) * 255)
    return folder


def logo_box(width: int, height: int, fraction: float = 0.02) -> np.ndarray:
    """A static box of ``fraction`` of the frame near the top right (as benchmarks/throughput.py)."""
    mask = np.zeros((height, width), bool)
    bw = int((fraction * width * height * 2) ** 0.5)
    bh = bw // 2
    mask[height // 20 : height // 20 + bh, width - width // 20 - bw : width - width // 20] = True
    return mask


def demo_blobs(n: int, width: int, height: int) -> np.ndarray:
    """The demo's damage (logo emblem and large moving dirt, 9% of the pixels), resized and looped."""
    files = sorted(DEMO_MASKS.glob("*.png"))
    masks = []
    for i in range(n):
        grey = cv2.imread(str(files[i % len(files)]), cv2.IMREAD_GRAYSCALE)
        masks.append(cv2.resize(grey, (width, height), interpolation=cv2.INTER_NEAREST) > 127)
    return np.stack(masks)


def source_frames(clips: Path | None, n: int, width: int, height: int) -> np.ndarray:
    """The first ``n`` frames of Big Buck Bunny (else the demo clip, else synthetic), resized."""
    path = clips / "bigbuckbunny.mp4" if clips else DEMO if DEMO.is_file() else None
    if path is None or min(width, height) < 128:
        return synthetic_frames(n, width, height)
    frames = load_clip(path, 0, n)
    frames = frames[np.arange(n) % len(frames)]
    if frames.shape[1:3] != (height, width):
        frames = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])
    return frames


class PeakMemory:
    """Peak device memory (torch allocator) and peak host RSS (sampled every 10 ms) over a block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.device_mb = float("nan")
        self.host_mb = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[PeakMemory]:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        stop = threading.Event()
        self.host_mb = _rss_mb()

        def sample() -> None:
            while not stop.wait(0.01):
                self.host_mb = max(self.host_mb, _rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            stop.set()
            sampler.join()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
                self.device_mb = torch.cuda.max_memory_allocated(self.device) / 2**20


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 convolutions and matmuls on (PyTorch's default for cuDNN convolutions) or off."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def table(title: str, header: list[str], rows: list[list[object]], digits: int = 2) -> str:
    lines = [f"\n{title}", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- checks


def environment(plan: Plan) -> dict[str, object]:
    info: dict[str, object] = {
        "torch": torch.__version__, "python": platform.python_version(), "device": str(plan.device),
        "cpu_cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    if plan.device.type == "cuda":
        props = torch.cuda.get_device_properties(plan.device)
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(), bf16=torch.cuda.is_bf16_supported())  # fmt: skip
    return info


def gan_engine(plan: Plan, precision: str) -> GanInpainter:
    """The packaged generator as `fix --method gan --dilate 0` sets it up, at ``precision``:
    fp32 | fp32-tf32 | fp16 | bf16 | fp16-nchw (channels-last off)."""
    base = precision.removesuffix("-nchw").removesuffix("-tf32")
    on_cpu = plan.device.type == "cpu"
    options = InpaintOptions(device=str(plan.device), feather=0, precision="fp32" if on_cpu else base)
    engine = GanInpainter.from_options(options)
    if on_cpu and base != "fp32":  # fp32 is the CPU reference; the dry run still runs CPU autocast
        engine.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[base]
    if precision.endswith("-nchw"):
        engine = GanInpainter(engine.model, plan.device, engine.batch_size, base, engine.settings,
                              channels_last=False)  # fmt: skip
    return engine


def amp_check(plan: Plan, clips: Path | None) -> tuple[list[dict[str, object]], bool]:
    """Hole PSNR per segment and kind at each precision, against fp32 with TF32 off."""
    cases = []
    for name, (file, start) in plan.segments.items():
        if file and clips is None:
            continue
        reference = load_clip(clips / file, start, plan.amp_frames) if file else synthetic_frames(
            plan.amp_frames, 160, 96)  # fmt: skip
        for kind in plan.kinds:
            holes, damaged = synthetic_damage(reference, kind, 0)
            if holes.any():
                cases.append((name, kind, reference, holes, damaged))
    if not cases:  # no real clips on this machine: the demo's frames with synthetic damage
        reference = source_frames(None, plan.amp_frames, 1280, 720)
        for kind in plan.kinds:
            holes, damaged = synthetic_damage(reference, kind, 0)
            cases.append(("demo", kind, reference, holes, damaged))
    results: dict[str, list[float]] = {}
    for precision in ("fp32", *plan.precisions):
        engine = gan_engine(plan, precision)
        with tf32(precision == "fp32-tf32") if plan.device.type == "cuda" else contextlib.nullcontext():
            results[precision] = [psnr(ref, engine.inpaint(bad, holes), holes)
                                  for _, _, ref, holes, bad in cases]  # fmt: skip
        del engine
    rows, ok = [], True
    for i, (name, kind, *_rest) in enumerate(cases):
        row: dict[str, object] = {"segment": name, "kind": kind, "fp32": round(results["fp32"][i], 3)}
        for precision in plan.precisions:
            delta = results[precision][i] - results["fp32"][i]
            row[precision] = round(delta, 3)
            ok &= abs(delta) <= TOLERANCE_DB
        rows.append(row)
    return rows, ok


def speed_and_memory(plan: Plan, clips: Path | None, work: Path) -> tuple[list[dict[str, object]], list[dict[str, object]], bool]:  # noqa: E501
    cache: dict[InpaintOptions, object] = {}

    def inpainter(options: InpaintOptions):  # type: ignore[no-untyped-def]
        if options not in cache:  # load each model once: the table is about frames, not start-up
            cache[options] = create_inpainter(options)
        return cache[options]

    def fix(clip: Path, mask: Path, **kw: object) -> tuple[float, PeakMemory]:
        meter = PeakMemory(plan.device)
        with meter.measure():
            start = time.perf_counter()
            summary = restore(clip, work / "out.mp4", mask=mask, device=str(plan.device), preset="veryfast",
                              precision=plan.fix_precision, overwrite=True, mask_resize=True,
                              make_inpainter=inpainter, **kw)  # type: ignore[arg-type]  # fmt: skip
            seconds = time.perf_counter() - start
        return summary.frames / seconds, meter

    runs: list[tuple[str, str, dict[str, object]]] = [
        ("codec only (empty mask)", "empty", {"method": "telea", "temporal": False}),
        ("per-frame GAN (fix --method gan --no-temporal)", "logo", {"method": "gan", "temporal": False}),
        ("per-frame GAN (fix --method gan --no-temporal)", "blobs", {"method": "gan", "temporal": False}),
        ("default fix (propagation on)", "logo", {}),
        ("default fix (propagation on)", "blobs", {}),
    ]
    speed_rows: list[dict[str, object]] = []
    for width, height in plan.sizes:
        frames = source_frames(clips, plan.frames, width, height)
        clip = write_clip(work / f"clip{height}.mp4", frames)
        masks = {
            "empty": write_masks(work / f"empty{height}", np.zeros((1, height, width), bool)) / "00000.png",
            "logo": write_masks(work / f"logo{height}", logo_box(width, height)[None]) / "00000.png",
            "blobs": write_masks(work / f"blobs{height}", demo_blobs(plan.frames, width, height)),
        }
        if not speed_rows:  # warm-up: CUDA context, cuDNN algorithm search, model loading
            fix(clip, masks["blobs"], method="gan", temporal=False)
            fix(clip, masks["blobs"])
        reference = None
        for label, damage, options in runs:
            fps, meter = fix(clip, masks[damage], **options)
            reference = reference or fps
            speed_rows.append({"size": f"{width}x{height}", "run": label, "damage": damage,
                               "fps": round(fps, 2), "ratio": round(fps / reference, 3),
                               "device_peak_mb": round(meter.device_mb, 1),
                               "host_peak_mb": round(meter.host_mb, 1)})  # fmt: skip
    # memory against length: the default fix at the smaller size with the blobs, short and long
    width, height = plan.sizes[-1]
    long_n = plan.frames * plan.long_factor
    frames = source_frames(clips, plan.frames, width, height)
    long_clip = write_clip(work / "long.mp4", frames[np.arange(long_n) % len(frames)])
    long_masks = write_masks(work / "long_masks", demo_blobs(long_n, width, height))
    memory_rows = []
    for name, clip, mask, n in (("short", work / f"clip{height}.mp4", work / f"blobs{height}", plan.frames),
                                ("long", long_clip, long_masks, long_n)):  # fmt: skip
        _, meter = fix(clip, mask)
        memory_rows.append({"clip": name, "frames": n, "device_peak_mb": round(meter.device_mb, 1),
                            "host_peak_mb": round(meter.host_mb, 1)})  # fmt: skip
    short, long = memory_rows
    ok = long["host_peak_mb"] <= MAX_GROWTH * short["host_peak_mb"]  # type: ignore[operator]
    if plan.device.type == "cuda":
        ok &= long["device_peak_mb"] <= MAX_GROWTH * short["device_peak_mb"]  # type: ignore[operator]
    return speed_rows, memory_rows, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the script itself")
    parser.add_argument("--clips", type=Path, help="folder with the quality suite's clips")
    parser.add_argument("--frames", type=int, default=48, help="frames per speed run")
    parser.add_argument("--amp-frames", type=int, default=12, help="frames per quality-suite segment")
    parser.add_argument("--long-factor", type=int, default=4, help="length of the long clip, in short clips")
    parser.add_argument("--precision", default="fp16", help="precision of the speed and memory runs")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    clips = None if args.dry_run else find_clips(args.clips)
    started = time.perf_counter()
    results: dict[str, object] = {"environment": environment(plan)}
    print("environment: " + ", ".join(f"{k} {v}" for k, v in results["environment"].items()))  # type: ignore[union-attr]
    checks: dict[str, bool] = {}

    def timed(name: str, step: Callable[[], object]) -> object:
        t = time.perf_counter()
        value = step()
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - t, 1)  # type: ignore[index]
        return value

    amp_rows, checks["amp_within_0.05_db"] = timed("amp", lambda: amp_check(plan, clips))  # type: ignore[misc]
    results["amp"] = amp_rows
    title = (f"Hole PSNR (dB) of the per-frame generator against fp32 with TF32 off, {plan.amp_frames} "
             f"frames per segment, damage seed 0; after fp32: difference (dB), limit +-{TOLERANCE_DB}")
    header = ["segment", "kind", "fp32", *plan.precisions]
    print(table(title, header, [list(r.values()) for r in amp_rows], digits=3))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        speed_rows, memory_rows, checks["memory_flat"] = timed(  # type: ignore[misc]
            "speed_memory", lambda: speed_and_memory(plan, clips, Path(tmp)))
    results["speed"], results["memory"] = speed_rows, memory_rows
    title = (f"Speed, {plan.frames} frames, precision {plan.fix_precision} "
             "(ratio: to codec only at the same size, in the same run)")
    header = ["size", "run", "damage", "fps", "ratio", "device peak MB", "host peak MB"]
    print(table(title, header, [list(r.values()) for r in speed_rows]))
    width, height = plan.sizes[-1]
    title = (f"Memory against clip length, default fix, {width}x{height}, blobs "
             f"(limit: long <= {MAX_GROWTH} x short)")
    header = ["clip", "frames", "device peak MB", "host peak MB"]
    print(table(title, header, [list(r.values()) for r in memory_rows]))
    total = time.perf_counter() - started
    results["seconds_total"], results["checks"] = round(total, 1), checks
    failed = [name for name, ok in checks.items() if not ok]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'} ({total:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
