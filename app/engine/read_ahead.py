"""Reading a client stream one page ahead: the next page is on its way while the run works on this one.

NAV and BILL answer a list page in tens to hundreds of milliseconds; a first sync reads dozens of pages while
it matches, holds and writes thousands of records. Read one after the other, those waits add up to seconds that
the run's thread spends idle. Imports nothing of the connector.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

READ_AHEAD = 2000  # records read ahead at most: two pages of NAV's 1,000, twenty of BILL's 100


def read_ahead(factory: Callable[[], Iterator], limit: int = READ_AHEAD) -> Iterator:
    """The items of ``factory()``, in order, read on a thread of their own up to ``limit`` items ahead of the
    consumer. An error of the stream is raised here, at the point the consumer reaches it; when the consumer
    stops early (a cancel, a side stopped), the reader stops at its next item and no further page is asked for."""
    items: queue.Queue = queue.Queue(maxsize=limit)
    stop = threading.Event()
    finished = object()

    def read() -> None:
        try:
            for item in factory():
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(finished)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            items.put(exc)

    reader = threading.Thread(target=read, daemon=True, name="navbill-read-ahead")
    reader.start()
    try:
        while True:
            item = items.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():
            try:
                items.get(timeout=0.05)  # unblock a reader waiting for room
            except queue.Empty:
                pass
