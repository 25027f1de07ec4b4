"""The run context: what every flow of a run uses, and nothing about the order of flows.

The store, the NAV and BILL clients behind the side-call wrappers (an authentication or configuration failure,
or BILL's spent hourly budget, stops that side: ``SideStopped``), the streams (a record that does not parse is
held, the stream goes on), the hold and guard helpers (a bad record is held with its reason, never fatal), the
write lane, the settings, the clock and the run's report. ``SyncEngine`` is a run context that also runs flows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RateLimitError,
    RecordError,
    RetryableError,
)
from app.domain.models import UnreadableRecord
from app.engine.common import BANK_KEY_UNSET, Cancelled, Progress, SideStopped, budget_spent, read_ahead
from app.engine.lane import WriteLane
from app.engine.outbox import Outbox
from app.engine.report import RunReport
from app.engine.settings import EngineSettings
from app.store import repository as q
from app.store import schema as t

log = logging.getLogger("navbill.engine")


class RunContext:
    """One company's connection to NAV and BILL for a run: the services a flow asks for."""

    def __init__(self, store, nav_client, bill_client, settings: EngineSettings | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.nav = nav_client
        self.bill = bill_client
        self.settings = settings or EngineSettings.load(store)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(store)
        self.report = RunReport()
        self._progress: Progress = lambda flow, done, message: None
        self._cancel = threading.Event()
        self._stopped_sides: dict[str, str] = {}
        self._lane = WriteLane(self)
        self._flow = ""  # the flow running now (unreadable records are counted against it)
        self._run_started_at: datetime | None = None
        self._bulk_seq = 0
        self._vendors_new_this_run: set[str] = set()  # BILL vendors this run created: no bill of theirs exists yet
        self._budget_stopped: set[str] = set()  # sides stopped for BILL's hourly budget (a note, not an error)
        self.bank_key: bytes | None | object = BANK_KEY_UNSET  # bank fingerprint key, read from the vault when first used
        self.read_reference_in_full = False  # this run names the accounts flow: read every reference list

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
            if budget_spent(exc):
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
            for item in read_ahead(iterator_factory):  # the next page comes while this one is worked on
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
            if budget_spent(exc):
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
            for item in q.open_unreadable(s, side):
                key = (item.detail or {}).get("key") or ""
                if key:
                    found.setdefault(key, []).append(item.record_key)
        return found

    def _audit(self, s: Session, system: str, action: str, record: str, **detail: Any) -> None:
        s.add(t.AuditEntry(run_id=self.report.run_id, at=self.clock(), system=system, action=action,
                           record=record, detail=detail))

    def _audit_row(self, system: str, action: str, record: str, **detail: Any) -> dict[str, Any]:
        """The row ``_audit`` would add (its time taken now), for ``_audit_many``."""
        return {"run_id": self.report.run_id, "at": self.clock(), "system": system, "action": action,
                "record": record, "detail": detail}

    def _audit_many(self, s: Session, rows: list[dict[str, Any]]) -> None:
        """``_audit`` for many rows made by ``_audit_row``: the same rows, in the same order, written by one
        executemany INSERT instead of one ORM object each (a bulk answer's hundred)."""
        if not rows:
            return
        if any(isinstance(obj, t.AuditEntry) for obj in s.new):
            s.flush()  # audit rows added one by one before these go first, as they would have
        q.add_rows(s, t.AuditEntry, rows)

    def _hold(self, kind: str, key: str, reason: str, *, retryable: bool = False, error: str = "",
              detail: dict | None = None, flow: str = "", outcome: str = "held") -> None:
        """Hold one record for a person (or, ``retryable``, for the next run) with the reason the window shows."""
        self._hold_many(kind, [(key, reason, detail)], retryable=retryable, error=error, flow=flow, outcome=outcome)

    def _hold_many(self, kind: str, holds: list[tuple[str, str, dict | None]], *, retryable: bool = False,
                   error: str = "", flow: str = "", outcome: str = "held") -> None:
        """Hold records, (key, reason, detail) each, in one transaction: a queue item each (a skipped one is left
        alone; one held before for the same reason is not counted or audited again), an audit row, a log line and
        the report's count."""
        said = []
        with self.store.session() as s:
            items = q.queue_items_by_key(s, kind, [key for key, _, _ in holds])
            for key, reason, detail in holds:
                item = items.get(key)
                if item is None:
                    item = items[key] = t.QueueItem(kind=kind, record_key=key, reason=reason)
                    s.add(item)
                elif item.state == "skipped":
                    continue  # the user said leave it
                else:
                    item.retry_count = (item.retry_count or 0) + (1 if retryable else 0)
                    if item.state == "open" and item.reason == reason and not retryable and not item.retryable:
                        continue  # held before for the same reason: nothing new to count or audit
                    # (one a person asked to retry is held again, counted and said: the retry did not help)
                item.reason, item.state, item.retryable, item.last_error = reason, "open", retryable, error[:2000]
                if detail is not None:
                    item.detail = detail
                self._audit(s, "engine", "retry_later" if retryable else "hold", f"{kind} {key}", reason=reason)
                said.append((key, reason))
        # Every held or failed record reaches the log too, in the same words the UI shows.
        for key, reason in said:
            log.warning("%s %s %s: %s", "Retry later" if retryable else "Held", kind, key, reason)
            if flow:
                self.report.counts(flow).add(outcome)

    @staticmethod
    def _resolve_item(s: Session, kind: str, key: str) -> None:
        item = q.queue_item(s, kind, key)
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
            if budget_spent(exc):
                raise SideStopped(exc.system or "BILL", exc) from exc
            self._hold(kind, key, f"{label}: will try again ({exc.message})", retryable=True, error=str(exc),
                       detail=detail, flow=flow, outcome="failed")
        except RetryableError as exc:
            self._hold(kind, key, f"{label}: will try again ({exc.message})", retryable=True, error=str(exc),
                       detail=detail, flow=flow, outcome="failed")

    @staticmethod
    def _resolve_items(s: Session, kind: str, keys: list[str]) -> None:
        """``_resolve_item`` for many keys in one query. A session that holds queue item objects (a hold added
        or changed in it, say) loads the open ones and sets them, as it always did; any other (a bulk answer's
        settling) resolves them with one UPDATE per 500 keys, loading nothing and flushing nothing first."""
        if not keys:
            return
        if q.holds_queue_items(s):
            for item in q.open_items(s, kind, keys):
                item.state, item.retryable = "resolved", False
            return
        q.resolve_open_items(s, kind, keys)

    def _retry_keys(self, kind: str) -> list[str]:
        with self.store.session() as s:
            return q.retry_keys(s, kind)

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
