"""The sync engine: runs the four flows between NAV and BILL in order, headless and Qt-free.

    accounts   NAV G/L accounts + dimensions, BILL chart of accounts + classifications -> caches, suggestions
    vendors    NAV ⇄ BILL, three-way per field, matching on first sight, new BILL vendors become NAV vendors
    invoices   posted NAV purchase invoices -> BILL bills (held until vendor and accounts are mapped)
    payments   settled BILL payments -> new NAV payment journal lines, posted, applied to the invoice

Reads stream (page by page, never the whole list in memory) from a bookmark; the bookmark is stored in
the transaction that stores the stream's last batch. Writes go through the outbox (exactly once). A
record that fails is held in the queue with the reason and the run goes on; an authentication or
configuration failure stops the flows of that side.

The many creates of a first sync (BILL vendors, bills) go a batch at a time: the batch's outbox rows
are committed in one transaction before any is sent, up to BILL's 3 concurrent requests are in flight
at once (each write still its own outbox row), and the links of each finished group are committed
together with their outbox rows. A write that may have landed before (a crash, an unknown outcome) is
looked up first, one at a time, as before.

Bulk writes (a first sync's many new BILL vendors and bills): BILL's ``POST /v3/vendors/bulk`` (20 a call)
and ``POST /v3/bills/bulk`` (100 a call) are all or nothing and count as ONE request against BILL's hourly
budget. Each bulk call is ONE outbox row covering its records (payload: the records and when they were sent).
A refused record comes back split out (the client sends the rest) and is held; an unknown outcome (a lost
answer, a crash) is settled by ``app.engine.recovery``: one or a few list calls (BILL's ``createdTime:gte`` and
``vendorId:in`` filters) find which records BILL already has, matched here by name and tax id (vendors) or
invoice number and amount (bills); those are linked, only the others are sent again, so no record is ever
sent twice. A single record (a webhook's one-off) still goes through the single create.

Where things live: each flow in ``app.engine.flows`` (read → decide with ``app.domain`` → write), the
write lane in ``app.engine.lane``, bulk recovery in ``app.engine.recovery``, the services a flow uses (side
calls, streams, holds) in ``app.engine.context``. This module only runs them: the order of the flows, the sides
stopped, cancel, the run's report, the run lock and backup, and the targeted syncs a webhook asks for.

The BILL client counts its requests against the hourly budget and refuses to send past the stop line
(default 80% of 20,000, the rest kept for other integrations); the run then stops its BILL side cleanly, with
a note in the report, and the next run goes on where it stopped.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.domain.errors import ConfigurationError, RetryableError
from app.engine.common import Cancelled, Progress, SideStopped, budget_spent
from app.engine.context import RunContext
from app.engine.dryrun import dry_run_engine
from app.engine.flows import Flows
from app.engine.lane import WriteLane
from app.engine.report import FLOWS, FlowCounts, RunReport
from app.engine.settings import EngineSettings
from app.store import repository as q
from app.store import schema as t
from app.store.lock import RunBusyError

log = logging.getLogger("navbill.engine")


_frozen_runs = 0
_frozen_lock = threading.Lock()


@contextmanager
def _long_lived_objects_frozen() -> Iterator[None]:
    """During a run, the objects that were there before it (modules, clients, caches: about 80,000) are left out
    of Python's full garbage collections (``gc.freeze``), and put back after the last run in the process ends
    (``gc.unfreeze``, so nothing is kept for good). A first sync's batches make objects that outlive the young
    collections, which sets off a full collection every 25,000 or so; each used to walk the whole heap: 19 of
    them, 1.25 s of the engine thread's CPU on large:10000, 0.37 s frozen."""
    global _frozen_runs
    with _frozen_lock:
        _frozen_runs += 1
        gc.freeze()
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen_runs -= 1
            if not _frozen_runs:
                gc.unfreeze()


