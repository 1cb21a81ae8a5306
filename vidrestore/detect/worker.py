"""One damage detector run in a separate Python process, behind the stage's detector interface.

Why: the detectors' decisions are thousands of small numpy calls per frame, which hold the
interpreter lock, so threads cannot run two detectors at once; a second process can. At 720p
on two cores, moving the blotch detector (the costliest) to its own process lets it work while
this process runs the others.

How: lumas go through a small ring of frame slots in shared memory (a memfd, or an unlinked
temporary file where there is none, so nothing is left behind if either side dies), a command
pipe names the slot, and the worker answers on its stdout: "slot free" as soon as it has copied
the frame out, then each decided frame's mask as the flat indices of its set pixels. A reader
thread here turns the answers into a queue of results and a pool of free slots, so ``push``
only waits when every slot is still in use: memory stays bounded by the slots plus the
detector's own look-ahead.

The worker runs ``python -m vidrestore.detect.worker_main``, which imports the detectors alone
(numpy and OpenCV, ~0.15 s), not the pipeline.
"""

from __future__ import annotations

import mmap
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

# parent -> worker: (command, slot); worker -> parent: (answer, value, count) + count int32s
_COMMAND = struct.Struct("<ii")
_ANSWER = struct.Struct("<iiq")
PUSH, FINISH = 0, 1
FREED, RESULT, DONE, READY = 0, 1, 2, 3
RING_BYTES = 32 << 20  # frames in flight between the two processes: as many as fit in this,
MIN_SLOTS, MAX_SLOTS = 4, 24  # within these bounds (16 at 720p, so that the stage keeps
# working while the worker starts, ~0.2 s of imports)


@dataclass(frozen=True)
class PointMask:
    """A mask as the flat indices of its set pixels: how the worker's answers arrive, and what
    the stage merges from directly (detections are a few specks or lines in a large frame)."""

    flat_indices: np.ndarray  # int, ascending
    shape: tuple[int, int]

    def dense(self) -> np.ndarray:
        mask = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        mask[self.flat_indices] = True
        return mask.reshape(self.shape)


class WorkerFailed(RuntimeError):
    """The detection worker died or answered nonsense (a bug or a killed process)."""


