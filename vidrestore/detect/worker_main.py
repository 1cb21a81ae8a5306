"""The detection worker process (``python -m vidrestore.detect.worker_main``): its main loop.

Apart from ``worker.py`` (the parent's side and the wire format), because the worker builds its
detector the way the stage does, and the stage imports the parent's side: kept in one module,
the two would import each other.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys

import cv2
import numpy as np

from vidrestore.detect.stage import DetectOptions, build_detectors
from vidrestore.detect.worker import _ANSWER, _COMMAND, DONE, FINISH, FREED, READY, RESULT


def serve(argv: list[str]) -> None:
    """Worker main loop: take frames from the ring, push them to the detector, answer."""
    # Ctrl-C reaches the whole process group: the stage stops this worker itself (closing its
    # pipe), and a worker dying first would turn the user's interrupt into a worker failure
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    cv2.setNumThreads(1)  # this process is the second core's work; leave the rest to the stage

    fd, kind, sensitivity = int(argv[0]), argv[1], float(argv[2])
    h, w, logo_frames, slots = (int(a) for a in argv[3:7])
    options = DetectOptions(kinds=(kind,), logo_frames=logo_frames, **{f"{kind}_sensitivity": sensitivity})
    (detector,) = build_detectors(options)
    frame_bytes = h * w
    ring = mmap.mmap(fd, slots * frame_bytes)
    commands = sys.stdin.buffer
    # answers go on a copy of stdout; stdout itself now points at stderr, so that a stray print
    # (ours or a library's) cannot break the answer stream
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    answers.write(_ANSWER.pack(READY, 0, 0))
    answers.flush()

    def send(results: list[tuple[int, np.ndarray | None]]) -> None:
        for position, mask in results:
            if mask is None:
                answers.write(_ANSWER.pack(RESULT, position, -1))
            else:
                flat = np.flatnonzero(mask).astype(np.int32)
                answers.write(_ANSWER.pack(RESULT, position, flat.size))
                answers.write(flat.tobytes())
        answers.flush()

    while True:
        head = commands.read(_COMMAND.size)
        if len(head) < _COMMAND.size:
            return  # the parent closed the pipe: stop quietly
        command, slot = _COMMAND.unpack(head)
        if command == FINISH:
            send(detector.finish())
            answers.write(_ANSWER.pack(DONE, 0, 0))
            answers.flush()
            return
        start = slot * frame_bytes
        luma = np.frombuffer(ring, dtype=np.uint8, count=frame_bytes, offset=start).reshape(h, w).copy()
        answers.write(_ANSWER.pack(FREED, slot, 0))
        answers.flush()
        send(detector.push(luma))


if __name__ == "__main__":
    serve(sys.argv[1:])
