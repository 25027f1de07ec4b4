"""Which way each side's changes reach us (push or polling) and why, for the UI and the log.

One ``PushStatus`` per service. Writers call ``set_side``; readers take a ``snapshot()`` (immutable) or
subscribe with ``on_change``. Callbacks run on the writer's thread: the UI wraps them in Qt signals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

log = logging.getLogger("navbill.push")


class Mode(StrEnum):
    STARTING = "starting"  # setting up subscriptions / waiting for the first inbound proof
    PUSH = "push"  # webhooks arrive; the schedule still runs as a safety net
    POLLING = "polling"  # no webhooks; each stream is read on the poll interval


@dataclass(frozen=True)
class SubscriptionState:
    """One webhook subscription as the UI shows it."""

    side: str  # "nav" or "bill"
    resource: str  # "vendors", "purchaseInvoices", or "events" for BILL's one subscription
    subscription_id: str = ""
    state: str = "missing"  # active | renewed | created | missing | failed | disabled
    expires_at: datetime | None = None  # NAV only; BILL subscriptions do not expire
    detail: str = ""


@dataclass(frozen=True)
class SideStatus:
    side: str
    mode: Mode = Mode.STARTING
    reason: str = ""
    since: datetime | None = None
    subscriptions: tuple[SubscriptionState, ...] = ()
    last_event_at: datetime | None = None


@dataclass(frozen=True)
class StatusSnapshot:
    nav: SideStatus
    bill: SideStatus
    listener_url: str = ""
    poll_interval_seconds: float = 0.0
    payments_always_polled: bool = True

    def describe(self) -> str:
        lines = []
        for side, label in ((self.nav, "NAV"), (self.bill, "BILL")):
            lines.append(f"{label}: {side.mode.value}" + (f" ({side.reason})" if side.reason else ""))
        if self.payments_always_polled:
            lines.append("BILL payments: polled (BILL sends payment webhooks only to selected partners)")
        return "\n".join(lines)


@dataclass
class PushStatus:
    listener_url: str = ""
    poll_interval_seconds: float = 0.0
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sides = {"nav": SideStatus("nav"), "bill": SideStatus("bill")}
        self._listeners: list[Callable[[StatusSnapshot], None]] = []

    def on_change(self, callback: Callable[[StatusSnapshot], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def snapshot(self) -> StatusSnapshot:
        with self._lock:
            return StatusSnapshot(nav=self._sides["nav"], bill=self._sides["bill"],
                                  listener_url=self.listener_url,
                                  poll_interval_seconds=self.poll_interval_seconds)

    def side(self, side: str) -> SideStatus:
        with self._lock:
            return self._sides[side]

    def mode(self, side: str) -> Mode:
        return self.side(side).mode

    def set_side(self, side: str, mode: Mode, reason: str = "",
                 subscriptions: tuple[SubscriptionState, ...] | None = None) -> None:
        with self._lock:
            current = self._sides[side]
            changed_mode = current.mode != mode or current.reason != reason
            self._sides[side] = replace(
                current, mode=mode, reason=reason,
                since=self.now() if changed_mode else current.since,
                subscriptions=current.subscriptions if subscriptions is None else subscriptions,
            )
        if changed_mode:
            log.info("%s changes now arrive by %s%s", side.upper(), mode.value, f": {reason}" if reason else "")
        self._notify()

    def note_event(self, side: str) -> None:
        with self._lock:
            self._sides[side] = replace(self._sides[side], last_event_at=self.now())
        self._notify()

    def _notify(self) -> None:
        snapshot = self.snapshot()
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback(snapshot)
            except Exception:  # a broken UI slot must not break webhook handling
                log.exception("A push status listener failed")
