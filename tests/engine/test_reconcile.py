"""The reconciliation report against the sandboxes over real sockets, in both NAV flavours: held invoices, a payment
waiting in the journal batch (NAV 2016-2018), a posted payment (no difference), and a payment voided in BILL after it
was posted (both numbers and the cause)."""

from __future__ import annotations

import pytest

from app.engine.reconcile import reconcile
from app.sandbox.runner import running_sandboxes
from tests.engine.conftest import make_engine


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


def _about(report, text: str):
    return [d for d in report.differences if text in d.record]


def test_reconcile_finds_each_kind_of_difference(store, flavour_sandboxes):
    sandboxes = flavour_sandboxes
    classic = sandboxes.nav_flavor == "classic"
    engine = make_engine(store, sandboxes)
    assert engine.run().completed
    first = reconcile(store, engine.nav, engine.bill)
    held = {row.nav_number: row.reason for row in store.invoice_rows(state="held")}
    assert first.vendors > 0 and first.invoices > 0 and first.payments == 0
    for number in held:  # every held invoice of a linked vendor is listed with its reason
        for difference in _about(first, f"NAV invoice {number}"):
            assert difference.bill == "no bill" and difference.cause.startswith("Held invoice: ")
    assert any(d.cause.startswith("Held invoice: ") for d in first.differences)
    assert (first.limits != []) is (not classic)  # BC: says it compares status only

    row = next(iter(store.invoice_rows(state="created")))
    payment_id = sandboxes.bill.pay_bill(row.bill_id)["id"]
    assert engine.run().completed
    paid = reconcile(store, engine.nav, engine.bill)
    if classic:  # the lines wait in the batch for the accountant
        [invoice] = _about(paid, f"NAV invoice {row.nav_number} /")
        assert "Payment waiting in the journal batch" in invoice.cause and payment_id in invoice.cause
        assert invoice.nav.startswith(f"{row.amount:,.2f} USD open") and invoice.bill.startswith("0.00 USD due")
        [payment] = _about(paid, f"BILL payment {payment_id}")
        assert payment.nav == "no payment entry" and payment.bill == f"{row.amount:,.2f} USD paid"
        assert invoice.amount == payment.amount == row.amount  # the gap, for the daily digest's "biggest"
        sandboxes.nav.post_journal("PAYMENT", "BILL")
        assert engine.run().completed
        paid = reconcile(store, engine.nav, engine.bill)
    assert not _about(paid, f"NAV invoice {row.nav_number} /") and not _about(paid, payment_id)
    assert paid.payments == 1

    sandboxes.bill.void_payment(payment_id)
    voided = reconcile(store, engine.nav, engine.bill)
    [payment] = _about(voided, f"BILL payment {payment_id}")
    assert payment.nav == f"{row.amount:,.2f} USD posted" and "voided" in payment.bill
    assert "Voided in BILL after it was posted to NAV" in payment.cause and payment.amount == row.amount
    [invoice] = _about(voided, f"NAV invoice {row.nav_number} /")
    assert "Voided in BILL after it was posted to NAV" in invoice.cause
    assert not voided.clean and "difference(s)" in voided.as_text()
    assert voided.to_csv().splitlines()[0] == "kind,vendor,record,nav,bill,cause"
    engine.nav.close()
    engine.bill.close()
