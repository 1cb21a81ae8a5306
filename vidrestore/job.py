"""One `fix` job: open the source, build the stage chain, run it into a sink, summarise.

Below the API (``restore``/``run_fix``) and the segmented runner (``segments.py``), which both run
jobs built here, so that neither imports the other.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from vidrestore.config import FixConfig, frames_per_batch
from vidrestore.errors import OutputError
from vidrestore.inpaint.base import Inpainter
from vidrestore.inpaint.registry import InpainterFactory, InpaintOptions, create_inpainter
from vidrestore.io.decode import FrameSource, open_source
from vidrestore.io.encode import EncodeOptions, FolderSink, FrameSink, VideoSink
from vidrestore.io.masks import MaskReader
from vidrestore.io.paths import is_video_path
from vidrestore.io.regions import AttachTimedMasks, FrameClock, check_boxes, parse_boxes, split_mask_spec
from vidrestore.pipeline import AttachMasks, InpaintHoles, Stage, batch_frames, run_pipeline
from vidrestore.summary import RestoreSummary

if TYPE_CHECKING:  # imported only when a job uses them (detection loads a worker, flow cv2)
    from vidrestore.detect.stage import DamageDetector
    from vidrestore.temporal.propagate import TemporalOptions, TemporalPropagation
    from vidrestore.temporal.see_through import SeeThrough
    from vidrestore.temporal.steady import SteadyFill


def resolve_method(options: InpaintOptions) -> InpaintOptions:
    """``auto``: ``checked`` (the GAN, Telea or NS per hole group, whichever fills a test copy of
    the group best; see inpaint/checked.py) when explicit weights are given, or when the installed
    default model's card says it is never worse than Telea/NS on held-out clips (or met the full
    quality bar); otherwise OpenCV Telea.

    So a better default model becomes the default method by shipping it, and a model that loses to
    the classical fill anywhere is never forced on users (use ``--method gan`` to choose it).
    """
    if options.method != "auto":
        return options
    if options.weights is not None:
        return dataclasses.replace(options, method="checked")
    return dataclasses.replace(options, method="checked" if default_model_is_best() else "telea")


def default_model_is_best() -> bool:
    """Whether the packaged default generator exists and its card reports ``quality_bar_met`` or
    ``never_worse_than_classical`` (written by benchmarks/model_quality.py)."""
    folder = importlib.resources.files("vidrestore.weights")
    if not (folder / "default.safetensors").is_file():
        return False
    try:
        card = json.loads((folder / "default.json").read_text())
    except (OSError, ValueError):
        return False
    evaluation = card.get("evaluation", {})
    return bool(evaluation.get("quality_bar_met") or evaluation.get("never_worse_than_classical"))


@dataclass
class StageTable:
    """The stages of one job, by role, in the order they run (``chain``).

    Each stage says how many frames past frame t it must have received before it hands frame t
    on (``lookahead``, with batches of one frame), so the chain holds at most ``lookahead``
    frames beyond what the decoder and encoder queues hold, however long the video."""

    inpaint: InpaintHoles
    masks: Stage | None = None
    detector: DamageDetector | None = None
    see_through: SeeThrough | None = None
    propagation: TemporalPropagation | None = None
    steady: SteadyFill | None = None

    def chain(self) -> list[Stage]:
        observe = self.see_through.observer if self.see_through is not None else None
        # the observer before the detector: what it finds inside a logo is damage, not picture
        stages = (self.masks, observe, self.detector, self.propagation, self.inpaint, self.steady,
                  self.see_through)
        return [stage for stage in stages if stage is not None]

    @property
    def lookahead(self) -> int:
        return sum(stage.lookahead for stage in self.chain())

    def count_only(self, start: int, stop: int) -> None:
        """Count frames ``start <= index < stop`` in the statistics, no others: a segment decodes
        overlap frames around the ones it writes, and those belong to its neighbours' counts."""
        self.inpaint.count_range = (start, stop)
        if self.see_through is not None:
            self.see_through.count_range = (start, stop)
        if self.propagation is not None:
            self.propagation.count_range = (start, stop)


@dataclass
class Job:
    """A decoded source with the stages that repair it; run with ``run_job``."""

    source: FrameSource
    stages: StageTable
    method: str
    start: int = 0
    stop: int | None = None


def prepare_job(
    config: FixConfig, start: int = 0, stop: int | None = None,
    make_inpainter: InpainterFactory = create_inpainter,
) -> Job:
    """Open the input and build its stage table (``build_stages``)."""
    # The GAN's seam band must lie in the margin the masks were grown by, never on the damage itself
    inpaint_options = resolve_method(config.inpaint)
    inpaint_options = dataclasses.replace(
        inpaint_options, feather=min(inpaint_options.feather, config.masks.dilate)
    )
    source = open_source(config.input, fps=config.encode.fps, strict=config.strict)
    try:
        stages = build_stages(config, source.info, lambda: make_inpainter(inpaint_options), start)
    except BaseException:
        source.close()
        raise
    return Job(source, stages, inpaint_options.method, start, stop)


