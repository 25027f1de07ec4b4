"""A BILL payment event that arrives before the bill's link to its NAV invoice is committed (the connector created
the bill, but the run, or the push service, has not recorded it yet; or it stopped in between) is not "from
somewhere else": it is held as retryable with a reason that says the bill may still be being created, and the next
run posts it. A payment of a bill typed into BILL by hand is still held for a person. Real sockets, both NAVs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, update

from app.sandbox.runner import running_sandboxes
from app.store import schema as t
from tests.engine.conftest import make_engine


@pytest.fixture(params=["bc", "classic"])
def synced(request, store):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as sandboxes:
        engine = make_engine(store, sandboxes)
        assert engine.run().completed  # vendors linked, invoices pushed as bills
        yield engine, sandboxes
        engine.nav.close()
        engine.bill.close()


def _item(store, payment_id: str):
    return next(i for i in store.queue_items(state=None, kind="payment") if i.record_key == payment_id)


def _posted_or_waiting(engine, sandboxes, store, payment_id: str) -> None:
    states = [row.state for row in store.payment_rows() if row.payment_id == payment_id]
    assert states == (["posted"] if sandboxes.nav_flavor == "bc" else ["in journal"])
    if sandboxes.nav_flavor == "bc":
        assert len(engine.nav.find_payments(payment_id)) == 1


def test_a_payment_ahead_of_its_bills_link_is_retried_and_posted(synced, store):
    engine, sandboxes = synced
    bill = store.invoice_rows(state="created")[0]
    # The bill is in BILL, but its link is not committed: the (bulk) bill write is still in flight in the outbox.
    with store.session() as s:
        s.execute(delete(t.InvoiceLink).where(t.InvoiceLink.nav_number == bill.nav_number))
        changed = s.execute(update(t.OutboxEntry).where(t.OutboxEntry.action.in_(("create_bill", "create_bills")))
                            .values(state="in_flight")).rowcount
    assert changed
    payment_id = sandboxes.bill.pay_bill(bill.bill_id)["id"]

    counts = engine.run(flows=["payments"]).flows["payments"]  # the payment event comes first
    assert counts.held == 1 and counts.created == 0
    item = _item(store, payment_id)
    assert (item.state, item.retryable) == ("open", True)
    assert f"pays bill(s) bill {bill.bill_id} (NAV posted invoice {bill.nav_number}" in item.reason
    assert "whose link to the NAV invoice is not recorded yet: the connector may still be creating that bill" \
        in item.reason
    assert "retried automatically on the next run" in item.reason
    assert "did not come from a NAV invoice" not in item.reason
    assert store.payment_rows() == []

    with sandboxes.bill.state_lock:
        bills_before = len(sandboxes.bill.bills)
    report = engine.run()  # the next run: the invoices flow finishes the bill's link, then the payment goes
    assert report.completed, report.errors
    with sandboxes.bill.state_lock:
        assert len(sandboxes.bill.bills) == bills_before  # linked, not created twice
    assert [r.bill_id for r in store.invoice_rows(state="created") if r.nav_number == bill.nav_number] == [
        bill.bill_id]
    assert _item(store, payment_id).state == "resolved"
    _posted_or_waiting(engine, sandboxes, store, payment_id)


def test_a_payment_of_a_bill_typed_into_bill_is_held_for_a_person(synced, store):
    engine, sandboxes = synced
    ours = engine.bill.get_bill(store.invoice_rows(state="created")[0].bill_id)
    typed = engine.bill.create_bill(replace(ours, id="", invoice_number="HAND-TYPED-1",
                                            description="typed into BILL by hand"))
    payment_id = sandboxes.bill.pay_bill(typed.id)["id"]

    counts = engine.run(flows=["payments"]).flows["payments"]
    assert counts.held == 1
    item = _item(store, payment_id)
    assert (item.state, item.retryable) == ("open", False)
    assert item.reason == (f"BILL payment {payment_id} pays bill(s) {typed.id} that did not come from a NAV invoice: "
                           "post it in NAV by hand, then skip it here.")
    assert store.payment_rows() == []
