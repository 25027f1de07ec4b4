"""BILL payments posted to NAV through the engine, against the demo sandboxes over real sockets.

Both ways of posting: "api" (BC API v2.0 vendorPaymentJournals, the demo connection has a company id) and
"odata" (the GeneralJournalLines page with its post action, NAV 2016/2018 with that customization).
The posting action posts a whole batch, so the batch must hold nothing but the connector's own lines.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from app.sandbox import demo_data

AUTH = (demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY)


@pytest.fixture(params=["api", "odata"])
def path_engine(request, engine):
    if request.param == "odata":
        engine.nav.connection.company_id = ""  # no BC API: the OData page path
    engine.run()  # links vendors, pushes invoices as bills
    return engine


def _journal(engine, batch: str = "BILL") -> list[dict]:
    root = engine.nav.connection.company_root
    answer = requests.get(f"{root}/GeneralJournalLines", auth=AUTH, timeout=10, params={
        "$filter": f"Journal_Template_Name eq 'PAYMENT' and Journal_Batch_Name eq '{batch}'"})
    assert answer.status_code == 200
    return answer.json()["value"]


def _add_line(engine, batch: str, document: str, vendor: str, amount: Decimal, invoice: str = "",
              external: str = "") -> dict:
    """A line typed in NAV by a clerk (through the same OData page the NAV client writes to)."""
    body = {"Journal_Template_Name": "PAYMENT", "Journal_Batch_Name": batch, "Posting_Date": "2026-11-02",
            "Document_Type": "Payment", "Document_No": document, "External_Document_No": external,
            "Account_Type": "Vendor", "Account_No": vendor, "Amount": float(amount),
            "Bal_Account_Type": "G/L Account", "Bal_Account_No": "2910",
            "Applies_to_Doc_Type": "Invoice" if invoice else "", "Applies_to_Doc_No": invoice}
    answer = requests.post(f"{engine.nav.connection.company_root}/GeneralJournalLines", json=body, auth=AUTH,
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _held(store, payment_id: str):
    return next((item for item in store.queue_items(state=None, kind="payment") if item.record_key == payment_id), None)


def _bill_payment_id(sandboxes, bill_id: str) -> str:
    payment = sandboxes.bill.pay_bill(bill_id)
    return payment["id"]


def test_a_clerks_draft_line_is_never_posted_and_the_payment_waits_with_the_reason(path_engine, store, sandboxes):
    engine = path_engine
    bill = store.invoice_rows(state="created")[0]
    draft = _add_line(engine, "BILL", "G00123", "V00010", Decimal("12.34"), external="CHQ-7")
    payment_id = _bill_payment_id(sandboxes, bill.bill_id)

    report = engine.run(flows=["payments"])

    assert report.flows["payments"].created == 0
    item = _held(store, payment_id)
    assert item is not None and item.state == "open"
    assert ("journal batch PAYMENT/BILL holds lines the connector did not write (document G00123): give the "
            "connector a batch of its own in Settings, or post or delete those lines") in item.reason
    assert engine.nav.find_payments(payment_id) == []  # nothing of ours posted
    assert engine.nav.find_payments("CHQ-7") == []  # and the clerk's draft was not posted either
    lines = _journal(engine)
    assert [(line["Document_No"], line["Amount"]) for line in lines] == [("G00123", 12.34)]  # left alone
    assert lines[0]["@odata.etag"] == draft["@odata.etag"]

    # The clerk posts or deletes the draft: the next run posts the waiting payment, once.
    gone = requests.delete(
        f"{engine.nav.connection.company_root}/GeneralJournalLines(Journal_Template_Name='PAYMENT',"
        f"Journal_Batch_Name='BILL',Line_No={draft['Line_No']})", auth=AUTH, timeout=10,
        headers={"If-Match": draft["@odata.etag"]})
    assert gone.status_code == 204
    assert engine.run(flows=["payments"]).flows["payments"].created == 1
    assert [p.amount for p in engine.nav.find_payments(payment_id)] == [bill.amount]
    assert _held(store, payment_id).state == "resolved"


def test_a_refused_payment_is_held_its_lines_removed_and_the_next_payment_posts(path_engine, store, sandboxes):
    engine = path_engine
    first, second = store.invoice_rows(state="created")[:2]
    # The first invoice was paid by cheque in NAV meanwhile (its own batch), so it is closed.
    _add_line(engine, "CHEQUE", "CHQ0001", first.vendor_number, first.amount, invoice=first.nav_number)
    cheque = _journal(engine, "CHEQUE")[0]
    posted = requests.post(
        f"{engine.nav.connection.company_root}/GeneralJournalLines(Journal_Template_Name='PAYMENT',"
        f"Journal_Batch_Name='CHEQUE',Line_No={cheque['Line_No']})/NAV.Post", auth=AUTH, timeout=10)
    assert posted.status_code in (200, 204)
    refused_id = _bill_payment_id(sandboxes, first.bill_id)

    report = engine.run(flows=["payments"])

    assert report.flows["payments"].created == 0
    item = _held(store, refused_id)
    assert item is not None and item.state == "open"
    assert f"Cannot apply to Invoice {first.nav_number}" in item.reason
    assert _journal(engine) == []  # its own unposted line is out of the batch again
    assert engine.nav.find_payments(refused_id) == []

    next_id = _bill_payment_id(sandboxes, second.bill_id)
    report = engine.run(flows=["payments"])
    assert report.flows["payments"].created == 1
    assert [p.amount for p in engine.nav.find_payments(next_id)] == [second.amount]
    assert _journal(engine) == []
    assert _held(store, refused_id).state == "open"  # still waiting for a person


def test_a_partial_payment_posts_what_was_paid_exactly_once(path_engine, store, sandboxes):
    engine = path_engine
    bill = store.invoice_rows(state="created")[0]
    owed = engine.nav.invoice_remaining_amount(bill.nav_number)
    payment_id = sandboxes.bill.pay_bill(bill.bill_id, Decimal("10.00"))["id"]

    assert engine.run(flows=["payments"]).flows["payments"].created == 1
    assert engine.run(flows=["payments"]).flows["payments"].created == 0  # a second run posts nothing new

    assert [p.amount for p in engine.nav.find_payments(payment_id)] == [Decimal("10.00")]
    assert engine.nav.invoice_remaining_amount(bill.nav_number) == owed - Decimal("10.00")
    assert [(p.nav_invoice_number, p.amount) for p in store.payment_rows()] == [(bill.nav_number, Decimal("10.00"))]
    assert _journal(engine) == []


def test_the_api_path_posts_through_the_connectors_own_vendor_payment_journal(engine, store, sandboxes):
    engine.run()
    bill = store.invoice_rows(state="created")[0]
    sandboxes.bill.pay_bill(bill.bill_id)
    assert engine.run(flows=["payments"]).flows["payments"].created == 1
    journals = sandboxes.nav.payment_journals
    assert list(journals) == ["BILL"] and journals["BILL"]["balancingAccountNumber"] == "2910"
