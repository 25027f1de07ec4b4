"""The window's backend over the real store (and the engine, for syncs). No Qt here.

It turns the store's rows into what each screen shows: e.g. a vendor link with open conflicts
becomes one "conflict" row with both sides' fields, and the unlinked BILL vendors the store keeps
as match candidates become "only in BILL" rows.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.conflicts import clears_1099_tracking
from app.domain.errors import ConnectorError, RetryableError
from app.domain.mapping import is_mappable_gl_account, suggest_account_mappings, suggest_dimension_mappings
from app.domain.models import ChartOfAccount, Classification, ClassificationKind, DimensionValue, GLAccount
from app.store import Store, ui_queries
from app.ui.rows import (
    AuditRow,
    BillAccountChoice,
    ClassificationChoice,
    DimensionMappingRow,
    FailedItemRow,
    HoldReason,
    MappingRow,
    PaymentRow,
    PendingInvoiceRow,
    ProgressCallback,
    RunRow,
    StatusInfo,
    SyncOutcome,
    VendorDiffRow,
    VendorState,
)

log = logging.getLogger("navbill.ui")

# run(dry_run, progress, cancel) -> the engine's RunReport (any object; read with getattr)
SyncRunner = Callable[[bool, ProgressCallback, threading.Event], Any]

_ACCOUNT_IN_TEXT = re.compile(r"(?:G/L(?:\s+account)?|account)\s+([0-9][0-9A-Za-z-]*)", re.IGNORECASE)
# The engine's words: "line 20000: PROJECT P-1003 ERP Rollout has no BILL classification"
_DIMENSION_IN_TEXT = re.compile(r"line\s+\d+:\s*([^\s:;]+)\s+([^\s:;]+)[^:;]*?has no BILL classification")

# app.engine.flows.bill_lines: "line 20000: G/L 6400 Calibration Services has no BILL account" (a G/L number is a
# Code[20]: "6100.10" or "6100/A" too; a name may hold anything).
_UNMAPPED_ACCOUNT_LINE = re.compile(r"line \d+: G/L (\S+)(?: .*)? has no BILL account")
_NOT_GL_LINE = "not a g/l account line"  # app.engine.flows.bill_lines: an Item or Resource line
_LINE_PROBLEMS = re.compile(r"; (?=line \d)")  # one problem per line, joined with "; "
# "vendor V00070" (a record) and "vendor: V00160" (a detail): a NAV vendor number in the audit log
_VENDOR_IN_AUDIT = re.compile(r"\b(vendor:? )([^\s,;:“]+)")
UNLINKED_SETTING = "ui.unlinked_vendors"  # vendors a person unlinked: still shown, as unlinked

KIND_LABELS = {ClassificationKind.DEPARTMENT.value: "Department", ClassificationKind.LOCATION.value: "Location",
               ClassificationKind.ACCOUNTING_CLASS.value: "Class", ClassificationKind.JOB.value: "Job"}


def classification_label(kind: str, name: str) -> str:
    return f"{KIND_LABELS.get(kind, kind)}: {name}" if name else ""


def dimension_of(reason: str) -> tuple[str, str]:
    """(dimension code, value code) named in a held invoice's reason, or ()."""
    found = _DIMENSION_IN_TEXT.search(reason or "")
    return (found.group(1), found.group(2)) if found else ()


def hold_reason_of(reason: str, detail: dict | None = None) -> tuple[HoldReason, str]:
    """Classify a held invoice's reason text so the window can offer the right fix."""
    detail = detail or {}
    # A line that is not a G/L account line (an Item, a Resource, ...) has nothing to map or link: the fix is in
    # NAV or by hand in BILL, as the reason says. Only the invoice's other problems can offer Fix….
    fixable = [part for part in _LINE_PROBLEMS.split(reason or "") if _NOT_GL_LINE not in part.lower()]
    if reason and not fixable:
        return HoldReason.OTHER, ""
    reason = "; ".join(fixable)
    text = reason.lower()
    account = str(detail.get("gl_account") or detail.get("nav_account") or "")
    if "has no bill classification" in text and "has no bill account" not in text:
        return HoldReason.UNMAPPED_DIMENSION, ""
    if ("classification" in text or "dimension" in text) and "has no bill account" not in text:
        return HoldReason.OTHER, ""
    if "map" in text or "account" in text and "vendor" not in text:
        if not account:
            found = _ACCOUNT_IN_TEXT.search(reason or "")
            account = found.group(1) if found else ""
        return HoldReason.UNMAPPED_ACCOUNT, account
    if "vendor" in text and ("link" in text or "match" in text or "not in bill" in text):
        return HoldReason.UNLINKED_VENDOR, ""
    return (HoldReason.OTHER if reason else HoldReason.NONE), ""


