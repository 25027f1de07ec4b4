"""Closed periods: NAV's allowed posting dates and what a payment dated outside them becomes.

NAV refuses to post an entry whose posting date lies outside General Ledger Setup's "Allow Posting From" /
"Allow Posting To" (a blank date means no limit on that side). A BILL payment dated before the range (the period
is closed) is, by the administrator's choice (``closed_period_action``), either held with the dates named, or
posted on the first allowed date with its own date kept in the journal line's description. A payment dated after
the range is always held: NAV would refuse it and no later date is known to be open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

CLOSED_PERIOD_ACTIONS = ("hold", "first_open_date")


@dataclass(frozen=True)
class AllowedPostingDates:
    """The posting date range NAV allows, as read. ``known`` is False where NAV does not publish it."""

    start: date | None = None
    end: date | None = None
    known: bool = True
    source: str = ""  # where it was read, e.g. "General Ledger Setup (page 118)"

    def describe(self) -> str:
        if not self.known:
            return "not readable"
        if self.start is None and self.end is None:
            return "no limit"
        if self.end is None:
            return f"from {self.start.isoformat()} on"
        if self.start is None:
            return f"up to {self.end.isoformat()}"
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


UNKNOWN_POSTING_DATES = AllowedPostingDates(known=False)


@dataclass(frozen=True)
class PostingDecision:
    """``posting_date`` to post on (None: hold, with ``reason``); ``shifted_from`` the payment's own date when moved."""

    posting_date: date | None
    reason: str = ""
    shifted_from: date | None = None


def decide_posting_date(payment_date: date, allowed: AllowedPostingDates, action: str, record: str) -> PostingDecision:
    """Where a payment dated ``payment_date`` may be posted. ``record`` names it in the reason (e.g. "BILL payment
    stp01 of 120.00 USD to Fabrikam")."""
    if not allowed.known:
        return PostingDecision(payment_date)
    if allowed.start and payment_date < allowed.start:
        if action == "first_open_date":
            return PostingDecision(allowed.start, shifted_from=payment_date)
        return PostingDecision(None, (
            f"{record} is dated {payment_date.isoformat()}, before NAV's allowed posting dates "
            f"({allowed.describe()}, General Ledger Setup): that period is closed. Open it in NAV (Allow Posting "
            "From), or set closed_period_action=first_open_date to post it on "
            f"{allowed.start.isoformat()}, then retry this item."))
    if allowed.end and payment_date > allowed.end:
        return PostingDecision(None, (
            f"{record} is dated {payment_date.isoformat()}, after NAV's allowed posting dates "
            f"({allowed.describe()}, General Ledger Setup): NAV would refuse it. Move Allow Posting To in NAV, then "
            "retry this item."))
    return PostingDecision(payment_date)
