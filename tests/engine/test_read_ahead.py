"""A client stream is read a page ahead on its own thread: in order, its error raised where the consumer reaches
it, and nothing more asked for once the consumer stops."""

from __future__ import annotations

import threading

import pytest

from app.engine.common import read_ahead


def test_the_next_item_is_read_while_the_consumer_is_still_working_on_this_one():
    second_asked = threading.Event()

    def pages():
        yield "page 1"
        second_asked.set()  # the reader went on to the next page by itself
        yield "page 2"

    stream = read_ahead(pages)
    assert next(stream) == "page 1"
    # The consumer has not asked for page 2, yet it is on its way.
    assert second_asked.wait(timeout=5)
    assert list(stream) == ["page 2"]


def test_items_come_in_order_and_an_error_comes_after_the_items_before_it():
    def pages():
        yield from range(5)
        raise ConnectionError("NAV went away on page 2")

    seen = []
    with pytest.raises(ConnectionError, match="page 2"):
        for item in read_ahead(pages, limit=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_a_consumer_that_stops_early_stops_the_reader_within_its_limit():
    produced = []

    def pages():
        for number in range(1000):
            produced.append(number)
            yield number

    stream = read_ahead(pages, limit=3)
    assert [next(stream) for _ in range(2)] == [0, 1]
    stream.close()  # a cancel: the stream is left
    count = len(produced)
    assert count <= 2 + 3 + 1  # what was taken, the items ahead, the one the reader held when it was told
    assert len(produced) == count  # and the reader has stopped for good
