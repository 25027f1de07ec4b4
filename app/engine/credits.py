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
* Not done: credits BILL applies to a payment are not yet reflected in the NAV lines that payment becomes.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.domain.credits import PostedCreditMemo, VendorCredit, VendorCreditLine
from app.domain.errors import RecordError
from app.engine.report import money
from app.store import schema as t

log = logging.getLogger("navbill.engine")

OUTBOX_ACTION = "create_vendor_credit"
QUEUE_KIND = "credit_memo"
LOCAL = ("", "USD")


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
    if memo.currency not in LOCAL:
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
            planner.plan(f"BILL: create vendor credit {memo.number} (NAV credit memo) for "
                         f"{planner.vendor(vendor_id)}, {money(credit.amount)}")
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
