"""The dry run's plan in words a clerk reads: vendor names instead of ids, amounts with currency.

The engine's dry run lists what it would write as data (``RunReport.plan``: one ``PlannedWrite`` per write, with
its kind, record, vendor, amount and currency). This module turns them into sentences, naming vendors from the
store (and from the plan itself, for vendors the run would create). No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.ui.rows import money


@dataclass(frozen=True)
class PlanLine:
    system: str  # NAV | BILL
    text: str


def _names(store: Any) -> tuple[dict[str, str], dict[str, str]]:
    """NAV vendor number → name and BILL vendor id → name, from what the store knows."""
    nav: dict[str, str] = {}
    bill: dict[str, str] = {}
    if store is None:
        return nav, bill
    try:
        for vendor in store.vendor_rows():
            nav[vendor.nav_number] = vendor.name
            if vendor.bill_id:
                bill[vendor.bill_id] = vendor.name
        from app.store import ui_queries

        for candidate in ui_queries.bill_only_vendors(store):
            bill.setdefault(candidate.bill_id, str(candidate.fields.get("name") or ""))
    except Exception:  # names are a nicety: the plan is shown with numbers rather than not at all
        pass
    return nav, bill


def describe_plan(report: Any, store: Any = None, bill_vendor_names: dict[str, str] | None = None,
                  first: bool = True) -> tuple[list[PlanLine], str]:
    """(one sentence per planned write, a summary paragraph) for a dry run's report."""
    plan = list(getattr(report, "plan", []) or [])
    nav_names, bill_names = _names(store)
    bill_names.update(bill_vendor_names or {})
    counts = {"bill_vendors": 0, "nav_vendors": 0, "bills": 0, "credits": 0, "payments": 0, "updates": 0}
    total_bills = 0.0
    lines: list[PlanLine] = []
    for write in plan:
        kind, record = (write.system, write.kind), write.record
        if kind == ("BILL", "create_vendor"):
            bill_names[record] = write.name  # record: the stand-in id the run's bills for it name
            counts["bill_vendors"] += 1
            lines.append(PlanLine("BILL", f"Create vendor “{write.name}” in BILL"))
        elif kind == ("NAV", "create_vendor"):
            nav_names[record] = write.name
            counts["nav_vendors"] += 1
            lines.append(PlanLine("NAV", f"Create vendor “{write.name}” in NAV as {record}"))
        elif kind == ("NAV", "update_vendor"):
            counts["updates"] += 1
            name = nav_names.get(record, "")
            lines.append(PlanLine("NAV", f"Update vendor “{name}” ({record}) in NAV" if name else
                                  f"Update vendor {record} in NAV"))
        elif kind == ("BILL", "update_vendor"):
            counts["updates"] += 1
            lines.append(PlanLine("BILL", f"Update vendor “{write.name}” in BILL"))
        elif kind in (("BILL", "archive_vendor"), ("BILL", "restore_vendor")):
            name = bill_names.get(record, record)
            verb = "Archive" if write.kind == "archive_vendor" else "Restore"
            lines.append(PlanLine("BILL", f"{verb} vendor “{name}” in BILL"))
        elif kind == ("BILL", "create_bill"):
            counts["bills"] += 1
            total_bills += float(write.amount or 0)
            name = write.name or bill_names.get(write.vendor, "")
            vendor = f"“{name}”" if name else f"vendor {write.vendor}"
            lines.append(PlanLine("BILL", f"Create a bill for {vendor}: invoice {record}, "
                                          f"{money(write.amount, write.currency)}"))
        elif kind == ("BILL", "create_vendor_credit"):
            counts["credits"] += 1
            name = write.name or bill_names.get(write.vendor, "")
            vendor = f"“{name}”" if name else f"vendor {write.vendor}"
            lines.append(PlanLine("BILL", f"Create a vendor credit for {vendor}: credit memo {record}, "
                                          f"{money(write.amount, write.currency)}"))
        elif kind == ("NAV", "post_payment"):
            counts["payments"] += 1
            name = nav_names.get(write.vendor, "")
            vendor = f"“{name}” ({write.vendor})" if name else f"vendor {write.vendor}"
            lines.append(PlanLine("NAV", f"Post a payment of {money(write.amount, write.currency)} to {vendor}, "
                                         f"applied to invoice {write.invoice}"))
        else:
            text = write.text
            system, _, rest = text.partition(": ")
            lines.append(PlanLine(system if rest else "", rest or text))
    parts = []
    if counts["bill_vendors"]:
        parts.append(f"create {counts['bill_vendors']} vendor(s) in BILL")
    if counts["nav_vendors"]:
        parts.append(f"create {counts['nav_vendors']} vendor(s) in NAV")
    if counts["updates"]:
        parts.append(f"update {counts['updates']} vendor(s)")
    if counts["bills"]:
        parts.append(f"create {counts['bills']} bill(s) in BILL worth {money(total_bills)}")
    if counts["credits"]:
        parts.append(f"create {counts['credits']} vendor credit(s) in BILL")
    if counts["payments"]:
        parts.append(f"post {counts['payments']} payment(s) in NAV")
    subject = "The first sync" if first else "A sync now"
    text = (f"{subject} would " + ", ".join(parts) + "." if parts
            else f"{subject} would change nothing: NAV and BILL already agree.")
    flows = getattr(report, "flows", {}) or {}
    held = sum(getattr(c, "held", 0) for c in flows.values())
    if held:
        text += (f" {held} record(s) would wait (an unmapped account or dimension, or an unlinked vendor): "
                 "Pending invoices says why and Fix… takes you there.")
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        text += "\nNot everything could be previewed:\n" + "\n".join(f"• {e}" for e in errors)
    return lines, text
