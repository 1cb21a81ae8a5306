"""The detection worker process: same masks as in-process detection, bounded, and clean on failure."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from test_detect_fixtures import panning_clip
from test_detect_stage import batches_of

from vidrestore.damage import render_damage
from vidrestore.detect import DETECTOR_KINDS, DamageDetector, DetectOptions
from vidrestore.detect.blotch import BlotchDetector
from vidrestore.detect.handover import HandoverDetector
from vidrestore.detect.worker import MAX_SLOTS, MIN_SLOTS, WorkerDetector, WorkerFailed, ring_slots
from vidrestore.frames import FrameBatch


def damaged_clip(n: int = 16) -> np.ndarray:
    frames = panning_clip(n=n, height=240, width=320, seed=2)
    damaged, _ = render_damage(frames, "blotch", np.random.default_rng(2))
    damaged, _ = render_damage(damaged, "scratch", np.random.default_rng(3))
    return damaged


def detected(stage: DamageDetector, batches: Iterator[FrameBatch]) -> dict[str, np.ndarray]:
    out = [b.detected for b in stage.run(batches) if len(b)]
    return {k: np.concatenate([d[k] for d in out]) for k in out[0]}


def worker_pids() -> set[int]:
    """Live detection worker processes started by this test process."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"vidrestore.detect.worker" in cmd and int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.add(int(entry))
    return pids


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="process checks read /proc")


@pytest.mark.parametrize("sizes", [[1] * 16, [5, 0, 11]])
def test_worker_process_gives_the_same_masks(sizes: list[int]) -> None:
    damaged = damaged_clip()
    options = DetectOptions(logo_frames=10)
    inline = detected(DamageDetector(options, worker=False), batches_of(damaged, sizes))
    stage = DamageDetector(options, worker=True)
    moved = detected(stage, batches_of(damaged, sizes))
    for kind in DETECTOR_KINDS:
        assert np.array_equal(inline[kind], moved[kind]), kind
    assert inline["blotch"].any() and inline["scratch"].any()
    assert not worker_pids()


@pytest.mark.parametrize("kind", DETECTOR_KINDS)
def test_any_kind_can_run_in_the_worker(kind: str) -> None:
    frames = damaged_clip(12)
    lumas = frames.mean(axis=-1).astype(np.uint8)
    inline = DamageDetector(DetectOptions(kinds=(kind,), logo_frames=8), worker=False)._detectors[0]
    worker = WorkerDetector(kind, 1.0, lumas.shape[1:], logo_frames=8)
    try:
        expected, got = [], []
        for luma in lumas:
            expected += inline.push(luma)
            got += worker.push(luma)
        expected += inline.finish()
        got += worker.finish()
    finally:
        worker.close()
    assert [p for p, _ in got] == list(range(12))
    for (p, a), (q, b) in zip(expected, got, strict=True):
        assert p == q
        assert (a is None and b is None) or np.array_equal(a, b.dense())


def blotch_results(detector: object, lumas: np.ndarray) -> dict[int, np.ndarray | None]:
    got = []
    for luma in lumas:
        got += detector.push(luma)  # type: ignore[attr-defined]
    got += detector.finish()  # type: ignore[attr-defined]
    positions = [p for p, _ in got]
    assert sorted(positions) == list(range(len(lumas))), positions
    return {p: (m.dense() if hasattr(m, "dense") else m) for p, m in got}


@pytest.mark.parametrize("handover_at", [0, 1, 2, 3, 9, 15, 16, 40])
def test_handing_blotches_over_to_the_worker_mid_stream_changes_nothing(handover_at: int) -> None:
    frames = panning_clip(n=16, height=240, width=320, seed=4)
    damaged, _ = render_damage(frames, "blotch", np.random.default_rng(5))
    lumas = damaged.mean(axis=-1).astype(np.uint8)
    expected = blotch_results(BlotchDetector(), lumas)
    worker = WorkerDetector("blotch", 1.0, lumas.shape[1:])
    try:
        handover = HandoverDetector(BlotchDetector(), worker, handover_at=handover_at)
        got = blotch_results(handover, lumas)
    finally:
        worker.close()
    assert handover.handover == (handover_at if handover_at < 16 else None)
    assert any(m is not None for m in expected.values())
    for t in range(16):
        a, b = expected[t], got[t]
        assert (a is None and b is None) or np.array_equal(a, b), t
    assert not worker_pids()


def test_small_frames_stay_in_process_and_large_ones_move() -> None:
    small = DamageDetector(DetectOptions())
    assert small._start_worker((240, 320)) == []
    large = DamageDetector(DetectOptions())
    started = large._start_worker((720, 1280))
    try:
        if (os.cpu_count() or 1) >= 2:
            assert [w.kind for w in started] == ["blotch"]
            assert isinstance(large._detectors[1], HandoverDetector)
        else:
            assert started == []
    finally:
        for w in started:
            w.close()
    single = DamageDetector(DetectOptions(kinds=("blotch",)))
    assert single._start_worker((720, 1280)) == []  # one detector: nothing to run beside it


