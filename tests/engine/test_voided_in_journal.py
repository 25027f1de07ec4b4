"""NAV 2016-2018: a BILL payment voided while its NAV lines still wait in the connector's journal batch (the
accountant has not posted it yet). The connector never deletes or changes NAV lines: it holds one item naming the
payment, the vendor, the NAV document, the amount with its currency and the batch to delete the lines from; once the
lines are gone it closes the item; posted anyway, the item says to reverse it. Classic sandbox, real sockets."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from app.sandbox import demo_data
from app.sandbox.runner import running_sandboxes
from app.store import schema as t
from tests.engine.conftest import make_engine

AUTH = (demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY)


@pytest.fixture
def classic(store):
    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        engine = make_engine(store, sandboxes)
        assert engine.run().completed  # vendors linked, invoices pushed as bills
        yield engine, sandboxes
        engine.nav.close()
        engine.bill.close()


def _journal(sandboxes) -> list[dict]:
    with sandboxes.nav.state_lock:
        return [dict(row) for _, row in sandboxes.nav.company.journal_lines("PAYMENT", "BILL")]


def _items(store) -> list:
    return list(store.queue_items(state=None, kind="payment"))


def _audited(store, payment_id: str) -> list[str]:
    with store.session() as s:
        return [a.action for a in s.query(t.AuditEntry).filter(t.AuditEntry.record == f"payment {payment_id}")]


def _paid_and_voided(engine, sandboxes, store):
    bill = store.invoice_rows(state="created")[0]
    payment_id = sandboxes.bill.pay_bill(bill.bill_id)["id"]
    assert engine.run(flows=["payments"]).flows["payments"].waiting == 1
    [link] = store.payment_rows()
    assert link.state == "in journal"
    lines = _journal(sandboxes)
    assert [row["Document_No"] for row in lines] == [link.nav_document_number]
    sandboxes.bill.void_payment(payment_id, "VOID_ONLY", "Sent to the wrong vendor")
    return bill, payment_id, link, lines


def _vendor_name(store, number: str) -> str:
    with store.session() as s:
        return s.query(t.VendorLink).filter(t.VendorLink.nav_number == number).one().name


def test_a_payment_voided_while_its_lines_wait_is_held_naming_the_lines_to_delete(classic, store):
    engine, sandboxes = classic
    bill, payment_id, link, lines = _paid_and_voided(engine, sandboxes, store)

    report = engine.run(flows=["payments"])
    counts = report.flows["payments"]
    assert counts.held == 1 and counts.created == 0
    [item] = _items(store)
    assert (item.record_key, item.state, item.retryable) == (payment_id, "open", False)
    name = _vendor_name(store, link.vendor_number)
    assert name
    amount = f"{Decimal(link.amount):,.2f}"
    assert item.reason == (
        f"BILL payment {payment_id} to NAV vendor {name} ({link.vendor_number}) of {amount} USD was voided in BILL "
        f"while its NAV payment lines (document {link.nav_document_number}: {amount} on invoice {bill.nav_number}) "
        "still wait in journal batch PAYMENT/BILL: delete these lines from batch PAYMENT/BILL before posting. The "
        "next run sees they are gone and closes this item; if the batch was posted meanwhile, reverse the payment in "
        "NAV instead.")
    assert _journal(sandboxes) == lines  # NAV's lines untouched: deleting them is the accountant's job
    assert engine.nav.find_payments(payment_id) == []
    assert [row.state for row in store.payment_rows()] == ["in journal"]

    # Once: the next run (the payments stream read from the start too) adds nothing.
    with store.session() as s:
        store.set_bookmark(s, "bill.payments", "")
    again = engine.run(flows=["payments"]).flows["payments"]
    assert (again.held, again.created) == (0, 0)
    assert [(i.record_key, i.state, i.reason) for i in _items(store)] == [(payment_id, "open", item.reason)]
    assert _audited(store, payment_id).count("payment_undone_in_journal") == 1

    # The accountant deletes the lines in NAV (page 256): the next run closes the item and stops waiting.
    root = f"{sandboxes.nav_url}/{demo_data.SERVER_INSTANCE}/ODataV4/Company('{demo_data.COMPANY_NAME}')"
    for row in lines:
        key = f"Journal_Template_Name='PAYMENT',Journal_Batch_Name='BILL',Line_No={row['Line_No']}"
        answer = requests.delete(f"{root}/PaymentJournal({key})", auth=AUTH, headers={"If-Match": "*"}, timeout=10)
        assert answer.status_code == 204, answer.text
    assert _journal(sandboxes) == []
    done = engine.run(flows=["payments"]).flows["payments"]
    assert (done.waiting, done.held, done.created) == (0, 0, 0)
    assert [(i.record_key, i.state) for i in _items(store)] == [(payment_id, "resolved")]
    assert store.payment_rows() == []
    assert "voided_payment_lines_gone" in _audited(store, payment_id)
    assert engine.nav.find_payments(payment_id) == []
    assert engine.run(flows=["payments"]).flows["payments"].held == 0


def test_the_batch_posted_anyway_turns_the_item_into_a_reversal(classic, store):
    engine, sandboxes = classic
    bill, payment_id, link, _lines = _paid_and_voided(engine, sandboxes, store)
    assert engine.run(flows=["payments"]).flows["payments"].held == 1

    sandboxes.nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch without reading the item
    engine.run(flows=["payments"])
    [item] = _items(store)
    assert item.state == "open"
    assert item.reason.startswith(f"BILL payment {payment_id} was voided in BILL after it was posted to NAV as "
                                  f"document {link.nav_document_number}")
    assert "reverse it in NAV" in item.reason
    assert [row.state for row in store.payment_rows()] == ["voided"]
    assert len(engine.nav.find_payments(payment_id)) == 1  # posted once by the accountant, nothing added


def test_the_batch_the_lines_were_written_to_is_named_after_the_settings_change(classic, store):
    """The lines stay where they were written: a batch changed in Settings since does not make them look gone."""
    engine, sandboxes = classic
    _bill, payment_id, link, lines = _paid_and_voided(engine, sandboxes, store)
    moved = make_engine(store, sandboxes, journal_batch="BILL2")
    try:
        moved.run(flows=["payments"])
    finally:
        moved.nav.close()
        moved.bill.close()
    [item] = _items(store)
    assert item.state == "open"
    assert "delete these lines from batch PAYMENT/BILL before posting" in item.reason
    assert [row.state for row in store.payment_rows()] == ["in journal"]
    assert _journal(sandboxes) == lines