def build_stages(
    config: FixConfig, info, make_inpainter: Callable[[], Inpainter], start: int = 0  # noqa: ANN001
) -> StageTable:
    """The stages ``config`` asks for, for a source described by ``info`` (a VideoInfo) read from
    frame ``start``: the user's masks and boxes, detection, propagation, inpainting, steadying.
    The inpainter (a model load) is made after the masks and boxes are checked, so a bad one fails
    before paying for it; the see-through probe runs while it loads."""
    masks = mask_stage(config, info, start) if config.mask is not None or config.boxes else None
    detector = propagation = steady = None
    temporal = config.temporal if config.temporal is not None else info.frame_count > 1
    if config.detect:
        from vidrestore.detect.probe import probe_for
        from vidrestore.detect.stage import DamageDetector, DetectOptions

        options = DetectOptions(
            kinds=config.detect,
            grow=config.masks.dilate,  # as mask files are grown
            **{f"{k}_sensitivity": v for k, v in config.detect_sensitivity.items()},
        )
        # logos are looked for in samples of the whole file first (a still camera needs them)
        probed = probe_for(
            config.input, options.kinds, options.logo_sensitivity, options.logo_frames, config.encode.fps
        )
        detector = DamageDetector(options, logo_candidates=probed)
    # a frame folder is a video too (scans, VFX plates): on by default for both
    if temporal:
        from vidrestore.temporal.propagate import TemporalPropagation
        from vidrestore.temporal.steady import SteadyFill

        propagation = TemporalPropagation(temporal_options(config))
        steady = SteadyFill()
    if masks is None or not (config.see_through if config.see_through is not None else temporal):
        return StageTable(InpaintHoles(make_inpainter()), masks, detector, None, propagation, steady)
    from vidrestore.temporal.see_through import SeeThrough, probe_overlays

    # the see-through probe (decoding and estimating) runs while the model loads
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="see-through-probe") as pool:
        probing = pool.submit(probe_overlays, lambda: frames_with_masks(config, info, start),
                              config.progress and sys.stderr.isatty())
        inpaint = InpaintHoles(make_inpainter())
        overlays = probing.result()
    see_through = SeeThrough(overlays) if overlays else None
    return StageTable(inpaint, masks, detector, see_through, propagation, steady)


def temporal_options(config: FixConfig) -> TemporalOptions:
    """Propagation's options from ``config``: the stage and the segment overlap read the same."""
    from vidrestore.temporal.propagate import TemporalOptions

    return TemporalOptions(window=config.window, reach=config.reach)


def mask_stage(config: FixConfig, info, start: int = 0) -> Stage:  # noqa: ANN001 - VideoInfo
    """The stage that attaches the user's masks and boxes, from frame ``start`` on."""
    masks = mask_range = None
    if config.mask is not None:
        path, mask_range = split_mask_spec(config.mask)
        reader = MaskReader(path, info.width, info.height, info.frame_count, config.masks)
        masks = reader.masks(start)
        if not config.boxes and mask_range is None:
            return AttachMasks(masks)
    boxes = parse_boxes(config.boxes)
    check_boxes(boxes, info.width, info.height)
    clock = FrameClock(info.time_base, info.start_pts, info.fps)
    return AttachTimedMasks(clock, (info.width, info.height), masks, mask_range, boxes)


def frames_with_masks(config: FixConfig, info, start: int = 0  # noqa: ANN001 - VideoInfo
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(frame, mask) from frame ``start`` on, the user's masks and boxes only, from a source of its
    own: the see-through probe reads the first frames before the main pass does."""
    source = open_source(config.input, fps=config.encode.fps, strict=config.strict)
    try:
        batches = batch_frames(source.frames(start), 4, info.time_base)
        for batch in mask_stage(config, info, start).run(batches):
            yield from zip(batch.frames, batch.ensure_masks(), strict=True)
    finally:
        source.close()


def run_job(job: Job, sink: FrameSink, config: FixConfig) -> RestoreSummary:
    """Run a prepared job into ``sink`` with a progress bar; returns the summary."""
    info = job.source.info
    total = (job.stop if job.stop is not None else info.frame_count) - job.start
    bar = tqdm(
        total=total,
        unit="frame",
        desc="fix",
        dynamic_ncols=True,
        disable=not (config.progress and sys.stderr.isatty()),
    )
    started = time.perf_counter()
    with bar:
        result = run_pipeline(
            job.source,
            job.stages.chain(),
            sink,
            batch_size=frames_per_batch(config, info.width, info.height),
            on_batch=lambda b: bar.update(len(b)),
            start=job.start,
            stop=job.stop,
        )
    seconds = time.perf_counter() - started
    stats = job.stages.inpaint.stats
    propagation = job.stages.propagation
    hole_pixels = propagation.stats.hole_pixels if propagation else stats.masked_pixels
    return RestoreSummary(
        input=str(config.input),
        output=str(config.output),
        method=job.method,
        frames=result.frames_written,
        masked_frames=stats.masked_frames,
        masked_fraction=hole_pixels / max(stats.total_pixels, 1),
        seconds=seconds,
        propagated_fraction=propagation.stats.fraction if propagation else 0.0,
        seen_through_fraction=see_through_fraction(job.stages, stats.total_pixels),
        fps=result.frames_written / max(seconds, 1e-9),
        bad_packets=job.source.bad_packets,
        detected=job.stages.detector.summary() if job.stages.detector is not None else {},
        warnings=result.warnings,
    )


def see_through_fraction(stages: StageTable, total_pixels: int) -> float:
    """Share of all pixels where a semi-transparent logo was undone rather than filled."""
    return stages.see_through.stats.pixels / max(total_pixels, 1) if stages.see_through else 0.0


def make_sink(output: Path, info, options: EncodeOptions) -> FrameSink:  # noqa: ANN001 - VideoInfo
    """A video encoder when ``output`` has a video extension, else a frame folder."""
    if output.exists() and output.is_dir() or not is_video_path(output):
        if output.exists() and not output.is_dir():
            raise OutputError(f"{output} is a file but has no video extension; use e.g. .mp4 or a folder")
        return FolderSink(output, info)
    return VideoSink(output, info, options)
