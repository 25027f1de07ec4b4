"""What the reliability tests compare: both sandboxes and the store's links, by business keys.

Generated ids (BILL ids, NAV vendor numbers the connector takes from its number series, payment
document numbers, entry numbers, times) differ between two runs that did the same business work, so
every record is described by what a clerk would recognise: a vendor by its name, a bill by vendor name
and invoice number, a ledger entry by vendor, document type, applied invoice and amount. Each category
is a sorted list (a multiset), so a duplicate shows up as a second identical entry.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

from app.sandbox import demo_data

# Numbers the connector gives NAV vendors it creates from BILL (``vendor_number_prefix="VB"``).
CREATED_NAV_NUMBER = re.compile(r"\bVB\d+\b")
GENERATED_BILL_ID = re.compile(r"\b[0-9a-z]{3}02SBX\d{12}\b")


def _canon(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _dump(value: Any) -> str:
    return json.dumps(_canon(value), sort_keys=True, default=str)


def _money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


class Names:
    """Id → business key lookups over both sandboxes."""

    def __init__(self, sandboxes) -> None:
        self.bill_vendor = {vid: v["name"] for vid, v in sandboxes.bill.vendors.items()}
        self.bill = {bid: (self.bill_vendor.get(b["vendorId"], "?"), b["invoice"]["invoiceNumber"])
                     for bid, b in sandboxes.bill.bills.items()}
        self.nav_vendor = {number: row["Name"] for number, row in sandboxes.nav.vendors.iter_from(None)}

    def nav_number(self, number: str) -> str:
        """A seeded NAV number stays (it is a business key); one the connector made becomes the name."""
        if CREATED_NAV_NUMBER.fullmatch(number or ""):
            return "created:" + self.nav_vendor.get(number, number)
        return number

    def text(self, text: str) -> str:
        """A queue reason or message with generated numbers and ids replaced by names."""
        text = CREATED_NAV_NUMBER.sub(lambda m: self.nav_number(m.group(0)), text or "")
        return GENERATED_BILL_ID.sub(lambda m: self.bill_vendor.get(m.group(0), "<id>"), text)


# Fields that differ between two runs that did the same work (ids, versions, times of the write).
_VOLATILE = frozenset({"Id", "_v", "SystemId", "SystemModifiedAt", "SystemCreatedAt", "Last_Modified_Date_Time",
                       "Last_Date_Modified"})


def sandbox_state(sandboxes) -> dict[str, list[str]]:
    nav, bill = sandboxes.nav, sandboxes.bill
    with nav.state_lock, bill.state_lock:
        names = Names(sandboxes)
        state: dict[str, list[str]] = {}
        state["bill.vendors"] = sorted(_dump({k: v for k, v in vendor.items()
                                              if k not in ("id", "createdTime", "updatedTime")})
                                       for vendor in bill.vendors.values())
        state["bill.bills"] = sorted(_dump({
            "vendor": names.bill_vendor.get(b["vendorId"], "?"), "invoice": b["invoice"],
            "description": b.get("description"), "dueDate": b.get("dueDate"), "amount": _money(b["amount"]),
            "paid": _money(b.get("paidAmount", 0)), "due": _money(b.get("dueAmount", 0)),
            "scheduled": _money(b.get("scheduledAmount", 0)), "status": b.get("paymentStatus"),
            "archived": b.get("archived"),
            "lines": [{"amount": _money(li["amount"]), "description": li.get("description"),
                       "classifications": li.get("classifications")} for li in b["billLineItems"]],
        }) for b in bill.bills.values())
        state["bill.payments"] = sorted(_dump({
            "vendor": p.get("vendorName"), "amount": _money(p["amount"]), "status": p.get("singleStatus"),
            "processDate": p.get("processDate"),
            "bills": sorted((names.bill.get(bp["billId"], ("?", "?"))[1], _money(bp["amount"]))
                            for bp in p["billPayments"]),
        }) for p in bill.payments.values())
        state["nav.vendors"] = sorted(_dump({
            **{k: v for k, v in row.items() if k not in _VOLATILE and not k.startswith("_")},
            "No": names.nav_number(number)}) for number, row in nav.vendors.iter_from(None))
        state["nav.journal"] = sorted(_dump({
            "vendor": names.nav_number(row.get("Account_No", "")), "amount": _money(row.get("Amount") or 0),
            "applies_to": row.get("Applies_to_Doc_No"), "batch": [row.get("Journal_Template_Name"),
                                                                  row.get("Journal_Batch_Name")],
        }) for _, row in nav.journal.iter_from(None))

        def ledger_entry(row: dict) -> dict:
            entry = {"vendor": names.nav_number(row["Vendor_No"]), "type": row["Document_Type"],
                     "amount": _money(row["Amount"]), "remaining": _money(row["Remaining_Amount"]),
                     "open": row["Open"], "closed": bool(row.get("Closed_by_Entry_No")),
                     "posting_date": row["Posting_Date"]}
            if row["Document_Type"] == "Invoice":
                entry["document"] = row["Document_No"]
                entry["external"] = row["External_Document_No"]
            return entry

        state["nav.ledger"] = sorted(_dump(ledger_entry(row)) for _, row in nav.vendor_ledger.iter_from(None))
        state["nav.gl"] = sorted(_dump({
            "account": row["G_L_Account_No"], "amount": _money(row["Amount"]), "type": row["Document_Type"],
            "vendor": names.nav_number(row["Source_No"]), "posting_date": row["Posting_Date"],
        }) for _, row in nav.gl_entries.iter_from(None))
        state["nav.invoices"] = sorted(_dump({k: v for k, v in row.items()  # _x: the sandbox's own pointers
                                              if k not in _VOLATILE and not k.startswith("_")})
                                       for _, row in nav.invoices.iter_from(None))
    return state


def link_state(sandboxes, store, reasons: bool = True) -> dict[str, list[str]]:
    """Links and the open queue; ``reasons=False`` leaves the queue's reason texts out of the comparison."""
    names = Names(sandboxes)
    state: dict[str, list[str]] = {}
    state["links.vendors"] = sorted(_dump({
        "nav": names.nav_number(row.nav_number), "bill": names.bill_vendor.get(row.bill_id, row.bill_id),
        "status": row.status, "name": row.name,
        "candidates": sorted(names.bill_vendor.get(c, c) for c in row.candidate_ids),
    }) for row in store.vendor_rows())
    state["links.invoices"] = sorted(_dump({
        "nav": row.nav_number, "vendor": names.nav_number(row.vendor_number), "amount": _money(row.amount or 0),
        "state": row.state, "bill": names.bill.get(row.bill_id, row.bill_id),
    }) for row in store.invoice_rows())
    state["links.payments"] = sorted(_dump({
        "invoice": row.nav_invoice_number, "vendor": names.nav_number(row.vendor_number),
        "amount": _money(row.amount), "state": row.state, "bill": names.bill.get(row.bill_id, row.bill_id),
    }) for row in store.payment_rows())
    state["queue.open"] = sorted(_dump({
        "kind": item.kind, "key": names.text(item.record_key), "reason": names.text(item.reason) if reasons else "",
        "retryable": item.retryable,
    }) for item in store.queue_items(state="open"))
    return state