def test_a_process_set_to_one_core_keeps_its_detectors() -> None:
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as a batch worker sharing two cores with another is set
    try:
        assert DamageDetector(DetectOptions())._start_worker((720, 1280)) == []
    finally:
        cv2.setNumThreads(before)


def test_ctrl_c_is_left_to_the_stage() -> None:
    frames = damaged_clip(30)
    options = DetectOptions(kinds=("scratch", "blotch"))
    inline = detected(DamageDetector(options, worker=False), slow_source(frames))

    def interrupt() -> None:
        (pid,) = worker_pids()
        os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the whole process group

    stage = DamageDetector(options, worker=True)
    moved = detected(stage, slow_source(frames, {5: lambda: wait_until_ready(stage), 12: interrupt}))
    assert stage_handover(stage) is not None
    assert np.array_equal(inline["blotch"], moved["blotch"])


def test_ring_holds_a_bounded_number_of_frames() -> None:
    assert ring_slots(1280 * 720) == MAX_SLOTS
    assert ring_slots(3840 * 2160) == MIN_SLOTS
    assert ring_slots(64 * 64) == MAX_SLOTS


def test_memory_stays_bounded_with_the_worker() -> None:
    frames = damaged_clip(40)
    pulled: list[int] = []

    def source() -> Iterator[FrameBatch]:
        for batch in batches_of(frames, [2] * 20):
            pulled.append(len(batch))
            yield batch

    stage = DamageDetector(DetectOptions(kinds=("scratch", "blotch")), worker=True)
    most_held, yielded, lookahead = 0, 0, 0
    for batch in stage.run(source()):
        yielded += len(batch)
        most_held = max(most_held, sum(pulled) - yielded)
        lookahead = max(lookahead, stage.lookahead)
    assert yielded == 40
    assert lookahead == 2 + MAX_SLOTS  # the blotch detector's look-ahead, plus the ring
    assert most_held <= lookahead + 2 * 2


def wait_until_ready(stage: DamageDetector) -> None:
    """Let the stage's worker finish starting, so that the next frame hands the blotches over."""
    handover = stage._detectors[1]
    assert isinstance(handover, HandoverDetector)
    deadline = time.monotonic() + 20
    while not handover._worker.ready:
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.01)


def stage_handover(stage: DamageDetector) -> int | None:
    return stage._detectors[1].handover  # type: ignore[attr-defined]


def slow_source(frames: np.ndarray, on_batch: dict[int, object] | None = None) -> Iterator[FrameBatch]:
    """Batches of one frame, a little apart (as a decoder delivers them), so that the worker's
    answers come back while the stream is still running; ``on_batch[i]()`` runs before batch i."""
    for i, batch in enumerate(batches_of(frames, [1] * len(frames))):
        if on_batch and i in on_batch:
            on_batch[i]()  # type: ignore[operator]
        time.sleep(0.03)
        yield batch


def test_a_dead_worker_is_reported_not_waited_for() -> None:
    frames = damaged_clip(30)

    def kill() -> None:
        (pid,) = worker_pids()
        os.kill(pid, 9)

    stage = DamageDetector(DetectOptions(kinds=("scratch", "blotch")), worker=True)
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match="blotch detection worker"):
        for _ in stage.run(slow_source(frames, {5: lambda: wait_until_ready(stage), 12: kill})):
            pass
    assert time.monotonic() - start < 10
    assert not worker_pids()


def test_stopping_early_stops_the_worker() -> None:
    frames = damaged_clip(30)
    stage = DamageDetector(DetectOptions(kinds=("scratch", "blotch")), worker=True)
    run = stage.run(slow_source(frames))
    next(run)
    assert len(worker_pids()) == 1
    run.close()
    assert not worker_pids()
    # the stage can run again, with a fresh worker
    assert len(list(stage.run(batches_of(frames, [15, 15])))) == 2
    assert not worker_pids()


def test_no_process_where_none_can_be_started(monkeypatch: pytest.MonkeyPatch) -> None:
    import vidrestore.detect.worker as worker_module

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(worker_module.subprocess, "Popen", refuse)
    frames = damaged_clip(12)
    inline = detected(DamageDetector(DetectOptions(), worker=False), batches_of(frames, [6, 6]))
    stage = DamageDetector(DetectOptions(), worker=True)
    assert stage._start_worker((240, 320)) == []  # the stage keeps its own detectors
    fallback = detected(DamageDetector(DetectOptions(), worker=True), batches_of(frames, [6, 6]))
    for kind in DETECTOR_KINDS:
        assert np.array_equal(inline[kind], fallback[kind])
