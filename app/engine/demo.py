"""What the demo company needs besides the engine (``sync --demo``, ``serve --demo``, ``main.py --demo``):
its engine settings, and a clerk who pays a few bills in the BILL sandbox so the payments flow has
work. Qt-free; never used with a real profile."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.engine.report import RunReport
from app.engine.settings import EngineSettings

DEMO_SETTINGS = EngineSettings(journal_template="PAYMENT", journal_batch="BILL", balancing_account_type="G/L Account",
                               balancing_account_number="2910", vendor_number_prefix="VB")
DEMO_PAYMENTS = 3  # bills the demo pays in the BILL sandbox so the payments flow has work


def pay_some_demo_bills(sandboxes: Any, store: Any) -> int:
    """A clerk pays a few pushed bills in BILL (one of them partly) through the sandbox; returns how many."""
    import requests

    paid = 0
    for index, row in enumerate(store.invoice_rows(state="created")[:DEMO_PAYMENTS]):
        # the sandbox wants a JSON number; half of a two-decimal amount, rounded to cents
        body = {"amount": float((row.amount / 2).quantize(Decimal("0.01")))} if index == 1 else {}
        response = requests.post(f"{sandboxes.bill_url}/_sandbox/bills/{row.bill_id}/pay", json=body, timeout=30)
        paid += response.ok
    return paid


def add_follow_up_run(report: RunReport, follow_up: RunReport) -> None:
    """Count a follow-up run (the demo's payments run) into ``report``: counts, HTTP calls, time, errors."""
    for name, counts in follow_up.flows.items():
        target = report.counts(name)
        for field in ("created", "updated", "skipped", "held", "failed", "conflicts", "waiting"):
            target.add(field, getattr(counts, field))
    report.nav_calls += follow_up.nav_calls
    report.bill_calls += follow_up.bill_calls
    report.duration_seconds += follow_up.duration_seconds
    report.errors.extend(follow_up.errors)
