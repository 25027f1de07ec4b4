"""The daily reconciliation digest: when it is due, what the tray says, and whether it was said already (Qt-free).

Once a day, at ``EngineSettings.reconcile_digest_time`` (local time, ``HH:MM``, default 08:00; empty: off), the
window computes the reconciliation report (``app.engine.reconcile``) off the UI thread. If NAV and BILL drift
apart, the tray says how many differences there are and names the biggest one (vendor, documents, both numbers,
the gap with its currency); clicking the notice opens the Reconciliation tab. The same drift is not announced
twice on the same day (a restart of the window the same day stays quiet); a different drift is.

A computer that was off at the digest time gets the digest as soon as the window runs later that day. The day's
run is recorded in the store (``reconcile_digest``) whatever the outcome, so a failing read is not retried every
minute: it is retried the next day (or by the Compare button).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time

from app.domain.errors import ConfigurationError
from app.engine.report import money

DEFAULT_TIME = "08:00"
STATE_KEY = "reconcile_digest"


def parse_time(text: str) -> time | None:
    """``HH:MM`` (24-hour clock) → time; "" → None (the digest is off). ConfigurationError otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        hours, minutes = text.split(":")
        if len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigurationError(f"reconcile_digest_time must be a time of day as HH:MM (e.g. {DEFAULT_TIME}), or "
                                 f"empty to turn the daily digest off; not '{text}'.") from None


def is_due(now: datetime, at: time | None, last_day: date | None) -> bool:
    """True when today's digest time has passed and today's digest has not run yet."""
    if at is None:
        return False
    return last_day != now.date() and now.time() >= at


@dataclass(frozen=True)
class Digest:
    title: str
    message: str
    count: int
    fingerprint: str  # the drift itself: the same differences give the same fingerprint


def fingerprint(report) -> str:
    lines = sorted(f"{d.kind}|{d.vendor}|{d.record}|{d.nav}|{d.bill}" for d in report.differences)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def biggest(report):
    """The difference with the largest gap (ties: the first in the report's order)."""
    return max(report.differences, key=lambda d: d.amount, default=None)


def digest_for(report) -> Digest | None:
    """What the tray says about this report; None when NAV and BILL agree."""
    if report.clean:
        return None
    count = len(report.differences)
    top = biggest(report)
    gap = f" (a difference of {money(top.amount, top.currency)})" if top.amount else ""
    message = (f"{count} difference(s) between NAV and BILL. The biggest: {top.vendor}, {top.record}: NAV "
               f"{top.nav}; BILL {top.bill}{gap}. {top.cause} Click to open the Reconciliation tab.")
    return Digest(title=f"Reconciliation: NAV and BILL differ ({count})", message=message, count=count,
                  fingerprint=fingerprint(report))


@dataclass
class DigestState:
    """What the store remembers: the day of the last digest run and the drift last announced that day."""

    last_day: date | None = None
    announced: str = ""  # fingerprint announced on last_day

    @classmethod
    def load(cls, store) -> DigestState:
        values = store.get_setting(STATE_KEY, {}) or {}
        try:
            day = date.fromisoformat(values.get("last_day") or "")
        except ValueError:
            day = None
        return cls(last_day=day, announced=str(values.get("announced") or "") if day else "")

    def save(self, store) -> None:
        store.set_setting(STATE_KEY, {"last_day": self.last_day.isoformat() if self.last_day else "",
                                      "announced": self.announced})


def settle(state: DigestState, today: date, digest: Digest | None) -> bool:
    """Record today's run; True when the tray should show ``digest`` (a drift not yet announced today)."""
    if state.last_day != today:
        state.last_day, state.announced = today, ""
    if digest is None:
        return False
    if state.announced == digest.fingerprint:
        return False
    state.announced = digest.fingerprint
    return True
