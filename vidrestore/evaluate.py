"""`vidrestore eval`: paint synthetic holes on a clean clip, repair it through the real pipeline, measure.

Every quality claim in the project comes from here: hole PSNR, full-frame PSNR, SSIM and flicker
(see vidrestore.metrics), per damage kind and method, on the same masks for every method.
The damaged clip and the repairs are PNG frame folders, so no codec loss enters the figures.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidrestore.api import restore
from vidrestore.damage import DAMAGE_KINDS, make_masks, render_damage
from vidrestore.errors import InputError, OptionError
from vidrestore.io.decode import open_source, read_image
from vidrestore.io.encode import write_image
from vidrestore.io.paths import list_images
from vidrestore.metrics import quality_report


@dataclass(frozen=True)
class EvalOptions:
    methods: tuple[str, ...] = ("telea", "ns")
    kinds: tuple[str, ...] = ("logo", "blob", "scratch", "blotch")
    frames: int = 48
    start: int = 0
    seed: int = 0
    weights: str | None = None
    dilate: int = 3  # what `fix` uses by default, so the figures describe what users get
    window: int = 3  # temporal window for methods written "NAME+temporal"


def load_clip(path: Path, start: int, count: int) -> np.ndarray:
    """Frames ``start .. start+count`` of a video or frame folder as uint8 (T, H, W, 3)."""
    source = open_source(path)
    frames = []
    try:
        for frame in source.frames():
            if frame.index >= start + count:
                break
            if frame.index >= start:
                frames.append(frame.image)
    finally:
        source.close()
    if not frames:
        raise InputError(f"{path} has no frames after frame {start}")
    return np.stack(frames)


# Each kind's damage is seeded by the kind, not by its place in --kinds, so that any subset or order
# of kinds gives the same holes (the default order keeps the seeds it always had).
_KIND_SEED = {kind: i for i, kind in enumerate(("logo", "blob", "scratch", "blotch", "box", "brush"))}


def synthetic_damage(reference: np.ndarray, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The holes (T, H, W) and damaged clip that `vidrestore eval` makes for ``kind`` and ``seed``."""
    t, h, w, _ = reference.shape
    rng = np.random.default_rng(seed * 1000 + _KIND_SEED[kind])
    holes = make_masks(kind, t, h, w, rng)
    painted, _ = render_damage(reference, kind, rng, masks=holes)
    return holes, np.where(holes[..., None], painted, reference)


def evaluate(clean: Path, options: EvalOptions, json_out: Path | None = None) -> list[dict[str, object]]:
    """One row per (kind, method): the four figures of ``quality_report`` plus seconds."""
    for kind in options.kinds:
        if kind not in DAMAGE_KINDS:
            raise OptionError(f"unknown damage kind {kind!r}; choose from {', '.join(DAMAGE_KINDS)}")
    reference = load_clip(Path(clean), options.start, options.frames)
    t = len(reference)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="vidrestore-eval-") as tmp:
        work = Path(tmp)
        for kind in options.kinds:
            holes, damaged = synthetic_damage(reference, kind, options.seed)
            clip_dir, mask_dir = work / f"{kind}-in", work / f"{kind}-masks"
            _write_folder(clip_dir, damaged)
            _write_folder(mask_dir, holes.astype(np.uint8)[..., None].repeat(3, -1) * 255)
            for method in options.methods:
                out_dir = work / f"{kind}-{method}"
                started = time.perf_counter()
                base, _, flag = method.partition("+")
                summary = restore(
                    clip_dir,
                    out_dir,
                    mask=mask_dir,
                    method=base,
                    weights=options.weights,
                    dilate=options.dilate,
                    temporal=flag == "temporal",
                    window=options.window,
                )
                seconds = time.perf_counter() - started
                output = np.stack([read_image(p) for p in list_images(out_dir)])
                row: dict[str, object] = {
                    "kind": kind,
                    "method": method,
                    "frames": t,
                    "hole_fraction": float(holes.mean()),
                }
                row.update({k2: round(v, 3) for k2, v in quality_report(reference, output, holes).items()})
                if flag == "temporal":  # share of the (grown) holes filled from other frames, not invented
                    row["propagated"] = round(summary.propagated_fraction, 3)
                row["seconds"] = round(seconds, 2)
                rows.append(row)
    if json_out is not None:
        json_out.write_text(
            json.dumps({"clip": str(clean), "options": options.__dict__, "rows": rows}, indent=2)
        )
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    """Rows as an aligned plain-text table (also valid Markdown)."""
    columns = ["kind", "method", "psnr_hole", "psnr_full", "ssim", "flicker", "seconds"]
    if any("propagated" in r for r in rows):
        columns.insert(-1, "propagated")
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)
    ]
    line = lambda vals: "| " + " | ".join(v.ljust(wd) for v, wd in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (wd + 2) for wd in widths) + "|"
    return "\n".join([line(columns), sep, *(line(r) for r in cells)])


def _write_folder(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:06d}.png", frame)
