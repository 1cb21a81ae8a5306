"""Ray batch runner: each video becomes a Ray task (CPU), or a call to one of a pool of actors that
each hold the model on one GPU. Ray is imported only here and only when asked for.

Paths must be on storage that every node sees at the same path (jobs carry absolute paths); every
output is still written to a temp name beside its target and renamed when complete. A task whose
worker dies is re-run by Ray (``max_retries``); a job that fails with an error that may pass is
submitted again by us, at most ``retries`` times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from vidrestore.batch.jobs import BatchJob
from vidrestore.batch.report import JobResult, one_line
from vidrestore.batch.runner import OnResult, progress_bar, recorder
from vidrestore.batch.worker import init_worker, process_job
from vidrestore.errors import OptionError


def import_ray():  # noqa: ANN201 - the ray module
    try:
        import ray
    except ImportError:
        raise OptionError("--ray needs Ray, which is not installed: pip install 'vidrestore[ray]'") from None
    return ray


def ray_task(job: BatchJob, attempt: int, threads: int = 1) -> JobResult:
    """Runs in a Ray worker process; the worker keeps its model between tasks."""
    init_worker(threads)
    return process_job(job, attempt)


class Restorer:
    """A Ray actor holding its model on the GPU Ray gave it, repairing one video per call."""

    def __init__(self) -> None:
        init_worker(1)

    def run(self, job: BatchJob, attempt: int) -> JobResult:
        return process_job(job, attempt)


def run_ray(jobs: list[BatchJob], address: str | None = "local", retries: int = 1, progress: bool = True,
            on_result: OnResult | None = None) -> list[JobResult]:
    """Run every job on Ray: a fresh local instance for ``"local"``/``""``, else the cluster at
    ``address`` (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``). A Ray already initialised in
    this process is used as it is (and left running)."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        target = "local" if address in (None, "", "local") else address
        try:
            ray.init(address=target, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise OptionError(f"cannot connect to Ray at {target!r}: {one_line(str(exc))}") from None
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        if gpus and any(_wants_gpu(job) for job in jobs):
            actor = ray.remote(num_cpus=1, num_gpus=1, max_restarts=retries,
                               max_task_retries=retries)(Restorer)
            free = [actor.remote() for _ in range(min(gpus, len(jobs)))]
            busy: dict[object, object] = {}

            def submit(job: BatchJob, attempt: int):  # noqa: ANN202 - ObjectRef
                worker = free.pop()
                ref = worker.run.remote(job, attempt)
                busy[ref] = worker
                return ref

            def release(ref: object, died: bool) -> None:
                worker = busy.pop(ref)
                free.append(actor.remote() if died else worker)  # a dead actor (restarts used up) is replaced

            return _dispatch(ray, jobs, submit, release, len(free), retries, progress, on_result)
        task = ray.remote(max_retries=retries)(ray_task)

        def submit_task(job: BatchJob, attempt: int):  # noqa: ANN202 - ObjectRef
            need = min(_cpus_for(job), cpus)
            return task.options(num_cpus=need).remote(job, attempt, need)

        queued = 4 * cpus  # a few tasks per CPU keep every CPU busy; the rest wait on the driver
        return _dispatch(ray, jobs, submit_task, lambda ref, died: None, queued, retries, progress, on_result)
    finally:
        if started_here:
            ray.shutdown()


def _dispatch(ray, jobs: list[BatchJob], submit: Callable, release: Callable, limit: int,  # noqa: ANN001
              retries: int, progress: bool, on_result: OnResult | None) -> list[JobResult]:
    """Keep up to ``limit`` jobs submitted, collect them as they finish (the driver's bar advances),
    and submit again the ones that failed in a way that may pass, at most ``retries`` times."""
    results: list[JobResult | None] = [None] * len(jobs)
    attempts = [0] * len(jobs)
    queue = list(range(len(jobs)))
    running: dict[object, int] = {}
    with progress_bar(len(jobs), progress) as bar:
        finish = recorder(jobs, results, bar, progress, on_result)
        try:
            while queue or running:
                while queue and len(running) < limit:
                    index = queue.pop(0)
                    attempts[index] += 1
                    running[submit(jobs[index], attempts[index])] = index
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    index = running.pop(ref)
                    result, died = _result_of(ray, ref, jobs[index], attempts[index])
                    release(ref, died)
                    if result.status == "failed" and result.retryable and attempts[index] <= retries:
                        queue.append(index)
                        continue
                    finish(index, result, attempts[index])
        except BaseException:
            for ref in running:  # interrupted: stop the workers so they remove their temp outputs
                ray.cancel(ref)
            if running:
                ray.wait(list(running), num_returns=len(running), timeout=60)
            raise
    return [r for r in results if r is not None]


def _result_of(ray, ref: object, job: BatchJob, attempt: int) -> tuple[JobResult, bool]:  # noqa: ANN001
    """The job's result, and whether its worker died (Ray's own retries of that were used up)."""
    try:
        return ray.get(ref), False
    except ray.exceptions.RayError as exc:
        message = one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        error = f"{type(exc).__name__}: {message}"
        failed = JobResult(str(job.input), str(job.output), "failed", error=error, attempts=attempt)
        return failed, isinstance(exc, ray.exceptions.RayActorError)


def _wants_gpu(job: BatchJob) -> bool:
    """Only the GAN uses a GPU; classical methods run on CPU tasks even on a GPU cluster."""
    from vidrestore.api import resolve_method
    from vidrestore.inpaint.registry import InpaintOptions

    options = job.options
    if str(options.get("device", "auto")) == "cpu":
        return False
    method = str(options.get("method", "auto"))
    weights = options.get("weights")
    inpaint = InpaintOptions(method=method, weights=str(weights) if weights else None)
    return resolve_method(inpaint).method in ("gan", "checked")


def _cpus_for(job: BatchJob) -> int:
    """A video split into segments runs them in a local process pool inside its task: reserve the cores."""
    segments = int(job.options.get("segments", 1) or 1)  # type: ignore[call-overload]
    if segments <= 1:
        return 1
    workers = job.options.get("workers")
    return max(1, min(segments, int(workers) if workers else segments))  # type: ignore[call-overload]
