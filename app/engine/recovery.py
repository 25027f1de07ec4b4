"""Settling bulk calls a crash or a lost answer left open, before anything is sent again.

A bulk create is one outbox row for up to 20 vendors or 100 bills. When its answer is lost, one or a few list
calls (BILL's ``createdTime:gte``, from the call's own marks, and ``vendorId:in``) show which of its records
BILL already has: those are linked, only the others are sent again, and the rows are closed. So no record is
ever sent twice. The flows call these at their start (an earlier run's open rows) and after their stream
(a lost answer in this run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.domain.models import VendorFields
from app.engine.common import Write
from app.engine.payloads import invoice_from_json, nav_vendor_from_json
from app.store import repository as q

if TYPE_CHECKING:
    from app.engine.flows.invoices import InvoicesFlow
    from app.engine.flows.vendors import VendorsFlow

log = logging.getLogger("navbill.engine")


def recover_bulk_bill_vendors(flow: VendorsFlow) -> None:
    """Settle bulk vendor calls a crash or a lost answer left open: one list call (vendors BILL created
    since the oldest was sent) shows which of their vendors BILL has; those are linked, the others sent
    again (never twice: a vendor already linked, or found, is not sent)."""
    rows = flow.outbox.unfinished("create_bill_vendors")
    if not rows:
        return
    available = _found_unlinked(flow, rows, lambda since, sent: flow._bill_call(flow.bill.vendors_created_since,
                                                                                since), flow._linked_bill_ids)
    vendors = {}
    for row in rows:
        for data in row.payload["vendors"]:
            vendors.setdefault(data["number"], nav_vendor_from_json(data))
    with flow.store.session() as s:
        done = q.linked_nav_numbers(s, vendors)
    matched, missing = [], []
    for number, vendor in vendors.items():
        if number in done:
            continue
        twin = next((v for v in available if same_vendor(v.fields, vendor.fields)), None)
        if twin is not None:
            available.remove(twin)
            matched.append((flow._vendor_stub(vendor), twin))
        else:
            missing.append(vendor)
    _settle(flow, rows, "vendors", matched, missing, flow._finish_bill_vendors, flow._create_bill_vendors)


def recover_bulk_bills(flow: InvoicesFlow) -> None:
    """Settle bulk bill calls a crash or a lost answer left open: a list call per 50 vendors (their bills
    BILL created since the oldest call was sent) shows which bills BILL has, matched by vendor, invoice
    number and amount; those are linked, only the others are sent again."""
    rows = flow.outbox.unfinished("create_bills")
    if not rows:
        return

    def look(since: datetime, sent: list) -> list:
        # Only these calls' vendors (vendorId:in) and only since they were sent (createdTime:gte, from
        # BILL's own clock mark when there is one) keep the lookup to a few pages.
        vendor_ids = sorted({b["vendor_id"] for r in sent for b in r.payload["bills"]})
        return flow._bill_call(flow.bill.bills_created_since, since, vendor_ids)

    def taken(bill_ids: list[str]) -> set[str]:
        with flow.store.session() as s:
            return q.bill_ids_taken(s, bill_ids)

    available = _found_unlinked(flow, rows, look, taken)
    records = {}
    for row in rows:
        for record in row.payload["bills"]:
            records.setdefault(record["invoice"]["number"], record)
    with flow.store.session() as s:
        done = q.known_invoice_numbers(s, records, created_only=True)
    matched, missing = [], []
    for number, record in records.items():
        if number in done:
            continue
        invoice = invoice_from_json(record["invoice"])
        twin = next((b for b in available if b.vendor_id == record["vendor_id"]
                     and b.invoice_number.strip() == record["invoice_number"].strip()
                     and b.amount == Decimal(record["amount"])), None)
        if twin is None:
            missing.append(invoice)
            continue
        available.remove(twin)
        matched.append((Write(key=f"bill.create:{number}", action="create_bill", record=f"invoice {number}",
                               payload={}, record_key=number, label=f"invoice {number}", send=lambda: None,
                               look=None, data=(invoice, twin)), twin))
    _settle(flow, rows, "invoices", matched, missing, flow._finish_bills, flow._push_invoices)


def _found_unlinked(flow: VendorsFlow | InvoicesFlow, rows: list, look: Callable[[datetime, list], list | None],
                    taken: Callable[[list[str]], set[str]]) -> list:
    """The head both recoveries share: what BILL created since the open rows' calls went out (only rows that
    were really sent can have made anything), less what is linked already."""
    sent = [r for r in rows if r.state == "in_flight"]
    if not sent:
        return []
    since, _ = flow.lane.lookup_since(sent)
    found = look(since, sent) or []
    gone = taken([record.id for record in found])
    return [record for record in found if record.id not in gone]


def _settle(flow: VendorsFlow | InvoicesFlow, rows: list, what: str, matched: list[tuple[Write, Any]],
            missing: list, finish: Callable[[Session, list[tuple[Write, Any]]], dict[str, dict]],
            send_again: Callable[[list], None]) -> None:
    """The tail both recoveries share: link what BILL already has (counted as created), send the others
    again (through the flow's own create), and close the open bulk rows."""
    noun = {"vendors": "vendor", "invoices": "bill"}[what]
    log.info("Open bulk %s calls: %d %ss found in BILL, %d to send again", noun, len(matched), noun, len(missing))
    if matched:
        with flow.store.session() as s:
            finish(s, matched)
        flow.report.counts(what).created += len(matched)
    if missing:
        send_again(missing)
    with flow.store.session() as s:
        for row in rows:
            flow.outbox.finish(s, row.key, {"recovered": True})


def same_vendor(bill: VendorFields, nav: VendorFields) -> bool:
    """A vendor BILL has is the one a lost bulk call sent: same name, and same tax id where both have one."""
    if bill.name.strip().casefold() != nav.name.strip().casefold():
        return False
    return not (bill.tax_id and nav.tax_id) or bill.tax_id.strip() == nav.tax_id.strip()
