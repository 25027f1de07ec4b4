"""The write lane of one run: creates sent exactly once through the outbox, up to BILL's 3 at a time.

A flow hands the lane a batch of ``Write`` records and a ``finish`` step (the links to store with each finished
group). The lane commits the batch's outbox rows before any is sent, looks up first what an earlier attempt may
have sent, sends the rest on up to 3 worker threads, and commits each finished group's links with their outbox
rows. A refused record is held; an authentication, configuration or budget failure stops the side once the
writes in flight are recorded. Bulk calls (one outbox row per call) go through ``write_bulk``; a lost bulk
answer sets ``bulk_unsettled`` and ``app.engine.recovery`` settles it.

Imports the domain, the outbox and ``app.engine.common``; the run context is passed in.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.domain.errors import AuthenticationError, ConfigurationError, RecordError, RetryableError
from app.engine.common import (
    BILL_WRITE_CONCURRENCY,
    FINISH_GROUP,
    RECOVERY_MARGIN,
    SideStopped,
    Write,
    budget_spent,
    iso,
    parse_time,
)
from app.engine.crash import crash_point
from app.engine.outbox import Outbox, Prepared
from app.store import repository as q
from app.store import schema as t

if TYPE_CHECKING:
    from app.engine.context import RunContext

log = logging.getLogger("navbill.engine")


class WriteLane:
    """Writes in flight for one run: their futures in order, the finished ones not yet committed, the
    prepared ones never sent, and the first error that must stop the run (raised by the engine)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.queue: deque[tuple[Write, Prepared, Future, str, str, Callable]] = deque()
        self.done: list[tuple[Write, Any]] = []
        self.done_flow = ""
        self.done_finish: Callable | None = None
        self.unsent: list[Prepared] = []
        self.stop: BaseException | None = None
        self.halt = threading.Event()  # workers send nothing more once a stop is known
        self.writers: ThreadPoolExecutor | None = None  # BILL write workers, for the length of one run
        self.after_commit: list[Callable[[], None]] = []  # holds for refused bulk records, after their commit
        self.bulk_unsettled = False  # a bulk call's answer was lost in this run: look it up before moving on
        self.bill_clock: datetime | None = None  # the newest BILL time seen on what this run created

    def attempt(self, write: Write, prepared: Prepared) -> tuple[str, Any]:
        """One write, on a worker thread (no store work unless it looks first)."""
        if self.ctx._cancel.is_set() or self.halt.is_set():
            return "unsent", None
        try:
            value = Outbox.deliver(prepared, write.send, write.look)
            if write.bulk:  # BILL's clock moves on: later bulk rows get a later (tighter) lookup mark
                self.saw_bill_times(getattr(o, "updated_time", None) for o in value
                                            if not isinstance(o, Exception))
            return "ok", value
        except Exception as exc:  # recorded on the main thread, in order
            if budget_spent(exc):  # refused before it went out (or BDC_1144): nothing was created
                self.halt.set()
                return "budget", exc
            if not isinstance(exc, RetryableError | RecordError):
                self.halt.set()  # a stop: the other workers send nothing more (settled later, in order)
            return "error", exc

    def settle_ready(self, keep: int) -> None:
        """Record outcomes in order: every one that is ready, then wait until at most ``keep`` are left."""
        while self.queue and (len(self.queue) > keep or self.queue[0][2].done()):
            write, prepared, future, flow, kind, finish = self.queue.popleft()
            self.settle(write, prepared, future.result(), flow, kind, finish)
            if self.done_records() >= FINISH_GROUP:
                self.finish_done()

    def settle(self, write: Write, prepared: Prepared, outcome: tuple[str, Any], flow: str, kind: str,
               finish: Callable) -> None:
        ctx = self.ctx
        state, value = outcome
        if state == "ok":
            if self.done and (self.done_finish is not finish or self.done_flow != flow):
                self.finish_done()
            self.done.append((write, value))
            self.done_flow, self.done_finish = flow, finish
            return
        if state == "unsent":
            self.unsent.append(prepared)
            return
        if state == "budget":  # not sent: goes back as it was; the BILL side stops for this run
            self.unsent.append(prepared)
            self.stop = self.stop or (value if isinstance(value, SideStopped) else SideStopped("BILL", value))
            self.halt.set()
            return
        ctx.outbox.failed(write.key, value)
        if write.bulk and isinstance(value, RetryableError | RecordError):
            # A lost answer: some or all of the call's records may be in BILL. The row stays open and
            # ``app.engine.recovery`` looks them up (at the end of this flow, or the next run) before any resend.
            self.bulk_unsettled = True
            log.warning("%s: %s; they are looked up in BILL before any is sent again", write.label, value)
            return
        if isinstance(value, SideStopped):  # the client calls turn these into a side stop already
            self.stop = self.stop or value
        elif isinstance(value, (AuthenticationError, ConfigurationError)) or budget_spent(value):
            self.stop = self.stop or SideStopped(value.system or write.system, value)
        elif isinstance(value, RecordError):
            ctx._hold(kind, write.record_key, f"{write.label}: {value.message}", error=str(value),
                         detail=write.detail, flow=flow, outcome="failed")
            return
        elif isinstance(value, RetryableError):
            ctx._hold(kind, write.record_key, f"{write.label}: will try again ({value.message})",
                         retryable=True, error=str(value), detail=write.detail, flow=flow, outcome="failed")
            return
        else:
            self.stop = self.stop or value
        self.halt.set()

    def done_records(self) -> int:
        return sum(len(write.data) if write.bulk else 1 for write, _ in self.done)

    def finish_done(self) -> None:
        """Commit the finished writes' links with their outbox rows, in one transaction."""
        if not self.done:
            return
        group, finish, flow = list(self.done), self.done_finish, self.done_flow
        self.done.clear()
        ctx = self.ctx
        with ctx.store.session() as s:
            ctx.outbox.finish_many(s, finish(s, group))
        counts = ctx.report.counts(flow)
        for write, value in group:
            crash_point("after_commit")
            counts.created += write.created(value)
        self.run_after_commit()

    def release_unsent(self) -> None:
        unsent, self.unsent = self.unsent, []
        self.ctx.outbox.release(unsent)

    def raise_stop(self) -> None:
        if self.stop is not None:
            stop, self.stop = self.stop, None
            raise stop

    def concurrency(self) -> int:
        if self.ctx.report.dry_run:
            return 1  # nothing goes out; one at a time keeps the plan in order
        limit = getattr(self.ctx.bill, "max_concurrent", None) or BILL_WRITE_CONCURRENCY
        return max(1, min(int(self.ctx.settings.write_concurrency), int(limit), BILL_WRITE_CONCURRENCY))

    def pool(self) -> ThreadPoolExecutor | None:
        workers = self.concurrency()
        if workers <= 1:
            return None
        if self.writers is None:
            self.writers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="navbill-write")
        return self.writers

    def write_batch(self, flow: str, kind: str, writes: list[Write],
                    finish: Callable[[Session, list[tuple[Write, Any]]], dict[str, dict]], *,
                    wait: bool = True) -> None:
        """Send a batch of creates exactly once, up to BILL's concurrency limit at a time.

        1. All the batch's outbox rows are committed (``in_flight``) in one transaction before any is sent.
        2. A row an earlier attempt may have sent is looked up first and finished on its own, one at a
           time, with nothing else in flight (two lookups must never claim the same record).
        3. The rest go up to 3 at once; each finished group's links and outbox rows (``finish``) are
           committed together. A refused record is held (RecordError) or queued for a retry, the batch
           goes on; an authentication or configuration error stops the side once the writes already in
           flight have been recorded; a cancel stops before the next send and releases unsent rows.

        ``wait=False`` (a stream's batches) returns while up to a batch is still in flight, so reading and
        preparing the next batch overlaps the sends; the stream calls ``drain`` before it moves
        its bookmark.
        """
        if not writes:
            if wait:
                self.drain()
            return
        if all(w.bulk for w in writes):
            self.write_bulk(flow, kind, writes, finish, wait=wait)
            return
        lane = self
        prepared = self.ctx.outbox.prepare([(w.key, w.system, w.action, w.record, w.payload) for w in writes])
        lookups = [w for w in writes if prepared[w.key].look_first]
        if lookups:
            self.drain()
            for write in lookups:
                lane.settle(write, prepared[write.key], lane.attempt(write, prepared[write.key]), flow, kind,
                            finish)
                lane.finish_done()
                lane.raise_stop()
        fresh = [w for w in writes if not prepared[w.key].look_first]
        pool = self.pool() if len(fresh) > 1 or lane.queue else None
        if pool is None:
            self.drain()
            for write in fresh:
                lane.settle(write, prepared[write.key], lane.attempt(write, prepared[write.key]), flow, kind,
                            finish)
                if lane.done_records() >= FINISH_GROUP:
                    lane.finish_done()
            lane.finish_done()
            lane.release_unsent()
            lane.raise_stop()
        else:
            for write in fresh:
                lane.queue.append((write, prepared[write.key], pool.submit(lane.attempt, write, prepared[write.key]),
                                   flow, kind, finish))
            # A stream's batch returns with up to two rounds of calls still queued, so the 3 workers stay
            # busy while the next batch is read and prepared.
            lane.settle_ready(keep=0 if wait else max(len(fresh), 2 * self.concurrency()))
        if wait:
            self.drain()
        self.ctx._check_cancel()

    def write_bulk(self, flow: str, kind: str, writes: list[Write],
                   finish: Callable[[Session, list[tuple[Write, Any]]], dict[str, dict]], *,
                   wait: bool = True) -> None:
        """Bulk calls (fresh keys, nothing to look up first): each call's row is committed ``in_flight`` just
        before the call is handed to a free worker, and no more calls are queued than there are workers. So
        an open row after a crash is a call that was really on its way, and the lookup that settles it covers
        at most 3 calls (plus any whose links were not committed yet)."""
        lane = self
        pool = self.pool()
        slots = self.concurrency()
        for write in writes:
            if pool is not None:
                lane.settle_ready(keep=slots - 1)  # wait for a free worker (recording what came back, in order)
            if lane.stop is not None or lane.halt.is_set() or self.ctx._cancel.is_set():
                break  # not recorded, not sent: the stream's bookmark stays before it
            prepared = self.ctx.outbox.prepare_new(write.key, write.system, write.action, write.record, write.payload)
            if pool is None:
                lane.settle(write, prepared, lane.attempt(write, prepared), flow, kind, finish)
                if lane.done_records() >= FINISH_GROUP:
                    lane.finish_done()
            else:
                lane.queue.append((write, prepared, pool.submit(lane.attempt, write, prepared), flow, kind, finish))
        if pool is None or wait:
            self.drain()
        self.ctx._check_cancel()

    def drain(self, raise_stop: bool = True) -> BaseException | None:
        """Wait for every write in flight, record them, release the unsent, raise a stop they caused
        (or answer it, with ``raise_stop=False``)."""
        lane = self
        try:
            lane.settle_ready(keep=0)
        finally:
            lane.finish_done()
            lane.release_unsent()
        if not raise_stop:
            stop, lane.stop = lane.stop, None
            return stop
        lane.raise_stop()
        self.ctx._check_cancel()  # a cancelled stream must not move its bookmark past what was not sent
        return None

    def run_after_commit(self) -> None:
        after, self.after_commit = self.after_commit, []
        for work in after:
            work()

    def bulk_limit(self, name: str, default: int) -> int:
        value = getattr(self.ctx.bill, name, None)
        return value if isinstance(value, int) and value > 0 else default

    def bulk_key(self, what: str) -> str:
        self.ctx._bulk_seq += 1
        return f"bill.{what}.bulk:{self.ctx.report.run_id}.{self.ctx._bulk_seq}"

    def refused_in_bulk(self, s: Session, key: str, action: str, record: str, payload: dict, error: Exception,
                        kind: str, record_key: str, reason: str, detail: dict | None, flow: str) -> None:
        """A record BILL refused inside a bulk call: as a refused single create (a ``failed`` row of its own,
        which the next run sends again alone) and held with the reason, once the bulk row is committed."""
        row = q.outbox_row(s, key)
        if row is None:
            row = t.OutboxEntry(key=key, system="BILL", action=action, record=record, payload=payload,
                                run_id=self.ctx.report.run_id)
            s.add(row)
        row.state, row.last_error = "failed", str(error)[:2000]
        self.after_commit.append(lambda: self.ctx._hold(kind, record_key, reason, error=str(error),
                                                           detail=detail, flow=flow, outcome="failed"))

    def saw_bill_times(self, times: Iterable[datetime | None]) -> None:
        newest = max((moment for moment in times if moment), default=None)
        if newest and (self.bill_clock is None or newest > self.bill_clock):
            self.bill_clock = newest

    def sent_marks(self) -> dict:
        """When a bulk call is prepared: our clock, and BILL's (the newest time BILL gave a record this run
        created, if any). What the call creates is stamped at or after BILL's mark, so a lookup from it needs
        no margin for clock differences."""
        return {"sent_after": iso(self.ctx.clock()), "bill_time": iso(self.bill_clock)}

    @staticmethod
    def lookup_since(rows: list) -> tuple[datetime, bool]:
        """From when to look for what open bulk rows created, and whether that is BILL's own clock (tight)."""
        marks = [parse_time(r.payload.get("bill_time", "")) for r in rows]
        if all(marks):
            return min(marks), True
        return min(parse_time(r.payload["sent_after"]) for r in rows) - RECOVERY_MARGIN, False

    def close(self) -> None:
        """The run is over: its write workers stop (after the writes they hold)."""
        if self.writers is not None:
            self.writers.shutdown(wait=True)
            self.writers = None
