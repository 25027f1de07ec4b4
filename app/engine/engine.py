"""The sync engine: four flows between NAV and BILL, headless and Qt-free.

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
answer, a crash) is settled by ``_recover_bulk_*``: one or a few list calls (BILL's ``createdTime:gte`` and
``vendorId:in`` filters) find which records BILL already has, matched here by name and tax id (vendors) or
invoice number and amount (bills); those are linked, only the others are sent again, so no record is ever
sent twice. A single record (a webhook's one-off) still goes through the single create.

The BILL client counts its requests against the hourly budget and refuses to send past the stop line
(default 80% of 20,000, the rest kept for other integrations); the run then stops its BILL side cleanly, with
a note in the report, and the next run goes on where it stopped.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from app.domain.conflicts import three_way
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    NotFoundError,
    RateLimitError,
    RecordError,
    RetryableError,
)
from app.domain.mapping import suggest_account_mappings, suggest_dimension_mappings
from app.domain.matching import Candidate, MatchKeys, MatchKind, match_vendor
from app.domain.models import (
    CLASSIFICATION_LINE_FIELD,
    VENDOR_SYNC_FIELDS,
    Bill,
    BillLine,
    ClassificationKind,
    JournalLine,
    Payment,
    PaymentPosting,
    PostedInvoice,
    UnreadableRecord,
    VendorFields,
    payment_description,
)
from app.domain.periods import (
    UNKNOWN_POSTING_DATES,
    AllowedPostingDates,
    PostingDecision,
    decide_posting_date,
)
from app.domain.values import shown
from app.engine import bankwatch, credits
from app.engine.crash import crash_point
from app.engine.outbox import Outbox, Prepared
from app.engine.report import FLOWS, FlowCounts, RunReport
from app.engine.settings import EngineSettings
from app.store import schema as t
from app.store.lock import RunBusyError

log = logging.getLogger("navbill.engine")

BATCH = 200  # records per store transaction while streaming
FINISH_GROUP = 50  # finished records whose links are committed together (a bulk call counts its records)
BILL_WRITE_CONCURRENCY = 3  # BILL allows 3 concurrent requests per devKey and organization (BDC_1322)
# Reference lists (accounts, dimensions, classifications) are read in full at most this often unless NAV's
# change filter shows a change or the run names the accounts flow (see sync_accounts).
REFERENCE_MAX_AGE = timedelta(hours=1)
REFERENCE_READ_AT = "reference.read_at"  # bookmark: when the reference lists were last read in full
NAV_REFERENCE_MARK = "nav.reference."  # bookmarks: + list name -> NAV's newest modification time at that read
Progress = Callable[[str, int, str], None]  # (flow, records done in this flow, message)


class SideStopped(Exception):
    """Authentication or configuration failed on one side: its flows stop for this run."""

    def __init__(self, side: str, error: ConnectorError) -> None:
        super().__init__(str(error))
        self.side, self.error = side, error


class Cancelled(Exception):
    pass


def _money(amount: Decimal) -> str:
    """Amounts in the audit log as a clerk reads them: 1130.00, not 1130.0 (JSON numbers lose the cents)."""
    return f"{Decimal(amount):.2f}"


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def _parse(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _batched(items: Iterable, size: int = BATCH) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Write:
    """One create that goes through the outbox as part of a batch (see ``SyncEngine._write_batch``)."""

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


@dataclass
class _CandidatePool:
    """The unlinked BILL vendors that could match one batch of NAV vendors, read in a few queries."""

    rows: dict[str, t.BillVendorCandidate]
    by_key: dict[tuple[str, str], list[str]]  # (attribute, value) -> bill ids
    by_word: dict[str, list[str]]  # first word of the normalised name -> bill ids (the name_key prefix)
    gone: set[str] = field(default_factory=set)  # linked or claimed by an earlier vendor of the batch

    def candidates(self, keys: MatchKeys) -> list[t.BillVendorCandidate]:
        ids: list[str] = []
        for attribute, value in (("exact_name", keys.exact_name), ("name_key", keys.name),
                                 ("email_key", keys.email), ("tax_key", keys.tax_id)):
            if value:
                ids.extend(self.by_key.get((attribute, value), ()))
        first_word = keys.name.split(" ")[0] if keys.name else ""
        if first_word:
            ids.extend([i for i in self.by_word.get(first_word, ()) if i not in self.gone][:SIMILAR_POOL])
        return [self.rows[i] for i in dict.fromkeys(ids) if i not in self.gone]


# BILL's hourly request budget (20,000 per devKey) is spent: every further request this hour is refused
# (and counted), so the BILL side stops for this run and the rest waits for the next one.
# The client's own stop line (BUDGET_STOP, see app/clients/bill_budget.py) is reached before that, leaving
# headroom for the organization's other integrations; in both cases nothing was sent or created.
HOURLY_BUDGET_CODES = {"BDC_1144", "BUDGET_STOP"}
# When looking for what a lost bulk create made: BILL's clock and ours may differ by this much.
RECOVERY_MARGIN = timedelta(minutes=15)


def _budget_spent(error: BaseException) -> bool:
    if isinstance(error, SideStopped):
        error = error.error
    return isinstance(error, RateLimitError) and error.code in HOURLY_BUDGET_CODES


# NAV's vendor field lengths (table 23: Name, Address, E-Mail are Text[100]/[80]; the sandbox refuses more
# than 100 for every text): a BILL vendor over them is held before any NAV write.
NAV_VENDOR_LIMITS = {"name": 100, "address_line1": 100, "address_line2": 50, "city": 30, "postal_code": 20,
                     "email": 80, "phone": 30}
_UNSET = object()
LOCAL_CURRENCY = "USD"  # BILL organizations pay in US dollars; another currency is held for a person

SIMILAR_POOL = 50  # "very similar name" candidates looked at per NAV vendor (they share the first word)


@dataclass
class _Mappings:
    """The account and dimension mappings plus what BILL has active, loaded once per invoices flow."""

    accounts: dict[str, list[t.AccountMapping]]
    dimensions: dict[tuple[str, str], t.DimensionMapping]
    mapped_dimensions: set[str]
    active_bill_accounts: set[str]
    known_bill_accounts: set[str]
    gl_names: dict[str, str]
    dimension_value_names: dict[tuple[str, str], str]
    bill_account_labels: dict[str, str]  # BILL account id -> "number name", for hold reasons
    archived_bill_accounts_by_number: dict[str, str]  # account.number -> label, archived in BILL


class _WriteLane:
    """Writes in flight for one run: their futures in order, the finished ones not yet committed, the
    prepared ones never sent, and the first error that must stop the run (raised by the engine)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.queue: deque[tuple[_Write, Prepared, Future, str, str, Callable]] = deque()
        self.done: list[tuple[_Write, Any]] = []
        self.done_flow = ""
        self.done_finish: Callable | None = None
        self.unsent: list[Prepared] = []
        self.stop: BaseException | None = None
        self.halt = threading.Event()  # workers send nothing more once a stop is known

    def attempt(self, write: _Write, prepared: Prepared) -> tuple[str, Any]:
        """One write, on a worker thread (no store work unless it looks first)."""
        if self.engine._cancel.is_set() or self.halt.is_set():
            return "unsent", None
        try:
            value = Outbox.deliver(prepared, write.send, write.look)
            if write.bulk:  # BILL's clock moves on: later bulk rows get a later (tighter) lookup mark
                self.engine._saw_bill_times(getattr(o, "updated_time", None) for o in value
                                            if not isinstance(o, Exception))
            return "ok", value
        except Exception as exc:  # recorded on the main thread, in order
            if _budget_spent(exc):  # refused before it went out (or BDC_1144): nothing was created
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

    def settle(self, write: _Write, prepared: Prepared, outcome: tuple[str, Any], flow: str, kind: str,
               finish: Callable) -> None:
        engine = self.engine
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
        engine.outbox.failed(write.key, value)
        if write.bulk and isinstance(value, RetryableError | RecordError):
            # A lost answer: some or all of the call's records may be in BILL. The row stays open and
            # ``_recover_bulk_*`` looks them up (at the end of this flow, or the next run) before any resend.
            engine._bulk_unsettled = True
            log.warning("%s: %s; they are looked up in BILL before any is sent again", write.label, value)
            return
        if isinstance(value, SideStopped):  # the client calls turn these into a side stop already
            self.stop = self.stop or value
        elif isinstance(value, (AuthenticationError, ConfigurationError)) or _budget_spent(value):
            self.stop = self.stop or SideStopped(value.system or write.system, value)
        elif isinstance(value, RecordError):
            engine._hold(kind, write.record_key, f"{write.label}: {value.message}", error=str(value),
                         detail=write.detail, flow=flow, outcome="failed")
            return
        elif isinstance(value, RetryableError):
            engine._hold(kind, write.record_key, f"{write.label}: will try again ({value.message})",
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
        engine = self.engine
        with engine.store.session() as s:
            engine.outbox.finish_many(s, finish(s, group))
        counts = engine.report.counts(flow)
        for write, value in group:
            crash_point("after_commit")
            counts.created += write.created(value)
        engine._run_after_commit()

    def release_unsent(self) -> None:
        unsent, self.unsent = self.unsent, []
        self.engine.outbox.release(unsent)

    def raise_stop(self) -> None:
        if self.stop is not None:
            stop, self.stop = self.stop, None
            raise stop


class SyncEngine:
    def __init__(self, store, nav_client, bill_client, settings: EngineSettings | None = None,
                 clock: Callable[[], datetime] | None = None, lock_wait: float | None = None) -> None:
        self.store = store
        self.lock_wait = lock_wait  # seconds a run waits for another one to finish (None: NAVBILL_LOCK_WAIT, 5)
        self.nav = nav_client
        self.bill = bill_client
        self.settings = settings or EngineSettings.load(store)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(store)
        self.report = RunReport()
        self._progress: Progress = lambda flow, done, message: None
        self._cancel = threading.Event()
        self._stopped_sides: dict[str, str] = {}
        self._lock = threading.Lock()  # one run at a time per engine
        self._writers: ThreadPoolExecutor | None = None  # BILL write workers, for the length of one run
        self._bill_vendors_created = 0  # in this run: their echoes come back in BILL's vendor list
        self._lane = _WriteLane(self)
        self._quiet_links: list[tuple[int, str, dict, dict, str]] | None = None  # see _store_quiet_links
        self._flow = ""  # the flow running now (unreadable records are counted against it)
        self._run_started_at: datetime | None = None
        self._after_commit: list[Callable[[], None]] = []  # holds for refused bulk records, after their commit
        self._bulk_unsettled = False  # a bulk call's answer was lost in this run: look it up before moving on
        self._bulk_seq = 0
        self._created_vendor_times: list[datetime] = []
        self._vendors_new_this_run: set[str] = set()  # BILL vendors this run created: no bill of theirs exists yet
        self._bill_clock: datetime | None = None  # the newest BILL time seen on what this run created
        self._budget_stopped: set[str] = set()  # sides stopped for BILL's hourly budget (a note, not an error)
        self._posting_dates: AllowedPostingDates | None = None  # see _posting_decision
        self.bank_key: bytes | None | object = _UNSET  # the bank fingerprint key; read from the vault on first use
        self.read_reference_in_full = False  # this run names the accounts flow: read every reference list

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
            from app.engine.dryrun import dry_run_engine

            return dry_run_engine(self, selected, progress, cancel, trigger)
        with self._lock, ExitStack() as held:
            try:  # one writer per company: another process's run (serve, sync, the window) waits or is told
                held.enter_context(self.store.run_lock().hold(trigger, self.lock_wait))
            except RunBusyError as busy:
                return self._busy(busy, trigger)
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
        self._bill_vendors_created = 0
        self._created_vendor_times = []
        self._vendors_new_this_run = set()
        self._bill_clock = None
        self._lane = _WriteLane(self)
        self._quiet_links = None
        self._after_commit, self._bulk_unsettled = [], False
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
            steps = steps or {"accounts": self.sync_accounts, "vendors": self.sync_vendors,
                              "invoices": self.sync_invoices, "payments": self.sync_payments}
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
                        stop_from_writes = self._drain_writes(raise_stop=False)
                    if stop_from_writes is not None:
                        raise stop_from_writes
                except SideStopped as stop:
                    self._stopped_sides[stop.side] = str(stop.error)
                    if _budget_spent(stop):  # a clean stop, not a failure: the next run goes on from here
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
            if self._writers is not None:
                self._writers.shutdown(wait=True)
                self._writers = None
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
            vendor = self._nav_call(self.nav.get_vendor, number)
            if vendor is not None:
                self._absorb_nav_vendors([vendor])
            self._reconcile_links(only_nav_number=number)
        return self._targeted("vendors", work, f"webhook: NAV vendor {number}")

    def sync_bill_vendor(self, bill_id: str) -> RunReport:
        def work() -> None:
            vendor = self._bill_call(self.bill.get_vendor, bill_id)
            if vendor is not None:
                self._absorb_bill_vendors([vendor])
            self._reconcile_links(only_bill_id=bill_id)
            self._create_nav_vendors_from_bill(only_bill_id=bill_id)
        return self._targeted("vendors", work, f"webhook: BILL vendor {bill_id}")

    def sync_invoice(self, number: str) -> RunReport:
        def work() -> None:
            self._load_mappings()
            invoice = self._nav_call(self.nav.get_posted_invoice, number)
            if invoice is not None:
                self._push_invoice(invoice)
        return self._targeted("invoices", work, f"webhook: NAV invoice {number}")

    def sync_bill(self, bill_id: str) -> RunReport:
        """A webhook said a bill changed (e.g. it was paid): read new payments since the bookmark."""
        return self._targeted("payments", self.sync_payments, f"webhook: BILL bill {bill_id}")

    def _targeted(self, flow: str, work: Callable[[], None], trigger: str) -> RunReport:
        with self._lock, ExitStack() as held:
            try:
                held.enter_context(self.store.run_lock().hold(trigger, self.lock_wait))
            except RunBusyError as busy:  # the running sync (or the next poll) reads the change anyway
                return self._busy(busy, trigger)
            return self._run((flow,), None, None, trigger, steps={flow: work}, forget_if_idle=True)

    # ==============================================================================================
    # plumbing
    # ==============================================================================================
    def _changed_anything(self, s: Session, run_id: int) -> bool:
        counts = self.report.flows.values()
        if any(c.created or c.updated or c.held or c.failed or c.conflicts for c in counts):
            return True
        return s.scalar(select(t.AuditEntry.id).where(t.AuditEntry.run_id == run_id).limit(1)) is not None

    def _calls(self) -> tuple[int, int]:
        return int(getattr(self.nav, "call_count", 0)), int(getattr(self.bill, "call_count", 0))

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def _side_call(self, side: str, fn: Callable, *args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            if isinstance(result, UnreadableRecord):  # a GET of one record that does not parse: held, not used
                self._hold_unreadable(result)
                return None
            return result
        except (AuthenticationError, ConfigurationError) as exc:
            raise SideStopped(side, exc) from exc
        except RateLimitError as exc:
            if _budget_spent(exc):
                raise SideStopped(side, exc) from exc
            raise

    def _nav_call(self, fn: Callable, *args, **kwargs):
        return self._side_call("NAV", fn, *args, **kwargs)

    def _bill_call(self, fn: Callable, *args, **kwargs):
        return self._side_call("BILL", fn, *args, **kwargs)

    def _stream(self, side: str, iterator_factory: Callable[[], Iterator], *, may_be_missing: bool = False) -> Iterator:
        """Iterate a client stream, turning auth/config failures (even mid-stream) into a side stop.

        A record the client could not parse arrives as an ``UnreadableRecord``: it is held in the failed queue
        with its message (record, field, value, reason) and the stream goes on; the bookmark moves with the
        readable records around it. When the record later reads fine (corrected at the source), its hold is
        resolved."""
        open_unreadable = self._open_unreadable_keys(side)
        try:
            for item in iterator_factory():
                if isinstance(item, UnreadableRecord):
                    self._hold_unreadable(item)
                    continue
                if open_unreadable:
                    key = str(getattr(item, "id", "") or getattr(item, "number", "") or "")
                    if key and key in open_unreadable:
                        with self.store.session() as s:
                            self._resolve_items(s, "unreadable", open_unreadable.pop(key))
                yield item
        except (AuthenticationError, ConfigurationError) as exc:
            raise SideStopped(side, exc) from exc
        except NotFoundError as exc:
            if may_be_missing:
                raise
            # A list that is not there at all: the address points at another service, or a web service is not
            # published. That is the setup's fault, not one record's: the side stops with the reason.
            raise SideStopped(side, ConfigurationError(
                f"a list the connector reads is not found ({exc.message}) Check the {side} address and that the "
                f"service is published.", system=side, code=exc.code)) from exc
        except RateLimitError as exc:
            if _budget_spent(exc):
                raise SideStopped(side, exc) from exc
            raise

    @staticmethod
    def _unreadable_key(record: UnreadableRecord) -> str:
        key = record.key or f"(no number) {record.field}={record.value}"
        return f"{record.system} {record.kind} {key}"[:120]

    def _hold_unreadable(self, record: UnreadableRecord) -> None:
        self._hold("unreadable", self._unreadable_key(record), record.message, error=record.reason,
                   detail={"system": record.system, "kind": record.kind, "key": record.key, "field": record.field,
                           "value": record.value, "reason": record.reason},
                   flow=self._flow, outcome="failed")

    def _open_unreadable_keys(self, side: str) -> dict[str, list[str]]:
        """Open unreadable holds of ``side``: the record's key -> queue keys (usually few or none)."""
        found: dict[str, list[str]] = {}
        with self.store.session() as s:
            for item in s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "unreadable",
                                                            t.QueueItem.state == "open",
                                                            t.QueueItem.record_key.like(f"{side} %"))):
                key = (item.detail or {}).get("key") or ""
                if key:
                    found.setdefault(key, []).append(item.record_key)
        return found

    def _audit(self, s: Session, system: str, action: str, record: str, **detail: Any) -> None:
        s.add(t.AuditEntry(run_id=self.report.run_id, at=self.clock(), system=system, action=action,
                           record=record, detail=detail))

    def _hold(self, kind: str, key: str, reason: str, *, retryable: bool = False, error: str = "",
              detail: dict | None = None, flow: str = "", outcome: str = "held") -> None:
        with self.store.session() as s:
            item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind,
                                                       t.QueueItem.record_key == key)).first()
            if item is None:
                item = t.QueueItem(kind=kind, record_key=key, reason=reason)
                s.add(item)
            elif item.state == "skipped":
                return  # the user said leave it
            else:
                item.retry_count = (item.retry_count or 0) + (1 if retryable else 0)
                if item.state == "open" and item.reason == reason and not retryable:
                    return  # held before for the same reason: nothing new to count or audit
            item.reason, item.state, item.retryable, item.last_error = reason, "open", retryable, error[:2000]
            if detail is not None:
                item.detail = detail
            self._audit(s, "engine", "hold" if not retryable else "retry_later", f"{kind} {key}", reason=reason)
        # Every held or failed record reaches the log too, in the same words the UI shows.
        log.warning("%s %s %s: %s", "Retry later" if retryable else "Held", kind, key, reason)
        if flow:
            self.report.counts(flow).add(outcome)

    @staticmethod
    def _resolve_item(s: Session, kind: str, key: str) -> None:
        item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.record_key == key)).first()
        if item is not None and item.state == "open":
            item.state, item.retryable = "resolved", False

    def _guard(self, flow: str, kind: str, key: str, label: str, work: Callable[[], None],
               detail: dict | None = None) -> None:
        """Run one record's work; a record error holds it, a retryable error queues it, the run goes on."""
        try:
            work()
        except (AuthenticationError, ConfigurationError) as exc:
            raise SideStopped(exc.system or "NAV", exc) from exc
        except RecordError as exc:
            self._hold(kind, key, f"{label}: {exc.message}", error=str(exc), detail=detail, flow=flow,
                       outcome="failed")
        except RateLimitError as exc:
            if _budget_spent(exc):
                raise SideStopped(exc.system or "BILL", exc) from exc
            self._hold(kind, key, f"{label}: will try again ({exc.message})", retryable=True, error=str(exc),
                       detail=detail, flow=flow, outcome="failed")
        except RetryableError as exc:
            self._hold(kind, key, f"{label}: will try again ({exc.message})", retryable=True, error=str(exc),
                       detail=detail, flow=flow, outcome="failed")

    @staticmethod
    def _resolve_items(s: Session, kind: str, keys: list[str]) -> None:
        """``_resolve_item`` for many keys in one query."""
        for start in range(0, len(keys), 500):
            for item in s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.state == "open",
                                                            t.QueueItem.record_key.in_(keys[start:start + 500]))):
                item.state, item.retryable = "resolved", False

    # -- batched writes ------------------------------------------------------------------------------
    def _write_concurrency(self) -> int:
        if self.report.dry_run:
            return 1  # nothing goes out; one at a time keeps the plan in order
        limit = getattr(self.bill, "max_concurrent", None) or BILL_WRITE_CONCURRENCY
        return max(1, min(int(self.settings.write_concurrency), int(limit), BILL_WRITE_CONCURRENCY))

    def _write_pool(self) -> ThreadPoolExecutor | None:
        workers = self._write_concurrency()
        if workers <= 1:
            return None
        if self._writers is None:
            self._writers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="navbill-write")
        return self._writers

    def _write_batch(self, flow: str, kind: str, writes: list[_Write],
                     finish: Callable[[Session, list[tuple[_Write, Any]]], dict[str, dict]], *,
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
        preparing the next batch overlaps the sends; the stream calls ``_drain_writes`` before it moves
        its bookmark.
        """
        if not writes:
            if wait:
                self._drain_writes()
            return
        if all(w.bulk for w in writes):
            self._write_bulk(flow, kind, writes, finish, wait=wait)
            return
        lane = self._lane
        prepared = self.outbox.prepare([(w.key, w.system, w.action, w.record, w.payload) for w in writes])
        lookups = [w for w in writes if prepared[w.key].look_first]
        if lookups:
            self._drain_writes()
            for write in lookups:
                lane.settle(write, prepared[write.key], lane.attempt(write, prepared[write.key]), flow, kind,
                            finish)
                lane.finish_done()
                lane.raise_stop()
        fresh = [w for w in writes if not prepared[w.key].look_first]
        pool = self._write_pool() if len(fresh) > 1 or lane.queue else None
        if pool is None:
            self._drain_writes()
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
            lane.settle_ready(keep=0 if wait else max(len(fresh), 2 * self._write_concurrency()))
        if wait:
            self._drain_writes()
        self._check_cancel()

    def _write_bulk(self, flow: str, kind: str, writes: list[_Write],
                    finish: Callable[[Session, list[tuple[_Write, Any]]], dict[str, dict]], *,
                    wait: bool = True) -> None:
        """Bulk calls (fresh keys, nothing to look up first): each call's row is committed ``in_flight`` just
        before the call is handed to a free worker, and no more calls are queued than there are workers. So
        an open row after a crash is a call that was really on its way, and the lookup that settles it covers
        at most 3 calls (plus any whose links were not committed yet)."""
        lane = self._lane
        pool = self._write_pool()
        slots = self._write_concurrency()
        for write in writes:
            if pool is not None:
                lane.settle_ready(keep=slots - 1)  # wait for a free worker (recording what came back, in order)
            if lane.stop is not None or lane.halt.is_set() or self._cancel.is_set():
                break  # not recorded, not sent: the stream's bookmark stays before it
            prepared = self.outbox.prepare([(write.key, write.system, write.action, write.record,
                                             write.payload)])[write.key]
            if pool is None:
                lane.settle(write, prepared, lane.attempt(write, prepared), flow, kind, finish)
                if lane.done_records() >= FINISH_GROUP:
                    lane.finish_done()
            else:
                lane.queue.append((write, prepared, pool.submit(lane.attempt, write, prepared), flow, kind, finish))
        if pool is None or wait:
            self._drain_writes()
        self._check_cancel()

    def _drain_writes(self, raise_stop: bool = True) -> BaseException | None:
        """Wait for every write in flight, record them, release the unsent, raise a stop they caused
        (or answer it, with ``raise_stop=False``)."""
        lane = self._lane
        try:
            lane.settle_ready(keep=0)
        finally:
            lane.finish_done()
            lane.release_unsent()
        if not raise_stop:
            stop, lane.stop = lane.stop, None
            return stop
        lane.raise_stop()
        self._check_cancel()  # a cancelled stream must not move its bookmark past what was not sent
        return None

    def _configure_budget(self) -> None:
        """The BILL client's hourly budget takes the limit and headroom from the settings."""
        budget = getattr(self.bill, "budget", None)
        if budget is None or not hasattr(budget, "configure"):
            return
        budget.configure(limit=int(self.settings.bill_hourly_limit),
                         headroom=float(self.settings.bill_budget_headroom_percent) / 100)
        status = budget.status()
        log.info("%s; %d left before the stop line (%d%% kept for other integrations)", status.text(),
                 status.left, int(self.settings.bill_budget_headroom_percent))

    def bill_requests_this_hour(self) -> str:
        """For the window's status bar and ``check``: "BILL requests this hour: used / limit" ("" without a
        budget-counting BILL client)."""
        budget = getattr(self.bill, "budget", None)
        return budget.text() if budget is not None else ""

    def _run_after_commit(self) -> None:
        after, self._after_commit = self._after_commit, []
        for work in after:
            work()

    def _bulk_limit(self, name: str, default: int) -> int:
        value = getattr(self.bill, name, None)
        return value if isinstance(value, int) and value > 0 else default

    def _bulk_key(self, what: str) -> str:
        self._bulk_seq += 1
        return f"bill.{what}.bulk:{self.report.run_id}.{self._bulk_seq}"

    def _refused_in_bulk(self, s: Session, key: str, action: str, record: str, payload: dict, error: Exception,
                         kind: str, record_key: str, reason: str, detail: dict | None, flow: str) -> None:
        """A record BILL refused inside a bulk call: as a refused single create (a ``failed`` row of its own,
        which the next run sends again alone) and held with the reason, once the bulk row is committed."""
        row = s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == key)).first()
        if row is None:
            row = t.OutboxEntry(key=key, system="BILL", action=action, record=record, payload=payload,
                                run_id=self.report.run_id)
            s.add(row)
        row.state, row.last_error = "failed", str(error)[:2000]
        self._after_commit.append(lambda: self._hold(kind, record_key, reason, error=str(error), detail=detail,
                                                     flow=flow, outcome="failed"))

    def _retry_keys(self, kind: str) -> list[str]:
        with self.store.session() as s:
            return list(s.scalars(select(t.QueueItem.record_key).where(
                t.QueueItem.kind == kind, t.QueueItem.state == "open", t.QueueItem.retryable.is_(True))))

    # ==============================================================================================
    # flow 4: accounts
    # ==============================================================================================
    def _reference_marks(self) -> dict[str, str] | None:
        """None when the reference caches are current: read in full less than an hour ago and NAV's change
        filter (Business Central: ``lastModifiedDateTime`` on accounts, dimensions, dimension values) shows
        nothing newer. Otherwise NAV's newest times, to keep with the full read that follows. BILL's lists and
        NAV 2016-2018's pages have no change filter the connector relies on: read at most hourly."""
        with self.store.session() as s:
            marks = {row.stream[len(NAV_REFERENCE_MARK):]: row.value for row in s.scalars(
                select(t.Bookmark).where(t.Bookmark.stream.like(f"{NAV_REFERENCE_MARK}%")))}
            row = s.get(t.Bookmark, REFERENCE_READ_AT)
            read_at = _parse(row.value) if row else None
        # As a list read: a NAV that answers 404 here (a wrong address) stops the NAV side with that reason.
        changed = dict(self._stream("NAV", lambda: self.nav.iter_reference_stamps(marks)))
        due = self.read_reference_in_full or read_at is None or self.clock() - read_at >= REFERENCE_MAX_AGE
        if not due and not any(changed.values()):
            return None
        return {name: stamp for name, stamp in changed.items() if stamp}

    def sync_accounts(self) -> None:
        counts = self.report.counts("accounts")
        started = self.clock()
        nav_marks = self._reference_marks()
        if nav_marks is None:
            self._progress("accounts", 0, "accounts and classifications unchanged since the last read")
            return
        gl_accounts = list(self._stream("NAV", self.nav.iter_gl_accounts))
        dimensions = list(self._stream("NAV", self.nav.iter_dimensions))
        values = list(self._stream("NAV", self.nav.iter_dimension_values))
        bill_accounts = list(self._stream("BILL", self.bill.iter_chart_of_accounts))
        classifications = []
        for kind in ClassificationKind:
            try:
                classifications.extend(self._stream("BILL", lambda kind=kind: self.bill.iter_classifications(kind),
                                                    may_be_missing=True))
            except RecordError as exc:  # an organization without jobs, say: the other kinds still count
                log.info("BILL %s not available: %s", kind, exc)
        self._check_cancel()
        with self.store.session() as s:
            for model in (t.NavGLAccountCache, t.NavDimensionCache, t.NavDimensionValueCache, t.BillAccountCache,
                          t.BillClassificationCache):
                s.execute(delete(model))
            s.add_all(t.NavGLAccountCache(number=a.number, name=a.name, account_type=a.account_type,
                                          income_balance=a.income_balance, blocked=a.blocked) for a in gl_accounts)
            s.add_all(t.NavDimensionCache(code=d.code, name=d.name) for d in dimensions)
            s.add_all(t.NavDimensionValueCache(dimension_code=v.dimension_code, code=v.code, name=v.name,
                                               blocked=v.blocked) for v in values)
            s.add_all(t.BillAccountCache(id=a.id, name=a.name, number=a.number, account_type=a.account_type,
                                         archived=a.archived) for a in bill_accounts)
            s.add_all(t.BillClassificationCache(id=c.id, kind=str(c.kind), name=c.name, short_name=c.short_name,
                                                archived=c.archived) for c in classifications)
            archived = {a.id for a in bill_accounts if a.archived}
            # A suggestion that now points at an archived account is withdrawn (a user's choice stays, and
            # the invoices that need it are held with the reason).
            for mapping in s.scalars(select(t.AccountMapping).where(t.AccountMapping.source == "suggested")):
                if mapping.bill_account_id in archived:
                    s.delete(mapping)
            s.flush()
            mapped = set(s.scalars(select(t.AccountMapping.nav_account).where(
                t.AccountMapping.dimension_filter_key == "")))
            for suggestion in suggest_account_mappings(gl_accounts, bill_accounts, mapped):
                s.add(t.AccountMapping(nav_account=suggestion.nav_account, dimension_filter={},
                                       dimension_filter_key="", bill_account_id=suggestion.bill_account_id,
                                       source="suggested", reason=suggestion.reason))
                counts.created += 1
            mapped_values = {(code, value) for code, value in s.execute(select(
                t.DimensionMapping.dimension_code, t.DimensionMapping.value_code))}
            for suggestion in suggest_dimension_mappings(values, classifications, mapped_values):
                s.add(t.DimensionMapping(dimension_code=suggestion.dimension_code, value_code=suggestion.value_code,
                                         kind=suggestion.kind, classification_id=suggestion.classification_id,
                                         source="suggested", reason=suggestion.reason))
                counts.created += 1
            counts.updated += len(gl_accounts) + len(bill_accounts)
            for name, stamp in nav_marks.items():
                self.store.set_bookmark(s, NAV_REFERENCE_MARK + name, stamp)
            self.store.set_bookmark(s, REFERENCE_READ_AT, _iso(started))
        self._progress("accounts", len(gl_accounts) + len(bill_accounts), "accounts read")

    # ==============================================================================================
    # flows 1-3: vendors
    # ==============================================================================================
    def sync_vendors(self) -> None:
        self._recover_vendor_writes()
        self._apply_chosen_conflicts()
        self._retry_failed_vendors()
        bill_mark = self.store.get_bookmark("bill.vendors")
        self._absorb_bill_vendors(self._stream("BILL", lambda: self.bill.iter_vendors(
            updated_since=_parse(bill_mark))), bookmark="bill.vendors")
        nav_mark = self.store.get_bookmark("nav.vendors")
        self._absorb_nav_vendors(self._stream("NAV", lambda: self.nav.iter_vendors(
            modified_since=_parse(nav_mark))), bookmark="nav.vendors")
        if self._bulk_unsettled:  # a bulk answer was lost in this run: settle it now
            self._bulk_unsettled = False
            self._recover_bulk_bill_vendors()
        if self._bill_vendors_created:
            # The vendors just created come back in BILL's list (newer than the bookmark). Read them now,
            # at 100 a page, as known echoes (no work), so the next run reads only what changed after
            # this one instead of every vendor this run created.
            bill_mark = self.store.get_bookmark("bill.vendors")
            self._absorb_bill_vendors(self._stream("BILL", lambda: self._vendor_echoes(_parse(bill_mark))),
                                      bookmark="bill.vendors")
        self._reconcile_links()
        if self.settings.create_nav_vendors:
            self._create_nav_vendors_from_bill()

    # -- reading -------------------------------------------------------------------------------
    def _absorb_bill_vendors(self, vendors: Iterable, bookmark: str = "") -> None:
        """Note each changed BILL vendor: on its link (reconciled later) or in the match index."""
        newest = ""
        for batch in _batched(vendors):
            self._check_cancel()
            with self.store.session() as s:
                ids = [v.id for v in batch]
                links = {link.bill_id: link for link in s.scalars(select(t.VendorLink).where(
                    t.VendorLink.bill_id.in_(ids), t.VendorLink.status == "linked"))}
                for vendor in batch:
                    newest = max(newest, _iso(vendor.updated_time))
                    link = links.get(vendor.id)
                    if link is not None:
                        fields = vendor.fields.as_dict()
                        if link.bill_pending is None and link.bill_snapshot and fields == link.bill_snapshot:
                            # Unchanged since the last sync (often our own write coming back): nothing to do.
                            if link.bill_updated != vendor.updated_time:
                                link.bill_updated = vendor.updated_time
                            continue
                        link.bill_pending, link.bill_updated = fields, vendor.updated_time
                        continue
                    keys = MatchKeys.of(vendor.fields.name, vendor.fields.email, vendor.fields.tax_id)
                    candidate = s.get(t.BillVendorCandidate, vendor.id)
                    if candidate is None:
                        candidate = t.BillVendorCandidate(bill_id=vendor.id, claimed_by="")
                        s.add(candidate)
                    candidate.exact_name, candidate.name_key = keys.exact_name, keys.name
                    candidate.email_key, candidate.tax_key = keys.email, keys.tax_id
                    candidate.fields, candidate.updated_time = vendor.fields.as_dict(), vendor.updated_time
            self._watch_bank(batch)
            crash_point("mid_stream")
        if bookmark and newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, bookmark, newest)

    def _absorb_nav_vendors(self, vendors: Iterable, bookmark: str = "") -> None:
        newest = ""
        counts = self.report.counts("vendors")
        to_create = []
        done = 0
        for batch in _batched(vendors):
            self._check_cancel()
            with self.store.session() as s:
                links = {link.nav_number: link for link in s.scalars(select(t.VendorLink).where(
                    t.VendorLink.nav_number.in_([v.number for v in batch])))}
                new = [v for v in batch if v.number not in links]
                pool = self._candidate_pool(s, [MatchKeys.of(v.fields.name, v.fields.email, v.fields.tax_id)
                                                for v in new]) if new else None
                for vendor in batch:
                    newest = max(newest, _iso(vendor.last_modified))
                    link = links.get(vendor.number)
                    if link is not None and link.status == "linked":
                        fields = vendor.fields.as_dict()
                        if link.nav_pending is None and link.nav_snapshot and fields == link.nav_snapshot:
                            # Unchanged since the last sync: keep the ETag for the next PATCH, nothing else.
                            if (link.nav_etag, link.nav_modified) != (vendor.etag, vendor.last_modified):
                                link.nav_etag, link.nav_modified = vendor.etag, vendor.last_modified
                            continue
                        link.nav_pending, link.nav_etag = fields, vendor.etag
                        link.nav_modified, link.name = vendor.last_modified, vendor.fields.name
                    elif link is not None and link.status in ("proposed", "ambiguous"):
                        link.name = vendor.fields.name  # waiting for the user
                    elif link is not None and link.status == "rejected":
                        to_create.append(vendor)
                    elif not self._match_nav_vendor(s, vendor, pool):
                        if vendor.fields.inactive:
                            counts.skipped += 1  # a blocked vendor with no BILL counterpart stays out of BILL
                        else:
                            to_create.append(vendor)
            done += len(batch)
            self._check_cancel()
            self._create_bill_vendors(to_create, wait=False)  # in flight while the next batch is read
            to_create = []
            self._progress("vendors", done, "NAV vendors read")
            crash_point("mid_stream")
        self._drain_writes()
        if bookmark and newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, bookmark, newest)

    @staticmethod
    def _candidate_pool(s: Session, keys: list[MatchKeys]) -> _CandidatePool:
        """The unclaimed BILL vendors any of ``keys`` could match: one query for the equal keys, one per
        distinct first word for "very similar name" (a name_key prefix range, on its index)."""
        c = t.BillVendorCandidate
        rows: dict[str, t.BillVendorCandidate] = {}
        by_key: dict[tuple[str, str], list[str]] = {}
        columns = (("exact_name", c.exact_name, {k.exact_name for k in keys if k.exact_name}),
                   ("name_key", c.name_key, {k.name for k in keys if k.name}),
                   ("email_key", c.email_key, {k.email for k in keys if k.email}),
                   ("tax_key", c.tax_key, {k.tax_id for k in keys if k.tax_id}))
        conditions = [column.in_(sorted(values)) for _, column, values in columns if values]
        if conditions:
            for row in s.scalars(select(c).where(c.claimed_by == "", or_(*conditions))):
                rows[row.bill_id] = row
                for attribute, _, values in columns:
                    value = getattr(row, attribute)
                    if value in values:
                        by_key.setdefault((attribute, value), []).append(row.bill_id)
        words: dict[str, int] = {}
        for k in keys:
            if k.name:
                word = k.name.split(" ")[0]
                words[word] = words.get(word, 0) + 1
        by_word: dict[str, list[str]] = {}
        for word, uses in words.items():
            # Enough that each vendor of the batch still sees SIMILAR_POOL after earlier ones took some.
            upper = word[:-1] + chr(ord(word[-1]) + 1)
            found = list(s.scalars(select(c).where(c.claimed_by == "", c.name_key >= word, c.name_key < upper)
                                   .order_by(c.name_key).limit(SIMILAR_POOL + uses)))
            for row in found:
                rows.setdefault(row.bill_id, row)
            by_word[word] = [row.bill_id for row in found]
        return _CandidatePool(rows, by_key, by_word)

    def _match_nav_vendor(self, s: Session, vendor, pool: _CandidatePool | None = None) -> bool:
        """Link, propose or queue a match for a NAV vendor seen for the first time. False: no match."""
        keys = MatchKeys.of(vendor.fields.name, vendor.fields.email, vendor.fields.tax_id)
        if pool is None:
            pool = self._candidate_pool(s, [keys])
        rows = pool.candidates(keys)
        if not rows:
            return False
        result = match_vendor(keys, [Candidate(r.bill_id, MatchKeys(r.exact_name, r.name_key, r.email_key,
                                                                    r.tax_key)) for r in rows])
        if result.kind == MatchKind.NONE:
            return False
        by_id = {r.bill_id: r for r in rows}
        counts = self.report.counts("vendors")
        link = t.VendorLink(nav_number=vendor.number, name=vendor.fields.name, match_reason=result.reason,
                            nav_etag=vendor.etag, nav_modified=vendor.last_modified)
        s.add(link)
        if result.kind == MatchKind.EXACT:
            candidate = by_id[result.single]
            link.status, link.bill_id = "linked", candidate.bill_id
            link.nav_pending, link.bill_pending = vendor.fields.as_dict(), dict(candidate.fields)
            link.bill_updated = candidate.updated_time
            s.delete(candidate)
            pool.gone.add(candidate.bill_id)
            self._audit(s, "engine", "link", f"vendor {vendor.number}", bill_id=candidate.bill_id,
                        reason=result.reason)
            counts.updated += 1
            return True
        link.status = "proposed" if result.kind == MatchKind.PROPOSED else "ambiguous"
        link.bill_id = result.single
        link.candidate_ids = list(result.candidate_ids)
        # Keep NAV's side as read, so the clerk compares full records before accepting, and the first
        # merge after acceptance has NAV's values without waiting for the vendor to change again.
        link.nav_pending = vendor.fields.as_dict()
        for bill_id in result.candidate_ids:
            by_id[bill_id].claimed_by = vendor.number
            pool.gone.add(bill_id)
        names = ", ".join(f"'{by_id[i].exact_name}' ({i})" for i in result.candidate_ids)
        if result.kind == MatchKind.PROPOSED:
            reason = (f"NAV vendor {vendor.number} {vendor.fields.name} looks like BILL vendor {names} "
                      f"({result.reason}): confirm or reject the match.")
        else:
            reason = (f"NAV vendor {vendor.number} {vendor.fields.name} could be any of the BILL vendors {names}: "
                      "pick the right one or reject them all.")
        item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "vendor",
                                                   t.QueueItem.record_key == vendor.number)).first()
        if item is None:
            s.add(t.QueueItem(kind="vendor", record_key=vendor.number, reason=reason))
        else:
            item.reason, item.state = reason, "open"
        counts.held += 1
        return True

    # -- writing: NAV → BILL new vendor ---------------------------------------------------------
    def _create_bill_vendor(self, vendor) -> None:
        self._create_bill_vendors([vendor])

    def _create_bill_vendors(self, vendors: list, wait: bool = True) -> None:
        """New NAV vendors become BILL vendors: in bulk calls when there are several (one outbox row per
        call), one by one otherwise (a webhook's one-off); up to 3 calls at once."""
        if len(vendors) > 1 and hasattr(self.bill, "create_vendors"):
            self._create_bill_vendors_bulk(vendors, wait)
            return
        writes = []
        for vendor in vendors:
            fields = vendor.fields

            def look(fields=fields):
                found = self._bill_call(self.bill.find_vendors_by_name, fields.name) or []
                linked = self._linked_bill_ids([v.id for v in found])
                return next((v for v in found if v.id not in linked), None)

            writes.append(_Write(
                key=f"bill.vendor.create:{vendor.number}", action="create_bill_vendor",
                record=f"vendor {vendor.number}", payload=fields.as_dict(), record_key=vendor.number,
                label=f"NAV vendor {vendor.number} {fields.name}",
                send=lambda fields=fields: self._bill_call(self.bill.create_vendor, fields), look=look,
                data=vendor))
        self._write_batch("vendors", "vendor", writes, self._finish_bill_vendors, wait=wait)

    def _create_bill_vendors_bulk(self, vendors: list, wait: bool = True) -> None:
        limit = self._bulk_limit("bulk_vendor_limit", 20)
        marks = self._sent_marks()
        writes = []
        for start in range(0, len(vendors), limit):
            chunk = vendors[start:start + limit]
            label = f"{len(chunk)} new BILL vendors (NAV vendors {chunk[0].number} … {chunk[-1].number})"
            writes.append(_Write(
                key=self._bulk_key("vendors"), action="create_bill_vendors", record=label,
                payload={**marks, "vendors": [_nav_vendor_to_json(v) for v in chunk]},
                record_key=chunk[0].number, label=label, look=None, data=chunk, bulk=True,
                send=lambda chunk=chunk: self._bill_call(self.bill.create_vendors, [v.fields for v in chunk])))
        self._write_batch("vendors", "vendor", writes, self._finish_bulk_bill_vendors, wait=wait)

    @staticmethod
    def _vendor_stub(vendor) -> _Write:
        """What ``_finish_bill_vendors`` needs of one vendor created in a bulk call."""
        return _Write(key=f"bill.vendor.create:{vendor.number}", action="create_bill_vendor",
                      record=f"vendor {vendor.number}", payload={}, record_key=vendor.number, label="",
                      send=lambda: None, look=None, data=vendor)

    def _finish_bulk_bill_vendors(self, s: Session, done: list[tuple[_Write, Any]]) -> dict[str, dict]:
        created, results = [], {}
        for write, outcomes in done:
            made, refused = {}, {}
            for vendor, outcome in zip(write.data, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    refused[vendor.number] = str(outcome)
                    self._refused_in_bulk(
                        s, f"bill.vendor.create:{vendor.number}", "create_bill_vendor", f"vendor {vendor.number}",
                        vendor.fields.as_dict(), outcome, "vendor", vendor.number,
                        f"NAV vendor {vendor.number} {vendor.fields.name}: {getattr(outcome, 'message', outcome)}",
                        None, "vendors")
                else:
                    made[vendor.number] = outcome.id
                    created.append((self._vendor_stub(vendor), outcome))
            results[write.key] = {"created": made, "refused": refused}
        if created:
            self._finish_bill_vendors(s, created)
        return results

    def _recover_bulk_bill_vendors(self) -> None:
        """Settle bulk vendor calls a crash or a lost answer left open: one list call (vendors BILL created
        since the oldest was sent) shows which of their vendors BILL has; those are linked, the others sent
        again (never twice: a vendor already linked, or found, is not sent)."""
        rows = self.outbox.unfinished("create_bill_vendors")
        if not rows:
            return
        available: list = []
        sent = [r for r in rows if r.state == "in_flight"]
        if sent:
            since, _ = self._lookup_since(sent)
            found = self._bill_call(self.bill.vendors_created_since, since) or []
            linked = self._linked_bill_ids([v.id for v in found])
            available = [v for v in found if v.id not in linked]
        vendors = {}
        for row in rows:
            for data in row.payload["vendors"]:
                vendors.setdefault(data["number"], _nav_vendor_from_json(data))
        with self.store.session() as s:
            done = set(s.scalars(select(t.VendorLink.nav_number).where(
                t.VendorLink.nav_number.in_(list(vendors)), t.VendorLink.status == "linked")))
        matched, missing = [], []
        for number, vendor in vendors.items():
            if number in done:
                continue
            twin = next((v for v in available if _same_vendor(v.fields, vendor.fields)), None)
            if twin is not None:
                available.remove(twin)
                matched.append((self._vendor_stub(vendor), twin))
            else:
                missing.append(vendor)
        log.info("Open bulk vendor calls: %d vendors found in BILL, %d to send again", len(matched), len(missing))
        if matched:
            with self.store.session() as s:
                self._finish_bill_vendors(s, matched)
            self.report.counts("vendors").created += len(matched)
        if missing:
            self._create_bill_vendors(missing)
        with self.store.session() as s:
            for row in rows:
                self.outbox.finish(s, row.key, {"recovered": True})

    def _finish_bill_vendors(self, s: Session, done: list[tuple[_Write, Any]]) -> dict[str, dict]:
        numbers = [w.record_key for w, _ in done]
        links = {link.nav_number: link for link in s.scalars(select(t.VendorLink).where(
            t.VendorLink.nav_number.in_(numbers)))}
        results = {}
        for write, created in done:
            vendor, fields = write.data, write.data.fields
            link = links.get(vendor.number)
            if link is None:
                link = links[vendor.number] = t.VendorLink(nav_number=vendor.number)
                s.add(link)
            link.bill_id, link.status, link.name, link.candidate_ids = created.id, "linked", fields.name, []
            link.nav_snapshot, link.bill_snapshot = fields.as_dict(), created.fields.as_dict()
            link.nav_pending = link.bill_pending = None
            link.nav_etag, link.nav_modified, link.bill_updated = vendor.etag, vendor.last_modified, created.updated_time
            link.synced_at = self.clock()
            self._audit(s, "BILL", "create_vendor", f"vendor {vendor.number}", bill_id=created.id,
                        name=fields.name)
            results[write.key] = {"bill_id": created.id}
        s.execute(delete(t.BillVendorCandidate).where(t.BillVendorCandidate.bill_id.in_(
            [created.id for _, created in done])))
        self._resolve_items(s, "vendor", numbers)
        self._bill_vendors_created += len(done)
        self._vendors_new_this_run.update(created.id for _, created in done)
        self._created_vendor_times.extend(c.updated_time for _, c in done if c.updated_time)
        self._saw_bill_times(c.updated_time for _, c in done)
        return results

    def _saw_bill_times(self, times: Iterable[datetime | None]) -> None:
        newest = max((moment for moment in times if moment), default=None)
        if newest and (self._bill_clock is None or newest > self._bill_clock):
            self._bill_clock = newest

    def _sent_marks(self) -> dict:
        """When a bulk call is prepared: our clock, and BILL's (the newest time BILL gave a record this run
        created, if any). What the call creates is stamped at or after BILL's mark, so a lookup from it needs
        no margin for clock differences."""
        return {"sent_after": _iso(self.clock()), "bill_time": _iso(self._bill_clock)}

    @staticmethod
    def _lookup_since(rows: list) -> tuple[datetime, bool]:
        """From when to look for what open bulk rows created, and whether that is BILL's own clock (tight)."""
        marks = [_parse(r.payload.get("bill_time", "")) for r in rows]
        if all(marks):
            return min(marks), True
        return min(_parse(r.payload["sent_after"]) for r in rows) - RECOVERY_MARGIN, False

    def _vendor_echoes(self, since: datetime | None) -> Iterator:
        """BILL's vendors changed since ``since``, this run's creates among them. Many pages: read as up to
        3 lists side by side (updatedTime ranges cut where this run's creates split evenly; BILL filters
        createdTime/updatedTime by range), so the pages go 3 at a time like the writes did."""
        times = sorted(self._created_vendor_times)
        parts = self._write_concurrency()
        if len(times) < 300 or parts <= 1:
            yield from self.bill.iter_vendors(updated_since=since)
            return
        cuts = sorted({times[len(times) * i // parts] for i in range(1, parts)} - {since})
        bounds = list(zip([since, *cuts], [*cuts, None], strict=True))
        yield from _side_by_side([lambda a=a, b=b: self.bill.iter_vendors(updated_since=a, updated_before=b)
                                  for a, b in bounds])

    def _linked_bill_ids(self, among: list[str] | None = None) -> set[str]:
        """BILL vendor ids already linked (only those ``among`` the given ids, when given)."""
        with self.store.session() as s:
            query = select(t.VendorLink.bill_id).where(t.VendorLink.status == "linked")
            if among is not None:
                if not among:
                    return set()
                query = query.where(t.VendorLink.bill_id.in_(among))
            return set(s.scalars(query))

    # -- writing: BILL → NAV new vendor ---------------------------------------------------------
    def _create_nav_vendors_from_bill(self, only_bill_id: str | None = None) -> None:
        last_id = ""
        while True:
            self._check_cancel()
            with self.store.session() as s:
                query = select(t.BillVendorCandidate).where(t.BillVendorCandidate.claimed_by == "",
                                                            t.BillVendorCandidate.bill_id > last_id)
                if only_bill_id:
                    query = query.where(t.BillVendorCandidate.bill_id == only_bill_id)
                batch = list(s.scalars(query.order_by(t.BillVendorCandidate.bill_id).limit(BATCH)))
            if not batch:
                return
            for candidate in batch:
                last_id = candidate.bill_id
                fields = VendorFields.from_dict(candidate.fields)
                if fields.inactive:
                    continue  # archived in BILL: nothing to create
                too_long = [(name, len(str(getattr(fields, name)))) for name, limit in NAV_VENDOR_LIMITS.items()
                            if len(str(getattr(fields, name))) > limit]
                if too_long:
                    what = ", ".join(f"{name} is {length:,} characters long (NAV holds at most "
                                     f"{NAV_VENDOR_LIMITS[name]})" for name, length in too_long)
                    self._hold("bill_vendor", candidate.bill_id,
                               f"BILL vendor {shown(fields.name)} ({candidate.bill_id}): {what}. Shorten it in BILL; "
                               "it is tried again at the next sync.", flow="vendors")
                    continue
                self._guard("vendors", "bill_vendor", candidate.bill_id,
                            f"BILL vendor {shown(fields.name)}",
                            lambda candidate=candidate, fields=fields: self._create_nav_vendor(candidate.bill_id,
                                                                                               fields))

    def _create_nav_vendor(self, bill_id: str, fields: VendorFields) -> None:
        key = f"nav.vendor.create:{bill_id}"
        existing = self.outbox.entry(key)
        if existing is None:
            # The number is chosen and stored BEFORE the POST: after a crash, the retry finds the
            # vendor by that number instead of creating a second one. A number NAV already has (a store
            # that was lost or restored from an older backup starts its series again) is passed over.
            for _ in range(1000):
                with self.store.session() as s:
                    number = self.store.next_number(s, "vendor", self.settings.vendor_number_prefix,
                                                    self.settings.vendor_number_width)
                if self.report.dry_run or self._nav_call(self.nav.get_vendor, number) is None:
                    break
            with self.store.session() as s:
                s.add(t.OutboxEntry(key=key, system="NAV", action="create_nav_vendor", record=f"BILL vendor {bill_id}",
                                    payload={"number": number, "fields": fields.as_dict()}, run_id=self.report.run_id))
        else:
            number = existing.payload["number"]
        created = self.outbox.send(key, lambda: self._nav_call(self.nav.create_vendor, fields, number),
                                   lambda: self._nav_call(self.nav.get_vendor, number))
        self._finish_nav_vendor(key, bill_id, fields, created)

    def _finish_nav_vendor(self, key: str, bill_id: str, bill_fields: VendorFields, created) -> None:
        with self.store.session() as s:
            s.add(t.VendorLink(nav_number=created.number, bill_id=bill_id, status="linked", name=bill_fields.name,
                               nav_snapshot=created.fields.as_dict(), bill_snapshot=bill_fields.as_dict(),
                               nav_etag=created.etag, nav_modified=created.last_modified, synced_at=self.clock()))
            s.execute(delete(t.BillVendorCandidate).where(t.BillVendorCandidate.bill_id == bill_id))
            self.outbox.finish(s, key, {"number": created.number})
            self._resolve_item(s, "bill_vendor", bill_id)
            self._audit(s, "NAV", "create_vendor", f"vendor {created.number}", bill_id=bill_id,
                        name=bill_fields.name)
        crash_point("after_commit")
        self.report.counts("vendors").created += 1

    def _recover_vendor_writes(self) -> None:
        """Finish vendor creations a crash or an unknown outcome left open (look first, then send)."""
        self._recover_bulk_bill_vendors()
        for row in self.outbox.unfinished("create_nav_vendor"):
            self._check_cancel()
            bill_id = row.key.split(":", 1)[1]
            fields = VendorFields.from_dict(row.payload["fields"])
            self._guard("vendors", "bill_vendor", bill_id, f"BILL vendor {shown(fields.name)}",
                        lambda bill_id=bill_id, fields=fields: self._create_nav_vendor(bill_id, fields))
        for row in self.outbox.unfinished("create_bill_vendor"):
            self._check_cancel()
            number = row.key.split(":", 1)[1]
            vendor = self._nav_call(self.nav.get_vendor, number)
            if vendor is None:
                continue
            self._guard("vendors", "vendor", number, f"NAV vendor {number}",
                        lambda vendor=vendor: self._create_bill_vendor(vendor))

    def _retry_failed_vendors(self) -> None:
        for number in self._retry_keys("vendor"):
            vendor = self._nav_call(self.nav.get_vendor, number)
            if vendor is not None:
                self._absorb_nav_vendors([vendor])
        for bill_id in self._retry_keys("bill_vendor"):
            vendor = self._bill_call(self.bill.get_vendor, bill_id)
            if vendor is not None:
                self._absorb_bill_vendors([vendor])

    # -- reconciling linked vendors (three-way) -------------------------------------------------
    def _reconcile_links(self, only_nav_number: str | None = None, only_bill_id: str | None = None) -> None:
        last_id = 0
        while True:
            self._check_cancel()
            with self.store.session() as s:
                query = select(t.VendorLink).where(
                    t.VendorLink.status == "linked", t.VendorLink.id > last_id,
                    or_(t.json_set(t.VendorLink.nav_pending), t.json_set(t.VendorLink.bill_pending),
                        t.VendorLink.nav_snapshot == {}))
                if only_nav_number:
                    query = query.where(t.VendorLink.nav_number == only_nav_number)
                if only_bill_id:
                    query = query.where(t.VendorLink.bill_id == only_bill_id)
                links = list(s.scalars(query.order_by(t.VendorLink.id).limit(BATCH)))
            if not links:
                return
            self._quiet_links = []
            try:
                for link in links:
                    last_id = link.id
                    self._guard("vendors", "vendor", link.nav_number, f"NAV vendor {link.nav_number}",
                                lambda link=link: self._reconcile_link(link.id, link))
            finally:
                quiet, self._quiet_links = self._quiet_links, None
                self._store_quiet_links(quiet)

    def _store_quiet_links(self, quiet: list[tuple[int, str, dict, dict, str]]) -> None:
        """Links whose reconcile wrote nothing to either side: their new snapshots, in one transaction
        (store-only work: a crash before it only means the comparison is made again)."""
        if not quiet:
            return
        by_id = {entry[0]: entry for entry in quiet}
        with self.store.session() as s:
            for link in s.scalars(select(t.VendorLink).where(t.VendorLink.id.in_(list(by_id)))):
                _, _, nav_snapshot, bill_snapshot, etag = by_id[link.id]
                link.nav_snapshot, link.bill_snapshot = nav_snapshot, bill_snapshot
                link.nav_pending = link.bill_pending = None
                link.nav_etag, link.synced_at = etag, self.clock()
                link.name = nav_snapshot.get("name") or link.name
            self._resolve_items(s, "vendor", [entry[1] for entry in quiet])

    def _reconcile_link(self, link_id: int, link: t.VendorLink | None = None) -> None:
        if link is None:
            with self.store.session() as s:
                link = s.get(t.VendorLink, link_id)
        counts = self.report.counts("vendors")
        first_merge = not link.nav_snapshot or not link.bill_snapshot
        nav_fresh, bill_fresh = link.nav_pending is not None, link.bill_pending is not None
        nav_now = link.nav_pending
        etag = link.nav_etag
        if nav_now is None and first_merge:
            vendor = self._nav_call(self.nav.get_vendor, link.nav_number)
            if vendor is None:
                raise RecordError("the NAV vendor no longer exists or could not be read (see its own item)",
                                  system="NAV", record=f"vendor {link.nav_number}")
            nav_now, etag = vendor.fields.as_dict(), vendor.etag
        bill_now = link.bill_pending
        if bill_now is None and first_merge:
            vendor = self._bill_call(self.bill.get_vendor, link.bill_id)
            if vendor is None:
                raise RecordError("the BILL vendor no longer exists or could not be read (see its own item)",
                                  system="BILL", record=f"vendor {link.bill_id}")
            bill_now = vendor.fields.as_dict()
        nav_now = nav_now if nav_now is not None else link.nav_snapshot
        bill_now = bill_now if bill_now is not None else link.bill_snapshot

        if first_merge:
            # Linked just now: NAV is the vendor master, except where NAV has nothing and BILL has something.
            to_bill = {f: nav_now.get(f) for f in VENDOR_SYNC_FIELDS
                       if nav_now.get(f) != bill_now.get(f) and nav_now.get(f) not in ("", None)}
            to_nav = {f: bill_now.get(f) for f in VENDOR_SYNC_FIELDS
                      if nav_now.get(f) in ("", None) and bill_now.get(f) not in ("", None)}
            conflicts: tuple = ()
        else:
            result = three_way(link.nav_snapshot, nav_now, link.bill_snapshot, bill_now)
            to_bill, to_nav, conflicts = dict(result.to_bill), dict(result.to_nav), result.conflicts
        # A field already in conflict waits for the person deciding it: nothing is written for it, whichever side
        # changed since (a webhook sync reads one side only, and the other side's snapshot is the old value).
        # Its conflict row follows the newest value read on each side, so the choice applies what is there now.
        with self.store.session() as s:
            undecided = set()
            for row in s.scalars(select(t.Conflict).where(t.Conflict.record_key == link.nav_number,
                                                          t.Conflict.state.in_(("open", "chosen")))):
                undecided.add(row.field)
                if nav_fresh and row.state == "open":
                    row.nav_value, row.nav_time = nav_now.get(row.field), link.nav_modified
                if bill_fresh and row.state == "open":
                    row.bill_value, row.bill_time = bill_now.get(row.field), link.bill_updated
        for name in undecided:
            to_bill.pop(name, None)
            to_nav.pop(name, None)
        conflicts = tuple(c for c in conflicts if c.field not in undecided)
        policy = self.settings.master_on_conflict
        open_conflicts = []
        for conflict in conflicts:
            if policy == "nav":
                to_bill[conflict.field] = conflict.nav_value
            elif policy == "bill":
                to_nav[conflict.field] = conflict.bill_value
            else:
                open_conflicts.append(conflict)

        new_bill_snapshot = dict(bill_now)
        new_nav_snapshot = dict(nav_now)
        if to_bill:
            merged = VendorFields.from_dict({**bill_now, **to_bill})
            updated = self._write_bill_vendor(link.bill_id, link.nav_number, merged, to_bill, bill_now)
            new_bill_snapshot = updated.fields.as_dict() if updated is not None else merged.as_dict()
        if to_nav:
            merged = VendorFields.from_dict({**nav_now, **to_nav})
            updated = self._write_nav_vendor(link.nav_number, merged, etag, to_nav)
            new_nav_snapshot = updated.fields.as_dict()
            etag = updated.etag
        # A field in conflict keeps its old snapshot on both sides, so it stays "changed on both" until
        # the user (or the policy) decides; the conflict row carries both values and times.
        for name in [conflict.field for conflict in open_conflicts] + sorted(undecided):
            new_nav_snapshot[name] = (link.nav_snapshot or {}).get(name)
            new_bill_snapshot[name] = (link.bill_snapshot or {}).get(name)
        if not (to_bill or to_nav or open_conflicts) and self._quiet_links is not None:
            self._quiet_links.append((link_id, link.nav_number, new_nav_snapshot, new_bill_snapshot, etag))
            return
        with self.store.session() as s:
            link = s.get(t.VendorLink, link_id)
            link.nav_snapshot, link.bill_snapshot = new_nav_snapshot, new_bill_snapshot
            link.nav_pending = link.bill_pending = None
            link.nav_etag, link.synced_at, link.name = etag, self.clock(), new_nav_snapshot.get("name") or link.name
            for conflict in open_conflicts:
                row = s.scalars(select(t.Conflict).where(t.Conflict.record_key == link.nav_number,
                                                         t.Conflict.field == conflict.field,
                                                         t.Conflict.state == "open")).first()
                if row is None:
                    row = t.Conflict(entity="vendor", record_key=link.nav_number, bill_id=link.bill_id,
                                     field=conflict.field)
                    s.add(row)
                row.nav_value, row.bill_value = conflict.nav_value, conflict.bill_value
                row.nav_time, row.bill_time = link.nav_modified, link.bill_updated
                self._audit(s, "engine", "conflict", f"vendor {link.nav_number}", field=conflict.field)
            self._resolve_item(s, "vendor", link.nav_number)
        counts.conflicts += len(open_conflicts)
        if to_bill or to_nav:
            counts.updated += 1

    def _write_bill_vendor(self, bill_id: str, nav_number: str, merged: VendorFields, changes: dict,
                           before: dict):
        key = f"bill.vendor.update:{bill_id}:{hash(tuple(sorted(merged.as_dict().items()))) & 0xFFFFFFFF:x}"
        self.outbox.record(key, "BILL", "update_bill_vendor", f"vendor {nav_number}", {"changes": changes})
        # An update sets values (the client archives or restores when ``inactive`` changes): sending it
        # twice is harmless, so no look is needed.
        result = self.outbox.send(key, lambda: self._bill_call(self.bill.update_vendor, bill_id, merged), None)
        with self.store.session() as s:
            self.outbox.finish(s, key, {"bill_id": bill_id})
            self._audit(s, "BILL", "update_vendor", f"vendor {nav_number}", bill_id=bill_id,
                        before={k: before.get(k) for k in changes}, after=changes)
        return result

    def _write_nav_vendor(self, number: str, merged: VendorFields, etag: str, changes: dict):
        if not etag:
            current = self._nav_call(self.nav.get_vendor, number)
            etag = current.etag if current else ""
        key = f"nav.vendor.update:{number}:{hash(tuple(sorted(merged.as_dict().items()))) & 0xFFFFFFFF:x}"
        self.outbox.record(key, "NAV", "update_nav_vendor", f"vendor {number}", {"changes": changes})
        updated = self.outbox.send(key, lambda: self._nav_call(self.nav.update_vendor, number, merged, etag), None)
        with self.store.session() as s:
            self.outbox.finish(s, key, {"number": number})
            self._audit(s, "NAV", "update_vendor", f"vendor {number}", after=changes)
        return updated

    def _apply_chosen_conflicts(self) -> None:
        with self.store.session() as s:
            chosen = list(s.scalars(select(t.Conflict).where(t.Conflict.state == "chosen")
                                    .order_by(t.Conflict.record_key)))
        by_vendor: dict[str, list[t.Conflict]] = {}
        for conflict in chosen:
            by_vendor.setdefault(conflict.record_key, []).append(conflict)
        for number, conflicts in by_vendor.items():
            self._check_cancel()
            self._guard("vendors", "vendor", number, f"NAV vendor {number}",
                        lambda number=number, conflicts=conflicts: self._apply_resolution(number, conflicts))

    def _apply_resolution(self, number: str, conflicts: list[t.Conflict]) -> None:
        with self.store.session() as s:
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == number)).first()
        if link is None or link.status != "linked":
            return
        nav_vendor = self._nav_call(self.nav.get_vendor, number)
        bill_vendor = self._bill_call(self.bill.get_vendor, link.bill_id)
        if nav_vendor is None or bill_vendor is None:
            raise RecordError("the vendor no longer exists on one side", record=f"vendor {number}")
        to_nav = {c.field: c.bill_value for c in conflicts if c.chosen_side == "bill"}
        to_bill = {c.field: c.nav_value for c in conflicts if c.chosen_side == "nav"}
        nav_fields, bill_fields = nav_vendor.fields.as_dict(), bill_vendor.fields.as_dict()
        if to_bill:
            updated = self._write_bill_vendor(link.bill_id, number, VendorFields.from_dict({**bill_fields, **to_bill}),
                                              to_bill, bill_fields)
            bill_fields = updated.fields.as_dict() if updated is not None else {**bill_fields, **to_bill}
        if to_nav:
            updated = self._write_nav_vendor(number, VendorFields.from_dict({**nav_fields, **to_nav}),
                                             nav_vendor.etag, to_nav)
            nav_fields = updated.fields.as_dict()
        with self.store.session() as s:
            row = s.get(t.VendorLink, link.id)
            snapshot_nav, snapshot_bill = dict(row.nav_snapshot), dict(row.bill_snapshot)
            for conflict in conflicts:
                snapshot_nav[conflict.field] = nav_fields.get(conflict.field)
                snapshot_bill[conflict.field] = bill_fields.get(conflict.field)
                s.get(t.Conflict, conflict.id).state = "applied"
            row.nav_snapshot, row.bill_snapshot = snapshot_nav, snapshot_bill
        self.report.counts("vendors").updated += 1

    # ==============================================================================================
    # flow 5: invoices
    # ==============================================================================================
    def sync_invoices(self) -> None:
        self._load_mappings()
        self._recover_bill_writes()
        self._release_held_invoices()
        for number in self._retry_keys("invoice"):
            invoice = self._nav_call(self.nav.get_posted_invoice, number)
            if invoice is not None:
                self._push_invoice(invoice)
        mark = self.store.get_bookmark("nav.invoices")
        newest = ""
        done = 0
        for batch in _batched(self._stream("NAV", lambda: self.nav.iter_posted_invoices(
                modified_since=_parse(mark)))):
            self._check_cancel()
            with self.store.session() as s:
                # Created ones are done; held ones are re-checked from their stored copy (posted invoices
                # never change), so neither needs another look here.
                pushed = set(s.scalars(select(t.InvoiceLink.nav_number).where(
                    t.InvoiceLink.nav_number.in_([i.number for i in batch]))))
            for invoice in batch:
                newest = max(newest, _iso(invoice.last_modified))
            self._push_invoices([invoice for invoice in batch if invoice.number not in pushed], wait=False)
            done += len(batch)
            self._progress("invoices", done, "NAV posted invoices read")
            crash_point("mid_stream")
        self._drain_writes()
        if self._bulk_unsettled:  # a bulk answer was lost in this run: settle it before the bookmark moves
            self._bulk_unsettled = False
            self._recover_bulk_bills()
        if newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, "nav.invoices", newest)
        credits.sync_credit_memos(self)  # posted credit memos → BILL vendor credits (app.engine.credits)

    def _load_mappings(self) -> None:
        with self.store.session() as s:
            accounts: dict[str, list[t.AccountMapping]] = {}
            for mapping in s.scalars(select(t.AccountMapping)):
                accounts.setdefault(mapping.nav_account, []).append(mapping)
            dimensions = {(m.dimension_code, m.value_code): m for m in s.scalars(select(t.DimensionMapping))}
            bill_accounts = list(s.scalars(select(t.BillAccountCache)))
            self._mappings = _Mappings(
                accounts=accounts,
                dimensions=dimensions,
                mapped_dimensions={code for code, _ in dimensions},
                active_bill_accounts={a.id for a in bill_accounts if not a.archived},
                known_bill_accounts={a.id for a in bill_accounts},
                gl_names={a.number: a.name for a in s.scalars(select(t.NavGLAccountCache))},
                dimension_value_names={(v.dimension_code, v.code): v.name
                                       for v in s.scalars(select(t.NavDimensionValueCache))},
                bill_account_labels={a.id: f"{a.number} {a.name}".strip() for a in bill_accounts},
                archived_bill_accounts_by_number={a.number: f"{a.number} {a.name}".strip()
                                                  for a in bill_accounts if a.archived and a.number},
            )

    def _bill_lines(self, invoice: PostedInvoice) -> tuple[list[BillLine], list[str]]:
        """The bill's lines, or the reasons (one per line) why the invoice cannot go to BILL yet."""
        m = self._mappings
        lines: list[BillLine] = []
        problems: list[str] = []
        for line in invoice.lines:
            label = f"line {line.line_no}"
            if not line.gl_account:
                what = f"{line.line_type} {line.object_number}".strip() if line.line_type else "a line"
                problems.append(f"{label}: is {_article(what)} {what} line, not a G/L account line; BILL needs a "
                                "chart-of-accounts entry, so post such costs to a G/L account or enter this bill "
                                "in BILL by hand")
                continue
            account_label = f"G/L {line.gl_account} {m.gl_names.get(line.gl_account, '')}".rstrip()
            candidates = [c for c in m.accounts.get(line.gl_account, [])
                          if all(line.dimensions.get(k) == v for k, v in c.dimension_filter.items())]
            if not candidates:
                archived_twin = m.archived_bill_accounts_by_number.get(line.gl_account)
                # Say why when BILL has the matching account but it is archived: the fix is in BILL or a mapping.
                problems.append(f"{label}: {account_label} has no BILL account" + (
                    f" (BILL's account {archived_twin} is archived)" if archived_twin else ""))
                continue
            mapping = max(candidates, key=lambda c: len(c.dimension_filter))  # the most specific filter wins
            if mapping.bill_account_id not in m.active_bill_accounts and (
                    m.known_bill_accounts or not mapping.bill_account_id):
                target = m.bill_account_labels.get(mapping.bill_account_id)
                problems.append(f"{label}: {account_label} is mapped to BILL account {target}, which is archived"
                                if target else
                                f"{label}: {account_label} is mapped to a BILL account that no longer exists")
                continue
            classifications = dict(mapping.classifications)
            for code, value in sorted(line.dimensions.items()):
                if code not in m.mapped_dimensions:
                    continue  # a dimension nobody maps to BILL
                target = m.dimensions.get((code, value))
                if target is None:
                    name = m.dimension_value_names.get((code, value), "")
                    problems.append(f"{label}: {code} {value} {name}".rstrip() + " has no BILL classification")
                    continue
                line_field = CLASSIFICATION_LINE_FIELD.get(ClassificationKind(target.kind), "")
                if line_field:
                    classifications.setdefault(line_field, target.classification_id)
            lines.append(BillLine(amount=line.amount, description=line.description,
                                  chart_of_account_id=mapping.bill_account_id, classifications=classifications))
        if not invoice.lines:
            problems.append("the invoice has no lines")
        return lines, problems

    def _vendor_bill_id(self, vendor_number: str) -> str:
        return self._vendor_bill_ids([vendor_number]).get(vendor_number, "")

    def _vendor_bill_ids(self, vendor_numbers: list[str]) -> dict[str, str]:
        """NAV vendor No. -> linked BILL vendor id, for the given vendors (one query)."""
        with self.store.session() as s:
            return dict(s.execute(select(t.VendorLink.nav_number, t.VendorLink.bill_id).where(
                t.VendorLink.nav_number.in_(sorted(set(vendor_numbers))), t.VendorLink.status == "linked")).all())

    def _push_invoice(self, invoice: PostedInvoice) -> None:
        self._push_invoices([invoice])

    def _push_invoices(self, invoices: list[PostedInvoice], wait: bool = True) -> None:
        """Bills for posted invoices: each one held with the reasons, or created (a batch at a time).

        An invoice that already has its bill is passed over whoever asks: Business Central notifies an invoice
        again when it is paid or changes status, and a webhook must never make a second bill."""
        with self.store.session() as s:
            done = set(s.scalars(select(t.InvoiceLink.nav_number).where(
                t.InvoiceLink.nav_number.in_([i.number for i in invoices]), t.InvoiceLink.state == "created")))
        invoices = [invoice for invoice in invoices if invoice.number not in done]
        vendor_ids = self._vendor_bill_ids([i.vendor_number for i in invoices])
        writes = []
        for invoice in invoices:
            detail = {"invoice": _invoice_to_json(invoice)}
            vendor_bill_id = vendor_ids.get(invoice.vendor_number, "")
            lines, problems = self._invoice_problems(invoice, vendor_bill_id)
            if problems:
                self._hold("invoice", invoice.number, "; ".join(problems), detail=detail, flow="invoices")
                with self.store.session() as s:
                    link = s.get(t.InvoiceLink, invoice.number)
                    if link is None:
                        link = t.InvoiceLink(nav_number=invoice.number, vendor_number=invoice.vendor_number,
                                             vendor_invoice_number=invoice.vendor_invoice_number, state="held",
                                             amount=invoice.amount)
                        s.add(link)
                    _set_invoice_dates(link, invoice)  # also fills a link held before the store kept dates
                continue
            bill = Bill(id="", vendor_id=vendor_bill_id,
                        invoice_number=invoice.vendor_invoice_number or invoice.number,
                        invoice_date=invoice.document_date, due_date=invoice.due_date,
                        amount=sum((line.amount for line in lines), start=Decimal("0")), lines=tuple(lines),
                        description=f"NAV posted invoice {invoice.number}")
            writes.append(self._bill_write(invoice, bill, detail))
        writes = self._link_existing_bills(writes)
        if len(writes) > 1 and hasattr(self.bill, "create_bills"):
            writes = self._bulk_bill_writes(writes)
            self._write_batch("invoices", "invoice", writes, self._finish_bulk_bills, wait=wait)
            return
        self._write_batch("invoices", "invoice", writes, self._finish_bills, wait=wait)

    def _link_existing_bills(self, writes: list[_Write]) -> list[_Write]:
        """The store is a cache of what BILL already says: before creating bills, look in BILL (one list call
        per 40 vendors) for a bill that is already there for the invoice: same BILL vendor, invoice number and
        amount, created before this run and not linked to another invoice. Such a bill is linked, not created
        again, so a lost, emptied or restored-from-backup store creates no duplicate. Returns the writes that
        still have to be sent."""
        finder = getattr(self.bill, "find_bills_of_vendors", None)
        if finder is None or not writes or self.report.dry_run:
            return writes
        with self.store.session() as s:  # a write with an outbox row is the outbox's to finish (it looks first)
            recorded = set(s.scalars(select(t.OutboxEntry.key).where(t.OutboxEntry.key.in_([w.key for w in writes]))))
        # A vendor this run created in BILL has no bill there yet: only the others are looked up, so a first sync
        # of thousands of new vendors costs no lookups.
        fresh = [w for w in writes if w.key not in recorded and w.data[1].vendor_id not in self._vendors_new_this_run]
        if not fresh:
            return writes
        # A bill for an invoice is made after the invoice was posted: the earliest of its posting date, document
        # date and last change (a backdated or later-modified invoice still falls inside), less a day's margin.
        earliest = []
        for invoice in (w.data[0] for w in fresh):
            moments = [datetime.combine(d, datetime.min.time(), UTC) for d in (invoice.posting_date,
                                                                               invoice.document_date)
                       if d and d.year > 1900]
            if invoice.last_modified:
                moments.append(invoice.last_modified)
            earliest.append(min(moments) if moments else None)
        since = min(earliest) - timedelta(days=1) if earliest and all(earliest) else None
        found = self._bill_call(finder, [w.data[1].vendor_id for w in fresh], since, self._run_started_at) or []
        if not found:
            return writes
        by_key: dict[tuple[str, str, Decimal], list[Bill]] = {}
        for bill in found:
            by_key.setdefault((bill.vendor_id, bill.invoice_number.strip(), bill.amount), []).append(bill)
        with self.store.session() as s:
            taken = set(s.scalars(select(t.InvoiceLink.bill_id).where(
                t.InvoiceLink.bill_id.in_([b.id for b in found]), t.InvoiceLink.state == "created")))
        matched: list[tuple[_Write, Bill]] = []
        for write in fresh:
            invoice, bill = write.data
            candidates = [b for b in by_key.get((bill.vendor_id, bill.invoice_number.strip(), bill.amount), [])
                          if b.id not in taken]
            if not candidates:
                continue
            # The connector's own bill names the NAV invoice in its description: that one first.
            own = [b for b in candidates if f"NAV posted invoice {invoice.number}" in b.description]
            chosen = (own or candidates)[0]
            taken.add(chosen.id)
            matched.append((write, chosen))
        if not matched:
            return writes
        with self.store.session() as s:
            links = {link.nav_number: link for link in s.scalars(select(t.InvoiceLink).where(
                t.InvoiceLink.nav_number.in_([w.record_key for w, _ in matched])))}
            for write, existing in matched:
                invoice, bill = write.data
                link = links.get(invoice.number)
                if link is None:
                    link = t.InvoiceLink(nav_number=invoice.number, vendor_number=invoice.vendor_number,
                                         state="created")
                    s.add(link)
                link.bill_id, link.state, link.idempotency_key = existing.id, "created", write.key
                link.vendor_invoice_number, link.amount = invoice.vendor_invoice_number, bill.amount
                _set_invoice_dates(link, invoice)
                self._audit(s, "engine", "link_existing_bill", f"invoice {invoice.number}", bill_id=existing.id,
                            amount=_money(bill.amount), vendor=invoice.vendor_number)
            self._resolve_items(s, "invoice", [w.record_key for w, _ in matched])
        self.report.counts("invoices").updated += len(matched)
        log.info("Linked %d invoice(s) to bills already in BILL (nothing created twice)", len(matched))
        done = {id(w) for w, _ in matched}
        return [w for w in writes if id(w) not in done]

    def _bulk_bill_writes(self, singles: list[_Write]) -> list[_Write]:
        """The single bill writes, grouped into bulk calls of at most 100 (one outbox row each)."""
        limit = self._bulk_limit("bulk_bill_limit", 100)
        marks = self._sent_marks()
        writes = []
        for start in range(0, len(singles), limit):
            chunk = singles[start:start + limit]
            label = f"{len(chunk)} bills (invoices {chunk[0].record_key} … {chunk[-1].record_key})"
            records = [{"invoice": w.detail["invoice"], "vendor_id": w.data[1].vendor_id,
                        "invoice_number": w.data[1].invoice_number, "amount": str(w.data[1].amount)} for w in chunk]
            writes.append(_Write(
                key=self._bulk_key("bills"), action="create_bills", record=label,
                payload={**marks, "bills": records}, record_key=chunk[0].record_key, label=label,
                look=None, data=chunk, bulk=True,
                send=lambda chunk=chunk: self._bill_call(self.bill.create_bills, [w.data[1] for w in chunk])))
        return writes

    def _finish_bulk_bills(self, s: Session, done: list[tuple[_Write, Any]]) -> dict[str, dict]:
        created, results = [], {}
        for write, outcomes in done:
            made, refused = {}, {}
            for single, outcome in zip(write.data, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    refused[single.record_key] = str(outcome)
                    self._refused_in_bulk(s, single.key, single.action, single.record, single.payload, outcome,
                                          "invoice", single.record_key,
                                          f"{single.label}: {getattr(outcome, 'message', outcome)}", single.detail,
                                          "invoices")
                else:
                    made[single.record_key] = outcome.id
                    created.append((single, outcome))
            results[write.key] = {"created": made, "refused": refused}
        if created:
            self._finish_bills(s, created)
            self._saw_bill_times(bill.updated_time for _, bill in created)
        return results

    def _recover_bulk_bills(self) -> None:
        """Settle bulk bill calls a crash or a lost answer left open: a list call per 50 vendors (their bills
        BILL created since the oldest call was sent) shows which bills BILL has, matched by vendor, invoice
        number and amount; those are linked, only the others are sent again."""
        rows = self.outbox.unfinished("create_bills")
        if not rows:
            return
        available: list = []
        sent = [r for r in rows if r.state == "in_flight"]
        if sent:
            since, _ = self._lookup_since(sent)
            # Only these calls' vendors (vendorId:in) and only since they were sent (createdTime:gte, from
            # BILL's own clock mark when there is one) keep the lookup to a few pages.
            vendor_ids = sorted({b["vendor_id"] for r in sent for b in r.payload["bills"]})
            found = self._bill_call(self.bill.bills_created_since, since, vendor_ids) or []
            with self.store.session() as s:
                taken = set(s.scalars(select(t.InvoiceLink.bill_id).where(
                    t.InvoiceLink.bill_id.in_([b.id for b in found]))))
            available = [b for b in found if b.id not in taken]
        records = {}
        for row in rows:
            for record in row.payload["bills"]:
                records.setdefault(record["invoice"]["number"], record)
        with self.store.session() as s:
            done = set(s.scalars(select(t.InvoiceLink.nav_number).where(
                t.InvoiceLink.nav_number.in_(list(records)), t.InvoiceLink.state == "created")))
        matched, missing = [], []
        for number, record in records.items():
            if number in done:
                continue
            invoice = _invoice_from_json(record["invoice"])
            twin = next((b for b in available if b.vendor_id == record["vendor_id"]
                         and b.invoice_number.strip() == record["invoice_number"].strip()
                         and b.amount == Decimal(record["amount"])), None)
            if twin is None:
                missing.append(invoice)
                continue
            available.remove(twin)
            matched.append((_Write(key=f"bill.create:{number}", action="create_bill", record=f"invoice {number}",
                                   payload={}, record_key=number, label=f"invoice {number}", send=lambda: None,
                                   look=None, data=(invoice, twin)), twin))
        log.info("Open bulk bill calls: %d bills found in BILL, %d to send again", len(matched), len(missing))
        if matched:
            with self.store.session() as s:
                self._finish_bills(s, matched)
            self.report.counts("invoices").created += len(matched)
        if missing:
            self._push_invoices(missing)
        with self.store.session() as s:
            for row in rows:
                self.outbox.finish(s, row.key, {"recovered": True})

    def _invoice_problems(self, invoice: PostedInvoice, vendor_bill_id: str) -> tuple[list[BillLine], list[str]]:
        """The bill's lines, and every reason the invoice cannot go to BILL now (empty: it can)."""
        problems: list[str] = []
        if invoice.cancelled:
            problems.append("NAV cancelled this invoice (corrective credit memo), so it must not be paid")
        if not vendor_bill_id:
            problems.append(f"vendor {invoice.vendor_number} is not linked to BILL")
        lines, line_problems = self._bill_lines(invoice)
        amounts = [invoice.amount, *(line.amount for line in invoice.lines)]
        if not all(isinstance(a, Decimal) and a.is_finite() for a in amounts):
            problems.append("an amount is not a finite number (correct the invoice in NAV)")
        else:
            total = sum((line.amount for line in lines), start=Decimal("0"))
            if lines and not line_problems and total <= 0:
                problems.append(f"NAV invoice {invoice.number} (vendor invoice {invoice.vendor_invoice_number}) "
                                f"amounts to {_money(total)}{' ' + invoice.currency if invoice.currency else ''}, "
                                "which is not positive: BILL takes a bill only when it is more than zero (enter a "
                                "credit in BILL by hand if it is one, then skip it here)")
        return lines, problems + line_problems

    def _bill_write(self, invoice: PostedInvoice, bill: Bill, detail: dict) -> _Write:
        def look():
            found = self._bill_call(self.bill.find_bills, bill.vendor_id, bill.invoice_number) or []
            if not found:
                return None
            with self.store.session() as s:  # a bill another invoice is linked to is not this one's
                taken = set(s.scalars(select(t.InvoiceLink.bill_id).where(
                    t.InvoiceLink.bill_id.in_([b.id for b in found]), t.InvoiceLink.nav_number != invoice.number)))
            return next((b for b in found if b.id not in taken), None)

        return _Write(key=f"bill.create:{invoice.number}", action="create_bill", record=f"invoice {invoice.number}",
                      payload=detail, record_key=invoice.number, label=f"invoice {invoice.number}",
                      send=lambda: self._bill_call(self.bill.create_bill, bill), look=look, data=(invoice, bill),
                      detail=detail)

    def _create_bill(self, invoice: PostedInvoice, bill: Bill) -> None:
        self._write_batch("invoices", "invoice", [self._bill_write(invoice, bill, {"invoice": _invoice_to_json(
            invoice)})], self._finish_bills)

    def _finish_bills(self, s: Session, done: list[tuple[_Write, Any]]) -> dict[str, dict]:
        numbers = [w.record_key for w, _ in done]
        links = {link.nav_number: link for link in s.scalars(select(t.InvoiceLink).where(
            t.InvoiceLink.nav_number.in_(numbers)))}
        results = {}
        for write, created in done:
            invoice, bill = write.data
            link = links.get(invoice.number)
            if link is None:
                link = links[invoice.number] = t.InvoiceLink(nav_number=invoice.number,
                                                             vendor_number=invoice.vendor_number, state="created")
                s.add(link)
            link.bill_id, link.state, link.idempotency_key = created.id, "created", write.key
            link.vendor_invoice_number, link.amount = invoice.vendor_invoice_number, bill.amount
            _set_invoice_dates(link, invoice)
            self._audit(s, "BILL", "create_bill", f"invoice {invoice.number}", bill_id=created.id,
                        amount=_money(bill.amount), vendor=invoice.vendor_number)
            results[write.key] = {"bill_id": created.id}
        self._resolve_items(s, "invoice", numbers)
        return results

    def _release_held_invoices(self) -> None:
        """Held invoices are re-checked from their stored copy (no HTTP) and go as soon as they can."""
        last_id = 0
        while True:
            self._check_cancel()
            with self.store.session() as s:  # a page at a time: there may be many
                held = [(q.id, q.reason, q.detail) for q in s.scalars(select(t.QueueItem).where(
                    t.QueueItem.kind == "invoice", t.QueueItem.state == "open", t.QueueItem.retryable.is_(False),
                    t.QueueItem.id > last_id).order_by(t.QueueItem.id).limit(BATCH))]
            if not held:
                return
            last_id = held[-1][0]
            stored = {detail["invoice"]["number"]: reason for _, reason, detail in held if "invoice" in (detail or {})}
            invoices = [_invoice_from_json(detail["invoice"]) for _, _, detail in held if "invoice" in (detail or {})]
            linked = self._vendor_bill_ids([i.vendor_number for i in invoices])
            # Those that can go now go; those whose reasons changed (their vendor got linked, say, but a line
            # still has no BILL account) are held again with the reasons that hold today; the others, held
            # for the same reasons as before, were counted once, when first held.
            self._push_invoices([i for i in invoices if "; ".join(self._invoice_problems(
                i, linked.get(i.vendor_number, ""))[1]) != stored[i.number]])

    def _recover_bill_writes(self) -> None:
        self._recover_bulk_bills()
        for row in self.outbox.unfinished("create_bill"):
            self._check_cancel()
            invoice = _invoice_from_json(row.payload["invoice"])
            self._push_invoice(invoice)

    # ==============================================================================================
    # flow 6: payments
    # ==============================================================================================
    def sync_payments(self) -> None:
        self._posting_dates = None  # NAV's allowed posting dates, read again by every run that posts
        self._recover_payment_writes()
        self._confirm_waiting_payments()
        for payment_id in self._retry_keys("payment"):
            payment = self._bill_call(self.bill.get_payment, payment_id)
            if payment is None:
                continue
            links = self._payment_links([payment.id]).get(payment.id, [])
            if links and all(link.state == "voided" for link in links):
                self._keep_for_a_person(payment.id)  # Retry on "reverse it in NAV": nothing the connector can do
            elif links:
                self._check_posted_payment(payment, links)
            elif payment.settled:
                self._post_payment(payment)
            else:  # voided or cancelled in BILL before it ever reached NAV: nothing left to post
                self._hold("payment", payment.id,
                           f"BILL payment {payment.id} is {_payment_state(payment)} in BILL and was never posted to "
                           "NAV: there is nothing to post; skip this item.", flow="payments")
        mark = self.store.get_bookmark("bill.payments")
        newest = ""
        done = 0
        for batch in _batched(self._stream("BILL", lambda: self.bill.iter_payments(updated_since=_parse(mark)))):
            self._check_cancel()
            known = self._payment_links([p.id for p in batch])
            for payment in batch:
                # Any later change (a scheduled payment clearing) moves updatedTime, so the bookmark may pass
                # unsettled payments: they come back when they settle.
                newest = max(newest, _iso(payment.updated_time))
                if payment.id in known:
                    self._check_posted_payment(payment, known[payment.id])
                    continue
                if not payment.settled:
                    continue  # scheduled or cancelled: posted when (if) it settles; its update brings it back
                self._post_payment(payment)
            done += len(batch)
            self._progress("payments", done, "BILL payments read")
        if newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, "bill.payments", newest)

    def _confirm_waiting_payments(self) -> None:
        """Payments whose lines wait in the journal batch (NAV 2016-2018): posted once the ledger shows them."""
        with self.store.session() as s:
            waiting = sorted(set(s.scalars(select(t.PaymentLink.payment_id).where(
                t.PaymentLink.state == "in journal"))))
        counts = self.report.counts("payments")
        for payment_id in waiting:
            self._check_cancel()
            found = self._nav_call(self.nav.find_payments, payment_id)
            if not found:
                counts.waiting += 1
                continue
            with self.store.session() as s:
                links = list(s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id == payment_id)))
                for link in links:
                    link.state, link.posted_at = "posted", self.clock()
                self._audit(s, "NAV", "payment_posted_in_nav", f"payment {payment_id}",
                            document=", ".join(sorted({link.nav_document_number for link in links})),
                            entries=[entry.entry_number for entry in found])
            counts.updated += 1

    def _payment_links(self, payment_ids: list[str]) -> dict[str, list[t.PaymentLink]]:
        links: dict[str, list[t.PaymentLink]] = {}
        with self.store.session() as s:
            for link in s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id.in_(payment_ids))
                                  .order_by(t.PaymentLink.bill_id)):
                links.setdefault(link.payment_id, []).append(link)
                s.expunge(link)
        return links

    def _keep_for_a_person(self, payment_id: str) -> None:
        with self.store.session() as s:
            for item in s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "payment",
                                                            t.QueueItem.record_key == payment_id)):
                item.retryable = False

    def _check_posted_payment(self, payment: Payment, links: list[t.PaymentLink]) -> None:
        """A payment already in NAV. If BILL has since voided, cancelled or failed it, NAV still shows it paid:
        the connector never changes posted entries, so a person reverses it. Raised once: the link moves to
        "voided" and is not looked at again."""
        if not _undone_in_bill(payment) or any(link.state != "posted" for link in links):
            return
        documents = ", ".join(sorted({link.nav_document_number for link in links}))
        applied = ", ".join(f"invoice {link.nav_invoice_number}, {link.amount}" for link in links)
        state = _payment_state(payment)
        self._hold("payment", payment.id,
                   f"BILL payment {payment.id} was {state} in BILL after it was posted to NAV as document "
                   f"{documents} ({applied}): reverse it in NAV (e.g. a new journal line or an unapply), then skip "
                   "this item.", flow="payments")
        with self.store.session() as s:
            for link in s.scalars(select(t.PaymentLink).where(t.PaymentLink.payment_id == payment.id)):
                link.state = "voided"  # (the column holds 12 characters)
            self._audit(s, "BILL", "payment_undone_after_posting", f"payment {payment.id}", document=documents,
                        status=payment.status, single_status=payment.single_status, amount=_money(payment.amount))

    def _post_payment(self, payment: Payment) -> None:
        counts = self.report.counts("payments")
        with self.store.session() as s:
            invoices = {link.bill_id: link for link in s.scalars(select(t.InvoiceLink).where(
                t.InvoiceLink.bill_id.in_([a.bill_id for a in payment.allocations]),
                t.InvoiceLink.state == "created"))}
        unknown = [a.bill_id for a in payment.allocations if a.bill_id not in invoices]
        if unknown or not payment.allocations:
            self._hold("payment", payment.id,
                       f"BILL payment {payment.id} pays bill(s) {', '.join(unknown) or '(none)'} that did not come "
                       "from a NAV invoice: post it in NAV by hand, then skip it here.", flow="payments")
            return
        problem = self._payment_problem(payment, invoices)
        if problem:
            self._hold("payment", payment.id, problem, flow="payments")
            return
        waiting = self._bank_change_hold(payment, invoices)
        if waiting:  # retried every run: posted once a person confirms the vendor's new bank details
            self._hold("payment", payment.id, waiting, retryable=True, flow="payments", outcome="held")
            return
        vendor_label = ", ".join(sorted({invoices[a.bill_id].vendor_number for a in payment.allocations}))
        decision = self._posting_decision(payment, vendor_label)
        if decision.posting_date is None:  # a closed period: waits until NAV opens it (retried every run)
            self._hold("payment", payment.id, decision.reason, retryable=True, flow="payments", outcome="held")
            return
        settings = self.settings

        def post() -> None:
            key = f"nav.payment:{payment.id}"
            existing = self.outbox.entry(key)
            if existing is None and not self.report.dry_run:
                # The store is a cache of what NAV says: a payment already posted (its BILL id in the External
                # Document No.) is linked, not posted again, whatever the store forgot.
                posted = self._nav_call(self.nav.find_payments, payment.id, decision.shifted_from) or []
                if posted:
                    self._link_posted_payment(payment, invoices, posted)
                    return
            if existing is None:
                with self.store.session() as s:
                    document = self.store.next_number(s, "payment", settings.payment_document_prefix,
                                                      settings.payment_document_width)
                    s.add(t.OutboxEntry(key=key, system="NAV", action="post_payment", record=f"payment {payment.id}",
                                        payload={"document": document, "payment_id": payment.id},
                                        run_id=self.report.run_id))
            else:
                document = existing.payload["document"]
            lines = [JournalLine(
                document_number=document, posting_date=decision.posting_date,
                vendor_number=invoices[a.bill_id].vendor_number, amount=a.amount,
                applies_to_invoice=invoices[a.bill_id].nav_number, external_document_number=payment.id,
                description=payment_description(payment.id, decision.shifted_from),
                balancing_account_type=settings.balancing_account_type,
                balancing_account_number=settings.balancing_account_number,
            ) for a in payment.allocations]
            batch = f"{settings.journal_template}/{settings.journal_batch}"

            def look():
                found = self._nav_call(self.nav.find_payments, payment.id, decision.shifted_from)
                return PaymentPosting(posted=True, batch=batch, entries=tuple(found)) if found else None

            try:
                posting = self.outbox.send(key, lambda: self._nav_call(self.nav.post_payment, lines,
                                                                       settings.journal_template,
                                                                       settings.journal_batch), look)
            except RecordError as exc:
                if exc.code != "batch not empty":  # the NAV client's JournalBatchNotEmptyError
                    raise
                # Nothing was written: other lines sit in the batch. Held with the reason and tried again by
                # the next run, which posts it once the batch is the connector's alone again. When the lines in
                # the way are the connector's own (an earlier payment whose posting was interrupted), say so:
                # they are not "lines the connector did not write", and the next run finishes them first.
                own = self._own_waiting_documents(exc.message, payment.id)
                reason = (f"BILL payment {payment.id} waits: journal batch {settings.journal_template}/"
                          f"{settings.journal_batch} still holds the connector's own unposted lines of {own}, left by "
                          "an interrupted posting; the next run posts those first, then this payment."
                          if own else f"BILL payment {payment.id}: {exc.message}")
                self._hold("payment", payment.id, reason, retryable=True, error=str(exc), flow="payments",
                           outcome="held")
                return
            # NAV 2016-2018 cannot post over OData: the lines wait in the batch for the accountant, and the
            # payment counts as posted once the vendor ledger shows it (_confirm_waiting_payments).
            state = "posted" if posting.posted else "in journal"
            with self.store.session() as s:
                for allocation in payment.allocations:
                    invoice = invoices[allocation.bill_id]
                    s.merge(t.PaymentLink(payment_id=payment.id, bill_id=allocation.bill_id,
                                          vendor_number=invoice.vendor_number, nav_invoice_number=invoice.nav_number,
                                          nav_document_number=document, amount=allocation.amount, state=state,
                                          posted_at=self.clock() if posting.posted else None))
                self.outbox.finish(s, key, {"document": document, "posted": posting.posted})
                self._resolve_item(s, "payment", payment.id)
                self._audit(s, "NAV", "post_payment" if posting.posted else "payment_lines_in_journal",
                            f"payment {payment.id}", document=document, amount=_money(payment.amount),
                            batch=posting.batch,
                            applies_to=[invoices[a.bill_id].nav_number for a in payment.allocations],
                            **({"posting_date": decision.posting_date.isoformat(),
                                "dated": decision.shifted_from.isoformat()} if decision.shifted_from else {}))
            crash_point("after_commit")
            if posting.posted:
                counts.created += 1
            else:
                counts.waiting += 1
                log.warning("BILL payment %s (%s): journal lines %s are in NAV batch %s, waiting for the "
                            "accountant to post the batch.", payment.id, _money(payment.amount), document,
                            posting.batch)

        self._guard("payments", "payment", payment.id, f"BILL payment {payment.id}", post)

    # -- bank-detail change alerts (app.engine.bankwatch) ----------------------------------------------
    def _bank_fingerprint_key(self) -> bytes | None:
        if self.bank_key is _UNSET:
            self.bank_key = bankwatch.load_key(self.store)
        return self.bank_key  # type: ignore[return-value]

    def _watch_bank(self, vendors: list) -> None:
        """Compare each BILL vendor's bank details with the last ones seen; a change is raised at once."""
        with_bank = [v for v in vendors if getattr(v, "bank", None) is not None]
        if not with_bank or self.report.dry_run:
            return
        key = self._bank_fingerprint_key()
        if key is None:
            return
        known = dict(self.store.get_setting(bankwatch.STATE_SETTING, {}) or {})
        before = dict(known)
        for vendor in with_bank:
            state, change = bankwatch.compare(known, vendor.id, vendor.fields.name, vendor.bank,
                                              _iso(vendor.updated_time), key)
            known[vendor.id] = state
            if change is not None:
                self._alert_bank_change(change)
        if known != before:
            self.store.set_setting(bankwatch.STATE_SETTING, known)

    def _alert_bank_change(self, change) -> None:
        with self.store.session() as s:
            link = s.scalars(select(t.VendorLink).where(t.VendorLink.bill_id == change.bill_id,
                                                        t.VendorLink.status == "linked")).first()
            nav_number = link.nav_number if link is not None else ""
        where = f"BILL vendor {change.vendor_name} ({change.bill_id}" + (f", NAV vendor {nav_number})" if nav_number
                                                                         else ")")
        when = f"on {change.when.replace('T', ' ')[:16]} UTC" if change.when else "at a time BILL does not give"
        then = ("Its payments are not posted to NAV until you confirm: check the change with the vendor at a phone "
                "number you already had, then Skip this item with a note (who confirmed, how)."
                if self.settings.hold_payments_on_bank_change else
                "Check the change with the vendor at a phone number you already had, then Skip this item.")
        reason = f"{where}: {change.describe()} in BILL {when} (BILL does not say by whom). {then}"
        self._hold(bankwatch.QUEUE_KIND, bankwatch.queue_key(change), reason, flow="vendors",
                   detail={"bill_id": change.bill_id, "nav_vendor": nav_number, "account": change.account,
                           "method_before": change.method_before, "method_after": change.method_after,
                           "when": change.when})

    def _bank_change_hold(self, payment: Payment, invoices: dict[str, t.InvoiceLink]) -> str:
        if not self.settings.hold_payments_on_bank_change:
            return ""
        with self.store.session() as s:
            item = s.scalars(select(t.QueueItem).where(
                t.QueueItem.kind == bankwatch.QUEUE_KIND, t.QueueItem.state == "open",
                t.QueueItem.record_key.startswith(f"{payment.vendor_id}:", autoescape=True))).first()
            if item is None:
                return ""
            when = str((item.detail or {}).get("when") or "")[:10]
        vendors = ", ".join(sorted({invoices[a.bill_id].vendor_number for a in payment.allocations}))
        return (f"BILL payment {payment.id} of {_money(payment.amount)} {payment.currency or LOCAL_CURRENCY} "
                f"(NAV vendor {vendors}) waits: the vendor's bank details changed in BILL"
                f"{' on ' + when if when else ''}. Confirm the change (Skip the bank-detail item in Failed "
                "postings); the payment is posted by the next run.")

    def _posting_decision(self, payment: Payment, vendors: str) -> PostingDecision:
        """Where this payment may be posted given NAV's allowed posting dates (read once per run)."""
        if self._posting_dates is None:
            reader = getattr(self.nav, "allowed_posting_dates", None)
            self._posting_dates = self._nav_call(reader) if reader else UNKNOWN_POSTING_DATES
        record = (f"BILL payment {payment.id} of {_money(payment.amount)} {payment.currency or LOCAL_CURRENCY} "
                  f"(NAV vendor {vendors})")
        return decide_posting_date(payment.process_date, self._posting_dates, self.settings.closed_period_action,
                                   record)

    def _link_posted_payment(self, payment: Payment, invoices: dict[str, t.InvoiceLink], posted: list) -> None:
        document = posted[0].document_number
        with self.store.session() as s:
            for allocation in payment.allocations:
                invoice = invoices[allocation.bill_id]
                s.merge(t.PaymentLink(payment_id=payment.id, bill_id=allocation.bill_id,
                                      vendor_number=invoice.vendor_number, nav_invoice_number=invoice.nav_number,
                                      nav_document_number=document, amount=allocation.amount, state="posted",
                                      posted_at=self.clock()))
            self._resolve_item(s, "payment", payment.id)
            self._audit(s, "engine", "link_posted_payment", f"payment {payment.id}", document=document,
                        amount=_money(payment.amount))
        self.report.counts("payments").updated += 1

    def _own_waiting_documents(self, message: str, payment_id: str) -> str:
        """The connector's own unfinished payment documents named in a "batch not empty" message, e.g.
        "BILL payment stp01 (document BILLPAY000004)"; "" when the lines in the way are someone else's."""
        own = []
        for row in self.outbox.unfinished("post_payment"):
            document = str((row.payload or {}).get("document") or "")
            other = str((row.payload or {}).get("payment_id") or "")
            if document and other != payment_id and re.search(rf"\b{re.escape(document)}\b", message):
                own.append(f"BILL payment {other} (document {document})")
        return ", ".join(own)

    def _payment_problem(self, payment: Payment, invoices: dict[str, t.InvoiceLink]) -> str:
        """Why a settled BILL payment must wait for a person (with the numbers), or "" when it may be posted."""
        currency = payment.currency or LOCAL_CURRENCY
        local = getattr(self.settings, "currency", "") or LOCAL_CURRENCY
        check = "Check it in BILL; if it is right, post it in NAV by hand, then skip it here."
        if currency != local:
            return (f"BILL payment {payment.id} of {_money(payment.amount)} {currency} is in another currency than "
                    f"the bills ({local}): the connector posts payments in {local} only. {check}")
        if payment.amount <= 0 or any(a.amount <= 0 for a in payment.allocations):
            shown_amounts = ", ".join(f"{_money(a.amount)} on bill {a.bill_id} (NAV invoice "
                                      f"{invoices[a.bill_id].nav_number})" for a in payment.allocations)
            return (f"BILL payment {payment.id} of {_money(payment.amount)} {currency} pays {shown_amounts}: a "
                    f"payment of zero or less is not posted. {check}")
        paid: dict[str, Decimal] = {}
        with self.store.session() as s:  # amounts are stored as text: summed here, exactly
            for bill_id, amount in s.execute(select(t.PaymentLink.bill_id, t.PaymentLink.amount).where(
                    t.PaymentLink.bill_id.in_(list(invoices)), t.PaymentLink.state == "posted",
                    t.PaymentLink.payment_id != payment.id)):
                paid[bill_id] = paid.get(bill_id, Decimal("0")) + Decimal(amount)
        for allocation in payment.allocations:
            link = invoices[allocation.bill_id]
            before = Decimal(str(paid.get(allocation.bill_id) or 0))
            open_amount = Decimal(link.amount) - before
            if allocation.amount > open_amount:
                return (f"BILL payment {payment.id} pays {_money(allocation.amount)} {currency} on bill "
                        f"{allocation.bill_id} (NAV invoice {link.nav_number}), but only {_money(open_amount)} is "
                        f"open (bill {_money(link.amount)}, already posted {_money(before)}). {check}")
        return ""

    def _recover_payment_writes(self) -> None:
        for row in self.outbox.unfinished("post_payment"):
            self._check_cancel()
            payment = self._bill_call(self.bill.get_payment, row.payload["payment_id"])
            if payment is not None:
                self._post_payment(payment)
                links = self._payment_links([payment.id]).get(payment.id, [])
                if links:  # it reached NAV, yet BILL may have voided it meanwhile
                    self._check_posted_payment(payment, links)


