"""Overlap decode, compute and encode: a producer thread ahead of the pipeline, a consumer behind it.

Both use bounded queues, so at most ``maxsize`` batches wait on each side whatever the video length.
Exceptions raised in a thread re-raise in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class BackgroundIterator(Generic[T]):
    """Iterates ``iterable`` in a daemon thread, keeping up to ``maxsize`` items ready."""

    def __init__(self, iterable: Iterable[T], maxsize: int = 2, name: str = "decode") -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iterable,), name=name, daemon=True)
        self._thread.start()

    def _produce(self, iterable: Iterable[T]) -> None:
        try:
            for item in iterable:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the producer and wait for it (it finishes the item it is on)."""
        self._stop.set()
        self._thread.join(timeout=30)


class BackgroundConsumer(Generic[T]):
    """Hands items to ``consume`` in a daemon thread, at most ``maxsize`` waiting."""

    def __init__(self, consume: Callable[[T], None], maxsize: int = 2, name: str = "encode") -> None:
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END or self._cancel.is_set():
                return
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                self._error = exc
                return

    def put(self, item: T) -> None:
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError("encoder thread stopped unexpectedly")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every item is consumed; re-raise the consumer's error if it had one."""
        self.put(_END)  # type: ignore[arg-type]
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Stop after the current item without consuming the rest (used on failure or Ctrl-C)."""
        self._cancel.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            pass
        self._thread.join(timeout=60)
