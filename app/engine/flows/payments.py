"""Flow 6, payments: settled BILL payments become NAV payment journal lines, posted and applied to the invoice.

Read: BILL's payments since the bookmark (and the retries, and those waiting in a NAV journal batch). Decide:
whether a payment may be posted (its bills came from NAV invoices, amounts open, currency, bank details
confirmed) and on which date (``app.domain.periods``). Write: the outbox, one payment at a time; a payment NAV
already has (its BILL id in the External Document No.) is linked, never posted twice.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from app.domain.errors import RecordError
from app.domain.models import LOCAL_CURRENCY, JournalLine, Payment, PaymentPosting, payment_description
from app.domain.payments import payment_state, undone_in_bill
from app.domain.periods import (
    UNKNOWN_POSTING_DATES,
    AllowedPostingDates,
    PostingDecision,
    decide_posting_date,
)
from app.engine import credits
from app.engine.common import audit_money, batched, iso, parse_time
from app.engine.crash import crash_point
from app.engine.flows.base import Flow
from app.store import repository as q
from app.store import schema as t

if TYPE_CHECKING:
    from app.engine.context import RunContext
    from app.engine.flows.bank import BankWatch

log = logging.getLogger("navbill.engine")


class PaymentsFlow(Flow):
    """Settled BILL payments posted to NAV (or linked when NAV already has them)."""

    def __init__(self, ctx: RunContext, bank: BankWatch) -> None:
        super().__init__(ctx)
        self.bank = bank
        self._posting_dates: AllowedPostingDates | None = None  # see _posting_decision

    def run(self) -> None:
        self._posting_dates = None  # NAV's allowed posting dates, read again by every run that posts
        self._recover_payment_writes()
        self._confirm_waiting_payments()
        for payment_id in self._retry_keys("payment"):
            payment = self._bill_call(self.bill.get_payment, payment_id)
            if payment is None:
                continue
            links = self._payment_links([payment.id]).get(payment.id, [])
            if links and all(link.state == "voided" for link in links):
                self._keep_for_a_person(payment.id)  # Retry on "reverse it in NAV": nothing the connector can do
            elif links:
                self._check_posted_payment(payment, links)
            elif payment.settled:
                self._post_payment(payment)
            else:  # voided or cancelled in BILL before it ever reached NAV: nothing left to post
                self._hold("payment", payment.id,
                           f"BILL payment {payment.id} is {payment_state(payment)} in BILL and was never posted to "
                           "NAV: there is nothing to post; skip this item.", flow="payments")
        mark = self.store.get_bookmark("bill.payments")
        newest = ""
        done = 0
        for batch in batched(self._stream("BILL", lambda: self.bill.iter_payments(updated_since=parse_time(mark)))):
            self._check_cancel()
            known = self._payment_links([p.id for p in batch])
            for payment in batch:
                # Any later change (a scheduled payment clearing) moves updatedTime, so the bookmark may pass
                # unsettled payments: they come back when they settle.
                newest = max(newest, iso(payment.updated_time))
                if payment.id in known:
                    self._check_posted_payment(payment, known[payment.id])
                    continue
                if not payment.settled:
                    continue  # scheduled or cancelled: posted when (if) it settles; its update brings it back
                self._post_payment(payment)
            done += len(batch)
            self._progress("payments", done, "BILL payments read")
        if newest:
            with self.store.session() as s:
                self.store.set_bookmark(s, "bill.payments", newest)

    def _confirm_waiting_payments(self) -> None:
        """Payments whose lines wait in the journal batch (NAV 2016-2018): posted once the ledger shows them.

        One BILL may void (cancel, fail) meanwhile: the lines must then never be posted. The connector never deletes
        or changes NAV lines itself; it holds an item saying which lines to delete from which batch (see
        ``_voided_in_journal``), and lets the payment go once they are gone from the batch. Posted anyway: the item
        says to reverse it in NAV, like a payment voided after posting."""
        with self.store.session() as s:
            waiting = q.payments_in_journal(s)
        counts = self.report.counts("payments")
        batch_documents: dict[tuple[str, str], set[str] | None] = {}  # per batch, read once a run when needed
        for payment_id in waiting:
            self._check_cancel()
            found = self._nav_call(self.nav.find_payments, payment_id)
            if not found:
                payment = self._bill_call(self.bill.get_payment, payment_id)
                if payment is None or not undone_in_bill(payment):
                    counts.waiting += 1
                    continue
                links = self._payment_links([payment_id]).get(payment_id, [])
                journal = self._journal_of(payment_id)
                if journal not in batch_documents:
                    reader = getattr(self.nav, "journal_documents", None)
                    batch_documents[journal] = self._nav_call(reader, *journal) if reader else None
                present = batch_documents[journal]
                if present is not None and not {link.nav_document_number for link in links} & present:
                    self._voided_lines_gone(payment, links)
                else:
                    self._voided_in_journal(payment, links)
                    counts.waiting += 1
                continue
            with self.store.session() as s:
                links = q.payment_links(s, payment_id)
                for link in links:
                    link.state, link.posted_at = "posted", self.clock()
                self._audit(s, "NAV", "payment_posted_in_nav", f"payment {payment_id}",
                            document=", ".join(sorted({link.nav_document_number for link in links})),
                            entries=[entry.entry_number for entry in found])
                item = q.queue_item(s, "payment", payment_id)
                voided_first = item is not None and item.state == "open" and bool(
                    (item.detail or {}).get("voided_in_journal"))
            counts.updated += 1
            if voided_first:  # the batch was posted although BILL had voided the payment: now a reversal in NAV
                payment = self._bill_call(self.bill.get_payment, payment_id)
                if payment is not None:
                    self._check_posted_payment(payment, self._payment_links([payment_id]).get(payment_id, []))

    def _voided_label(self, payment: Payment, links: list[t.PaymentLink]) -> tuple[str, str, str]:
        """(what: payment, vendor, amount; documents; batch) for the items about a payment undone in BILL."""
        numbers = sorted({link.vendor_number for link in links})
        with self.store.session() as s:
            names = q.vendor_names(s, numbers)
        vendors = ", ".join(f"{names[n]} ({n})" if names.get(n) else n for n in numbers) or "(unknown vendor)"
        currency = payment.currency or getattr(self.settings, "currency", "") or LOCAL_CURRENCY
        what = (f"BILL payment {payment.id} to NAV vendor {vendors} of {audit_money(payment.amount)} {currency} "
                f"was {payment_state(payment)} in BILL")
        documents = ", ".join(sorted({link.nav_document_number for link in links}))
        return what, documents, "/".join(self._journal_of(payment.id))

    def _journal_of(self, payment_id: str) -> tuple[str, str]:
        """(template, batch) the payment's lines were written to (kept in its outbox row), else the settings'."""
        entry = self.outbox.entry(f"nav.payment:{payment_id}")
        journal = (entry.result or {}).get("journal") if entry is not None else None
        if isinstance(journal, list) and len(journal) == 2 and all(journal):
            return str(journal[0]), str(journal[1])
        return self.settings.journal_template, self.settings.journal_batch

    def _voided_in_journal(self, payment: Payment, links: list[t.PaymentLink]) -> None:
        """BILL undid a payment whose lines still wait in the journal batch: hold an item that says which lines to
        delete before the batch is posted. NAV is not touched; the links stay "in journal" (watched every run)."""
        what, documents, batch = self._voided_label(payment, links)
        applied = ", ".join(f"{audit_money(link.amount)} on invoice {link.nav_invoice_number}" for link in links)
        reason = (f"{what} while its NAV payment lines (document {documents}: {applied}) still wait in journal batch "
                  f"{batch}: delete these lines from batch {batch} before posting. The next run sees they are gone "
                  "and closes this item; if the batch was posted meanwhile, reverse the payment in NAV instead.")
        with self.store.session() as s:
            item = q.queue_item(s, "payment", payment.id)
            known = item is not None and item.state in ("open", "skipped") and item.reason == reason
            if not known:
                self._audit(s, "BILL", "payment_undone_in_journal", f"payment {payment.id}", document=documents,
                            batch=batch, status=payment.status, single_status=payment.single_status,
                            amount=audit_money(payment.amount))
        self._hold("payment", payment.id, reason, flow="payments",
                   detail={"voided_in_journal": True, "document": documents, "batch": batch})

    def _voided_lines_gone(self, payment: Payment, links: list[t.PaymentLink]) -> None:
        """The lines of a payment BILL undid are no longer in the batch (deleted in NAV, never posted, the ledger
        shows nothing): the payment never reached NAV, so its links go and the item is closed."""
        what, documents, batch = self._voided_label(payment, links)
        with self.store.session() as s:
            for link in q.payment_links(s, payment.id):
                s.delete(link)
            self._resolve_item(s, "payment", payment.id)
            self._audit(s, "NAV", "voided_payment_lines_gone", f"payment {payment.id}", document=documents,
                        batch=batch, amount=audit_money(payment.amount))
        log.info("%s; its NAV lines (document %s) are no longer in batch %s and were never posted: nothing to do.",
                 what, documents, batch)

    def _payment_links(self, payment_ids: list[str]) -> dict[str, list[t.PaymentLink]]:
        links: dict[str, list[t.PaymentLink]] = {}
        with self.store.session() as s:
            for link in q.payment_links_for(s, payment_ids):
                links.setdefault(link.payment_id, []).append(link)
                s.expunge(link)
        return links

    def _keep_for_a_person(self, payment_id: str) -> None:
        with self.store.session() as s:
            for item in q.queue_items(s, "payment", payment_id):
                item.retryable = False

    def _check_posted_payment(self, payment: Payment, links: list[t.PaymentLink]) -> None:
        """A payment already in NAV. If BILL has since voided, cancelled or failed it, NAV still shows it paid:
        the connector never changes posted entries, so a person reverses it. Raised once: the link moves to
        "voided" and is not looked at again."""
        if not undone_in_bill(payment):
            return
        if links and all(link.state == "in journal" for link in links):
            self._voided_in_journal(payment, links)  # not posted yet: its lines must be deleted from the batch
            return
        if any(link.state != "posted" for link in links):
            return
        documents = ", ".join(sorted({link.nav_document_number for link in links}))
        applied = ", ".join(f"invoice {link.nav_invoice_number}, {link.amount}" for link in links)
        state = payment_state(payment)
        self._hold("payment", payment.id,
                   f"BILL payment {payment.id} was {state} in BILL after it was posted to NAV as document "
                   f"{documents} ({applied}): reverse it in NAV (e.g. a new journal line or an unapply), then skip "
                   "this item.", flow="payments")
        with self.store.session() as s:
            for link in q.payment_links(s, payment.id):
                link.state = "voided"  # (the column holds 12 characters)
            self._audit(s, "BILL", "payment_undone_after_posting", f"payment {payment.id}", document=documents,
                        status=payment.status, single_status=payment.single_status, amount=audit_money(payment.amount))

    def _post_payment(self, payment: Payment) -> None:
        counts = self.report.counts("payments")
        with self.store.session() as s:
            invoices = q.created_invoices_for_bills(s, [a.bill_id for a in payment.allocations])
        unknown = [a.bill_id for a in payment.allocations if a.bill_id not in invoices]
        if unknown or not payment.allocations:
            pending = self._bills_maybe_being_created(unknown)
            if pending:  # a payment event that overtook the bill's link: the next run finds the link
                self._hold("payment", payment.id,
                           f"BILL payment {payment.id} of {audit_money(payment.amount)} "
                           f"{payment.currency or LOCAL_CURRENCY} pays {pending}, whose link to the NAV invoice is "
                           "not recorded yet: the connector may still be creating that bill (a sync or the push "
                           "service under way, or one that stopped before recording it). It is retried "
                           "automatically on the next run; nothing to do unless it stays here after the invoices "
                           "have synced.", retryable=True, flow="payments", outcome="held")
                return
            self._hold("payment", payment.id,
                       f"BILL payment {payment.id} pays bill(s) {', '.join(unknown) or '(none)'} that did not come "
                       "from a NAV invoice: post it in NAV by hand, then skip it here.", flow="payments")
            return
        problem = self._payment_problem(payment, invoices) or credits.applied_credit_problem(self, payment, invoices)
        if problem:
            self._hold("payment", payment.id, problem, flow="payments")
            return
        waiting = self.bank.bank_change_hold(payment, invoices)
        if waiting:  # retried every run: posted once a person confirms the vendor's new bank details
            self._hold("payment", payment.id, waiting, retryable=True, flow="payments", outcome="held")
            return
        vendor_label = ", ".join(sorted({invoices[a.bill_id].vendor_number for a in payment.allocations}))
        decision = self._posting_decision(payment, vendor_label)
        if decision.posting_date is None:  # a closed period: waits until NAV opens it (retried every run)
            self._hold("payment", payment.id, decision.reason, retryable=True, flow="payments", outcome="held")
            return
        settings = self.settings

        def post() -> None:
            key = f"nav.payment:{payment.id}"
            existing = self.outbox.entry(key)
            if existing is None and not self.report.dry_run:
                # The store is a cache of what NAV says: a payment already posted (its BILL id in the External
                # Document No.) is linked, not posted again, whatever the store forgot.
                posted = self._nav_call(self.nav.find_payments, payment.id, decision.shifted_from) or []
                if posted:
                    self._link_posted_payment(payment, invoices, posted)
                    return
            if existing is None:
                with self.store.session() as s:
                    document = self.store.next_number(s, "payment", settings.payment_document_prefix,
                                                      settings.payment_document_width)
                    s.add(t.OutboxEntry(key=key, system="NAV", action="post_payment", record=f"payment {payment.id}",
                                        payload={"document": document, "payment_id": payment.id},
                                        run_id=self.report.run_id))
            else:
                document = existing.payload["document"]
            lines = [JournalLine(
                document_number=document, posting_date=decision.posting_date,
                vendor_number=invoices[a.bill_id].vendor_number, amount=a.amount,
                applies_to_invoice=invoices[a.bill_id].nav_number, external_document_number=payment.id,
                description=payment_description(payment.id, decision.shifted_from),
                balancing_account_type=settings.balancing_account_type,
                balancing_account_number=settings.balancing_account_number,
            ) for a in payment.allocations]
            lines = credits.applied_credit_lines(self, payment, invoices, lines)  # credits BILL applied to it
            batch = f"{settings.journal_template}/{settings.journal_batch}"

            def look():
                found = self._nav_call(self.nav.find_payments, payment.id, decision.shifted_from)
                return PaymentPosting(posted=True, batch=batch, entries=tuple(found)) if found else None

            try:
                posting = self.outbox.send(key, lambda: self._nav_call(self.nav.post_payment, lines,
                                                                       settings.journal_template,
                                                                       settings.journal_batch), look)
            except RecordError as exc:
                if exc.code != "batch not empty":  # the NAV client's JournalBatchNotEmptyError
                    raise
                # Nothing was written: other lines sit in the batch. Held with the reason and tried again by
                # the next run, which posts it once the batch is the connector's alone again. When the lines in
                # the way are the connector's own (an earlier payment whose posting was interrupted), say so:
                # they are not "lines the connector did not write", and the next run finishes them first.
                own = self._own_waiting_documents(exc.message, payment.id)
                reason = (f"BILL payment {payment.id} waits: journal batch {settings.journal_template}/"
                          f"{settings.journal_batch} still holds the connector's own unposted lines of {own}, left by "
                          "an interrupted posting; the next run posts those first, then this payment."
                          if own else f"BILL payment {payment.id}: {exc.message}")
                self._hold("payment", payment.id, reason, retryable=True, error=str(exc), flow="payments",
                           outcome="held")
                return
            # NAV 2016-2018 cannot post over OData: the lines wait in the batch for the accountant, and the
            # payment counts as posted once the vendor ledger shows it (_confirm_waiting_payments).
            state = "posted" if posting.posted else "in journal"
            with self.store.session() as s:
                for allocation in payment.allocations:
                    invoice = invoices[allocation.bill_id]
                    s.merge(t.PaymentLink(payment_id=payment.id, bill_id=allocation.bill_id,
                                          vendor_number=invoice.vendor_number, nav_invoice_number=invoice.nav_number,
                                          nav_document_number=document, amount=allocation.amount, state=state,
                                          posted_at=self.clock() if posting.posted else None))
                self.outbox.finish(s, key, {"document": document, "posted": posting.posted,
                                            "journal": [settings.journal_template, settings.journal_batch]})
                self._resolve_item(s, "payment", payment.id)
                self._audit(s, "NAV", "post_payment" if posting.posted else "payment_lines_in_journal",
                            f"payment {payment.id}", document=document, amount=audit_money(payment.amount),
                            batch=posting.batch,
                            applies_to=[invoices[a.bill_id].nav_number for a in payment.allocations],
                            **({"posting_date": decision.posting_date.isoformat(),
                                "dated": decision.shifted_from.isoformat()} if decision.shifted_from else {}))
            crash_point("after_commit")
            if posting.posted:
                counts.created += 1
            else:
                counts.waiting += 1
                log.warning("BILL payment %s (%s): journal lines %s are in NAV batch %s, waiting for the "
                            "accountant to post the batch.", payment.id, audit_money(payment.amount), document,
                            posting.batch)

        self._guard("payments", "payment", payment.id, f"BILL payment {payment.id}", post)

    def _bills_maybe_being_created(self, bill_ids: list[str]) -> str:
        """Which of these bills, unknown to the store, may still be the connector's own bill being created (its
        link not committed yet): BILL's bill names a NAV posted invoice in its description (as the connector writes
        it), or a bill write of the connector is still unfinished. "" when every one truly did not come from NAV."""
        labels = []
        unfinished = bool(self.outbox.unfinished("create_bill") or self.outbox.unfinished("create_bills"))
        for bill_id in bill_ids:
            try:
                bill = self._bill_call(self.bill.get_bill, bill_id)
            except RecordError:
                bill = None
            description = str(getattr(bill, "description", "") or "")
            found = re.search(r"\bNAV posted invoice (\S+)", description)
            if found:
                labels.append(f"bill {bill_id} (NAV posted invoice {found.group(1)}, vendor invoice "
                              f"{getattr(bill, 'invoice_number', '')})")
            elif unfinished and bill is not None and hasattr(bill, "invoice_number"):
                labels.append(f"bill {bill_id} (vendor invoice {bill.invoice_number})")
            else:
                return ""  # at least one bill is not the connector's: the payment cannot be posted by it
        return "bill(s) " + ", ".join(labels) if labels else ""

    def _posting_decision(self, payment: Payment, vendors: str) -> PostingDecision:
        """Where this payment may be posted given NAV's allowed posting dates (read once per run)."""
        if self._posting_dates is None:
            reader = getattr(self.nav, "allowed_posting_dates", None)
            self._posting_dates = self._nav_call(reader) if reader else UNKNOWN_POSTING_DATES
        record = (f"BILL payment {payment.id} of {audit_money(payment.amount)} {payment.currency or LOCAL_CURRENCY} "
                  f"(NAV vendor {vendors})")
        return decide_posting_date(payment.process_date, self._posting_dates, self.settings.closed_period_action,
                                   record)

    def _link_posted_payment(self, payment: Payment, invoices: dict[str, t.InvoiceLink], posted: list) -> None:
        document = posted[0].document_number
        with self.store.session() as s:
            for allocation in payment.allocations:
                invoice = invoices[allocation.bill_id]
                s.merge(t.PaymentLink(payment_id=payment.id, bill_id=allocation.bill_id,
                                      vendor_number=invoice.vendor_number, nav_invoice_number=invoice.nav_number,
                                      nav_document_number=document, amount=allocation.amount, state="posted",
                                      posted_at=self.clock()))
            self._resolve_item(s, "payment", payment.id)
            self._audit(s, "engine", "link_posted_payment", f"payment {payment.id}", document=document,
                        amount=audit_money(payment.amount))
        self.report.counts("payments").updated += 1

    def _own_waiting_documents(self, message: str, payment_id: str) -> str:
        """The connector's own unfinished payment documents named in a "batch not empty" message, e.g.
        "BILL payment stp01 (document BILLPAY000004)"; "" when the lines in the way are someone else's."""
        own = []
        for row in self.outbox.unfinished("post_payment"):
            document = str((row.payload or {}).get("document") or "")
            other = str((row.payload or {}).get("payment_id") or "")
            if document and other != payment_id and re.search(rf"\b{re.escape(document)}\b", message):
                own.append(f"BILL payment {other} (document {document})")
        return ", ".join(own)

    def _payment_problem(self, payment: Payment, invoices: dict[str, t.InvoiceLink]) -> str:
        """Why a settled BILL payment must wait for a person (with the numbers), or "" when it may be posted."""
        currency = payment.currency or LOCAL_CURRENCY
        local = getattr(self.settings, "currency", "") or LOCAL_CURRENCY
        check = "Check it in BILL; if it is right, post it in NAV by hand, then skip it here."
        if currency != local:
            return (f"BILL payment {payment.id} of {audit_money(payment.amount)} {currency} is in another currency than "
                    f"the bills ({local}): the connector posts payments in {local} only. {check}")
        if payment.amount <= 0 or any(a.amount <= 0 for a in payment.allocations):
            shown_amounts = ", ".join(f"{audit_money(a.amount)} on bill {a.bill_id} (NAV invoice "
                                      f"{invoices[a.bill_id].nav_number})" for a in payment.allocations)
            return (f"BILL payment {payment.id} of {audit_money(payment.amount)} {currency} pays {shown_amounts}: a "
                    f"payment of zero or less is not posted. {check}")
        paid: dict[str, Decimal] = {}
        with self.store.session() as s:  # amounts are stored as text: summed here, exactly
            for bill_id, amount in q.posted_amounts(s, invoices, payment.id):
                paid[bill_id] = paid.get(bill_id, Decimal("0")) + Decimal(amount)
        for allocation in payment.allocations:
            link = invoices[allocation.bill_id]
            before = Decimal(str(paid.get(allocation.bill_id) or 0))
            open_amount = Decimal(link.amount) - before
            if allocation.amount > open_amount:
                return (f"BILL payment {payment.id} pays {audit_money(allocation.amount)} {currency} on bill "
                        f"{allocation.bill_id} (NAV invoice {link.nav_number}), but only {audit_money(open_amount)} is "
                        f"open (bill {audit_money(link.amount)}, already posted {audit_money(before)}). {check}")
        return ""

    def _recover_payment_writes(self) -> None:
        for row in self.outbox.unfinished("post_payment"):
            self._check_cancel()
            payment = self._bill_call(self.bill.get_payment, row.payload["payment_id"])
            if payment is not None:
                self._post_payment(payment)
                links = self._payment_links([payment.id]).get(payment.id, [])
                if links:  # it reached NAV, yet BILL may have voided it meanwhile
                    self._check_posted_payment(payment, links)
