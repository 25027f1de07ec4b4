"""Credits BILL applies to a payment reach NAV with that payment, exactly once (sandboxes, real sockets).

NAV 2016-2018: the payment's journal lines are the cash line applied to the invoice plus the pair that applies the
credit memo (+credit on the invoice, -credit on the credit memo, no balancing account); once the accountant posts
the batch, the invoice and the credit memo are both closed and reconciliation finds no difference. Business Central
(vendorPayments cannot apply a credit memo): the payment is held with the cash and credit amounts named."""

from __future__ import annotations

from decimal import Decimal

import requests

from app.engine.reconcile import reconcile
from app.sandbox.runner import running_sandboxes
from app.store import Store
from tests.engine.conftest import make_engine
from tests.sandbox.nav_fixtures import AUTH

CREDIT = Decimal("10.00")


def _credit_for_an_invoice(store, sandboxes, engine):
    """A sent invoice, a credit memo of its vendor turned into a BILL vendor credit, and BILL paying the bill with
    that credit applied: (invoice row, memo No., vendor credit id, payment id)."""
    assert engine.run().completed
    row = next(r for r in store.invoice_rows(state="created") if Decimal(r.amount) > CREDIT)
    answer = requests.post(f"{sandboxes.nav_url}/_sandbox/credit-memos", timeout=10, json={
        "vendor": row.vendor_number, "vendor_credit_memo_number": "CM-1",
        "lines": [{"account": "5110", "amount": str(CREDIT), "description": "Returned goods"}]})
    assert answer.status_code == 201, answer.text
    memo = answer.json()["number"]
    assert engine.run().completed
    with sandboxes.bill.state_lock:
        [credit_id] = [c["id"] for c in sandboxes.bill.vendor_credits.values() if c["referenceNumber"] == memo]
    payment = sandboxes.bill.pay_bill(row.bill_id, vendor_credits=[(credit_id, CREDIT)])
    assert Decimal(str(payment["amount"])) == Decimal(row.amount) - CREDIT
    return row, memo, credit_id, payment["id"]


def _get(sandboxes, service: str, filter_text: str) -> list[dict]:
    root = sandboxes.nav_connection().company_root
    answer = requests.get(f"{root}/{service}", auth=AUTH, timeout=10, params={"$filter": filter_text})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_classic_nav_applies_the_credit_memo_with_the_payment_exactly_once(store, tmp_path):
    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        engine = make_engine(store, sandboxes)
        row, memo, _credit_id, payment_id = _credit_for_an_invoice(store, sandboxes, engine)
        cash = Decimal(row.amount) - CREDIT
        assert engine.run().completed
        batch = "Journal_Template_Name eq 'PAYMENT' and Journal_Batch_Name eq 'BILL'"
        lines = [line for line in _get(sandboxes, "PaymentJournal", batch)
                 if line["External_Document_No"] == payment_id]
        assert sorted((line["Document_Type"], line["Applies_to_Doc_Type"], line["AppliesToDocNo"],
                       Decimal(str(line["Amount"])), line["Bal_Account_No"] != "") for line in lines) == sorted([
            ("Payment", "Invoice", row.nav_number, cash, True),
            (" ", "Invoice", row.nav_number, CREDIT, False),
            (" ", "Credit Memo", memo, -CREDIT, False)])
        assert len({line["Document_No"] for line in lines}) == 1  # one document: they balance each other

        assert engine.run().completed  # nothing is written twice while the lines wait for the accountant
        again = [line for line in _get(sandboxes, "PaymentJournal", batch) if line["External_Document_No"] == payment_id]
        assert len(again) == 3
        lost = Store(f"sqlite:///{tmp_path / 'lost.sqlite3'}")  # the store is lost: BILL names the credit's memo
        try:
            fresh = make_engine(lost, sandboxes)
            assert fresh.run().completed
            # it went through the posting again (and reused the three waiting lines), not held for some reason
            assert {link.state for link in lost.payment_rows() if link.payment_id == payment_id} == {"in journal"}
            fresh.nav.close()
            fresh.bill.close()
        finally:
            lost.close()
        after_loss = [line for line in _get(sandboxes, "PaymentJournal", batch)
                      if line["External_Document_No"] == payment_id]
        assert sorted((line["AppliesToDocNo"], Decimal(str(line["Amount"]))) for line in after_loss) == sorted(
            (line["AppliesToDocNo"], Decimal(str(line["Amount"]))) for line in lines)

        sandboxes.nav.post_journal("PAYMENT", "BILL")
        assert engine.run().completed
        entries = {e["Document_No"]: e for e in _get(sandboxes, "VendorLedgerEntries",
                                                      f"Vendor_No eq '{row.vendor_number}'")}
        assert entries[row.nav_number]["Open"] is False and entries[row.nav_number]["Remaining_Amount"] == 0
        assert entries[memo]["Open"] is False and entries[memo]["Remaining_Amount"] == 0
        report = reconcile(store, engine.nav, engine.bill)
        assert not [d for d in report.differences if row.nav_number in d.record or payment_id in d.record]
        assert not [i for i in store.queue_items(state="open", kind="payment") if i.record_key == payment_id]
        engine.nav.close()
        engine.bill.close()


def test_business_central_holds_such_a_payment_with_the_numbers(store):
    with running_sandboxes(seed="demo", nav_flavor="bc") as sandboxes:
        engine = make_engine(store, sandboxes)
        row, _memo, credit_id, payment_id = _credit_for_an_invoice(store, sandboxes, engine)
        assert engine.run().completed
        [held] = [i for i in store.queue_items(state="open", kind="payment") if i.record_key == payment_id]
        cash = Decimal(row.amount) - CREDIT
        assert f"BILL payment {payment_id} pays {cash:,.2f} USD on NAV invoice {row.nav_number} in cash" in held.reason
        assert f"10.00 USD (BILL vendor credit {credit_id})" in held.reason
        assert "apply the credit memo to the invoice there by hand" in held.reason
        assert not engine.nav.find_payments(payment_id)  # nothing went to NAV
        engine.nav.close()
        engine.bill.close()
