"""The dry run's plan in words a clerk reads: vendor names instead of ids, amounts with currency.

The engine's dry run lists what it would write as short technical lines ("BILL: create bill 108001 for
vendor dry-run-vendor-3, 1234.50"). This module turns them into sentences, naming vendors from the
store (and from the plan itself, for vendors the run would create). No Qt here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.ui.rows import money


@dataclass(frozen=True)
class PlanLine:
    system: str  # NAV | BILL
    text: str


_BILL_VENDOR = re.compile(r"^BILL: create vendor (?P<name>.+)$")
_NAV_VENDOR = re.compile(r"^NAV: create vendor (?P<number>\S+) (?P<name>.+)$")
_NAV_UPDATE = re.compile(r"^NAV: update vendor (?P<number>\S+)$")
_BILL_UPDATE = re.compile(r"^BILL: update vendor (?P<id>\S+) \((?P<name>.*)\)$")
_BILL_ARCHIVE = re.compile(r"^BILL: (?P<verb>archive|restore) vendor (?P<id>\S+)$")
# The dry run's sentences (app/engine/dryrun.py): the vendor as "Name (id)", "Name (new)" or a bare id; amounts
# with thousands separators and two decimals.
_BILL_BILL = re.compile(r"^BILL: create bill (?P<invoice>\S+)(?: \([^)]*\))? for (?:vendor )?(?P<vendor>.+?)"
                        r"(?: \((?P<vendor_id>[^)]*)\))?, (?P<amount>-?[0-9,]+(?:\.[0-9]+)?)(?: [A-Z]{3})?$")
_NAV_PAYMENT = re.compile(r"^NAV: post payment (?P<amount>-?[0-9,]+(?:\.[0-9]+)?)(?: [A-Z]{3})? to vendor (?P<vendor>\S+) applied to "
                          r"invoice (?P<invoice>\S+) \(BILL payment (?P<payment>[^)]+)\)$")


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
    planned = [str(p) for p in (getattr(report, "planned", []) or [])]
    nav_names, bill_names = _names(store)
    bill_names.update(bill_vendor_names or {})
    counts = {"bill_vendors": 0, "nav_vendors": 0, "bills": 0, "payments": 0, "updates": 0}
    total_bills = 0.0
    lines: list[PlanLine] = []
    for position, text in enumerate(planned, start=1):
        if found := _BILL_VENDOR.match(text):
            bill_names[f"dry-run-vendor-{position}"] = found["name"]
            counts["bill_vendors"] += 1
            lines.append(PlanLine("BILL", f"Create vendor “{found['name']}” in BILL"))
        elif found := _NAV_VENDOR.match(text):
            nav_names[found["number"]] = found["name"]
            counts["nav_vendors"] += 1
            lines.append(PlanLine("NAV", f"Create vendor “{found['name']}” in NAV as {found['number']}"))
        elif found := _NAV_UPDATE.match(text):
            counts["updates"] += 1
            name = nav_names.get(found["number"], "")
            lines.append(PlanLine("NAV", f"Update vendor “{name}” ({found['number']}) in NAV" if name else
                                  f"Update vendor {found['number']} in NAV"))
        elif found := _BILL_UPDATE.match(text):
            counts["updates"] += 1
            lines.append(PlanLine("BILL", f"Update vendor “{found['name']}” in BILL"))
        elif found := _BILL_ARCHIVE.match(text):
            name = bill_names.get(found["id"], found["id"])
            verb = "Archive" if found["verb"] == "archive" else "Restore"
            lines.append(PlanLine("BILL", f"{verb} vendor “{name}” in BILL"))
        elif found := _BILL_BILL.match(text):
            counts["bills"] += 1
            total_bills += float(found["amount"].replace(",", ""))
            named = found["vendor"] if found["vendor_id"] else ""  # "Name (id)" / "Name (new)": the name is there
            name = named or bill_names.get(found["vendor"], "")
            vendor = f"“{name}”" if name else f"vendor {found['vendor']}"
            lines.append(PlanLine("BILL", f"Create a bill for {vendor}: invoice {found['invoice']}, "
                                          f"{money(found['amount'].replace(',', ''))}"))
        elif found := _NAV_PAYMENT.match(text):
            counts["payments"] += 1
            name = nav_names.get(found["vendor"], "")
            vendor = f"“{name}” ({found['vendor']})" if name else f"vendor {found['vendor']}"
            lines.append(PlanLine("NAV", f"Post a payment of {money(found['amount'].replace(',', ''))} to {vendor}, applied to "
                                         f"invoice {found['invoice']}"))
        else:
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
