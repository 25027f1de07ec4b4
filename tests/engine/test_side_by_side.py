"""``side_by_side``: several client streams read on threads, every item once, each stream in its order."""

from __future__ import annotations

import threading

import pytest

from app.engine.common import SIDE_BY_SIDE_CHUNK, side_by_side


def _stream(name: str, count: int, fail_after: int | None = None):
    def factory():
        for index in range(count):
            if fail_after is not None and index == fail_after:
                raise RuntimeError(f"{name} broke after {index}")
            yield (name, index)
    return factory


def test_every_item_of_every_stream_arrives_once_in_its_streams_order():
    sizes = {"a": 0, "b": 1, "c": SIDE_BY_SIDE_CHUNK, "d": 3 * SIDE_BY_SIDE_CHUNK + 7}
    seen = list(side_by_side([_stream(name, count) for name, count in sizes.items()]))
    assert len(seen) == sum(sizes.values())
    for name, count in sizes.items():
        assert [index for stream, index in seen if stream == name] == list(range(count))


def test_a_failing_stream_delivers_what_it_read_then_raises():
    seen = []
    with pytest.raises(RuntimeError, match="b broke after 150"):
        for item in side_by_side([_stream("b", 1000, fail_after=150)]):
            seen.append(item)
    assert seen == [("b", i) for i in range(150)]


def test_a_consumer_that_stops_early_stops_the_readers():
    before = threading.active_count()
    stream = side_by_side([_stream("a", 100_000), _stream("b", 100_000)])
    first = [next(stream) for _ in range(10)]
    stream.close()
    assert len(first) == 10
    assert threading.active_count() == before
