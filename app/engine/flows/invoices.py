"""Flow 5, invoices: posted NAV purchase invoices become BILL bills (then posted credit memos, vendor credits).

Read: NAV's posted invoices since the bookmark, and the held ones from their stored copy. Decide: the bill's
lines from the account and dimension mappings (``bill_lines``); an invoice that cannot go yet is held with every
reason. Write: through the write lane (bulk calls of 100 on a first sync); a bill BILL already has for the
invoice is linked, never created twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.domain.models import LOCAL_CURRENCY, Bill, BillLine, PostedInvoice
from app.engine import credits, recovery
from app.engine.common import BATCH, Write, audit_money, batched, iso, parse_time
from app.engine.crash import crash_point
from app.engine.flows.base import Flow
from app.engine.flows.bill_lines import Mappings, bill_lines, load_mappings
from app.engine.payloads import invoice_from_json, invoice_to_json
from app.engine.report import money
from app.store import repository as q
from app.store import schema as t

if TYPE_CHECKING:
    from app.engine.context import RunContext

log = logging.getLogger("navbill.engine")

LOOK_VENDORS = 100  # BILL vendors whose bills one list call looks for (``vendorId:in``)
LOOK_WRITES = 2000  # bill writes kept waiting for their vendors' look at most


class InvoicesFlow(Flow):
    """Posted NAV invoices to BILL bills, held until their vendor and accounts are mapped."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self._mappings: Mappings | None = None  # loaded once per flow (``_load_mappings``)
        # Bill recognition (``_link_existing_bills``): the bills BILL had before this run, per BILL vendor
        # looked up, and from when they were looked for (None: all of them), so a vendor costs one look a run.
        self._bills_before_run: dict[str, list[Bill]] = {}
        self._looked_up_since: dict[str, datetime | None] = {}
        # The stream's bill writes not sent yet (``_queue_bills``): waiting for their vendors' look, or for
        # enough of them to fill a bulk call.
        self._awaiting_look: list[Write] = []
        self._ready: list[Write] = []
        self._queued: set[str] = set()  # NAV invoice numbers queued in this run

    def run(self) -> None:
        self._load_mappings()
        self._recover_bill_writes()
        self._release_held_invoices()
        for number in self._retry_keys("invoice"):
            invoice = self._nav_call(self.nav.get_posted_invoice, number)
            if invoice is not None:
                self._push_invoice(invoice)
        mark = self.store.get_bookmark("nav.invoices")
        newest = ""
        done = 0
        for batch in batched(self._stream("NAV", lambda: self.nav.iter_posted_invoices(
                modified_since=parse_time(mark)))):
            self._check_cancel()
            with self.store.session() as s:
                # Created ones are done; held ones are re-checked from their stored copy (posted invoices
                # never change), so neither needs another look here.
                pushed = q.known_invoice_numbers(s, [i.number for i in batch])
                fresh = [invoice for invoice in batch if invoice.number not in pushed]
                vendor_ids = q.bill_vendor_ids(s, [i.vendor_number for i in fresh])
            for invoice in batch:
                newest = max(newest, iso(invoice.last_modified))
            self._queue_bills(self._writes_for(fresh, vendor_ids))
            done += len(batch)
            self._progress("invoices", done, "NAV posted invoices read")
            crash_point("mid_stream")
        self._queue_bills([], last=True)
        self.lane.drain()
        if self.lane.bulk_unsettled:  # a bulk answer was lost in this run: settle it before the bookmark moves
            self.lane.bulk_unsettled = False
            recovery.recover_bulk_bills(self)
        if newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, "nav.invoices", newest)
        credits.sync_credit_memos(self)  # posted credit memos → BILL vendor credits (app.engine.credits)

    def sync_one(self, number: str) -> None:
        """A webhook said NAV posted invoice ``number``: its bill, if it can go."""
        self._load_mappings()
        invoice = self._nav_call(self.nav.get_posted_invoice, number)
        if invoice is not None:
            self._push_invoice(invoice)

    def _load_mappings(self) -> None:
        with self.store.session() as s:
            self._mappings = load_mappings(s)

    def _bill_lines(self, invoice: PostedInvoice) -> tuple[list[BillLine], list[str]]:
        """The bill's lines, or the reasons (one per line) why the invoice cannot go to BILL yet."""
        return bill_lines(self._mappings, invoice)

    def _vendor_bill_id(self, vendor_number: str) -> str:
        return self._vendor_bill_ids([vendor_number]).get(vendor_number, "")

    def _vendor_bill_ids(self, vendor_numbers: list[str]) -> dict[str, str]:
        """NAV vendor No. -> linked BILL vendor id, for the given vendors (one query)."""
        with self.store.session() as s:
            return q.bill_vendor_ids(s, vendor_numbers)

    def _push_invoice(self, invoice: PostedInvoice) -> None:
        self._push_invoices([invoice])

    def _push_invoices(self, invoices: list[PostedInvoice], wait: bool = True) -> None:
        """Bills for posted invoices, now: each one held with the reasons, linked to the bill BILL already has
        for it, or created (webhooks, retries, held invoices released, recovery)."""
        self._send_bills(self._link_existing_bills(self._bill_writes(invoices)), wait=wait)

    def _queue_bills(self, writes: list[Write], last: bool = False) -> None:
        """A stream's bill writes, sent in full bulk calls. A write whose BILL vendor existed before this run
        waits until a hundred such vendors are waiting (one list call looks for their bills, see
        ``_link_existing_bills``) or the stream ends (``last``): a look per batch of invoices cost a hundred
        calls on a first sync of 20,000 invoices, one per hundred vendors costs ten."""
        for write in writes:
            if write.record_key in self._queued:  # a page boundary that showed an invoice twice
                continue
            self._queued.add(write.record_key)
            (self._awaiting_look if self._needs_look(write) else self._ready).append(write)
        waiting_vendors = {w.data[1].vendor_id for w in self._awaiting_look}
        if self._awaiting_look and (last or len(waiting_vendors) >= LOOK_VENDORS
                                    or len(self._awaiting_look) >= LOOK_WRITES):
            self._ready.extend(self._link_existing_bills(self._awaiting_look))
            self._awaiting_look = []
        limit = self.lane.bulk_limit("bulk_bill_limit", 100)
        full = len(self._ready) if last else len(self._ready) // limit * limit
        if full:
            ready, self._ready = self._ready[:full], self._ready[full:]
            self._send_bills(ready, wait=False)

    def _send_bills(self, writes: list[Write], wait: bool = True) -> None:
        if len(writes) > 1 and hasattr(self.bill, "create_bills"):
            writes = self._bulk_bill_writes(writes)
            self.lane.write_batch("invoices", "invoice", writes, self._finish_bulk_bills, wait=wait)
            return
        self.lane.write_batch("invoices", "invoice", writes, self._finish_bills, wait=wait)

    def _bill_writes(self, invoices: list[PostedInvoice]) -> list[Write]:
        """The bill writes for these invoices; those that cannot go are held with every reason.

        An invoice that already has its bill is passed over whoever asks: Business Central notifies an invoice
        again when it is paid or changes status, and a webhook must never make a second bill."""
        with self.store.session() as s:
            done = q.known_invoice_numbers(s, [i.number for i in invoices], created_only=True)
            invoices = [invoice for invoice in invoices if invoice.number not in done]
            vendor_ids = q.bill_vendor_ids(s, [i.vendor_number for i in invoices])
        return self._writes_for(invoices, vendor_ids)

    def _writes_for(self, invoices: list[PostedInvoice], vendor_ids: dict[str, str]) -> list[Write]:
        """``_bill_writes`` for invoices that have no bill yet, their vendors' BILL ids known (the stream asks for
        both in the one transaction that reads its batch's links)."""
        writes, held = [], []
        for invoice in invoices:
            detail = {"invoice": invoice_to_json(invoice)}
            vendor_bill_id = vendor_ids.get(invoice.vendor_number, "")
            lines, problems = self._invoice_problems(invoice, vendor_bill_id)
            if problems:
                held.append((invoice, "; ".join(problems), detail))
                continue
            bill = Bill(id="", vendor_id=vendor_bill_id,
                        invoice_number=invoice.vendor_invoice_number or invoice.number,
                        invoice_date=invoice.document_date, due_date=invoice.due_date,
                        amount=sum((line.amount for line in lines), start=Decimal("0")), lines=tuple(lines),
                        description=f"NAV posted invoice {invoice.number}")
            writes.append(self._bill_write(invoice, bill, detail))
        self._hold_invoices(held)
        return writes

    def _hold_invoices(self, held: list[tuple[PostedInvoice, str, dict]]) -> None:
        """Hold these invoices with their reasons, and keep their held links (with the invoice's dates), a batch
        in two transactions: a first sync before the accounts are mapped holds every invoice."""
        if not held:
            return
        self.ctx._hold_many("invoice", [(invoice.number, reason, detail) for invoice, reason, detail in held],
                            flow="invoices")
        with self.store.session() as s:
            links = q.invoice_links_for_numbers(s, [invoice.number for invoice, _, _ in held])
            for invoice, _, _ in held:
                link = links.get(invoice.number)
                if link is None:
                    link = links[invoice.number] = t.InvoiceLink(
                        nav_number=invoice.number, vendor_number=invoice.vendor_number,
                        vendor_invoice_number=invoice.vendor_invoice_number, state="held", amount=invoice.amount)
                    s.add(link)
                _set_invoice_dates(link, invoice)  # also fills a link held before the store kept dates

    def _needs_look(self, write: Write) -> bool:
        """Whether BILL may already have this write's bill and its vendor was not looked at yet in this run.
        A vendor this run created in BILL has no bill there (a first sync of thousands of new vendors costs no
        look); a write with an outbox row is the outbox's to finish (it looks first)."""
        if getattr(self.bill, "find_bills_of_vendors", None) is None or self.report.dry_run:
            return False
        vendor_id = write.data[1].vendor_id
        if vendor_id in self.vendors_new_this_run:
            return False
        if vendor_id not in self._looked_up_since:
            return True
        since = self._looked_up_since[vendor_id]
        earliest = _earliest_bill_time(write.data[0])
        return since is not None and (earliest is None or earliest < since)

    def _link_existing_bills(self, writes: list[Write]) -> list[Write]:
        """The store is a cache of what BILL already says: before creating bills, look in BILL for a bill that
        is already there for the invoice: same BILL vendor, invoice number and amount, created before this run
        and not linked to another invoice. Such a bill is linked, not created again, so a lost, emptied or
        restored-from-backup store creates no duplicate. The vendors not looked at yet in this run are looked up
        together (one list call per hundred vendors); what BILL had is kept for the rest of the run. Returns
        the writes that still have to be sent."""
        finder = getattr(self.bill, "find_bills_of_vendors", None)
        if finder is None or not writes or self.report.dry_run:
            return writes
        with self.store.session() as s:
            recorded = q.recorded_outbox_keys(s, [w.key for w in writes])
        fresh = [w for w in writes if w.key not in recorded and w.data[1].vendor_id not in self.vendors_new_this_run]
        to_look = [w for w in fresh if self._needs_look(w)]
        if to_look:
            # A bill for an invoice is made after the invoice was posted: the earliest of its posting date,
            # document date and last change (a backdated or later-modified invoice still falls inside), less a
            # day's margin.
            earliest = [_earliest_bill_time(w.data[0]) for w in to_look]
            since = min(earliest) if all(earliest) else None
            vendor_ids = sorted({w.data[1].vendor_id for w in to_look})
            found = self._bill_call(finder, vendor_ids, since, self.run_started_at) or []
            for vendor_id in vendor_ids:
                self._bills_before_run[vendor_id] = []
                self._looked_up_since[vendor_id] = since
            for bill in found:
                self._bills_before_run.setdefault(bill.vendor_id, []).append(bill)
        candidates_of = {w.data[1].vendor_id: self._bills_before_run.get(w.data[1].vendor_id, []) for w in fresh}
        known = [b for bills in candidates_of.values() for b in bills]
        if not known:
            return writes
        with self.store.session() as s:
            taken = q.bill_ids_taken(s, [b.id for b in known], created_only=True)
        matched: list[tuple[Write, Bill]] = []
        for write in fresh:
            invoice, bill = write.data
            wanted = (bill.invoice_number.strip(), bill.amount)
            candidates = [b for b in candidates_of[bill.vendor_id]
                          if (b.invoice_number.strip(), b.amount) == wanted and b.id not in taken]
            if not candidates:
                continue
            # The connector's own bill names the NAV invoice in its description: that one first.
            own = [b for b in candidates if f"NAV posted invoice {invoice.number}" in b.description]
            chosen = (own or candidates)[0]
            taken.add(chosen.id)
            matched.append((write, chosen))
        if not matched:
            return writes
        with self.store.session() as s:
            links = q.invoice_links_for_numbers(s, [w.record_key for w, _ in matched])
            for write, existing in matched:
                invoice, bill = write.data
                _link_bill(s, links, invoice, bill, existing.id, write.key)
                self._audit(s, "engine", "link_existing_bill", f"invoice {invoice.number}", bill_id=existing.id,
                            amount=audit_money(bill.amount), vendor=invoice.vendor_number)
            self._resolve_items(s, "invoice", [w.record_key for w, _ in matched])
        self.report.counts("invoices").updated += len(matched)
        log.info("Linked %d invoice(s) to bills already in BILL (nothing created twice)", len(matched))
        done = {id(w) for w, _ in matched}
        return [w for w in writes if id(w) not in done]

    def _bulk_bill_writes(self, singles: list[Write]) -> list[Write]:
        """The single bill writes, grouped into bulk calls of at most 100 (one outbox row each)."""
        limit = self.lane.bulk_limit("bulk_bill_limit", 100)
        marks = self.lane.sent_marks()
        writes = []
        for start in range(0, len(singles), limit):
            chunk = singles[start:start + limit]
            label = f"{len(chunk)} bills (invoices {chunk[0].record_key} … {chunk[-1].record_key})"
            records = [{"invoice": w.detail["invoice"], "vendor_id": w.data[1].vendor_id,
                        "invoice_number": w.data[1].invoice_number, "amount": str(w.data[1].amount)} for w in chunk]
            writes.append(Write(
                key=self.lane.bulk_key("bills"), action="create_bills", record=label,
                payload={**marks, "bills": records}, record_key=chunk[0].record_key, label=label,
                look=None, data=chunk, bulk=True,
                send=lambda chunk=chunk: self._bill_call(self.bill.create_bills, [w.data[1] for w in chunk])))
        return writes

    def _finish_bulk_bills(self, s: Session, done: list[tuple[Write, Any]]) -> dict[str, dict]:
        created, results = [], {}
        for write, outcomes in done:
            made, refused = {}, {}
            for single, outcome in zip(write.data, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    refused[single.record_key] = str(outcome)
                    self.lane.refused_in_bulk(s, single.key, single.action, single.record, single.payload, outcome,
                                          "invoice", single.record_key,
                                          f"{single.label}: {getattr(outcome, 'message', outcome)}", single.detail,
                                          "invoices")
                else:
                    made[single.record_key] = outcome.id
                    created.append((single, outcome))
            results[write.key] = {"created": made, "refused": refused}
        if created:
            self._finish_bills(s, created)
            self.lane.saw_bill_times(bill.updated_time for _, bill in created)
        return results

    def _invoice_problems(self, invoice: PostedInvoice, vendor_bill_id: str) -> tuple[list[BillLine], list[str]]:
        """The bill's lines, and every reason the invoice cannot go to BILL now (empty: it can)."""
        problems: list[str] = []
        if invoice.cancelled:
            problems.append("NAV cancelled this invoice (corrective credit memo), so it must not be paid")
        if not vendor_bill_id:
            problems.append(f"vendor {invoice.vendor_number} is not linked to BILL")
        currency = invoice.currency.strip().upper()
        if currency and currency != LOCAL_CURRENCY:
            # BILL reads a bill's amounts in the organization's currency (an international vendor's bill, in the
            # vendor's own): sent as it is, 10,000 CAD would become a bill of 10,000 USD. The connector converts
            # nothing, so a person enters such a bill.
            problems.append(f"it is in {currency} ({money(invoice.amount_including_tax, currency)}) and BILL "
                            f"bills here are in {LOCAL_CURRENCY}; the connector does not convert currencies, so enter "
                            "this bill in BILL by hand (for the vendor's currency), then skip it here")
        lines, line_problems = self._bill_lines(invoice)
        amounts = [invoice.amount, *(line.amount for line in invoice.lines)]
        if not all(isinstance(a, Decimal) and a.is_finite() for a in amounts):
            problems.append("an amount is not a finite number (correct the invoice in NAV)")
        else:
            total = sum((line.amount for line in lines), start=Decimal("0"))
            if lines and not line_problems and total <= 0:
                problems.append(f"NAV invoice {invoice.number} (vendor invoice {invoice.vendor_invoice_number}) "
                                f"amounts to {audit_money(total)}{' ' + invoice.currency if invoice.currency else ''}, "
                                "which is not positive: BILL takes a bill only when it is more than zero (enter a "
                                "credit in BILL by hand if it is one, then skip it here)")
        return lines, problems + line_problems

    def _bill_write(self, invoice: PostedInvoice, bill: Bill, detail: dict) -> Write:
        def look():
            found = self._bill_call(self.bill.find_bills, bill.vendor_id, bill.invoice_number) or []
            if not found:
                return None
            with self.store.session() as s:  # a bill another invoice is linked to is not this one's
                taken = q.bill_ids_taken(s, [b.id for b in found], other_than_invoice=invoice.number)
            return next((b for b in found if b.id not in taken), None)

        return Write(key=f"bill.create:{invoice.number}", action="create_bill", record=f"invoice {invoice.number}",
                      payload=detail, record_key=invoice.number, label=f"invoice {invoice.number}",
                      send=lambda: self._bill_call(self.bill.create_bill, bill), look=look, data=(invoice, bill),
                      detail=detail)

    def _create_bill(self, invoice: PostedInvoice, bill: Bill) -> None:
        self.lane.write_batch("invoices", "invoice", [self._bill_write(invoice, bill, {"invoice": invoice_to_json(
            invoice)})], self._finish_bills)

    def _finish_bills(self, s: Session, done: list[tuple[Write, Any]]) -> dict[str, dict]:
        """The created bills' links, audit rows and resolved holds, in the caller's transaction. A link the store
        has already (an invoice held before) is updated on its object; the new ones (a first sync's all) are
        inserted together, with the audit rows, by one executemany each instead of one ORM object per row."""
        numbers = [w.record_key for w, _ in done]
        links = q.rows_among(s, t.InvoiceLink, "nav_number", numbers)
        results, fresh, audits = {}, {}, []
        for write, created in done:
            invoice, bill = write.data
            if invoice.number in links:
                _link_bill(s, links, invoice, bill, created.id, write.key)
            else:  # the same invoice twice in one group: the last one's link, as setting one object twice gives
                fresh[invoice.number] = _new_link_row(invoice, bill, created.id, write.key)
            audits.append(self.ctx._audit_row("BILL", "create_bill", f"invoice {invoice.number}", bill_id=created.id,
                                              amount=audit_money(bill.amount), vendor=invoice.vendor_number))
            results[write.key] = {"bill_id": created.id}
        q.add_rows(s, t.InvoiceLink, list(fresh.values()))
        self.ctx._audit_many(s, audits)
        self._resolve_items(s, "invoice", numbers)
        return results

    def _release_held_invoices(self) -> None:
        """Held invoices are re-checked from their stored copy (no HTTP) and go as soon as they can."""
        last_id = 0
        while True:
            self._check_cancel()
            with self.store.session() as s:  # a page at a time: there may be many
                held = [(i.id, i.reason, i.detail) for i in q.held_items(s, "invoice", last_id, BATCH)]
            if not held:
                return
            last_id = held[-1][0]
            stored = {detail["invoice"]["number"]: reason for _, reason, detail in held if "invoice" in (detail or {})}
            invoices = [invoice_from_json(detail["invoice"]) for _, _, detail in held if "invoice" in (detail or {})]
            linked = self._vendor_bill_ids([i.vendor_number for i in invoices])
            # Those that can go now go; those whose reasons changed (their vendor got linked, say, but a line
            # still has no BILL account) are held again with the reasons that hold today; the others, held
            # for the same reasons as before, were counted once, when first held.
            self._push_invoices([i for i in invoices if "; ".join(self._invoice_problems(
                i, linked.get(i.vendor_number, ""))[1]) != stored[i.number]])

    def _recover_bill_writes(self) -> None:
        recovery.recover_bulk_bills(self)
        for row in self.outbox.unfinished("create_bill"):
            self._check_cancel()
            invoice = invoice_from_json(row.payload["invoice"])
            self._push_invoice(invoice)


def _link_bill(s: Session, links: dict[str, t.InvoiceLink], invoice: PostedInvoice, bill: Bill, bill_id: str,
               key: str) -> None:
    """The invoice's link names its bill in BILL (one this run created, or one BILL already had for the same
    invoice) and the write that made or found it; ``links`` holds the batch's links, a new one is added to it."""
    link = links.get(invoice.number)
    if link is None:
        link = links[invoice.number] = t.InvoiceLink(nav_number=invoice.number, vendor_number=invoice.vendor_number,
                                                     state="created")
        s.add(link)
    link.bill_id, link.state, link.idempotency_key = bill_id, "created", key
    link.vendor_invoice_number, link.amount = invoice.vendor_invoice_number, bill.amount
    _set_invoice_dates(link, invoice)


def _new_link_row(invoice: PostedInvoice, bill: Bill, bill_id: str, key: str) -> dict[str, Any]:
    """The columns ``_link_bill`` gives a link it adds, as a row to insert (the others take their defaults)."""
    return {"nav_number": invoice.number, "vendor_number": invoice.vendor_number, "bill_id": bill_id,
            "state": "created", "idempotency_key": key, "vendor_invoice_number": invoice.vendor_invoice_number,
            "amount": bill.amount, "posting_date": invoice.posting_date, "document_date": invoice.document_date,
            "due_date": invoice.due_date}


def _set_invoice_dates(link: t.InvoiceLink, invoice: PostedInvoice) -> None:
    link.posting_date, link.document_date, link.due_date = (invoice.posting_date, invoice.document_date,
                                                            invoice.due_date)


def _earliest_bill_time(invoice: PostedInvoice) -> datetime | None:
    """The earliest moment BILL can have made a bill for the invoice: its posting date, document date or last
    change (a backdated or later-modified invoice still falls inside), less a day's margin; None if unknown."""
    moments = [datetime.combine(d, datetime.min.time(), UTC) for d in (invoice.posting_date, invoice.document_date)
               if d and d.year > 1900]
    if invoice.last_modified:
        moments.append(invoice.last_modified)
    return min(moments) - timedelta(days=1) if moments else None