class StoreBackend:
    """``ConnectorBackend`` on a ``Store``; ``sync_runner`` is None until a profile is configured."""

    def __init__(self, store: Store, sync_runner: SyncRunner | None = None,
                 status_source: Callable[[], StatusInfo] | None = None) -> None:
        self.store = store
        self.sync_runner = sync_runner
        self.status_source = status_source

    # -- vendors --------------------------------------------------------------------------------
    def _vendor_fields(self) -> tuple[dict[str, tuple[dict, dict]], list[tuple[str, dict, str]]]:
        # The store's VendorRow carries differences only; the side-by-side view needs every field
        # (pending values first: they are what each side holds now).
        links = {number: (sides.nav_fields, sides.bill_fields)
                 for number, sides in ui_queries.vendor_sides(self.store).items()}
        candidates = [(c.bill_id, c.fields, c.claimed_by) for c in ui_queries.bill_only_vendors(self.store)]
        return links, candidates

    def vendor_diff(self) -> list[VendorDiffRow]:
        links, candidates = self._vendor_fields()
        candidate_fields = {bill_id: fields for bill_id, fields, _ in candidates}
        conflicts: dict[str, list] = defaultdict(list)
        for conflict in self.store.conflict_rows(state="open"):
            conflicts[conflict.record_key].append(conflict)
        rows: list[VendorDiffRow] = []
        for vendor in self.store.vendor_rows():
            nav_fields, bill_fields = links.get(vendor.nav_number, ({}, {}))
            nav_fields = nav_fields or {"name": vendor.name}
            if vendor.status == "linked":
                open_conflicts = conflicts.get(vendor.nav_number, [])
                if open_conflicts:
                    nav_fields, bill_fields = dict(nav_fields), dict(bill_fields)
                    sides, both, reasons = {}, [], []
                    for conflict in open_conflicts:
                        nav_fields[conflict.field] = conflict.nav_value
                        bill_fields[conflict.field] = conflict.bill_value
                        if clears_1099_tracking(conflict.field, conflict.nav_value, conflict.bill_value):
                            # NAV's empty 1099 code may only mean NAV does not keep it
                            sides[conflict.field] = "bill"
                            reasons.append("BILL tracks this vendor for 1099 and NAV has no IRS 1099 Code: keep "
                                           "BILL's unless the vendor is not a 1099 vendor")
                            continue
                        # The newer change is the likelier truth; the clerk confirms or flips it.
                        newer_bill = conflict.bill_time and conflict.nav_time and conflict.bill_time > conflict.nav_time
                        sides[conflict.field] = "bill" if newer_bill else "nav"
                        both.append(conflict.field)
                    names = tuple(c.field for c in open_conflicts)
                    if both:
                        reasons.insert(0, f"changed on both sides: {', '.join(both)}")
                    rows.append(VendorDiffRow(VendorState.CONFLICT, vendor.nav_number, vendor.bill_id, nav_fields,
                                              bill_fields, names, "; ".join(reasons), suggested_sides=sides))
                else:
                    rows.append(VendorDiffRow(VendorState.LINKED, vendor.nav_number, vendor.bill_id, nav_fields,
                                              bill_fields))
            elif vendor.status in ("proposed", "ambiguous"):
                bill_id = vendor.bill_id or (vendor.candidate_ids[0] if len(vendor.candidate_ids) == 1 else "")
                proposed = bill_fields or candidate_fields.get(bill_id, {})
                reason = vendor.match_reason
                if vendor.status == "ambiguous":
                    reason = f"{reason} — pick one of {', '.join(vendor.candidate_ids)}".strip(" —")
                rows.append(VendorDiffRow(VendorState.PROPOSED, vendor.nav_number, bill_id, nav_fields, proposed,
                                          reason=reason))
            else:  # rejected or not yet created in BILL
                rows.append(VendorDiffRow(VendorState.ONLY_NAV, vendor.nav_number, "", nav_fields, {},
                                          reason="will be created in BILL on the next sync"))
        shown_bill = {r.bill_id for r in rows if r.bill_id}
        for bill_id, fields, claimed_by in candidates:
            if claimed_by and not claimed_by.startswith("rejected:"):
                continue  # shown on the NAV vendor that proposes it
            shown_bill.add(bill_id)
            rows.append(VendorDiffRow(VendorState.ONLY_BILL, "", bill_id, {}, fields,
                                      reason="no NAV vendor matches; link one, or let the sync create it"))
        # Unlinked by a person: both sides stay in the list (as unlinked) until linked again or re-read.
        known_nav = {r.nav_number for r in rows if r.nav_number}
        for nav_number, kept in (self.store.get_setting(UNLINKED_SETTING, {}) or {}).items():
            if nav_number not in known_nav:
                rows.append(VendorDiffRow(VendorState.ONLY_NAV, nav_number, "", dict(kept.get("nav_fields") or {}),
                                          {}, reason="unlinked by you; Link… joins it to a BILL vendor again",
                                          unlinked=True))
            bill_id = kept.get("bill_id", "")
            if bill_id and bill_id not in shown_bill:
                shown_bill.add(bill_id)
                rows.append(VendorDiffRow(VendorState.ONLY_BILL, "", bill_id, {}, dict(kept.get("bill_fields") or {}),
                                          reason=f"unlinked by you from NAV vendor {nav_number}", unlinked=True))
        return rows

    def _forget_unlinked(self, nav_number: str) -> None:
        kept = dict(self.store.get_setting(UNLINKED_SETTING, {}) or {})
        if kept.pop(nav_number, None) is not None:
            self.store.set_setting(UNLINKED_SETTING, kept)

    def link(self, nav_number: str, bill_id: str) -> None:
        self.store.link_vendor(nav_number, bill_id)
        self._forget_unlinked(nav_number)

    def unlink(self, nav_number: str) -> None:
        row = next((r for r in self.vendor_diff() if r.nav_number == nav_number), None)
        self.store.unlink_vendor(nav_number)
        if row is not None:
            kept = dict(self.store.get_setting(UNLINKED_SETTING, {}) or {})
            kept[nav_number] = {"bill_id": row.bill_id, "nav_fields": dict(row.nav_fields),
                                "bill_fields": dict(row.bill_fields)}
            self.store.set_setting(UNLINKED_SETTING, kept)

    def accept_proposal(self, nav_number: str, name_from: str = "nav") -> None:
        """Link the proposed pair; ``name_from`` says whose name both keep ("nav" or "bill")."""
        row = next((r for r in self.vendor_diff() if r.nav_number == nav_number), None)
        self.store.accept_proposal(nav_number)
        if name_from == "bill" and row is not None:
            nav_name, bill_name = row.nav_fields.get("name"), row.bill_fields.get("name")
            if bill_name and nav_name != bill_name:
                from app.store import schema as t

                # Chosen like a resolved conflict: the next sync writes BILL's name to NAV.
                with self.store.session() as s:
                    s.add(t.Conflict(record_key=nav_number, bill_id=row.bill_id, field="name", nav_value=nav_name,
                                     bill_value=bill_name, state="chosen", chosen_side="bill"))
                    s.add(t.AuditEntry(system="user", action="keep_name", record=f"vendor {nav_number}",
                                       detail={"kept": "BILL", "name": bill_name, "before_in_nav": nav_name}))

    def resolve_conflict(self, nav_number: str, winners: dict[str, str]) -> list[int]:
        """Keep the chosen side per field; returns the conflicts resolved (for Undo). The audit keeps both
        values, so what was replaced can always be read back."""
        from sqlalchemy import select

        from app.store import schema as t

        resolved = []
        for conflict in self.store.conflict_rows(state="open", record_key=nav_number):
            side = winners.get(conflict.field)
            if side in ("nav", "bill"):
                self.store.resolve_conflict(conflict.id, side)
                resolved.append(conflict.id)
                with self.store.session() as s:
                    entry = s.scalars(select(t.AuditEntry).where(t.AuditEntry.action == "resolve_conflict")
                                      .order_by(t.AuditEntry.id.desc()).limit(1)).first()
                    if entry is not None:
                        entry.detail = {**entry.detail, "nav_value": conflict.nav_value,
                                        "bill_value": conflict.bill_value}
        return resolved

    def undo_resolution(self, conflict_ids: list[int]) -> int:
        """Open the conflicts again, as long as no sync has written the choice yet; returns how many."""
        from app.store import schema as t

        reopened = 0
        with self.store.session() as s:
            for conflict_id in conflict_ids:
                conflict = s.get(t.Conflict, conflict_id)
                if conflict is None:
                    continue
                if conflict.state != "chosen":
                    raise ConnectorError(f"The {conflict.field} of NAV vendor {conflict.record_key} was already "
                                         "written by a sync; change it in NAV or BILL instead.")
                s.add(t.AuditEntry(system="user", action="undo_resolve_conflict",
                                   record=f"vendor {conflict.record_key}",
                                   detail={"field": conflict.field, "side": conflict.chosen_side,
                                           "nav_value": conflict.nav_value, "bill_value": conflict.bill_value}))
                conflict.state, conflict.chosen_side, conflict.resolved_at = "open", "", None
                reopened += 1
        return reopened

    # -- invoices and payments ---------------------------------------------------------------------
    def _vendor_names(self) -> dict[str, str]:
        return {v.nav_number: v.name for v in self.store.vendor_rows()}

    def pending_invoices(self) -> list[PendingInvoiceRow]:
        names = self._vendor_names()
        details = {q.record_key: q for q in self.store.queue_items(state="open", kind="invoice")}
        rows = []
        for invoice in self.store.invoice_rows():
            held = invoice.state == "held"
            item = details.get(invoice.nav_number)
            reason = invoice.reason or (item.reason if item else "")
            kind, account = hold_reason_of(reason) if held else (HoldReason.NONE, "")
            dimension = dimension_of(reason) if kind == HoldReason.UNMAPPED_DIMENSION else ()
            rows.append(PendingInvoiceRow(
                nav_number=invoice.nav_number, vendor_number=invoice.vendor_number,
                vendor_name=names.get(invoice.vendor_number, ""), vendor_invoice_number=invoice.vendor_invoice_number,
                posting_date=invoice.posting_date, due_date=invoice.due_date, amount=invoice.amount, held=held, hold_reason=kind,
                reason_text=reason if held else f"in BILL as {invoice.bill_id}" if invoice.bill_id else "",
                gl_account=account, dimension=dimension, bill_id=invoice.bill_id,
                item_id=str(item.id) if item is not None and held else ""))
        return rows

    def payments(self) -> list[PaymentRow]:
        names = self._vendor_names()
        grouped: dict[str, list] = defaultdict(list)
        for payment in self.store.payment_rows():
            grouped[payment.payment_id].append(payment)
        rows = []
        for payment_id, parts in grouped.items():
            posted = all(p.state == "posted" for p in parts)
            when = max((p.posted_at for p in parts if p.posted_at), default=None)
            rows.append(PaymentRow(
                bill_payment_id=payment_id, vendor_name=names.get(parts[0].vendor_number, parts[0].vendor_number),
                amount=sum((p.amount for p in parts), Decimal("0")), process_date=when.date() if when else None,
                posted=posted, nav_document_numbers=tuple(dict.fromkeys(p.nav_document_number for p in parts
                                                                         if p.nav_document_number)),
                applies_to=tuple(dict.fromkeys(p.nav_invoice_number for p in parts if p.nav_invoice_number)),
                note="" if posted else ", ".join(sorted({p.state for p in parts}))))
        return rows

    # -- the queue --------------------------------------------------------------------------------
    def failed_items(self) -> list[FailedItemRow]:
        """Each held or failed item with the vendor, document, amount and date it is about."""
        from sqlalchemy import select

        from app.store import schema as t

        with self.store.session() as s:
            details = dict(s.execute(select(t.QueueItem.id, t.QueueItem.detail).where(
                t.QueueItem.state == "open")).all())
        vendor_names = self._vendor_names()
        bill_names = {c.bill_id: str(c.fields.get("name") or "") for c in ui_queries.bill_only_vendors(self.store)}
        invoices = {i.nav_number: i for i in self.store.invoice_rows()}
        payments: dict[str, list] = defaultdict(list)
        for payment in self.store.payment_rows():
            payments[payment.payment_id].append(payment)
        rows = []
        for q in self.store.queue_items(state="open"):
            detail = details.get(q.id) or {}
            kind = q.kind.replace("_", " ")
            reason = q.last_error or q.reason or "no details recorded"
            if q.last_error and q.reason and q.reason not in q.last_error:
                reason = f"{q.reason} — {q.last_error}"
            vendor_number, vendor, document, amount, currency, when = "", "", q.record_key, None, "", None
            hold, account, dimension = HoldReason.NONE, "", ()
            if q.kind == "invoice":
                data = detail.get("invoice") or {}
                link = invoices.get(q.record_key)
                vendor_number = str(data.get("vendor_number") or (link.vendor_number if link else ""))
                theirs = str(data.get("vendor_invoice_number") or (link.vendor_invoice_number if link else ""))
                document = f"Invoice {q.record_key}" + (f" (vendor's {theirs})" if theirs else "")
                amount = _decimal(data.get("amount")) if data.get("amount") else (link.amount if link else None)
                currency = str(data.get("currency") or "")
                when = _date(data.get("posting_date")) or (link.posting_date if link else None)
                hold, account = hold_reason_of(q.reason, detail)
                dimension = dimension_of(q.reason) if hold == HoldReason.UNMAPPED_DIMENSION else ()
            elif q.kind == "payment":
                parts = payments.get(q.record_key, [])
                vendor_number = parts[0].vendor_number if parts else str(detail.get("vendor_number") or "")
                document = f"BILL payment {q.record_key}"
                amount = sum((p.amount for p in parts), Decimal("0")) if parts else _decimal(detail.get("amount"))
                posted = [p.posted_at for p in parts if p.posted_at]
                when = max(posted).date() if posted else None
            elif q.kind == "vendor":
                vendor_number = q.record_key
                document = f"NAV vendor {q.record_key}"
                hold = HoldReason.UNLINKED_VENDOR  # Fix… opens the vendor to link or accept
            elif q.kind == "bank_change":  # app.engine.bankwatch: confirmed by Skip (with a note)
                vendor_number = str(detail.get("nav_vendor") or "")
                bill_id = str(detail.get("bill_id") or q.record_key.split(":")[0])
                vendor = bill_names.get(bill_id, "")
                document = f"Bank details of BILL vendor {bill_id}"
                when = _date(str(detail.get("when") or "")[:10])
            elif q.kind == "credit_memo":  # app.engine.credits
                document = f"NAV credit memo {q.record_key}"
            elif q.kind == "bill_vendor":
                vendor = bill_names.get(q.record_key, "")
                document = "BILL vendor" + (f" “{vendor}”" if vendor else f" {q.record_key}")
            if vendor_number:
                name = vendor_names.get(vendor_number, "")
                vendor = f"{name} ({vendor_number})" if name else f"vendor {vendor_number}"
                if hold == HoldReason.NONE and "not linked" in q.reason.lower():
                    hold = HoldReason.UNLINKED_VENDOR
            rows.append(FailedItemRow(
                item_id=str(q.id), kind=kind, record=q.record_key, error=reason, held=not q.retryable,
                attempts=q.retry_count, last_attempt=q.updated_at, vendor=vendor, document=document,
                amount=amount, currency=currency, date=when, hold_reason=hold, vendor_number=vendor_number,
                gl_account=account, dimension=dimension))
        return rows

    def retry(self, item_id: str) -> None:
        self.store.retry_item(int(item_id))

    def retry_all(self) -> int:
        items = self.store.queue_items(state="open")
        for item in items:
            self.store.retry_item(item.id)
        return len(items)

    def skip(self, item_id: str, note: str) -> None:
        self.store.skip_item(int(item_id), note)

    # -- mappings ---------------------------------------------------------------------------------
    def _bill_account_labels(self, reference: dict) -> dict[str, str]:
        return {a["id"]: " ".join(p for p in (a.get("number", ""), a["name"]) if p)
                for a in reference.get("bill_accounts", [])}

    def bill_accounts(self) -> list[BillAccountChoice]:
        reference = self.store.reference_data()
        labels = self._bill_account_labels(reference)
        return [BillAccountChoice(a["id"], labels[a["id"]], a.get("account_type", "") or "")
                for a in reference.get("bill_accounts", []) if not a.get("archived")]

    def mappings(self) -> list[MappingRow]:
        reference = self.store.reference_data()
        labels = self._bill_account_labels(reference)
        rows = []
        mapped = set()
        for m in self.store.account_mapping_rows():
            mapped.add(m.nav_account)
            rows.append(MappingRow(
                nav_account=m.nav_account, nav_account_name=m.nav_account_name, dimensions=dict(m.dimension_filter),
                bill_account_id=m.bill_account_id,
                bill_account_name=labels.get(m.bill_account_id, m.bill_account_name or m.bill_account_id)
                + (" (archived)" if m.bill_account_archived else ""),
                classifications=dict(m.classifications), suggestion_reason=m.reason if m.source != "user" else "",
                source=m.source))
        gl_accounts = [GLAccount(a["number"], a["name"], a.get("account_type") or "Posting",
                                 a.get("income_balance", ""), bool(a.get("blocked")))
                       for a in reference.get("gl_accounts", [])]
        bill_accounts = [ChartOfAccount(a["id"], a["name"], a.get("number", ""), a.get("account_type", ""),
                                        bool(a.get("archived"))) for a in reference.get("bill_accounts", [])]
        suggestions = {s.nav_account: s for s in suggest_account_mappings(gl_accounts, bill_accounts, mapped)}
        waiting = self._invoices_waiting_per_account()
        for account in gl_accounts:
            if account.number in mapped or not is_mappable_gl_account(account):
                continue
            hint = suggestions.get(account.number)
            rows.append(MappingRow(
                nav_account=account.number, nav_account_name=account.name,
                suggested_account_id=hint.bill_account_id if hint else "",
                suggested_account_name=labels.get(hint.bill_account_id, "") if hint else "",
                suggestion_reason=hint.reason if hint else "", invoices_waiting=waiting.get(account.number, 0)))
        rows.sort(key=lambda r: (r.nav_account, r.dimensions_text))
        return rows

    def set_mapping(self, nav_account: str, dimensions: dict[str, str], bill_account_id: str) -> None:
        self.store.set_account_mapping(nav_account, bill_account_id, dimension_filter=dimensions or None,
                                       source="user")

    def _invoices_waiting_per_account(self) -> dict[str, int]:
        """How many held invoices each unmapped G/L account holds back (app.engine.flows.bill_lines says "line 20000:
        G/L 6400 Calibration Services has no BILL account"): what the Mappings tab counts as needing attention. A
        bank or payables account never on an invoice line (the journal's balancing account, say) holds nothing."""
        waiting: dict[str, int] = defaultdict(int)
        for item in self.store.queue_items(state="open", kind="invoice"):
            problems = _LINE_PROBLEMS.split(item.reason or "")
            for account in {found.group(1) for part in problems if (found := _UNMAPPED_ACCOUNT_LINE.match(part))}:
                waiting[account] += 1
        return waiting

    def remove_mapping(self, nav_account: str, dimensions: dict[str, str]) -> None:
        self.store.remove_account_mapping(nav_account, dimensions or None)

    def classification_choices(self) -> list[ClassificationChoice]:
        return [ClassificationChoice(c.id, c.kind, classification_label(c.kind, c.name))
                for c in ui_queries.classification_choices(self.store)]

    def dimension_mappings(self) -> list[DimensionMappingRow]:
        values = ui_queries.dimension_values(self.store)
        choices = ui_queries.classification_choices(self.store)
        required = ui_queries.mapped_dimension_codes(self.store)
        labels = {c.id: classification_label(c.kind, c.name) for c in choices}
        unmapped = [DimensionValue(v.dimension_code, v.value_code, v.value_name, v.blocked) for v in values
                    if not v.classification_id]
        known_kinds = {k.value for k in ClassificationKind}
        suggestions = {(h.dimension_code, h.value_code): h for h in suggest_dimension_mappings(
            unmapped, [Classification(ClassificationKind(c.kind), c.id, c.name, c.short_name) for c in choices
                       if c.kind in known_kinds])}
        rows = []
        for v in values:
            hint = suggestions.get((v.dimension_code, v.value_code))
            label = classification_label(v.kind, v.classification_name) if v.classification_id else ""
            rows.append(DimensionMappingRow(
                v.dimension_code, v.value_code, v.value_name, v.classification_id,
                label + (" (archived)" if v.classification_archived else ""), v.source,
                suggested_id=hint.classification_id if hint else "",
                suggested_label=labels.get(hint.classification_id, "") if hint else "",
                suggestion_reason=hint.reason if hint else (v.reason if v.source == "suggested" else ""),
                required=v.dimension_code in required, blocked=v.blocked))
        return rows

    def set_dimension_mapping(self, dimension_code: str, value_code: str, classification_id: str) -> None:
        kinds = {c.id: c.kind for c in ui_queries.classification_choices(self.store)}
        if classification_id not in kinds:
            raise ConnectorError(f"BILL classification {classification_id} is unknown or archived; "
                                 "run a sync to read BILL's lists again.")
        self.store.set_dimension_mapping(dimension_code, value_code, kinds[classification_id], classification_id,
                                         source="user")

    def remove_dimension_mapping(self, dimension_code: str, value_code: str) -> None:
        self.store.remove_dimension_mapping(dimension_code, value_code)

    # -- activity ---------------------------------------------------------------------------------
    def runs(self) -> list[RunRow]:
        rows = []
        for run in self.store.runs(limit=200):
            totals = summarise_flows(run.counts or {})
            summary = totals or run.message or "nothing to change"
            if run.message and totals:
                summary = f"{summary} — {run.message}"
            rows.append(RunRow(str(run.id), run.started_at, run.finished_at, run.status, run.dry_run, summary))
        return rows

    def audit_log(self) -> list[AuditRow]:
        """The audit entries, each NAV vendor named beside its number (so the log can be filtered by name)."""
        names = self._vendor_names()

        def name_of(match: re.Match) -> str:
            name = names.get(match.group(2))
            if not name or match.string[match.end():].lstrip(" “").startswith(name):  # named already
                return match.group(0)
            return f"{match.group(0)} “{name}”"

        def named(text: str) -> str:
            return _VENDOR_IN_AUDIT.sub(name_of, text)

        return [AuditRow(a.at, a.system, a.action.replace("_", " "), named(a.record), named(audit_words(a.detail)))
                for a in self.store.audit(limit=5000)]

    def status(self) -> StatusInfo:
        from dataclasses import replace

        base = self.status_source() if self.status_source else StatusInfo()
        real = [r for r in self.store.runs(limit=20) if r.finished_at and not r.dry_run]
        if base.last_sync is None and real:
            base = replace(base, last_sync=max(r.finished_at for r in real))
        if real:
            last = max(real, key=lambda r: (r.finished_at, r.id))
            if last.status != "completed":
                problem = "; ".join(clerk_words(e.strip()) for e in (last.message or "").split("; ") if e.strip())
                base = replace(base, last_problem=f"The last sync {last.status}: {problem or 'see Activity'}")
        budget = getattr(self.sync_runner, "bill_requests", None)
        status = budget() if budget is not None else None
        if status is not None:
            stopped = f" (stopped until {status.resets_at:%H:%M} UTC)" if status.left == 0 or status.bill_refused else ""
            base = replace(base, bill_requests=status.text() + stopped, bill_requests_detail=status.detail())
        return base

    def attention_count(self) -> int:
        counts = self.store.counts()
        return counts.get("queue_open", 0) + counts.get("conflicts_open", 0) + counts.get("proposals", 0)

    # -- reconciliation ---------------------------------------------------------------------------
    def reconcile(self):
        """``app.engine.reconcile`` on this profile's NAV and BILL (read only)."""
        from app.domain.errors import ConfigurationError

        run = getattr(self.sync_runner, "reconcile", None)
        if run is None:
            raise ConfigurationError("No connection is set up yet: open Settings to enter the NAV and BILL details, "
                                     "then compare.")
        return run()

    # -- sync -------------------------------------------------------------------------------------
    def sync(self, *, dry_run: bool, progress: ProgressCallback, cancel: threading.Event,
             flows: list[str] | None = None) -> SyncOutcome:
        if self.sync_runner is None:
            return SyncOutcome(ok=False, dry_run=dry_run,
                               summary="No connection is set up yet: open Settings to enter the NAV and BILL details.")
        try:
            if flows:
                report = self.sync_runner(dry_run, progress, cancel, flows=flows)
            else:
                report = self.sync_runner(dry_run, progress, cancel)
        except RetryableError as error:
            return SyncOutcome(ok=False, dry_run=dry_run, summary=f"Could not reach the server: {error}",
                               offline=True)
        except ConnectorError as error:
            return SyncOutcome(ok=False, dry_run=dry_run, summary=str(error))
        return outcome_of(report, dry_run, self.attention_count(), self.store)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except Exception:
        return None


