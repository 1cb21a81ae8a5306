"""One batch job in a worker (local process or Ray): skip if verified complete, else repair and record.

Every worker keeps one inpainter per set of inpainting options for its whole life, so a GAN is loaded
(and moved to its GPU) once per process, not once per video: ``process_job`` hands ``restore()`` a
factory that builds each backend once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

from vidrestore.batch.done import remove_record, verified_frames, write_record
from vidrestore.batch.jobs import BatchJob
from vidrestore.batch.report import JobResult, one_line
from vidrestore.errors import OutputError, VidrestoreError
from vidrestore.inpaint.base import Inpainter
from vidrestore.inpaint.checked import CheckedInpainter
from vidrestore.inpaint.registry import InpaintOptions, create_inpainter
from vidrestore.io.atomic import remove_stale_partials

_inpainters: dict[InpaintOptions, Inpainter] = {}


def cached_inpainter(options: InpaintOptions) -> Inpainter:
    """``create_inpainter`` that builds each distinct backend once per process and then reuses it."""
    if options not in _inpainters:
        _inpainters[options] = create_inpainter(options)
    cached = _inpainters[options]
    if isinstance(cached, CheckedInpainter):  # the models are kept, each video's choices start afresh
        return CheckedInpainter(cached.backends)
    return cached


def init_worker(threads: int | None = None, handle_signals: bool = False) -> None:
    """Set up a worker process: share the cores with the other workers (OpenCV's pool and OpenMP;
    both otherwise take every core each, and threads that outnumber cores stall)."""
    if handle_signals:  # a terminated worker unwinds like Ctrl-C: its temp output is removed
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)
    if threads:
        import cv2

        cv2.setNumThreads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read when torch is first imported


_stopping = False


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, once: a second signal (the driver terminating
    a worker that Ctrl-C already stops) must not cut its clean-up short."""
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def inpainters_kept() -> Iterator[None]:
    """Keep the cached inpainters for the length of a block (an in-process batch), then free them."""
    try:
        yield
    finally:
        _inpainters.clear()


def process_job(job: BatchJob, attempt: int = 1) -> JobResult:
    """Repair one input unless a verified complete output is there; never raises for a bad input."""
    from vidrestore.api import restore

    started = time.perf_counter()
    result = JobResult(input=str(job.input), output=str(job.output), status="failed", attempts=attempt)
    if job.error is not None:
        result.error = job.error
        return result
    options = dict(job.options)
    force = bool(options.pop("overwrite", False))
    try:
        if not force:
            frames = verified_frames(job.input, job.output, options)
            if frames is not None:
                result.status, result.frames = "skipped", frames
                result.seconds = time.perf_counter() - started
                return result
        job.output.parent.mkdir(parents=True, exist_ok=True)
        remove_record(job.output)  # a stale record must never vouch for what is written next
        remove_stale_partials(job.output)  # a killed worker's temp files; never a live run's
        # Within a batch an output without a valid record is ours and unfinished: redo it.
        redo = force or job.output.exists()
        summary = restore(
            job.input, job.output, overwrite=redo, progress=False, make_inpainter=cached_inpainter, **options
        )
        write_record(job.input, job.output, options, summary.frames, summary.seconds)
        result.status, result.frames, result.method = "done", summary.frames, summary.method
        result.warnings = list(summary.warnings)
        result.av_offset_ms = summary.av_offset_ms
    except VidrestoreError as exc:
        result.error = one_line(str(exc))
        result.retryable = isinstance(exc, OutputError)  # full disk, vanished mount: may pass next time
    except Exception as exc:  # noqa: BLE001 - one bad file fails alone; the batch carries on
        result.error = one_line(f"{type(exc).__name__}: {exc}")
        result.retryable = not isinstance(exc, (TypeError, ValueError))
    result.seconds = time.perf_counter() - started
    return result
