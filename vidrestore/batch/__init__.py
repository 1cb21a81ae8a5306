"""Many videos at once: ``run_batch(folder | glob | manifest, output_dir, workers=N, ray=...)``.

Outputs mirror the input tree; a re-run skips outputs verified complete (so an interrupted batch
resumes); one bad file fails alone and the batch carries on; a JSON report lists every input.
"""

from __future__ import annotations

import time
from pathlib import Path

from vidrestore.batch.jobs import BatchJob, expand_jobs, is_batch_input
from vidrestore.batch.report import REPORT_NAME, BatchReport, JobResult
from vidrestore.errors import OptionError

__all__ = ["BatchJob", "BatchReport", "JobResult", "is_batch_input", "run_batch"]


def run_batch(
    inputs: str | Path,
    output_dir: Path | None,
    *,
    workers: int = 1,
    ray: str | None = None,
    report: Path | None = None,
    retries: int = 1,
    progress: bool = True,
    **restore_options: object,
) -> BatchReport:
    """Repair every video named by ``inputs`` (folder, glob pattern, or .csv/.jsonl manifest).

    ``restore_options`` are ``vidrestore.restore`` keywords for every video (a manifest's columns
    override them per row). ``workers`` local processes, or ``ray``: ``"local"`` for a local Ray
    instance, or a cluster address. ``overwrite=True`` redoes outputs even when verified complete.
    The report goes to ``report`` (default ``output_dir/vidrestore-report.json``, or beside the
    manifest); ``BatchReport.exit_code`` is non-zero when any input failed.
    """
    if workers < 1:
        raise OptionError("--workers must be at least 1")
    if retries < 0:
        raise OptionError("--retries must be 0 or more")
    if ray is not None:
        from vidrestore.batch.ray_runner import import_ray

        import_ray()  # fail with the install hint before anything runs
    output_dir = Path(output_dir) if output_dir is not None else None
    started = time.perf_counter()
    jobs = expand_jobs(inputs, output_dir, dict(restore_options))
    report_path = report if report is not None else (output_dir or Path(inputs).parent) / REPORT_NAME
    results: dict[int, JobResult] = {}

    def keep(index: int, result: JobResult) -> None:
        results[index] = result

    try:
        if ray is not None:
            from vidrestore.batch.ray_runner import run_ray

            run_ray(jobs, ray, retries=retries, progress=progress, on_result=keep)
        else:
            from vidrestore.batch.runner import run_local

            run_local(jobs, workers=workers, retries=retries, progress=progress, on_result=keep)
    finally:  # an interrupted batch still says what it finished and what it did not reach
        ordered = [results.get(i) or JobResult(str(job.input), str(job.output), "interrupted")
                   for i, job in enumerate(jobs)]
        summary = BatchReport(ordered, seconds=time.perf_counter() - started,
                              runner="ray" if ray is not None else "local", workers=workers)
        summary.write(Path(report_path))
    return summary
