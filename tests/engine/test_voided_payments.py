"""A BILL payment posted to NAV and then voided in BILL: the connector never reverses it in NAV by itself; it
raises one queue item that says what to reverse, against the demo sandboxes over real sockets."""

from __future__ import annotations

from app.store import schema as t
from tests.engine.test_payments_posting import _remaining


def _payment_items(store) -> list:
    return list(store.queue_items(state=None, kind="payment"))


def _restart_the_payments_stream(store) -> None:
    with store.session() as s:
        store.set_bookmark(s, "bill.payments", "")


def _nav_payments(engine, payment_id: str) -> list:
    return sorted((p.entry_number, p.document_number, p.amount) for p in engine.nav.find_payments(payment_id))


def test_a_posted_payment_voided_in_bill_raises_one_item_and_leaves_nav_alone(engine, store, sandboxes):
    engine.run()  # demo sync: vendors linked, invoices pushed as bills
    bill = store.invoice_rows(state="created")[0]
    payment_id = sandboxes.bill.pay_bill(bill.bill_id)["id"]
    assert engine.run(flows=["payments"]).flows["payments"].created == 1
    posted = _nav_payments(engine, payment_id)
    owed = _remaining(sandboxes, bill.nav_number)
    [link] = store.payment_rows()
    assert link.state == "posted" and _payment_items(store) == []

    sandboxes.bill.void_payment(payment_id, "VOID_ONLY", "Sent to the wrong vendor")
    report = engine.run(flows=["payments"])

    counts = report.flows["payments"]
    assert counts.created == 0 and counts.held == 1
    [item] = _payment_items(store)
    assert (item.record_key, item.state) == (payment_id, "open")
    assert item.reason == (
        f"BILL payment {payment_id} was voided in BILL after it was posted to NAV as document "
        f"{link.nav_document_number} (invoice {bill.nav_number}, {link.amount}): reverse it in NAV (e.g. a new "
        "journal line or an unapply), then skip this item.")
    assert _nav_payments(engine, payment_id) == posted  # nothing reversed or posted again
    assert _remaining(sandboxes, bill.nav_number) == owed
    assert [row.state for row in store.payment_rows()] == ["voided"]

    # Once: the next run (the stream from the start too) adds nothing and counts nothing.
    _restart_the_payments_stream(store)
    again = engine.run(flows=["payments"]).flows["payments"]
    assert (again.created, again.held) == (0, 0)
    assert [(i.record_key, i.reason) for i in _payment_items(store)] == [(payment_id, item.reason)]
    assert _nav_payments(engine, payment_id) == posted

    # Retry cannot help (the connector reverses nothing): the item stays open, waiting for a person.
    store.retry_item(item.id)
    assert engine.run(flows=["payments"]).flows["payments"].created == 0
    [waiting] = _payment_items(store)
    assert (waiting.state, waiting.retryable, waiting.reason) == ("open", False, item.reason)
    assert _nav_payments(engine, payment_id) == posted

    # The user reverses it in NAV and skips the item: it stays skipped.
    store.skip_item(item.id, "reversed in NAV by journal G00999")
    _restart_the_payments_stream(store)
    engine.run(flows=["payments"])
    assert [i.state for i in _payment_items(store)] == ["skipped"]
    with store.session() as s:
        audited = [a.action for a in s.query(t.AuditEntry).filter(t.AuditEntry.record == f"payment {payment_id}")]
    assert audited.count("payment_undone_after_posting") == 1
