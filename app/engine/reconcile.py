"""The reconciliation report: do BILL and NAV still agree for every linked vendor?

Read only; nothing is written anywhere. For each linked vendor:

* **Invoices.** Every NAV posted invoice against its BILL bill. NAV 2016-2018 (page 146) say what is still owed
  (``Remaining_Amount``, including tax); BILL says ``dueAmount`` of the bill (which the connector created with the
  invoice's amount). What was *paid* on each side is compared (NAV: amount including tax less remaining; BILL:
  amount less due), so tax never shows as a difference. Business Central API v2.0 has no remaining amount: only the
  invoice's status (Open / Paid) is compared with whether the bill is still due, and a partial payment is not seen.
* **Payments.** Every BILL payment on a bill of a NAV invoice against NAV's payment entries of it (found by the BILL
  payment id, as the connector posts them): a settled payment must be in NAV with its amount; a voided, cancelled or
  failed one must not.

Every difference carries both numbers and the likely cause, from what the connector knows: a held invoice (and
why), a payment waiting in the journal batch, a payment held (and why), a payment voided in BILL after posting,
one posted in NAV outside the connector, or one the next sync posts.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from sqlalchemy import select

from app.domain.models import UnreadableRecord
from app.engine.report import money
from app.store import schema as t

ZERO = Decimal("0")


@dataclass(frozen=True)
class Difference:
    kind: str  # "invoice" | "payment"
    vendor: str  # "Acme Steel Supply (V00010)"
    record: str  # "NAV invoice 108001 / BILL bill 00n…"
    nav: str  # NAV's number, in words
    bill: str  # BILL's number, in words
    cause: str  # the likely cause and what to do
    amount: Decimal = ZERO  # the gap between the two sides, for ranking (the daily digest names the biggest)
    currency: str = ""  # of that amount ("" = the company's local currency)

    def line(self) -> str:
        return f"{self.vendor}: {self.record}: NAV {self.nav}; BILL {self.bill}. {self.cause}"


@dataclass
class ReconcileReport:
    nav_flavor: str = ""
    vendors: int = 0
    invoices: int = 0
    payments: int = 0
    differences: list[Difference] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict:
        return {"nav_flavor": self.nav_flavor, "vendors": self.vendors, "invoices": self.invoices,
                "payments": self.payments, "differences": [asdict(d) for d in self.differences],
                "limits": list(self.limits)}

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["kind", "vendor", "record", "nav", "bill", "cause"])
        for d in self.differences:
            writer.writerow([d.kind, d.vendor, d.record, d.nav, d.bill, d.cause])
        return out.getvalue()

    def as_text(self) -> str:
        lines = [f"Reconciliation ({self.nav_flavor or 'NAV'}): {self.vendors} linked vendor(s), {self.invoices} "
                 f"invoice(s), {self.payments} BILL payment(s) compared."]
        if self.clean:
            lines.append("NAV and BILL agree: no differences.")
        else:
            lines.append(f"{len(self.differences)} difference(s):")
            lines += [f"  - {d.line()}" for d in self.differences]
        lines += [f"Note: {limit}" for limit in self.limits]
        return "\n".join(lines)


def reconcile(store, nav, bill, progress: Callable[[str], None] | None = None) -> ReconcileReport:
    """Compare NAV and BILL for every linked vendor (read only)."""
    say = progress or (lambda message: None)
    report = ReconcileReport(nav_flavor=str(getattr(nav, "flavor", "") or ""))
    with store.session() as s:
        vendors = {link.nav_number: (link.bill_id, link.name) for link in s.scalars(
            select(t.VendorLink).where(t.VendorLink.status == "linked"))}
        invoice_links = {link.nav_number: _plain(link) for link in s.scalars(select(t.InvoiceLink))}
        payment_links: dict[str, list[dict]] = defaultdict(list)
        for link in s.scalars(select(t.PaymentLink)):
            payment_links[link.payment_id].append(_plain(link))
        held = {(item.kind, item.record_key): item.reason for item in s.scalars(
            select(t.QueueItem).where(t.QueueItem.state == "open"))}
    report.vendors = len(vendors)
    classic = report.nav_flavor == "classic"
    if not classic:
        report.limits.append("Business Central API v2.0 gives no remaining amount: invoices are compared by status "
                             "(Open / Paid) only, so a partly paid invoice shows no difference here.")

    def vendor_label(number: str) -> str:
        name = vendors.get(number, ("", ""))[1]
        return f"{name} ({number})" if name else f"vendor {number}"

    say("reading BILL payments")
    payments = [p for p in bill.iter_payments() if not isinstance(p, UnreadableRecord)]
    paying: dict[str, set[str]] = defaultdict(set)  # bill id -> BILL payments on it
    for payment in payments:
        for allocation in payment.allocations:
            paying[allocation.bill_id].add(payment.id)
    undone_ids = {p.id for p in payments if _undone(p)}
    say("reading BILL bills")
    bills = {b.id: b for b in bill.iter_bills() if not isinstance(b, UnreadableRecord)}
    say("reading NAV posted invoices")
    bill_to_invoice: dict[str, str] = {}
    for invoice in nav.iter_posted_invoices():
        if isinstance(invoice, UnreadableRecord) or invoice.vendor_number not in vendors:
            continue
        report.invoices += 1
        currency = invoice.currency
        label = vendor_label(invoice.vendor_number)
        link = invoice_links.get(invoice.number)
        nav_open = _nav_open(invoice, classic)
        if link is None or link["state"] != "created" or not link["bill_id"]:
            if invoice.cancelled or nav_open == ZERO or (not classic and invoice.status == "Paid"):
                continue  # nothing owed in NAV and nothing in BILL: they agree
            reason = held.get(("invoice", invoice.number))
            cause = (f"Held invoice: {reason}" if reason else
                     "Not in BILL yet: the next sync sends it (or it is held then, with the reason).")
            report.differences.append(Difference(
                "invoice", label, f"NAV invoice {invoice.number} (vendor's {invoice.vendor_invoice_number})",
                _nav_words(invoice, nav_open, classic), "no bill", cause,
                _owed(invoice, nav_open), currency))
            continue
        bill_to_invoice[link["bill_id"]] = invoice.number
        record = f"NAV invoice {invoice.number} / BILL bill {link['bill_id']}"
        found = bills.get(link["bill_id"])
        if found is None or found.archived:
            if nav_open == ZERO or (not classic and invoice.status == "Paid") or invoice.cancelled:
                continue
            report.differences.append(Difference(
                "invoice", label, record, _nav_words(invoice, nav_open, classic),
                "archived" if found is not None else "not found",
                "The bill was archived or deleted in BILL while NAV still shows the invoice open: pay it in BILL "
                "or close it in NAV.", _owed(invoice, nav_open), currency))
            continue
        bill_paid = found.amount - found.due_amount
        if invoice.cancelled:
            if found.due_amount > ZERO:
                report.differences.append(Difference(
                    "invoice", label, record, "cancelled (corrective credit memo)",
                    f"{money(found.due_amount, currency)} due",
                    "NAV cancelled the invoice but BILL still has it due: archive the bill in BILL so it is not paid.",
                    found.due_amount, currency))
            continue
        if classic and invoice.remaining_amount is None:
            note = ("NAV's Posted Purchase Invoices page (146) sends no Remaining_Amount: what was paid on invoices "
                    "in BILL is not compared with NAV (payments still are).")
            if note not in report.limits:
                report.limits.append(note)
            continue
        if classic:
            nav_paid = invoice.amount_including_tax - (invoice.remaining_amount or ZERO)
            if nav_paid == bill_paid:
                continue
            words_nav = f"{money(nav_open, currency)} open ({money(nav_paid, currency)} paid)"
            words_bill = f"{money(found.due_amount, currency)} due ({money(bill_paid, currency)} paid)"
        else:
            nav_paid_flag, bill_paid_flag = invoice.status == "Paid", found.due_amount == ZERO
            if nav_paid_flag == bill_paid_flag:
                continue
            nav_paid = invoice.amount_including_tax if nav_paid_flag else ZERO
            words_nav = f"status {invoice.status or 'unknown'}"
            words_bill = f"{money(found.due_amount, currency)} due ({money(bill_paid, currency)} paid)"
        cause = _invoice_cause(link["bill_id"], bill_paid, nav_paid, payment_links, held, paying, undone_ids)
        report.differences.append(Difference("invoice", label, record, words_nav, words_bill, cause,
                                             abs(nav_paid - bill_paid), currency))

    say("looking up NAV payment entries")
    for payment in payments:
        ours = [a for a in payment.allocations if a.bill_id in bill_to_invoice]
        if not ours:
            continue
        report.payments += 1
        links = payment_links.get(payment.id, [])
        vendor_number = links[0]["vendor_number"] if links else ""
        if not vendor_number:
            vendor_number = next((n for n, (bid, _) in vendors.items() if bid == payment.vendor_id), "")
        label = vendor_label(vendor_number)
        posted = nav.find_payments(payment.id, payment.process_date) or []
        nav_amount = sum((p.amount for p in posted), ZERO)
        bill_amount = sum((a.amount for a in ours), ZERO)
        invoices = ", ".join(sorted({bill_to_invoice[a.bill_id] for a in ours}))
        record = f"BILL payment {payment.id} (NAV invoice {invoices})"
        currency = payment.currency
        undone = _undone(payment)
        if undone:
            if posted:
                report.differences.append(Difference(
                    "payment", label, record, f"{money(nav_amount, currency)} posted",
                    f"{money(bill_amount, currency)} {undone}",
                    f"Voided in BILL after it was posted to NAV: reverse NAV document "
                    f"{posted[0].document_number} (a new journal line or an unapply).", abs(nav_amount), currency))
            continue
        if not payment.settled:
            continue  # scheduled: not money yet on either side
        if nav_amount == bill_amount:
            continue
        if not posted:
            states = {link["state"] for link in links}
            if "in journal" in states:
                document = links[0]["nav_document_number"]
                cause = (f"Waiting in the journal batch (document {document}): post the batch in NAV; the next sync "
                         "confirms it.")
            elif ("payment", payment.id) in held:
                cause = f"Held payment: {held[('payment', payment.id)]}"
            else:
                cause = "Not posted to NAV yet: the next sync posts it."
            nav_words = "no payment entry"
        else:
            nav_words = f"{money(nav_amount, currency)} posted"
            cause = ("The amounts differ: check NAV document "
                     f"{posted[0].document_number} against the payment in BILL (changed in NAV by hand?).")
        report.differences.append(Difference("payment", label, record, nav_words,
                                             f"{money(bill_amount, currency)} paid", cause,
                                             abs(bill_amount - nav_amount), currency))
    return report


def _plain(row) -> dict:
    return {column.name: getattr(row, column.name) for column in row.__table__.columns}


def _nav_open(invoice, classic: bool) -> Decimal | None:
    if classic and invoice.remaining_amount is not None:
        return invoice.remaining_amount
    return None


def _owed(invoice, nav_open: Decimal | None) -> Decimal:
    return nav_open if nav_open is not None else invoice.amount_including_tax


def _nav_words(invoice, nav_open: Decimal | None, classic: bool) -> str:
    if nav_open is not None:
        return f"{money(nav_open, invoice.currency)} open"
    return f"status {invoice.status or 'open'} ({money(invoice.amount_including_tax, invoice.currency)})"


def _invoice_cause(bill_id: str, bill_paid: Decimal, nav_paid: Decimal, payment_links: dict[str, list[dict]],
                   held: dict, paying: dict[str, set[str]], undone_ids: set[str]) -> str:
    links = [(pid, link) for pid, rows in payment_links.items() for link in rows if link["bill_id"] == bill_id]
    if bill_paid > nav_paid:
        waiting = [f"{pid} (document {link['nav_document_number']})" for pid, link in links
                   if link["state"] == "in journal"]
        if waiting:
            return (f"Payment waiting in the journal batch: BILL payment {', '.join(waiting)}; post the batch in NAV "
                    "and the next sync confirms it.")
        held_payments = [held[("payment", pid)] for pid in sorted(paying.get(bill_id, ())) if ("payment", pid) in held]
        if held_payments:
            return "Held payment: " + "; ".join(held_payments)
        return ("Paid in BILL but not (yet) in NAV: the next sync posts the payment, or it is held then with the "
                "reason.")
    voided = sorted({pid for pid, link in links if link["state"] == "voided" or pid in undone_ids})
    if voided:
        return (f"Voided in BILL after it was posted to NAV (BILL payment {', '.join(voided)}): reverse it in NAV "
                "(a new journal line or an unapply).")
    return ("Paid in NAV outside the connector (no BILL payment matches it): record the payment in BILL "
            "(Record payment / mark as paid) so BILL does not pay it again.")


def _undone(payment) -> str:
    single = payment.single_status.upper()
    if payment.status.upper() in ("VOID", "CANCELLED", "FAILED") or single in ("VOIDED", "CANCELED",
                                                                                 "FUNDING_FAILED_VOIDED"):
        return {"VOID": "voided", "CANCELLED": "cancelled", "FAILED": "failed"}.get(payment.status.upper(),
                                                                                      single.lower())
    if single.startswith("DISBURSEMENT_FAILED"):
        return "failed"
    return ""
