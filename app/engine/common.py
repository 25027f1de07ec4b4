"""What every part of a sync run shares: the run's stop signals, the write record, and small helpers.

Imports only the domain (no store, no clients): the flows, the write lane, recovery and the engine build on it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.errors import ConnectorError, RateLimitError

BATCH = 200  # records per store transaction while streaming
FINISH_GROUP = 50  # finished records whose links are committed together (a bulk call counts its records)
BILL_WRITE_CONCURRENCY = 3  # BILL allows 3 concurrent requests per devKey and organization (BDC_1322)
Progress = Callable[[str, int, str], None]  # (flow, records done in this flow, message)


class SideStopped(Exception):
    """Authentication or configuration failed on one side: its flows stop for this run."""

    def __init__(self, side: str, error: ConnectorError) -> None:
        super().__init__(str(error))
        self.side, self.error = side, error


class Cancelled(Exception):
    pass


def audit_money(amount: Decimal) -> str:
    """Amounts in the audit log as a clerk reads them: 1130.00, not 1130.0 (JSON numbers lose the cents)."""
    return f"{Decimal(amount):.2f}"


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def parse_time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def batched(items: Iterable, size: int = BATCH) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Write:
    """One create that goes through the outbox as part of a batch (see ``WriteLane.write_batch``)."""

    key: str  # outbox key
    action: str
    record: str  # outbox record label
    payload: dict
    record_key: str  # queue item key (NAV vendor No., NAV invoice No.)
    label: str  # for hold reasons
    send: Callable[[], Any]
    look: Callable[[], Any] | None
    data: Any = None  # what the finish step needs
    detail: dict | None = None
    system: str = "BILL"
    bulk: bool = False  # one bulk call: ``data`` holds its records, the result one outcome per record

    def created(self, value: Any) -> int:
        return sum(1 for outcome in value if not isinstance(outcome, Exception)) if self.bulk else 1


# BILL's hourly request budget (20,000 per devKey) is spent: every further request this hour is refused
# (and counted), so the BILL side stops for this run and the rest waits for the next one.
# The client's own stop line (BUDGET_STOP, see app/clients/bill_budget.py) is reached before that, leaving
# headroom for the organization's other integrations; in both cases nothing was sent or created.
HOURLY_BUDGET_CODES = {"BDC_1144", "BUDGET_STOP"}
# When looking for what a lost bulk create made: BILL's clock and ours may differ by this much.
RECOVERY_MARGIN = timedelta(minutes=15)


def budget_spent(error: BaseException) -> bool:
    if isinstance(error, SideStopped):
        error = error.error
    return isinstance(error, RateLimitError) and error.code in HOURLY_BUDGET_CODES



SIDE_BY_SIDE_CHUNK = 100  # items handed over at once (a BILL list page): one queue hand-off per page, not per item


READ_AHEAD = 2000  # records one stream is read ahead of the run at most: two NAV pages, twenty BILL pages


def read_ahead(factory: Callable[[], Iterator], limit: int = READ_AHEAD) -> Iterator:
    """The items of one client stream, in order, read on a thread of its own up to ``limit`` items ahead of the
    consumer: the next page is on its way while the run works on this one. Handed over one at a time, so an
    item already read never waits for the next page to arrive."""
    return side_by_side([factory], per_chunk=1, ahead=limit)


def side_by_side(factories: list[Callable[[], Iterator]], per_chunk: int = SIDE_BY_SIDE_CHUNK,
                 ahead: int = 5) -> Iterator:
    """Items of several client streams read on threads at once, as they come (each stream in its order).
    An error in any stream is raised here (after the items read before it); the others stop at their next item,
    as they do when the consumer stops early. Items cross the threads in chunks of up to ``per_chunk`` (a BILL
    list page: a record costs no lock round trip), at most ``ahead`` chunks waiting."""
    chunks: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    finished = object()

    def hand_over(chunk: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(chunk, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read(factory: Callable[[], Iterator]) -> None:
        chunk: list = []
        try:
            for item in factory():
                chunk.append(item)
                if len(chunk) >= per_chunk:
                    if not hand_over(chunk):
                        return
                    chunk = []
            if chunk and not hand_over(chunk):
                return
            chunks.put(finished)
        except BaseException as exc:  # handed to the consumer, which raises it
            if chunk:
                chunks.put(chunk)
            chunks.put(exc)

    threads = [threading.Thread(target=read, args=(f,), daemon=True, name="navbill-read") for f in factories]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            chunk = chunks.get()
            if chunk is finished:
                running -= 1
            elif isinstance(chunk, BaseException):
                raise chunk
            else:
                yield from chunk
    finally:
        stop.set()
        while any(thread.is_alive() for thread in threads):
            try:
                chunks.get(timeout=0.05)  # unblock a reader waiting for room
            except queue.Empty:
                pass


BANK_KEY_UNSET = object()  # the run context's bank fingerprint key before it is read from the vault