_UNDONE_STATUS = {"VOID": "voided", "CANCELLED": "cancelled", "FAILED": "failed"}
_UNDONE_SINGLE_STATUS = {"VOIDED": "voided", "CANCELED": "cancelled", "FUNDING_FAILED_VOIDED": "failed"}


def _undone_in_bill(payment: Payment) -> bool:
    """BILL voided, cancelled or failed the payment: the money did not (or no longer) reach the vendor."""
    single = payment.single_status.upper()
    return (payment.status.upper() in _UNDONE_STATUS or single in _UNDONE_SINGLE_STATUS
            or single.startswith("DISBURSEMENT_FAILED"))


def _payment_state(payment: Payment) -> str:
    single = payment.single_status.upper()
    word = (_UNDONE_SINGLE_STATUS.get(single) or _UNDONE_STATUS.get(payment.status.upper())
            or ("failed" if single.startswith("DISBURSEMENT_FAILED") else ""))
    shown = payment.single_status or payment.status
    return word if word and shown.lower().startswith(word[:4]) else f"{word or 'no longer settled'} ({shown})"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _side_by_side(factories: list[Callable[[], Iterator]]) -> Iterator:
    """Items of several client streams read on threads at once, as they come (each stream in its order).
    An error in any stream is raised here; the others stop at their next item."""
    items: queue.Queue = queue.Queue(maxsize=500)
    stop = threading.Event()
    finished = object()

    def read(factory: Callable[[], Iterator]) -> None:
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
        except BaseException as exc:  # handed to the consumer, which raises it
            items.put(exc)

    threads = [threading.Thread(target=read, args=(f,), daemon=True, name="navbill-read") for f in factories]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = items.get()
            if item is finished:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        while any(thread.is_alive() for thread in threads):
            try:
                items.get(timeout=0.05)  # unblock a reader waiting for room
            except queue.Empty:
                pass


