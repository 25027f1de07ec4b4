"""BILL payments become NAV payment journal lines through the engine, in both NAV flavours, over real sockets.

* ``bc``: Business Central API v2.0. Lines as ``vendorPayments`` in the connector's vendor payment journal,
  posted with ``journals({id})/Microsoft.NAV.post`` and confirmed from the G/L entries.
* ``classic``: NAV 2016-2018 pages. Lines in the connector's batch of the Payment Journal page (256); the
  accountant posts the batch in NAV; the payment counts as posted once the vendor ledger shows it.

Posting posts a whole batch, so the batch must hold nothing but the connector's own lines.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from app.sandbox import demo_data
from app.sandbox.runner import running_sandboxes
from tests.engine.conftest import make_engine

pytestmark = pytest.mark.both_stores  # these run on PostgreSQL too (tests/postgres.py)

AUTH = (demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY)


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


@pytest.fixture
def synced(store, flavour_sandboxes):
    engine = make_engine(store, flavour_sandboxes)
    engine.run()  # links vendors, pushes invoices as bills
    yield engine
    engine.nav.close()
    engine.bill.close()


def _journal(sandboxes, batch: str = "BILL") -> list[dict]:
    with sandboxes.nav.state_lock:
        return [dict(row) for _, row in sandboxes.nav.company.journal_lines("PAYMENT", batch)]


def _add_line(sandboxes, batch: str, document: str, vendor: str, amount: Decimal, invoice: str = "",
              external: str = "") -> dict:
    """A line a clerk types into NAV's payment journal."""
    with sandboxes.nav.state_lock:
        return sandboxes.nav.company.insert_journal_line("PAYMENT", batch, {
            "Document_Type": "Payment", "Document_No": document, "External_Document_No": external,
            "Account_Type": "Vendor", "Account_No": vendor, "Amount": amount,
            "Applies_to_Doc_Type": "Invoice" if invoice else " ", "Applies_to_Doc_No": invoice})


