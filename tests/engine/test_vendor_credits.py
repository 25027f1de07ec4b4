"""Posted NAV purchase credit memos become BILL vendor credits, exactly once (Business Central API v2.0 sandbox,
real sockets): mapped lines, held with the reason when a line or the vendor cannot go, never twice (not on a second
run, not with a lost store). The same on NAV 2016-2018's pages 147/141 (docs/nav_credit_memo_truth.json)."""

from __future__ import annotations

from decimal import Decimal

import requests
from sqlalchemy import select

from app.engine.credits import QUEUE_KIND
from app.store import Store
from app.store import schema as t
from tests.engine.conftest import make_engine


def _post_memo(sandboxes, vendor: str, account: str, amount: str, theirs: str) -> str:
    answer = requests.post(f"{sandboxes.nav_url}/_sandbox/credit-memos", timeout=10, json={
        "vendor": vendor, "vendor_credit_memo_number": theirs,
        "lines": [{"account": account, "amount": amount, "description": "Returned goods"}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["number"]


def _credits(sandboxes) -> list[dict]:
    with sandboxes.bill.state_lock:
        return [dict(c) for c in sandboxes.bill.vendor_credits.values()]


def _bill_id(store, nav_number: str) -> str:
    with store.session() as s:
        return s.scalars(select(t.VendorLink.bill_id).where(t.VendorLink.nav_number == nav_number)).one()


def _assert_sent_once_with_a_lost_store(sandboxes, tmp_path) -> None:
    """The store is lost: a fresh one's run asks BILL first and sends no credit a second time."""
    lost = Store(f"sqlite:///{tmp_path / 'lost.sqlite3'}")
    try:
        fresh = make_engine(lost, sandboxes)
        assert fresh.run().completed
        assert len(_credits(sandboxes)) == 1
        fresh.nav.close()
        fresh.bill.close()
    finally:
        lost.close()


def test_credit_memos_become_vendor_credits_exactly_once(store, sandboxes, tmp_path):
    engine = make_engine(store, sandboxes)
    assert engine.run().completed
    assert engine.nav.flavor == "bc" and engine.nav.credit_memos_supported
    good = _post_memo(sandboxes, "V00010", "5110", "64.99", "CM-ACME-1")
    unmapped = _post_memo(sandboxes, "V00010", "6400", "20.00", "CM-ACME-2")
    unlinked = _post_memo(sandboxes, "V00040", "5110", "10.00", "CM-LAKES-1")

    report = engine.run()
    assert report.completed, report.errors
    [credit] = _credits(sandboxes)
    assert credit["referenceNumber"] == good and credit["vendorId"] == _bill_id(store, "V00010")
    assert Decimal(str(credit["amount"])) == Decimal("64.99") and credit["creditDate"]
    assert credit["vendorCreditLineItems"][0]["classifications"]["chartOfAccountId"]
    assert "CM-ACME-1" in credit["description"]
    held = {item.record_key: item.reason for item in store.queue_items(state="open", kind=QUEUE_KIND)}
    assert set(held) == {unmapped, unlinked}
    assert f"NAV credit memo {unmapped} (V00010, 20.00)" in held[unmapped] and "has no BILL account" in held[unmapped]
    assert "vendor V00040 is not linked to BILL" in held[unlinked]

    again = engine.run()
    assert again.completed and len(_credits(sandboxes)) == 1  # a second run sends nothing again

    _assert_sent_once_with_a_lost_store(sandboxes, tmp_path)
    engine.nav.close()
    engine.bill.close()


def test_classic_nav_credit_memos_become_vendor_credits_exactly_once(store, tmp_path):
    """NAV 2016-2018: pages 147/141 read into the same credit as Business Central's; once, also with a lost store."""
    from app.sandbox.runner import running_sandboxes

    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        engine = make_engine(store, sandboxes)
        assert engine.run().completed
        assert engine.nav.flavor == "classic" and engine.nav.credit_memos_supported
        good = _post_memo(sandboxes, "V00010", "5110", "64.99", "CM-ACME-1")
        unmapped = _post_memo(sandboxes, "V00010", "6400", "20.00", "CM-ACME-2")
        report = engine.run()
        assert report.completed, report.errors
        [credit] = _credits(sandboxes)
        assert credit["referenceNumber"] == good and credit["vendorId"] == _bill_id(store, "V00010")
        assert Decimal(str(credit["amount"])) == Decimal("64.99")
        assert credit["vendorCreditLineItems"][0]["classifications"]["chartOfAccountId"]
        # Page 147 has no vendor's memo number; page 140 has it, and it goes into the description as on BC.
        assert credit["description"] == f"NAV credit memo {good} (vendor's CM-ACME-1)"
        held = {item.record_key: item.reason for item in store.queue_items(state="open", kind=QUEUE_KIND)}
        assert set(held) == {unmapped} and "has no BILL account" in held[unmapped]

        assert engine.run().completed and len(_credits(sandboxes)) == 1  # a second run sends nothing again
        _assert_sent_once_with_a_lost_store(sandboxes, tmp_path)
        engine.nav.close()
        engine.bill.close()


def test_a_dry_run_plans_the_credit_and_sends_nothing(store, sandboxes):
    engine = make_engine(store, sandboxes)
    assert engine.run().completed
    number = _post_memo(sandboxes, "V00010", "5110", "12.50", "CM-DRY")
    plan = engine.run(dry_run=True)
    assert plan.completed, plan.errors
    assert _credits(sandboxes) == []
    assert any(f"BILL: create vendor credit {number} (NAV credit memo)" in line and "12.50" in line
               for line in plan.planned), plan.planned
    engine.nav.close()
    engine.bill.close()