def _date(value: Any):
    from datetime import date

    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def audit_words(detail: dict) -> str:
    """An audit entry's detail as "key: value" pairs, amounts with their currency."""
    from app.ui.rows import money

    parts = []
    for key, value in (detail or {}).items():
        if "amount" in key.lower() and value not in (None, ""):
            value = money(value, str(detail.get("currency") or ""))
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return ", ".join(parts)


def summarise_flows(flows: dict[str, Any]) -> str:
    """"accounts: 34 read, 19 mappings suggested; invoices: 44 bills created, 16 held": the counts under the words
    ``sync`` prints (app.engine.report.COUNT_WORDS), never "accounts: 19 created" for suggested mappings."""
    from app.engine.report import COUNT_WORDS

    parts = []
    for flow, counts in flows.items():
        values = counts if isinstance(counts, dict) else getattr(counts, "__dict__", {})
        words = dict(COUNT_WORDS.get(flow, ()))
        numbers = ", ".join(f"{v} {words.get(k, k)}" for k, v in values.items() if v)
        if numbers:
            parts.append(f"{flow}: {numbers}")
    return "; ".join(parts)


PAYMENTS_WAIT = ("Payments wait: enter the payment journal template, batch and balancing account in Settings → "
                 "Payments (vendors and invoices synced as usual).")