def _remaining(sandboxes, invoice: str) -> Decimal:
    """What NAV still owes on the invoice, as page 146 shows it (published in both flavours)."""
    url = (f"{sandboxes.nav_url}/{demo_data.SERVER_INSTANCE}/ODataV4/Company('{demo_data.COMPANY_NAME}')"
           f"/PostedPurchaseInvoices('{invoice}')")
    answer = requests.get(url, auth=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return Decimal(str(answer.json()["Remaining_Amount"]))


def _held(store, payment_id: str):
    return next((item for item in store.queue_items(state=None, kind="payment") if item.record_key == payment_id), None)


def _settle(engine, sandboxes, store, payment_id: str) -> None:
    """BC posts by itself; on NAV 2016-2018 the accountant posts the batch and the next run confirms it."""
    if sandboxes.nav_flavor == "classic":
        assert [row.state for row in store.payment_rows() if row.payment_id == payment_id] == ["in journal"]
        sandboxes.nav.post_journal("PAYMENT", "BILL")
        assert engine.run(flows=["payments"]).flows["payments"].updated == 1
    assert [row.state for row in store.payment_rows() if row.payment_id == payment_id] == ["posted"]


def test_a_payment_becomes_one_applied_line_posted_exactly_once(synced, store, flavour_sandboxes):
    engine, sandboxes = synced, flavour_sandboxes
    bill = store.invoice_rows(state="created")[0]
    owed = _remaining(sandboxes, bill.nav_number)
    payment_id = sandboxes.bill.pay_bill(bill.bill_id, Decimal("10.00"))["id"]

    report = engine.run(flows=["payments"])
    counts = report.flows["payments"]
    if sandboxes.nav_flavor == "bc":
        assert counts.created == 1 and _journal(sandboxes) == []
    else:
        assert (counts.created, counts.waiting) == (0, 1)
        [line] = _journal(sandboxes)  # waiting for the accountant, applied to the invoice
        assert (line["Applies_to_Doc_No"], line["External_Document_No"], line["Amount"]) == (
            bill.nav_number, payment_id, Decimal("10.00"))
        # A second run writes nothing new while the line waits.
        assert engine.run(flows=["payments"]).flows["payments"].created == 0
        assert len(_journal(sandboxes)) == 1
    _settle(engine, sandboxes, store, payment_id)

    assert [p.amount for p in engine.nav.find_payments(payment_id)] == [Decimal("10.00")]
    assert _remaining(sandboxes, bill.nav_number) == owed - Decimal("10.00")
    assert engine.run(flows=["payments"]).flows["payments"].created == 0  # never twice
    assert [(p.nav_invoice_number, p.amount) for p in store.payment_rows()] == [(bill.nav_number, Decimal("10.00"))]


def test_a_clerks_line_in_the_batch_is_never_posted_and_the_payment_waits_with_the_reason(
        synced, store, flavour_sandboxes):
    engine, sandboxes = synced, flavour_sandboxes
    bill = store.invoice_rows(state="created")[0]
    draft = _add_line(sandboxes, "BILL", "G00123", "V00010", Decimal("12.34"), external="CHQ-7")
    payment_id = sandboxes.bill.pay_bill(bill.bill_id)["id"]

    report = engine.run(flows=["payments"])

    assert report.flows["payments"].created == 0
    item = _held(store, payment_id)
    assert item is not None and item.state == "open"
    assert "journal batch PAYMENT/BILL holds lines the connector did not write for this payment (document G00123)" \
        in item.reason and "post or delete those lines in NAV" in item.reason
    assert engine.nav.find_payments(payment_id) == []
    lines = _journal(sandboxes)
    assert [(line["Document_No"], line["Amount"]) for line in lines] == [("G00123", Decimal("12.34"))]
    assert lines[0]["SystemId"] == draft["SystemId"]  # left alone

    # The clerk deletes the draft: the next run writes the waiting payment, once.
    with sandboxes.nav.state_lock:
        sandboxes.nav.company.journal.delete(("PAYMENT", "BILL", draft["Line_No"]))
    engine.run(flows=["payments"])
    _settle(engine, sandboxes, store, payment_id)
    assert [p.amount for p in engine.nav.find_payments(payment_id)] == [bill.amount]
    assert _held(store, payment_id).state == "resolved"


def test_a_refused_payment_is_held_its_lines_removed_and_the_next_payment_goes(synced, store, flavour_sandboxes):
    engine, sandboxes = synced, flavour_sandboxes
    first, second = store.invoice_rows(state="created")[:2]
    # The first invoice was paid by cheque in NAV meanwhile (its own batch), so it is closed.
    _add_line(sandboxes, "DEFAULT", "CHQ0001", first.vendor_number, first.amount, invoice=first.nav_number)
    with sandboxes.nav.state_lock:
        for key, row in list(sandboxes.nav.company.journal_lines("PAYMENT", "DEFAULT")):
            if row["Document_No"] != "CHQ0001":
                sandboxes.nav.company.journal.delete(key)  # the clerk's other drafts are not part of this
    sandboxes.nav.post_journal("PAYMENT", "DEFAULT")
    refused_id = sandboxes.bill.pay_bill(first.bill_id)["id"]

    report = engine.run(flows=["payments"])

    assert report.flows["payments"].created == 0
    item = _held(store, refused_id)
    assert item is not None and item.state == "open"
    assert first.nav_number in item.reason and "Vendor Ledger Entry does not exist" in item.reason
    assert _journal(sandboxes) == []  # nothing of it is left in the batch
    assert engine.nav.find_payments(refused_id) == []

    next_id = sandboxes.bill.pay_bill(second.bill_id)["id"]
    engine.run(flows=["payments"])
    _settle(engine, sandboxes, store, next_id)
    assert [p.amount for p in engine.nav.find_payments(next_id)] == [second.amount]
    assert _held(store, refused_id).state == "open"  # still waiting for a person


def test_bc_posts_through_the_connectors_own_vendor_payment_journal(store):
    with running_sandboxes(seed="demo", nav_flavor="bc") as sandboxes:
        engine = make_engine(store, sandboxes)
        engine.run()
        bill = store.invoice_rows(state="created")[0]
        sandboxes.bill.pay_bill(bill.bill_id)
        assert engine.run(flows=["payments"]).flows["payments"].created == 1
        api = f"{sandboxes.nav_url}/{demo_data.SERVER_INSTANCE}/api/v2.0/companies({demo_data.COMPANY_ID})"
        journals = requests.get(f"{api}/vendorPaymentJournals", auth=AUTH, timeout=10).json()["value"]
        ours = [j for j in journals if j["code"] == "BILL"]
        assert len(ours) == 1 and ours[0]["balancingAccountNumber"] == "2910"
        engine.nav.close()
        engine.bill.close()
