"""The options of `fix`, declared once: flags and help here, names, types and defaults from `restore()`.

`vidrestore fix` is generated from this table, `restore()` is the typed API with the same keywords,
and `fix_config` turns those keywords into the validated job; batch manifests use the same names.
A keyword added to `restore()` without an entry here fails the option-schema test, not a user.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from vidrestore.cli_options import option_parameter


@dataclass(frozen=True)
class FixOption:
    """How one `restore()` keyword appears on the command line."""

    help: str
    flags: tuple[str, ...] = ()  # extra short flags, e.g. ("-m",)
    cli_type: Any = None  # the type typer parses, where the API accepts more (a list or a str)


FIX_OPTIONS: dict[str, FixOption] = {
    "mask": FixOption(
        "Mask folder (one image per frame), one image for every frame (logo), or a mask video. White "
        "= damaged. Optionally @START-END to use it only then (seconds or HH:MM:SS[.ms], end "
        "exclusive), e.g. logo.png@00:00:05-00:01:20.", ("-m",), Path | None),
    "box": FixOption(
        "Fill this box: X,Y,W,H in pixels, optionally @START-END (seconds or HH:MM:SS[.ms], end "
        "exclusive), e.g. 100,10,60,30@1-2. Repeatable. Only the box changes, only in its range.",
        cli_type=list[str] | None),
    "track": FixOption(
        "Remove a moving object: MASK_IMAGE@FRAME, its mask on one frame (from 0), followed "
        "through its shot along optical flow and re-fitted to its colours (see `vidrestore track`)."),
    "detect": FixOption(
        "Find damage automatically: comma list of scratch,blotch,logo (united with --mask).",
        cli_type=str | None),
    "detect_sensitivity": FixOption(
        "Per-kind sensitivity for --detect, e.g. scratch=1.5,blotch=0.8 (default 1; higher finds more).",
        cli_type=str | None),
    "method": FixOption(
        "Hole filling: auto (checked when the packaged model's card says it is never worse than the "
        "classical fills, else telea), checked (each hole group gets whichever of gan, telea and ns "
        "filled a test copy of it best), gan, telea, ns."),
    "weights": FixOption("GAN weights: a name in the installed weights/ or a .safetensors path."),
    "device": FixOption("auto, cpu, cuda, cuda:N or mps (GAN only)."),
    "batch_size": FixOption("GAN crops per batch (default: from free memory)."),
    "precision": FixOption(
        "auto (bf16 on CPUs with bfloat16 in hardware, AVX512-BF16 or AMX; else fp32), fp32, fp16 or "
        "bf16 (fp16 on CUDA only)."),
    "texture": FixOption(
        "0-1: give invented pixels fine detail copied from known pixels nearby whose coarse look "
        "matches (grass instead of a flat green patch); 0 = off."),
    "dilate": FixOption("Grow masks by N pixels (masks are usually drawn tight)."),
    "mask_threshold": FixOption("Mask pixels >= this grey level are damaged."),
    "mask_resize": FixOption("Resize masks of another size (nearest neighbour) instead of failing."),
    "codec": FixOption(
        "Video encoder (libx264, libx265, libvpx-vp9, ffv1, ...); default libx264, VP9 for .webm, "
        "MPEG-4 Part 2 for .avi."),
    "crf": FixOption("Constant rate factor for x264/x265/vp9 (lower = better)."),
    "preset": FixOption("x264/x265 speed preset (ultrafast ... veryslow)."),
    "lossless": FixOption("Lossless video: FFV1 in .mkv and .avi, x264 RGB qp 0 otherwise."),
    "pix_fmt": FixOption(
        "Output pixel format (default: the source's chroma and depth if the codec has them, else "
        "yuv420p, yuv444p for odd sizes)."),
    "fps": FixOption("Frame rate when the input is a frame folder (default 25)."),
    "temporal": FixOption(
        "Fill holes with real pixels from neighbouring frames along optical flow first (default: on, "
        "for videos and frame folders alike).", cli_type=bool | None),
    "see_through": FixOption(
        "Where a static mask covers a semi-transparent logo, give the filled pixels the fine detail "
        "of the picture the logo dims (its own texture and motion; the fill keeps their level and "
        "colour). Estimated from the first 40 masked frames; refused where the logo is opaque or its "
        "opacity cannot be told (default: on with --temporal; --no-see-through to remove a still "
        "object under a static box).",
        cli_type=bool | None),
    "window": FixOption(
        "Neighbouring frames on each side used by --temporal (memory grows with it, not with video "
        "length)."),
    "reach": FixOption(
        "Frames back and ahead searched, along chained flows, for hole pixels the window did not fill "
        "(slow-moving holes over a still background; 0 = window only)."),
    "batch_frames": FixOption("Frames per pipeline batch (default: ~24 MB of frames: 8 at 720p, 1 at 4K)."),
    "segments": FixOption(
        "Split a long video into N keyframe-aligned parts repaired in parallel, then joined (same "
        "frames, timestamps and audio as one pass)."),
    "workers": FixOption(
        "Processes for --segments (default: one per segment, at most the CPU count); in a batch, "
        "videos repaired at once."),
    "overwrite": FixOption("Replace an existing output."),
    "strict": FixOption("Stop at the first corrupt packet instead of skipping it."),
}

#: options of the command line only: a batch of videos (folder, glob or manifest) and the terminal
CLI_ONLY: dict[str, tuple[Any, Any, tuple[str, ...], str]] = {  # name: (type, default, flags, help)
    "ray": (bool, False, (),
            "Batch: run each video as a task on a local Ray instance (pip install vidrestore[ray])."),
    "ray_address": (str | None, None, (),
                    "Batch: Ray cluster address (implies --ray), e.g. ray://head:10001."),
    "report": (Path | None, None, (), "Batch: JSON report path (default OUTPUT/vidrestore-report.json)."),
    "retries": (int, 1, (), "Batch: retries of a failed video before it is reported as failed."),
    "quiet": (bool, False, ("-q",), "No progress bar and no summary line."),
    "debug": (bool, False, (), "Show full tracebacks."),
}

#: `restore()` keywords that are not command-line options
NOT_OPTIONS = ("input", "output", "progress", "make_inpainter")


def fix_parameters() -> list[inspect.Parameter]:
    """The `fix` command's parameters, in `restore()`'s order, for typer to read."""
    from vidrestore.api import restore

    hints = typing.get_type_hints(restore)
    source = typer.Argument(..., help="Damaged video file, or a folder of frame images (PNG/JPEG/TIFF/"
                            "BMP); or, for a batch, a folder of videos, a glob or a CSV/JSON manifest.")
    params = [
        inspect.Parameter("input", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Path, default=source),
        _option("output", Path, ..., ("-o",), "Output video (.mp4/.mkv/.mov/...) or a folder for frame "
                "images (a folder of outputs for a batch)."),
    ]
    for name, parameter in inspect.signature(restore).parameters.items():
        if name in NOT_OPTIONS:
            continue
        option = FIX_OPTIONS[name]
        params.append(_option(name, option.cli_type or hints[name], parameter.default, option.flags,
                              option.help))
    for name, (kind, default, flags, text) in CLI_ONLY.items():
        params.append(_option(name, kind, default, flags, text))
    return params


def _option(name: str, kind: Any, default: Any, flags: tuple[str, ...], text: str) -> inspect.Parameter:
    if isinstance(default, tuple):  # an empty tuple means "none given": typer's None
        default = None
    # only a three-state option (on, off, or left to the job: --temporal) gets a --no- form
    return option_parameter(name, kind, default, text, negatable=kind == bool | None, flags=flags)