def _nav_vendor_to_json(vendor) -> dict:
    return {"number": vendor.number, "fields": vendor.fields.as_dict(), "etag": vendor.etag,
            "last_modified": _iso(vendor.last_modified)}


def _nav_vendor_from_json(data: dict):
    from app.domain.models import NavVendor

    return NavVendor(number=data["number"], fields=VendorFields.from_dict(data["fields"]), etag=data.get("etag", ""),
                     last_modified=_parse(data.get("last_modified", "")))


def _same_vendor(bill: VendorFields, nav: VendorFields) -> bool:
    """A vendor BILL has is the one a lost bulk call sent: same name, and same tax id where both have one."""
    if bill.name.strip().casefold() != nav.name.strip().casefold():
        return False
    return not (bill.tax_id and nav.tax_id) or bill.tax_id.strip() == nav.tax_id.strip()


def _set_invoice_dates(link: t.InvoiceLink, invoice: PostedInvoice) -> None:
    link.posting_date, link.document_date, link.due_date = (invoice.posting_date, invoice.document_date,
                                                            invoice.due_date)


def _invoice_to_json(invoice: PostedInvoice) -> dict:
    return {
        "number": invoice.number, "vendor_number": invoice.vendor_number,
        "vendor_invoice_number": invoice.vendor_invoice_number, "posting_date": invoice.posting_date.isoformat(),
        "document_date": invoice.document_date.isoformat(), "due_date": invoice.due_date.isoformat(),
        "amount": str(invoice.amount), "amount_including_tax": str(invoice.amount_including_tax),
        "currency": invoice.currency, "cancelled": invoice.cancelled,
        "lines": [{"line_no": line.line_no, "gl_account": line.gl_account, "description": line.description,
                   "amount": str(line.amount), "dimensions": dict(line.dimensions), "quantity": str(line.quantity),
                   "line_type": line.line_type, "object_number": line.object_number}
                  for line in invoice.lines],
    }


def _invoice_from_json(data: dict) -> PostedInvoice:
    from datetime import date

    from app.domain.models import InvoiceLine

    return PostedInvoice(
        number=data["number"], vendor_number=data["vendor_number"],
        vendor_invoice_number=data["vendor_invoice_number"], posting_date=date.fromisoformat(data["posting_date"]),
        document_date=date.fromisoformat(data["document_date"]), due_date=date.fromisoformat(data["due_date"]),
        amount=Decimal(data["amount"]), amount_including_tax=Decimal(data["amount_including_tax"]),
        currency=data.get("currency", ""), cancelled=bool(data.get("cancelled")),
        lines=tuple(InvoiceLine(line_no=line["line_no"], gl_account=line["gl_account"],
                                description=line["description"], amount=Decimal(line["amount"]),
                                dimensions=dict(line["dimensions"]), quantity=Decimal(line["quantity"]),
                                line_type=line.get("line_type", "G/L Account" if line["gl_account"] else ""),
                                object_number=line.get("object_number", ""))
                    for line in data["lines"]),
    )


__all__ = ["SyncEngine", "RunReport", "FlowCounts", "EngineSettings"]
