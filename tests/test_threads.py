"""Background decode/encode threads: order kept, errors surface in the caller, bounded queues."""

from __future__ import annotations

import threading
import time

import pytest

from vidrestore.io.threads import BackgroundConsumer, BackgroundIterator


def test_iterator_keeps_order_and_reraises() -> None:
    assert list(BackgroundIterator(iter(range(50)), maxsize=2)) == list(range(50))

    def broken():  # noqa: ANN202
        yield 1
        raise ValueError("bad packet")

    with pytest.raises(ValueError, match="bad packet"):
        list(BackgroundIterator(broken()))


def test_iterator_reads_ahead_only_a_bounded_amount() -> None:
    produced = []

    def counting():  # noqa: ANN202
        for i in range(1000):
            produced.append(i)
            yield i

    it = BackgroundIterator(counting(), maxsize=2)
    time.sleep(0.3)
    assert len(produced) <= 4
    it.close()


def test_consumer_order_error_and_cancel() -> None:
    seen: list[int] = []
    consumer = BackgroundConsumer(seen.append, maxsize=2)
    for i in range(20):
        consumer.put(i)
    consumer.finish()
    assert seen == list(range(20))

    def fail(item: int) -> None:
        raise OSError("disk full")

    consumer = BackgroundConsumer(fail)
    with pytest.raises(OSError, match="disk full"):
        for i in range(10):
            consumer.put(i)
        consumer.finish()

    gate = threading.Event()
    consumer = BackgroundConsumer(lambda _: gate.wait(1))
    consumer.put(1)
    consumer.cancel()
    assert not any(
        t.name == "encode" and t.is_alive() for t in threading.enumerate() if t is consumer._thread
    )