def clerk_words(error: str) -> str:
    """An engine error as the clerk reads it, saying where to fix it."""
    if error.startswith("payments: not run") and ("journal" in error or "balancing" in error):
        return PAYMENTS_WAIT
    return error


def outcome_of(report: Any, dry_run: bool, attention: int, store: Any = None) -> SyncOutcome:
    """Turn the engine's RunReport (app.engine.report) into what the window shows."""
    if isinstance(report, SyncOutcome):
        return report
    status = str(getattr(report, "status", "completed"))
    errors = list(getattr(report, "errors", []) or [])
    ok = bool(getattr(report, "completed", status == "completed" and not errors))
    flows = summarise_flows(getattr(report, "flows", {}) or {})
    if dry_run:
        planned = list(getattr(report, "planned", []) or [])
        summary = f"Preview: {len(planned)} change(s) would be made" + (f" ({flows})" if flows else "")
    else:
        summary = f"Sync {status}" + (f": {flows}" if flows else ": nothing to change")
    errors = [clerk_words(e) for e in errors]
    if errors:
        summary += " — " + "; ".join(errors)
    if dry_run and getattr(report, "planned", None):
        from app.ui.plan_words import describe_plan

        lines, words = describe_plan(report, store, first=False)  # names and amounts with currency, not ids
        details = tuple(f"{line.system}: {line.text}" if line.system else line.text for line in lines)
        summary = words.split("\n", 1)[0] + (" — " + "; ".join(errors) if errors else "")
    else:
        details = tuple(str(p) for p in (getattr(report, "planned", []) or []))
    offline = any("reach" in e.lower() or "connect" in e.lower() for e in errors)
    return SyncOutcome(ok=ok, dry_run=dry_run, summary=summary, needs_attention=attention, details=details,
                       offline=offline, started=datetime.now().astimezone())
