"""The Python API behind `vidrestore fix`: ``restore(input, output, mask=...)``.

Building and running one job lives in ``job.py`` and the summary in ``summary.py``; both are
re-exported here, as before.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from vidrestore.config import FixConfig
from vidrestore.errors import InputError, OptionError
from vidrestore.inpaint.registry import InpainterFactory, InpaintOptions, create_inpainter
from vidrestore.io.atomic import check_output
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.masks import MaskOptions
from vidrestore.io.regions import box_specs, split_mask_spec
from vidrestore.io.sync import av_offset_change_ms
from vidrestore.job import (
    Job,
    default_model_is_best,
    make_sink,
    mask_stage,
    prepare_job,
    resolve_method,
    run_job,
)
from vidrestore.summary import RestoreSummary

__all__ = [
    "Job", "RestoreSummary", "default_model_is_best", "make_sink", "mask_stage", "parse_sensitivity",
    "prepare_job", "resolve_method", "restore", "run_fix", "run_job",
]


def restore(
    input: str | Path,
    output: str | Path,
    mask: str | Path | None = None,
    *,
    box: str | list[str] | tuple[str, ...] | None = None,
    track: str | None = None,
    detect: tuple[str, ...] | list[str] | str = (),
    detect_sensitivity: dict[str, float] | str | None = None,
    method: str = "auto",
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    precision: str = "auto",
    texture: float = 0.0,
    dilate: int = 3,
    mask_threshold: int = 128,
    mask_resize: bool = False,
    codec: str | None = None,
    crf: int = 18,
    preset: str = "medium",
    lossless: bool = False,
    pix_fmt: str | None = None,
    fps: float | None = None,
    temporal: bool | None = None,
    see_through: bool | None = None,
    window: int = 3,
    reach: int = 12,
    batch_frames: int | None = None,
    segments: int = 1,
    workers: int | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
    make_inpainter: InpainterFactory = create_inpainter,
) -> RestoreSummary:
    """Repair ``input`` (video or frame folder) into ``output``; only pixels inside the masks change.

    ``box``: "X,Y,W,H" pixel boxes to fill (a list, or several in one string separated by ";"),
    each optionally "@START-END" (seconds or HH:MM:SS[.ms], end exclusive); ``mask`` may end in
    such a range too ("logo.png@5-80"). Frames outside a range are left as they are.
    ``detect_sensitivity``: per-kind sensitivity for ``detect``, ``{"scratch": 1.5}`` or
    ``"scratch=1.5,blotch=0.8"`` (1 by default; higher finds fainter damage).
    ``make_inpainter`` builds the hole-filling backend (a batch worker passes one that keeps its
    model loaded from video to video)."""
    # every keyword as given (first statement: locals() holds the parameters only)
    options = {k: v for k, v in locals().items() if k not in ("input", "output", "make_inpainter")}
    return run_fix(fix_config(input, output, **options), make_inpainter)


#: restore()'s options and their defaults: fix_config takes the same, so the two cannot drift
_RESTORE_DEFAULTS = {
    name: p.default for name, p in inspect.signature(restore).parameters.items()
    if name not in ("input", "output", "make_inpainter")
}


def fix_config(input: str | Path, output: str | Path, **options: object) -> FixConfig:
    """The job `restore(input, output, **options)` runs (same keywords and defaults)."""
    o = {**_RESTORE_DEFAULTS, **options}
    unknown = set(options) - set(_RESTORE_DEFAULTS)
    if unknown:
        raise OptionError(f"unknown option(s): {', '.join(sorted(unknown))}")
    detect = o["detect"] or ()  # None: not given (the command line's empty value)
    if isinstance(detect, str):
        detect = tuple(k for k in detect.split(",") if k)
    mask = o["mask"]
    return FixConfig(
        input=Path(input),
        output=Path(output),
        mask=Path(mask) if mask is not None else None,
        boxes=box_specs(o["box"]),
        track=o["track"],
        detect=tuple(detect),
        detect_sensitivity=parse_sensitivity(o["detect_sensitivity"]),
        masks=MaskOptions(threshold=o["mask_threshold"], dilate=o["dilate"], resize=o["mask_resize"]),
        inpaint=InpaintOptions(
            method=o["method"], weights=o["weights"], device=o["device"], batch_size=o["batch_size"],
            precision=o["precision"], texture=o["texture"],
        ),
        encode=EncodeOptions(
            codec=o["codec"], crf=o["crf"], preset=o["preset"], lossless=o["lossless"], pix_fmt=o["pix_fmt"],
            fps=o["fps"],
        ),
        temporal=o["temporal"],
        see_through=o["see_through"],
        window=o["window"],
        reach=o["reach"],
        overwrite=o["overwrite"],
        batch_frames=o["batch_frames"],
        segments=o["segments"],
        workers=o["workers"],
        strict=o["strict"],
        progress=o["progress"],
    )


def restore_options(config: FixConfig) -> dict[str, object]:
    """The `restore()` keywords that give ``config`` again (less input, output and progress): the
    one mapping the CLI's batch mode and manifests use, so no option is lost on the way.

    Options still at their "not given" value that older batch records do not hold are left out, so
    an output finished before they existed is still recognised as done."""
    options: dict[str, object] = {
        "mask": config.mask, "box": config.boxes, "track": config.track, "detect": config.detect,
        "detect_sensitivity": dict(config.detect_sensitivity),
        "method": config.inpaint.method, "weights": config.inpaint.weights, "device": config.inpaint.device,
        "batch_size": config.inpaint.batch_size, "precision": config.inpaint.precision,
        "texture": config.inpaint.texture,
        "dilate": config.masks.dilate, "mask_threshold": config.masks.threshold,
        "mask_resize": config.masks.resize,
        "codec": config.encode.codec, "crf": config.encode.crf, "preset": config.encode.preset,
        "lossless": config.encode.lossless, "pix_fmt": config.encode.pix_fmt, "fps": config.encode.fps,
        "temporal": config.temporal, "see_through": config.see_through, "window": config.window,
        "reach": config.reach,
        "batch_frames": config.batch_frames, "segments": config.segments, "workers": config.workers,
        "overwrite": config.overwrite, "strict": config.strict,
    }  # fmt: skip
    for key in ("detect_sensitivity", "track", "texture"):
        if not options[key]:
            del options[key]
    if options["see_through"] is None:
        del options["see_through"]
    return options


def parse_sensitivity(spec: dict[str, float] | str | None) -> dict[str, float]:
    """``"scratch=1.5,blotch=0.8"`` (or a dict) -> ``{"scratch": 1.5, "blotch": 0.8}``, kinds checked."""
    from vidrestore.detect.stage import DETECTOR_KINDS

    if isinstance(spec, dict):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        items = [p.strip().partition("=")[::2] for p in (spec or "").split(",") if p.strip()]
    values: dict[str, float] = {}
    for kind, number in items:
        kind = kind.strip().lower()
        if kind not in DETECTOR_KINDS:
            raise OptionError(
                f"bad --detect-sensitivity entry {kind!r}: the kind must be one of "
                + ", ".join(DETECTOR_KINDS)
            )
        try:
            values[kind] = float(number)
        except (TypeError, ValueError):
            raise OptionError(
                f"bad --detect-sensitivity entry {kind}={number!r} (want KIND=NUMBER)"
            ) from None
    return values


def run_fix(config: FixConfig, make_inpainter: InpainterFactory = create_inpainter) -> RestoreSummary:
    """Run a validated `fix` job end to end."""
    config.validate()
    if not config.input.exists():
        raise InputError(f"input not found: {config.input}")
    mask_path = split_mask_spec(config.mask)[0] if config.mask is not None else None
    check_output(config.output, [config.input, mask_path], config.overwrite)
    if config.track is not None:
        return _fix_tracked(config, make_inpainter)
    if config.segments > 1 and config.input.is_file():
        from vidrestore.segments import restore_in_segments

        return _with_av_offset(restore_in_segments(config), config)
    job = prepare_job(config, make_inpainter=make_inpainter)
    try:
        sink = make_sink(config.output, job.source.info, config.encode)
    except BaseException:
        job.source.close()
        raise
    try:
        summary = run_job(job, sink, config)
    except BaseException:  # also an interrupt that lands before the pipeline's own guard
        sink.abort()
        job.source.close()
        raise
    return _with_av_offset(summary, config)


def _fix_tracked(config: FixConfig, make_inpainter: InpainterFactory) -> RestoreSummary:
    """`fix --track`: follow the keyframe mask first (one pass, masks into a temp folder beside the
    output, removed afterwards), then repair with those masks."""
    import dataclasses
    import shutil

    from vidrestore.io.atomic import temp_path_for
    from vidrestore.track_job import track_to_folder

    folder = temp_path_for(config.output, directory=True)
    shutil.rmtree(folder)  # track_to_folder makes its own; this one only names the place
    try:
        tracked = track_to_folder(config.input, config.track, folder, fps=config.encode.fps,
                                  threshold=config.masks.threshold, progress=config.progress)  # fmt: skip
        summary = run_fix(dataclasses.replace(config, track=None, mask=folder), make_inpainter)
        summary.warnings.append(tracked.line())
        return summary
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _with_av_offset(summary: RestoreSummary, config: FixConfig) -> RestoreSummary:
    """The summary with the written file's audio/video offset against the source's, measured."""
    if config.input.is_file() and config.output.is_file():
        summary.av_offset_ms = av_offset_change_ms(config.input, config.output)
    return summary
