"""Closed periods: a BILL payment dated before NAV's allowed posting dates (General Ledger Setup, page 118) is held
with the dates named, or (closed_period_action=first_open_date) posted on the first allowed date with its own date
in the description; in both NAV flavours, against the sandboxes over real sockets (the NAV sandbox refuses a
posting outside the range itself)."""

from __future__ import annotations

from datetime import date

import pytest
import requests
from sqlalchemy import select

from app.domain.models import is_payment_description, payment_description
from app.domain.periods import UNKNOWN_POSTING_DATES, AllowedPostingDates, decide_posting_date
from app.sandbox.runner import running_sandboxes
from app.store import schema as t
from tests.engine.conftest import make_engine

CLOSED_DAY = date(2025, 12, 15)  # the demo company allows posting from 2026-01-01


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


def _open_item(store, payment_id: str):
    with store.session() as s:
        item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "payment",
                                                   t.QueueItem.record_key == payment_id)).first()
        return (item.state, item.reason, item.retryable) if item else None


def _batch(sandboxes) -> list[dict]:
    with sandboxes.nav.state_lock:
        return [dict(line) for _, line in sandboxes.nav.company.journal_lines("PAYMENT", "BILL")]


def test_payment_in_a_closed_period_is_held_then_posted_on_the_first_allowed_date(store, flavour_sandboxes):
    sandboxes = flavour_sandboxes
    engine = make_engine(store, sandboxes)
    assert engine.nav.allowed_posting_dates() == AllowedPostingDates(
        date(2026, 1, 1), None, source=engine.nav.allowed_posting_dates().source)
    assert engine.run().completed
    row = next(iter(store.invoice_rows(state="created")))
    payment_id = sandboxes.bill.pay_bill(row.bill_id, process_date=CLOSED_DAY.isoformat())["id"]

    held = engine.run()
    assert held.completed, held.errors
    state, reason, retryable = _open_item(store, payment_id)
    assert state == "open" and retryable
    assert f"BILL payment {payment_id}" in reason and "dated 2025-12-15" in reason and "2026-01-01" in reason
    assert "closed_period_action=first_open_date" in reason
    assert _batch(sandboxes) == [] and store.payment_rows() == []
    assert engine.nav.find_payments(payment_id, CLOSED_DAY) == []

    engine.settings.closed_period_action = "first_open_date"
    moved = engine.run()
    assert moved.completed, moved.errors
    assert _open_item(store, payment_id)[0] == "resolved"
    if sandboxes.nav_flavor == "classic":
        [line] = _batch(sandboxes)
        assert line["Posting_Date"] == date(2026, 1, 1)
        assert line["Description"] == f"BILL payment {payment_id} (dated 2025-12-15)"
        sandboxes.nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch
        assert engine.run().completed
    else:
        assert _batch(sandboxes) == []
    [posted] = engine.nav.find_payments(payment_id, CLOSED_DAY)
    assert posted.posting_date == date(2026, 1, 1) and posted.amount == row.amount
    assert [link.state for link in store.payment_rows()] == ["posted"]
    again = engine.run()  # nothing posted twice
    assert again.completed and again.flows["payments"].created == 0
    assert len(engine.nav.find_payments(payment_id, CLOSED_DAY)) == 1
    engine.nav.close()
    engine.bill.close()


def test_payment_after_the_allowed_range_is_held_whatever_the_setting(store, sandboxes):
    engine = make_engine(store, sandboxes, closed_period_action="first_open_date")
    assert engine.run().completed
    response = requests.post(f"{sandboxes.nav_url}/_sandbox/setup", json={"Allow_Posting_To": "2026-06-30"},
                             timeout=10)
    assert response.status_code == 200
    row = next(iter(store.invoice_rows(state="created")))
    payment_id = sandboxes.bill.pay_bill(row.bill_id, process_date="2026-11-02")["id"]
    assert engine.run().completed
    state, reason, _ = _open_item(store, payment_id)
    assert state == "open" and "after NAV's allowed posting dates (2026-01-01 to 2026-06-30" in reason
    assert store.payment_rows() == []
    engine.nav.close()
    engine.bill.close()


def test_rules_without_a_server():
    allowed = AllowedPostingDates(date(2026, 1, 1), date(2026, 12, 31))
    assert decide_posting_date(date(2026, 3, 1), allowed, "hold", "p").posting_date == date(2026, 3, 1)
    shifted = decide_posting_date(CLOSED_DAY, allowed, "first_open_date", "p")
    assert (shifted.posting_date, shifted.shifted_from) == (date(2026, 1, 1), CLOSED_DAY)
    assert decide_posting_date(CLOSED_DAY, allowed, "hold", "p").posting_date is None
    assert decide_posting_date(CLOSED_DAY, UNKNOWN_POSTING_DATES, "hold", "p").posting_date == CLOSED_DAY
    assert decide_posting_date(CLOSED_DAY, AllowedPostingDates(), "hold", "p").posting_date == CLOSED_DAY
    assert is_payment_description(payment_description("stp1", CLOSED_DAY), "stp1")
    assert not is_payment_description(payment_description("stp10", CLOSED_DAY), "stp1")
    assert not is_payment_description("BILL payment stp1 (dated x", "stp1")