def full_state(sandboxes, store, reasons: bool = True) -> dict[str, list[str]]:
    return {**sandbox_state(sandboxes), **link_state(sandboxes, store, reasons)}


def differences(actual: dict[str, list[str]], expected: dict[str, list[str]], limit: int = 6) -> list[str]:
    """Readable differences per category: entries only in one of the two multisets."""
    lines = []
    for category in sorted(set(actual) | set(expected)):
        got, want = Counter(actual.get(category, [])), Counter(expected.get(category, []))
        extra, missing = list((got - want).elements()), list((want - got).elements())
        if extra or missing:
            lines.append(f"{category}: {len(extra)} unexpected, {len(missing)} missing")
            lines.extend(f"   + {entry}" for entry in extra[:limit])
            lines.extend(f"   - {entry}" for entry in missing[:limit])
    return lines


# -- duplicates -----------------------------------------------------------------------------------
SEED_NAV_NAMES = Counter(v.name for v in demo_data.demo_vendors())


def duplicates(sandboxes) -> list[str]:
    """Every sign of a write done twice, in either sandbox."""
    nav, bill = sandboxes.nav, sandboxes.bill
    found = []
    with nav.state_lock, bill.state_lock:
        names = Counter(v["name"] for v in bill.vendors.values())
        found += [f"BILL vendor '{n}' x{c}" for n, c in names.items() if c > 1]
        bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in bill.bills.values())
        found += [f"BILL bill {k} x{c}" for k, c in bills.items() if c > 1]
        nav_names = Counter(row["Name"] for _, row in nav.vendors.iter_from(None))
        found += [f"NAV vendor '{n}' x{c}" for n, c in nav_names.items() if c > max(1, SEED_NAV_NAMES[n])]
        # One BILL payment allocation = one journal line (while waiting) or one posted ledger entry.
        lines = Counter((row.get("External_Document_No"), row.get("Applies_to_Doc_No"))
                        for _, row in nav.journal.iter_from(None) if row.get("External_Document_No"))
        found += [f"NAV journal line for payment {k} x{c}" for k, c in lines.items() if c > 1]
        posted = Counter((row["External_Document_No"], row["Document_No"]) for _, row in nav.vendor_ledger.iter_from(None)
                         if row["Document_Type"] == "Payment")
        found += [f"NAV payment ledger entry {k} x{c}" for k, c in posted.items() if c > 1]
        payments_posted = Counter(row["External_Document_No"] for _, row in nav.vendor_ledger.iter_from(None)
                                  if row["Document_Type"] == "Payment")
        for payment_id, count in payments_posted.items():
            allocations = len(bill.payments.get(payment_id, {}).get("billPayments", [])) or 1
            if count > allocations:
                found.append(f"NAV payment {payment_id} posted {count} times for {allocations} allocation(s)")
            waiting = sum(1 for key in lines if key[0] == payment_id)
            if waiting:
                found.append(f"NAV payment {payment_id} both posted and waiting in the journal")
        documents = Counter(row["Document_No"] for _, row in nav.gl_entries.iter_from(None)
                            if row["Document_Type"] == "Payment")
        ledger_docs = Counter(row["Document_No"] for _, row in nav.vendor_ledger.iter_from(None)
                              if row["Document_Type"] == "Payment")
        found += [f"NAV G/L entries for {d}: {c} for {ledger_docs[d]} ledger entries"
                  for d, c in documents.items() if c != 2 * ledger_docs[d]]
    return found


