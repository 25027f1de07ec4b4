"""End to end, headless, against the NAV sandbox in each flavour (Business Central API v2.0 and NAV 2016-2018 pages)
and the BILL sandbox, over real sockets: the first sync, a payment made in BILL, and the syncs after it.

This is the walk issue 10 asks for: vendors created, one bill per posted invoice with the right amount, accounts
and dimensions (drafts never), a BILL payment as one applied line in the connector's batch (posted and confirmed
on BC; waiting for the accountant, then confirmed, on the pages), the clerk's own journal lines untouched, and
second and third syncs that finish clean.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain.models import UnreadableRecord
from app.sandbox.runner import running_sandboxes
from app.store import schema as t
from tests.engine.conftest import make_engine


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


def _clerks_lines(sandboxes) -> list[tuple]:
    with sandboxes.nav.state_lock:
        return sorted((key, row["Document_No"], row["Amount"], row["SystemId"])
                      for key, row in sandboxes.nav.company.journal_lines()
                      if key[:2] != ("PAYMENT", "BILL"))


def test_first_sync_payment_and_later_syncs_in_each_flavour(store, flavour_sandboxes):
    sandboxes = flavour_sandboxes
    engine = make_engine(store, sandboxes)
    clerks_before = _clerks_lines(sandboxes)
    assert clerks_before, "the demo seeds a clerk's lines in other batches"

    first = engine.run()
    assert first.completed, first.errors
    assert engine.nav.flavor == sandboxes.nav_flavor  # detected, not configured

    # Vendors: linked or created in BILL, none twice.
    names = [v["name"] for v in sandboxes.bill.vendors.values()]
    assert len(names) == len(set(names))
    assert first.flows["vendors"].created >= 30

    # Bills: one per posted invoice that is not held, with NAV's amount, mapped accounts and classifications.
    nav_invoices = {i.number: i for i in engine.nav.iter_posted_invoices() if not isinstance(i, UnreadableRecord)}
    created = {row.nav_number: row for row in store.invoice_rows(state="created")}
    held = {row.nav_number: row.reason for row in store.invoice_rows(state="held")}
    assert set(created) | set(held) == set(nav_invoices)  # every posted invoice, and only those (no drafts)
    bills = {b["id"]: b for b in sandboxes.bill.bills.values()}
    assert len(bills) == len(created)
    with store.session() as s:
        mapped = {m.nav_account: m.bill_account_id for m in s.scalars(select(t.AccountMapping))
                  if not m.dimension_filter}
    for number, row in created.items():
        invoice, bill = nav_invoices[number], bills[row.bill_id]
        assert Decimal(str(bill["amount"])) == invoice.amount, number
        assert [(Decimal(str(line["amount"])), line["classifications"]["chartOfAccountId"])
                for line in bill["billLineItems"]] == [(line.amount, mapped[line.gl_account])
                                                       for line in invoice.lines], number
    departments = [line["classifications"].get("departmentId") for b in bills.values() for line in b["billLineItems"]]
    assert any(departments)  # NAV dimensions reached BILL as classifications
    # Item lines are held with a reason that says what to do.
    item_held = [reason for reason in held.values() if "Item 1100 line, not a G/L account line" in reason]
    assert item_held, held

    # A payment in BILL becomes one applied line in the connector's batch.
    row = next(iter(created.values()))
    payment_id = sandboxes.bill.pay_bill(row.bill_id)["id"]
    paid = engine.run()
    assert paid.completed, paid.errors
    with sandboxes.nav.state_lock:
        batch = [dict(line) for _, line in sandboxes.nav.company.journal_lines("PAYMENT", "BILL")]
    if sandboxes.nav_flavor == "bc":
        assert paid.flows["payments"].created == 1 and batch == []
        [link] = store.payment_rows()
        assert link.state == "posted"
    else:
        assert paid.flows["payments"].waiting == 1
        assert [(line["Applies_to_Doc_No"], line["External_Document_No"]) for line in batch] == [
            (row.nav_number, payment_id)]
        assert [link.state for link in store.payment_rows()] == ["in journal"]
        sandboxes.nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch in NAV
    found = engine.nav.find_payments(payment_id)
    assert [p.amount for p in found] == [row.amount]

    # Second and third syncs finish clean: nothing created twice, the waiting payment confirmed once.
    second = engine.run()
    assert second.completed, second.errors
    assert all(counts.created == 0 for counts in second.flows.values())
    assert [link.state for link in store.payment_rows()] == ["posted"]
    third = engine.run()
    assert third.completed, third.errors
    assert all(counts.created == 0 and counts.updated == 0 for name, counts in third.flows.items()
               if name != "accounts")
    assert [p.amount for p in engine.nav.find_payments(payment_id)] == [row.amount]  # posted exactly once
    assert len(sandboxes.bill.bills) == len(created)
    assert _clerks_lines(sandboxes) == clerks_before  # the clerk's own journal lines were never touched
    engine.nav.close()
    engine.bill.close()


def test_an_invoice_in_another_currency_is_held_in_each_flavour(store, flavour_sandboxes):
    """Business Central says a foreign currency by a currencyId (the local one has the empty GUID and the company's
    own code); the classic pages by a Currency_Code (blank for local). Either way a CAD invoice never becomes a USD
    bill."""
    sandboxes = flavour_sandboxes
    engine = make_engine(store, sandboxes)
    try:
        engine.run()
        template = sandboxes.nav.invoices.get("108001")["_lines"][0]
        posted = sandboxes.nav.post_invoice("V00010", "CAD-7", [
            {"account": template["No"], "amount": "4250.00", "dimensions": {"DEPARTMENT": "PROD"}}],
            currency_code="CAD")
        local = sandboxes.nav.post_invoice("V00010", "USD-8", [
            {"account": template["No"], "amount": "99.00", "dimensions": {"DEPARTMENT": "PROD"}}])
        assert engine.run(flows=["invoices"]).completed
        [held] = [r for r in store.invoice_rows(state="held") if r.nav_number == posted["No"]]
        assert "it is in CAD (4,250.00 CAD)" in held.reason, held.reason
        invoice_numbers = {b["invoice"]["invoiceNumber"] for b in sandboxes.bill.bills.values()}
        assert "CAD-7" not in invoice_numbers and "USD-8" in invoice_numbers
        assert local["No"] in {r.nav_number for r in store.invoice_rows(state="created")}
    finally:
        engine.nav.close()
        engine.bill.close()


def test_a_company_that_books_in_canadian_dollars_sends_no_bill_in_each_flavour(store, flavour_sandboxes):
    """A document's blank currency is the company's LCY Code (General Ledger Setup): the API names it, the classic
    pages read it from page 118. A company keeping its books in CAD has every invoice in CAD, and none may become a
    USD bill."""
    sandboxes = flavour_sandboxes
    sandboxes.nav.company.setup["LCY_Code"] = "CAD"
    engine = make_engine(store, sandboxes)
    try:
        assert engine.run().completed
        assert not sandboxes.bill.bills
        held = store.invoice_rows(state="held")
        assert len(held) == 60 and all("it is in CAD" in row.reason for row in held)
    finally:
        engine.nav.close()
        engine.bill.close()