class SyncEngine(RunContext):
    """``SyncEngine(store, nav_client, bill_client, settings).run()``: one company's sync runs, one at a time."""

    def __init__(self, store, nav_client, bill_client, settings: EngineSettings | None = None,
                 clock: Callable[[], datetime] | None = None, lock_wait: float | None = None) -> None:
        super().__init__(store, nav_client, bill_client, settings, clock)
        self.lock_wait = lock_wait  # seconds a run waits for another one to finish (None: NAVBILL_LOCK_WAIT, 5)
        self._lock = threading.Lock()  # one run at a time per engine
        self._flows = Flows(self)  # made again for every run (their state lasts one run)

    # ==============================================================================================
    # entry points
    # ==============================================================================================
    def run(self, flows: Iterable[str] | None = None, dry_run: bool = False, progress: Progress | None = None,
            cancel: threading.Event | None = None, trigger: str = "manual") -> RunReport:
        selected = tuple(f for f in FLOWS if flows is None or f in set(flows))
        unknown = set(flows or ()) - set(FLOWS)
        if unknown:
            raise ValueError(f"unknown flow(s): {', '.join(sorted(unknown))}")
        # `sync --only accounts` (or any run naming the flow) reads every reference list; a run of every flow
        # (the schedule, Sync now) reads them only when they changed or an hour has passed.
        self.read_reference_in_full = flows is not None and "accounts" in selected
        if dry_run:
            return dry_run_engine(self, selected, progress, cancel, trigger)
        with self._lock, ExitStack() as held:
            try:  # one writer per company: another process's run (serve, sync, the window) waits or is told
                held.enter_context(self.store.run_lock().hold(trigger, self.lock_wait))
            except RunBusyError as busy:
                return self._busy(busy, trigger)
            with _long_lived_objects_frozen():
                report = self._run(selected, progress, cancel, trigger)
            if report.completed and report.run_id is not None:
                self._backup()
            return report

    def _busy(self, busy: RunBusyError, trigger: str) -> RunReport:
        """Another run holds the company's lock: nothing was done, and that is said plainly (no crash)."""
        self.report = RunReport(status="busy", errors=[str(busy)])
        log.warning("%s: %s", trigger or "run", busy)
        return self.report

    def _backup(self) -> None:
        """A rolling backup after a successful run (still under the run lock, so nothing writes meanwhile)."""
        try:
            target = self.store.backup()
        except Exception as exc:  # a full disk must not turn a good run into a failed one; it is said
            self.report.warnings.append(f"The backup after this run could not be made: {exc}")
            log.warning("Backup after run %s failed: %s", self.report.run_id, exc)
            return
        if target is not None:
            log.info("Backup after run %s: %s", self.report.run_id, target)

    def _run(self, flows: tuple[str, ...], progress: Progress | None, cancel: threading.Event | None,
             trigger: str, dry_run: bool = False, steps: dict[str, Callable[[], None]] | None = None,
             forget_if_idle: bool = False) -> RunReport:
        started = time.monotonic()
        self.report = RunReport(dry_run=dry_run)
        self._progress = progress or (lambda flow, done, message: None)
        self._cancel = cancel or threading.Event()
        self._stopped_sides = {}
        self._vendors_new_this_run = set()
        self._lane = WriteLane(self)
        self._flows = Flows(self)
        self._budget_stopped = set()
        nav_before, bill_before = self._calls()
        self._run_started_at = datetime.now(UTC)  # BILL's own clock: bills created before this run
        with self.store.session() as s:
            run = t.Run(flows=list(flows), trigger=trigger, dry_run=dry_run, started_at=self.clock())
            s.add(run)
            s.flush()
            self.report.run_id = self.outbox.run_id = run.id
        try:
            # A missing payment setting holds only the payments flow; vendors and invoices still run.
            self.settings.validate(tuple(f for f in flows if f != "payments"))
            self._configure_budget()
            flow_runs = self._flows
            steps = steps or {"accounts": flow_runs.accounts.run, "vendors": flow_runs.vendors.run,
                              "invoices": flow_runs.invoices.run, "payments": flow_runs.payments.run}
            sides = {"accounts": ("NAV", "BILL"), "vendors": ("NAV", "BILL"), "invoices": ("NAV", "BILL"),
                     "payments": ("NAV", "BILL")}
            for flow in flows:
                self.report.counts(flow)
                self._flow = flow
                if flow == "payments":
                    try:
                        self.settings.validate((flow,))
                    except ConfigurationError as exc:
                        self.report.errors.append(f"payments: not run. {exc}")
                        continue
                stopped = [side for side in sides[flow] if side in self._stopped_sides]
                if stopped and stopped[0] in self._budget_stopped:
                    self.report.notes.append(f"{flow}: not run this time: BILL's request budget for this hour is "
                                             "used up; the next run goes on.")
                    continue
                if stopped:
                    self.report.errors.append(f"{flow}: not run because {stopped[0]} could not be used.")
                    continue
                try:
                    try:
                        steps[flow]()
                    finally:  # whatever stopped the flow, the writes that went out are recorded
                        stop_from_writes = self._lane.drain(raise_stop=False)
                    if stop_from_writes is not None:
                        raise stop_from_writes
                except SideStopped as stop:
                    self._stopped_sides[stop.side] = str(stop.error)
                    if budget_spent(stop):  # a clean stop, not a failure: the next run goes on from here
                        self._budget_stopped.add(stop.side)
                        self.report.notes.append(f"{flow}: stopped early: {stop.error.message}")
                        log.warning("%s flow stopped for BILL's hourly budget: %s", flow, stop.error.message)
                        continue
                    self.report.errors.append(f"{flow}: {stop.error}")
                    log.error("%s flow stopped: %s", flow, stop.error)
                except RetryableError as exc:
                    # A list read failed even after the client's retries (a bad minute at NAV or BILL). Its
                    # bookmark did not move, so the next run reads it again; the other flows still run now.
                    self.report.errors.append(f"{flow}: {exc} The next run tries again.")
                    log.warning("%s flow interrupted: %s", flow, exc)
            self.report.status = "completed"
        except Cancelled:
            self.report.status = "cancelled"
        except ConfigurationError as exc:
            self.report.status = "failed"
            self.report.errors.append(str(exc))
        except Exception as exc:
            self.report.status = "failed"
            self.report.errors.append(f"Unexpected error: {exc}")
            log.exception("Sync run failed")
        finally:
            self._lane.close()
            nav_after, bill_after = self._calls()
            self.report.nav_calls = nav_after - nav_before
            self.report.bill_calls = bill_after - bill_before
            self.report.duration_seconds = time.monotonic() - started
            status = self.report.status if not self.report.errors or self.report.status != "completed" else "failed"
            with self.store.session() as s:
                run = s.get(t.Run, self.report.run_id)
                run.finished_at, run.status = self.clock(), status
                run.counts = self.report.as_dict()["flows"]
                run.nav_calls, run.bill_calls = self.report.nav_calls, self.report.bill_calls
                run.message = "; ".join(self.report.errors + self.report.notes)[:4000]
                if forget_if_idle and status == "completed" and not self._changed_anything(s, run.id):
                    # A webhook about our own write (or a change already synced): nothing to show the
                    # clerk, so it does not fill the run history with "nothing to change".
                    s.delete(run)
                    self.report.run_id = None
            if self.report.run_id is None:
                log.debug("%s: nothing to change", trigger)
            else:
                log.info("Sync run %s %s%s in %.1f s (HTTP calls NAV %d, BILL %d): %s", self.report.run_id,
                         status, " (dry run)" if dry_run else "", self.report.duration_seconds,
                         self.report.nav_calls, self.report.bill_calls,
                         "; ".join(f"{name} {asdict(c)}" for name, c in self.report.flows.items()) or "nothing to do")
        return self.report

    def sync_nav_vendor(self, number: str) -> RunReport:
        """A webhook said NAV vendor ``number`` changed: bring just that one across."""
        def work() -> None:
            self._flows.vendors.sync_one_nav_vendor(number)
        return self._targeted("vendors", work, f"webhook: NAV vendor {number}")

    def sync_bill_vendor(self, bill_id: str) -> RunReport:
        def work() -> None:
            self._flows.vendors.sync_one_bill_vendor(bill_id)
        return self._targeted("vendors", work, f"webhook: BILL vendor {bill_id}")

    def sync_invoice(self, number: str) -> RunReport:
        def work() -> None:
            self._flows.invoices.sync_one(number)
        return self._targeted("invoices", work, f"webhook: NAV invoice {number}")

    def sync_bill(self, bill_id: str) -> RunReport:
        """A webhook said a bill changed (e.g. it was paid): read new payments since the bookmark."""
        return self._targeted("payments", lambda: self._flows.payments.run(), f"webhook: BILL bill {bill_id}")

    def _targeted(self, flow: str, work: Callable[[], None], trigger: str) -> RunReport:
        with self._lock, ExitStack() as held:
            try:
                held.enter_context(self.store.run_lock().hold(trigger, self.lock_wait))
            except RunBusyError as busy:  # the running sync (or the next poll) reads the change anyway
                report = self._busy(busy, trigger)
            else:
                report = self._run((flow,), None, None, trigger, steps={flow: work}, forget_if_idle=True)
        report.trigger = trigger  # the window names the record by its number, not by a webhook's GUID
        return report

    # ==============================================================================================
    # plumbing
    # ==============================================================================================
    def _changed_anything(self, s: Session, run_id: int) -> bool:
        counts = self.report.flows.values()
        if any(c.created or c.updated or c.held or c.failed or c.conflicts for c in counts):
            return True
        return q.run_has_audit(s, run_id)


__all__ = ["SyncEngine", "RunReport", "FlowCounts", "EngineSettings", "SideStopped", "Cancelled"]
