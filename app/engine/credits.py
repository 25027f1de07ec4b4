"""Vendor credits: posted NAV purchase credit memos become BILL vendor credits for the same vendor, exactly once.

Facts and sources: docs/vendor-credits.md. Runs inside the invoices flow (after the invoices), on the NAV that
offers credit memos (Business Central API v2.0 from BC 22/23; NAV 2016-2018 pages 147/141 where published);
elsewhere it does nothing and README says so.

* Lines are mapped exactly like an invoice's (G/L account → BILL chart of accounts, dimensions →
  classifications); a memo with an unmappable line, of an unlinked vendor, or in another currency is held in
  Failed postings with the reason, and tried again by the next run.
* Exactly once: the write goes through the outbox (key ``bill.vendor_credit:<No.>``); before creating, BILL is
  asked for the vendor's credits with that reference number (the NAV memo No.), so a lost store or a crash between
  sending and recording never makes a second credit.
* A corrective credit memo (it cancels a posted invoice; status Corrective) is not sent: the invoice's
  cancellation is the invoice's business. A cancelled one (status Canceled) is not sent either.
* Credits BILL applies to a payment: see ``applied_credit_lines`` below (NAV 2016-2018; held on Business Central).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select

from app.domain.credits import PostedCreditMemo, VendorCredit, VendorCreditLine
from app.domain.errors import RecordError
from app.engine.report import PlannedWrite, money
from app.store import schema as t

log = logging.getLogger("navbill.engine")

OUTBOX_ACTION = "create_vendor_credit"
QUEUE_KIND = "credit_memo"
LOCAL = ("", "USD")
ZERO = Decimal("0")


def sync_credit_memos(engine) -> None:
    nav = engine.nav
    if not getattr(nav, "credit_memos_supported", False):
        return
    counts = engine.report.counts("invoices")
    with engine.store.session() as s:
        done = {key.split(":", 1)[1] for key in s.scalars(select(t.OutboxEntry.key).where(
            t.OutboxEntry.action == OUTBOX_ACTION, t.OutboxEntry.state == "done"))}
    memos = list(engine._stream("NAV", lambda: nav.iter_posted_credit_memos(done.__contains__)))
    for memo in memos:
        engine._check_cancel()
        if memo.status in ("Corrective", "Canceled"):
            continue
        if memo.number in done:
            continue
        key = f"bill.vendor_credit:{memo.number}"
        label = f"NAV credit memo {memo.number} ({memo.vendor_number}, {memo.amount:,.2f})"
        problem = _problem(engine, memo)
        if problem:
            # Looked at again by every run (the list is read each time): sent once the reason is gone.
            engine._hold(QUEUE_KIND, memo.number, f"{label}: {problem}", flow="invoices", outcome="held")
            continue
        engine._guard("invoices", QUEUE_KIND, memo.number, label, lambda memo=memo, key=key: _create(
            engine, memo, key, counts))


def _problem(engine, memo: PostedCreditMemo) -> str:
    if memo.currency.strip().upper() not in LOCAL:
        return (f"it is in {memo.currency}; the connector sends credits in USD only. Enter it in BILL by hand, "
                "then skip this item.")
    if not engine._vendor_bill_id(memo.vendor_number):
        return f"vendor {memo.vendor_number} is not linked to BILL; link the vendor, then the next run sends it."
    _lines, problems = engine._bill_lines(memo)
    if problems:
        return "; ".join(problems).replace("the invoice has no lines", "the credit memo has no lines")
    return ""


def _create(engine, memo: PostedCreditMemo, key: str, counts) -> None:
    vendor_id = engine._vendor_bill_id(memo.vendor_number)
    bill_lines, _problems = engine._bill_lines(memo)
    credit = VendorCredit(
        vendor_id=vendor_id, reference_number=memo.number, credit_date=memo.document_date,
        lines=tuple(VendorCreditLine(amount=line.amount, description=line.description,
                                     chart_of_account_id=line.chart_of_account_id,
                                     classifications=tuple(sorted(line.classifications.items())))
                    for line in bill_lines),
        description=f"NAV credit memo {memo.number}" + (
            f" (vendor's {memo.vendor_credit_memo_number})" if memo.vendor_credit_memo_number else ""))
    if engine.report.dry_run:  # never a client call here: only the plan says what would be sent
        planner = getattr(engine.bill, "_planner", None)
        if planner is not None:
            planner.plan(PlannedWrite("BILL", "create_vendor_credit", memo.number, name=planner.name(vendor_id),
                                      amount=credit.amount, vendor=vendor_id))
        counts.created += 1
        return

    def look():
        found = engine._bill_call(engine.bill.find_vendor_credits, vendor_id, memo.number)
        return found[0] if found else None

    existing = engine.outbox.entry(key)
    if existing is None:
        engine.outbox.record(key, "BILL", OUTBOX_ACTION, f"credit memo {memo.number}",
                             {"number": memo.number, "vendor_id": vendor_id})
        found = look()  # the store may have been lost: BILL is asked first, whatever the store says
        if found is not None:
            _finish(engine, key, memo, found, linked=True)
            counts.updated += 1
            return
    created = engine.outbox.send(key, lambda: engine._bill_call(engine.bill.create_vendor_credit, credit), look)
    if created is None or not created.id:
        raise RecordError(f"BILL did not answer with the vendor credit for NAV credit memo {memo.number}.",
                          system="BILL", record=f"credit memo {memo.number}")
    _finish(engine, key, memo, created, linked=False)
    counts.created += 1


def _finish(engine, key: str, memo: PostedCreditMemo, credit: VendorCredit, *, linked: bool) -> None:
    with engine.store.session() as s:
        engine.outbox.finish(s, key, {"vendor_credit_id": credit.id})
        engine._resolve_item(s, QUEUE_KIND, memo.number)
        engine._audit(s, "BILL", "link_vendor_credit" if linked else "create_vendor_credit",
                      f"credit memo {memo.number}", vendor_credit=credit.id, vendor=memo.vendor_number,
                      amount=f"{memo.amount:.2f}")


# -- credits BILL applied to a payment → the NAV lines that payment becomes ------------------------------------
#
# BILL shows them on the payment: ``billPayments[{billId, amount, vendorCredits[{id, amount}]}]`` (BILL-API.md,
# payment object; the line's ``amount`` is the cash, INFERRED from "a credit is applied to the bill, never sent as a
# negative payment", developer.bill.com/docs/ap-bulk-payments). In NAV the invoice must then be closed by the
# payment AND the credit memo: besides the payment line (cash, applied to the invoice), two lines of the same
# document with no balancing account and document type blank: +credit applied to the invoice, -credit applied to
# the credit memo. They are written, checked and reused exactly like the payment's own lines (same External
# Document No. = the BILL payment id; NAV's backend reuses lines of that payment waiting in the batch).
#
# Business Central's API v2.0 ``vendorPayments`` shows only lines applied to an invoice (or with an Applies-to ID)
# and has no applies-to document type (NAV-GROUND-TRUTH.md: vendorPayments ShowRecord), so there such a payment is
# held with the cash and credit amounts named, to be posted and applied in NAV by hand.


def _credit_memo_numbers(engine, credit_ids: set[str]) -> dict[str, str]:
    """BILL vendor credit id → the NAV credit memo No. it was made from: the outbox first, then BILL (the credit's
    reference number is the memo No.), so a lost store still finds it."""
    found: dict[str, str] = {}
    with engine.store.session() as s:
        for row in s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.action == OUTBOX_ACTION,
                                                         t.OutboxEntry.state == "done")):
            credit_id = str((row.result or {}).get("vendor_credit_id") or "")
            if credit_id in credit_ids:
                found[credit_id] = str((row.payload or {}).get("number") or row.key.split(":", 1)[1])
    for credit_id in sorted(credit_ids - set(found)):
        credit = engine._bill_call(engine.bill.get_vendor_credit, credit_id)
        if credit is not None and credit.reference_number and _from_nav(engine, credit):
            found[credit_id] = credit.reference_number
    return found


def _from_nav(engine, credit: VendorCredit) -> bool:
    """A credit the connector made (its description says so), not one typed into BILL with a look-alike number."""
    return credit.description.startswith(f"NAV credit memo {credit.reference_number}")


def applied_credit_problem(engine, payment, invoices) -> str:
    """Why a payment with vendor credits applied cannot be posted with them (held with the numbers), or ""."""
    applied = [(a, c) for a in payment.allocations for c in getattr(a, "credits", ())]
    if not applied:
        return ""
    cash = ", ".join(f"{money(a.amount)} on NAV invoice {invoices[a.bill_id].nav_number}"
                     for a in payment.allocations)
    credits = ", ".join(f"{money(c.amount)} (BILL vendor credit {c.vendor_credit_id})" for _a, c in applied)
    head = f"BILL payment {payment.id} pays {cash} in cash and applies vendor credit(s) {credits}"
    if any(c.amount <= 0 for _a, c in applied):
        return f"{head}: a credit of zero or less is not posted. Check it in BILL, post it in NAV by hand, then skip it."
    if getattr(engine.nav, "flavor", "") != "classic":
        return (f"{head}. Business Central's API cannot apply a credit memo in a vendor payment line: post the "
                "payment in NAV and apply the credit memo to the invoice there by hand, then skip this item.")
    numbers = _credit_memo_numbers(engine, {c.vendor_credit_id for _a, c in applied})
    unknown = sorted({c.vendor_credit_id for _a, c in applied} - set(numbers))
    if unknown:
        return (f"{head}, but vendor credit(s) {', '.join(unknown)} did not come from a NAV credit memo: post the "
                "payment in NAV by hand and apply the matching credit memo there, then skip this item.")
    for allocation in payment.allocations:
        link = invoices[allocation.bill_id]
        total = allocation.amount + sum((c.amount for c in getattr(allocation, "credits", ())), ZERO)
        if total > Decimal(link.amount):
            return (f"{head}, together {money(total)} on NAV invoice {link.nav_number} of {money(link.amount)}: "
                    "more than the invoice. Check it in BILL, post it in NAV by hand, then skip this item.")
    return ""


def applied_credit_lines(engine, payment, invoices, lines: list) -> list:
    """The payment's lines plus, per applied credit, the pair that applies its NAV credit memo to the invoice."""
    applied = [(a, c) for a in payment.allocations for c in getattr(a, "credits", ())]
    if not applied or not lines:
        return lines
    numbers = _credit_memo_numbers(engine, {c.vendor_credit_id for _a, c in applied})
    first = lines[0]
    extra = []
    for allocation, credit in applied:
        invoice = invoices[allocation.bill_id].nav_number
        memo = numbers[credit.vendor_credit_id]
        for amount, document, kind in ((credit.amount, invoice, "Invoice"), (-credit.amount, memo, "Credit Memo")):
            extra.append(replace(first, vendor_number=invoices[allocation.bill_id].vendor_number, amount=amount,
                                 applies_to_invoice=document, applies_to_type=kind, document_type=" ",
                                 balancing_account_number=""))
    return list(lines) + extra