# -- "every record is synced or in the queue" -----------------------------------------------------
def unaccounted(sandboxes, store, paid_bill_ids: set[str] = frozenset()) -> list[str]:
    """Records the connector has neither synced nor put in the held/failed queue with a reason."""
    queue = {(q.kind, q.record_key): q.reason for q in store.queue_items(state="open")}
    for kind, key in list(queue):
        if not queue[(kind, key)].strip():
            return [f"queue item {kind} {key} has no reason"]
    vendor_links = {row.nav_number: row for row in store.vendor_rows()}
    linked_bill = {row.bill_id for row in vendor_links.values() if row.status == "linked"}
    proposed_bill = {c for row in vendor_links.values() if row.status in ("proposed", "ambiguous")
                     for c in (row.bill_id, *row.candidate_ids) if c}
    missing = []
    for number, row in sandboxes.nav.vendors.iter_from(None):
        link = vendor_links.get(number)
        if link is not None and link.status == "linked":
            continue
        if ("vendor", number) in queue or row.get("Blocked") not in (" ", "", None):
            continue  # held with a reason, or blocked (blocked vendors stay out of BILL by design)
        missing.append(f"NAV vendor {number} {row['Name']}")
    for vendor_id, vendor in sandboxes.bill.vendors.items():
        if vendor_id in linked_bill or vendor_id in proposed_bill or vendor.get("archived"):
            continue
        if ("bill_vendor", vendor_id) in queue:
            continue
        missing.append(f"BILL vendor {vendor_id} {vendor['name']}")
    invoice_links = {row.nav_number: row for row in store.invoice_rows()}
    for number, _row in sandboxes.nav.invoices.iter_from(None):
        link = invoice_links.get(number)
        if (link is not None and link.state == "created") or ("invoice", number) in queue:
            continue
        missing.append(f"NAV invoice {number}")
    posted = {row.payment_id for row in store.payment_rows(state="posted")}
    for payment_id, payment in sandboxes.bill.payments.items():
        if payment.get("singleStatus") != "CLEARED" or payment_id in posted or ("payment", payment_id) in queue:
            continue
        missing.append(f"BILL payment {payment_id} ({payment['amount']})")
    return missing