class WorkerDetector:
    """A detector of ``kind`` living in its own process, for frames of ``shape`` (H, W).

    Same interface as the detectors it wraps (``push``/``finish``; ``prepare`` does nothing),
    except that results may come back a few frames later than the wrapped detector would give
    them: the stage already waits for every detector before releasing a frame.
    """

    prepare_in_order = False

    def __init__(self, kind: str, sensitivity: float, shape: tuple[int, int], logo_frames: int = 60) -> None:
        self.kind = kind
        self.shape = shape
        self._frame_bytes = shape[0] * shape[1]
        self.slots = ring_slots(self._frame_bytes)
        self.lookahead = _lookahead(kind, logo_frames) + self.slots
        self._ring, self._ring_file = _shared_ring(self.slots * self._frame_bytes)
        self._stderr = tempfile.TemporaryFile()
        args = [kind, str(sensitivity), str(shape[0]), str(shape[1]), str(logo_frames), str(self.slots)]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vidrestore.detect.worker_main", str(self._ring_file.fileno()), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                pass_fds=(self._ring_file.fileno(),),
            )
        except BaseException:
            self._ring.close()
            self._ring_file.close()
            self._stderr.close()
            raise
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(self.slots):
            self._free.put(slot)
        self._results: deque[tuple[int, PointMask | None]] = deque()
        self._done = threading.Event()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._reader = threading.Thread(target=self._read_answers, name=f"detect-{kind}-reader", daemon=True)
        self._reader.start()
        self._count = 0

    @property
    def ready(self) -> bool:
        """The worker has started (imports done, detector built): frames pushed now are taken
        at once. Before that they wait in the ring."""
        return self._ready.is_set()

    def prepare(self, luma: np.ndarray) -> None:
        return None

    def push(self, luma: np.ndarray, prepared: Any = None) -> list[tuple[int, PointMask | None]]:
        """Hand the frame to the worker; returns the results that have come back so far."""
        if luma.shape != self.shape:
            raise ValueError(f"worker set up for {self.shape}, got a frame of {luma.shape}")
        slot = self._take_slot()
        start = slot * self._frame_bytes
        view = np.frombuffer(self._ring, dtype=np.uint8, count=self._frame_bytes, offset=start)
        view.reshape(self.shape)[...] = luma
        self._send(PUSH, slot)
        self._count += 1
        return self._collect()

    def finish(self) -> list[tuple[int, PointMask | None]]:
        """Tell the worker the stream has ended; wait for its last results."""
        self._send(FINISH, 0)
        while not self._done.wait(0.5):
            self._check_alive()
        self._check_alive()
        out = self._collect()
        self.close()
        return out

    def close(self) -> None:
        """Stop the worker (if still running) and free the shared ring; safe to call twice."""
        process = self._process
        if process.poll() is None:
            try:
                process.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._reader.join(timeout=2)
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()  # type: ignore[union-attr]
            except OSError:
                pass
        if not self._ring.closed:
            try:
                self._ring.close()
            except BufferError:  # a view of it is still alive somewhere; the OS frees it at exit
                pass
        self._ring_file.close()
        self._stderr.close()

    # -----------------------------------------------------------------------------------------

    def _take_slot(self) -> int:
        while True:
            try:
                return self._free.get(timeout=0.5)
            except queue.Empty:
                self._check_alive()

    def _send(self, command: int, slot: int) -> None:
        try:
            self._process.stdin.write(_COMMAND.pack(command, slot))  # type: ignore[union-attr]
            self._process.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError, OSError):
            self._check_alive()
            raise WorkerFailed(f"the {self.kind} detection worker stopped taking frames") from None

    def _collect(self) -> list[tuple[int, PointMask | None]]:
        out = []
        while self._results:
            out.append(self._results.popleft())
        if self._failure is not None:
            raise WorkerFailed(self._failure)
        return out

    def _check_alive(self) -> None:
        if self._failure is not None:
            raise WorkerFailed(self._failure)
        if self._process.poll() is not None and not self._done.is_set():
            self._reader.join(timeout=2)
            raise WorkerFailed(self._failure or self._died())

    def _died(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else f"exit status {self._process.returncode}"
        return f"the {self.kind} detection worker died: {last}"

    def _read_answers(self) -> None:
        """Reader thread: sort the worker's answers into free slots, results and the end."""
        stream: IO[bytes] = self._process.stdout  # type: ignore[assignment]
        try:
            while True:
                head = stream.read(_ANSWER.size)
                if len(head) < _ANSWER.size:
                    if not self._done.is_set():
                        self._process.wait()
                        self._failure = self._died()
                    return
                answer, value, count = _ANSWER.unpack(head)
                if answer == FREED:
                    self._free.put(value)
                elif answer == RESULT:
                    mask = None
                    if count >= 0:
                        flat = np.frombuffer(_read_exactly(stream, 4 * count), dtype=np.int32)
                        mask = PointMask(flat, self.shape)
                    self._results.append((value, mask))
                elif answer == DONE:
                    self._done.set()
                elif answer == READY:
                    self._ready.set()
                else:
                    raise WorkerFailed(f"unknown answer {answer}")
        except Exception as exc:  # noqa: BLE001 - reported to the stage on its next call
            self._failure = f"the {self.kind} detection worker answered badly: {exc}"


def start_worker(
    kind: str, sensitivity: float, shape: tuple[int, int], logo_frames: int
) -> WorkerDetector | None:
    """A worker for ``kind``, or None where no process can be started (the stage then runs the
    detector itself): off POSIX systems (the ring's descriptor is inherited with ``pass_fds``),
    or when the system refuses a process, a pipe or the memory."""
    if os.name != "posix":
        return None
    try:
        return WorkerDetector(kind, sensitivity, shape, logo_frames)
    except (OSError, ValueError):
        return None


def ring_slots(frame_bytes: int) -> int:
    """How many frames the shared ring holds, for frames of ``frame_bytes``."""
    return max(MIN_SLOTS, min(MAX_SLOTS, RING_BYTES // max(1, frame_bytes)))


def _lookahead(kind: str, logo_frames: int) -> int:
    from vidrestore.detect.blotch import BlotchDetector
    from vidrestore.detect.scratch import ScratchDetector

    return {"scratch": ScratchDetector.lookahead, "blotch": BlotchDetector.lookahead}.get(kind, logo_frames)


def _shared_ring(size: int) -> tuple[mmap.mmap, IO[bytes]]:
    """An anonymous file of ``size`` bytes, mapped here, whose descriptor a child can inherit."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("vidrestore-detect")
        handle: IO[bytes] = os.fdopen(fd, "r+b")
    else:
        handle = tempfile.TemporaryFile()
    handle.truncate(size)
    return mmap.mmap(handle.fileno(), size), handle


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the worker's answer was cut short")
    return data
