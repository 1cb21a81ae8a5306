"""Local batch runner: the jobs in this process (1 worker) or in a pool of spawned processes.

Each worker process keeps its model for its whole life (``cached_inpainter``). A job that fails for a
reason that may pass (an unexpected error, a worker process that died) is tried again up to
``retries`` more times; a job that fails because of its input or options fails once, alone.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

from vidrestore.batch.jobs import BatchJob
from vidrestore.batch.report import JobResult, one_line
from vidrestore.batch.worker import init_worker, inpainters_kept, process_job

OnResult = Callable[[int, JobResult], None]
Finish = Callable[[int, JobResult, int], None]


def progress_bar(total: int, progress: bool, desc: str = "videos") -> tqdm:
    return tqdm(total=total, unit="video", desc=desc, dynamic_ncols=True,
                disable=not (progress and sys.stderr.isatty()))


def recorder(jobs: list[BatchJob], results: list[JobResult | None], bar: tqdm, progress: bool,
             on_result: OnResult | None) -> Finish:
    """What every runner does with a job's last result: keep it in job order with its attempt
    count, advance the bar, say a failure on stderr, hand it to ``on_result``."""

    def finish(index: int, result: JobResult, attempt: int) -> None:
        result.attempts = attempt
        results[index] = result
        bar.update(1)
        if result.status == "failed" and progress:
            bar.write(f"vidrestore: failed: {jobs[index].name}: {result.error}", file=sys.stderr)
        if on_result is not None:
            on_result(index, result)

    return finish


def run_local(jobs: list[BatchJob], workers: int = 1, retries: int = 1, progress: bool = True,
              on_result: OnResult | None = None) -> list[JobResult]:
    """Run every job; returns one result per job, in job order."""
    results: list[JobResult | None] = [None] * len(jobs)
    with progress_bar(len(jobs), progress) as bar:
        finish = recorder(jobs, results, bar, progress, on_result)
        if workers <= 1:
            with inpainters_kept():
                for index, job in enumerate(jobs):
                    attempt = 1
                    result = process_job(job, attempt)
                    while result.status == "failed" and result.retryable and attempt <= retries:
                        attempt += 1
                        result = process_job(job, attempt)
                    finish(index, result, attempt)
        else:
            _run_pool(jobs, workers, retries, finish)
    return [r for r in results if r is not None]


def _run_pool(jobs: list[BatchJob], workers: int, retries: int, finish: Finish) -> None:
    """Every job in a spawn-context pool; a pool broken by a dead worker is rebuilt and the jobs that
    were in flight are submitted again (each such loss counts as an attempt for each of them)."""
    attempts = [0] * len(jobs)
    waiting = list(range(len(jobs)))
    context = multiprocessing.get_context("spawn")  # no fork of PyAV/torch threads
    threads = max(1, available_cores() // workers)
    while waiting:
        with ProcessPoolExecutor(max_workers=min(workers, len(waiting)), mp_context=context,
                                 initializer=init_worker, initargs=(threads, True)) as pool:
            running: dict[Future[JobResult], int] = {}
            todo, waiting = waiting, []
            try:
                _drain(pool, jobs, attempts, retries, todo, running, waiting, finish)
            except BaseException:  # Ctrl-C or SIGTERM: stop the workers now; they remove their temp files
                processes = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for process in processes:
                    process.terminate()
                for process in processes:  # shutdown(wait=False) no longer waits for them: do it here
                    process.join(timeout=60)
                raise


def _drain(pool: ProcessPoolExecutor, jobs: list[BatchJob], attempts: list[int], retries: int,
           todo: list[int], running: dict[Future[JobResult], int], waiting: list[int],
           finish: Finish) -> None:
    """Submit ``todo``, collect results as they come, resubmit the retryable ones while this pool lives."""
    while todo or running:
        for index in todo:
            try:
                future = pool.submit(process_job, jobs[index], attempts[index] + 1)
            except BrokenProcessPool:
                waiting.append(index)  # submitted again to the next pool
                continue
            attempts[index] += 1
            running[future] = index
        todo = []
        if not running:
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            index = running.pop(future)
            result = _result_of(future, jobs[index], attempts[index])
            if result.status == "failed" and result.retryable and attempts[index] <= retries:
                todo.append(index)
            else:
                finish(index, result, attempts[index])


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _result_of(future: Future[JobResult], job: BatchJob, attempt: int) -> JobResult:
    try:
        return future.result()
    except BrokenProcessPool:
        error, retryable = "a worker process died (crash or out of memory)", True
    except Exception as exc:  # noqa: BLE001 - e.g. a job that cannot be pickled
        error, retryable = one_line(f"{type(exc).__name__}: {exc}"), False
    return JobResult(str(job.input), str(job.output), "failed", error=error, attempts=attempt,
                     retryable=retryable)
