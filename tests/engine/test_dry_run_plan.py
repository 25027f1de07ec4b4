"""The dry run's plan is data (``PlannedWrite``): the run's sentences (`sync --dry-run`, ``RunReport.planned``) and the
window's preview in words (app/ui/plan_words.py) are both made from it; neither parses the other."""

from __future__ import annotations

from decimal import Decimal

from app.engine.report import PlannedWrite, RunReport
from app.ui.plan_words import describe_plan

BILL_VENDOR = PlannedWrite("BILL", "create_vendor", "dry-run-vendor-1", name="Harbor Freight (Pittsburgh)")
PLAN = [
    BILL_VENDOR,
    PlannedWrite("NAV", "create_vendor", "VB0001", name="Ohio Valley Tools"),
    PlannedWrite("NAV", "update_vendor", "V00010"),
    PlannedWrite("BILL", "update_vendor", "00901ACME", name="Acme Steel Supply"),
    PlannedWrite("BILL", "archive_vendor", "00901LAKE"),
    PlannedWrite("BILL", "create_bill", "INV-77", name=BILL_VENDOR.name, vendor="dry-run-vendor-1",
                 amount=Decimal("1234.5"), source="NAV invoice 108001"),
    PlannedWrite("BILL", "create_bill", "108002", vendor="00901KEYS", amount=Decimal("10")),
    PlannedWrite("NAV", "post_payment", "stp01ABC", amount=Decimal("-2500.00"), vendor="V00010", invoice="108001"),
    PlannedWrite("BILL", "create_vendor_credit", "109001", name="Acme Steel Supply", vendor="00901ACME",
                 amount=Decimal("64.99")),
    PlannedWrite.said("NAV: a write only a sentence describes"),
]


def test_each_write_reads_as_the_sentence_the_command_line_prints():
    report = RunReport(dry_run=True, plan=PLAN)
    assert report.planned == [
        "BILL: create vendor Harbor Freight (Pittsburgh)",
        "NAV: create vendor VB0001 Ohio Valley Tools",
        "NAV: update vendor V00010",
        "BILL: update vendor 00901ACME (Acme Steel Supply)",
        "BILL: archive vendor 00901LAKE",
        "BILL: create bill INV-77 (NAV invoice 108001) for Harbor Freight (Pittsburgh) (new), 1,234.50 USD",
        "BILL: create bill 108002 for 00901KEYS, 10.00 USD",
        "NAV: post payment -2,500.00 USD to vendor V00010 applied to invoice 108001 (BILL payment stp01ABC)",
        "BILL: create vendor credit 109001 (NAV credit memo) for Acme Steel Supply (00901ACME), 64.99 USD",
        "NAV: a write only a sentence describes",
    ]
    assert report.as_dict()["planned"] == report.planned


def test_the_preview_in_words_comes_from_the_same_writes_with_names_and_amounts():
    lines, summary = describe_plan(RunReport(dry_run=True, plan=PLAN), bill_vendor_names={
        "00901KEYS": "Keystone Paint & Coatings", "00901LAKE": "Great Lakes Aluminum"})
    assert [(line.system, line.text) for line in lines] == [
        ("BILL", "Create vendor “Harbor Freight (Pittsburgh)” in BILL"),
        ("NAV", "Create vendor “Ohio Valley Tools” in NAV as VB0001"),
        ("NAV", "Update vendor V00010 in NAV"),
        ("BILL", "Update vendor “Acme Steel Supply” in BILL"),
        ("BILL", "Archive vendor “Great Lakes Aluminum” in BILL"),
        # The vendor names come from the writes themselves (a new vendor's too), not from the sentence.
        ("BILL", "Create a bill for “Harbor Freight (Pittsburgh)”: invoice INV-77, 1,234.50 USD"),
        ("BILL", "Create a bill for “Keystone Paint & Coatings”: invoice 108002, 10.00 USD"),
        ("NAV", "Post a payment of -2,500.00 USD to vendor V00010, applied to invoice 108001"),
        ("BILL", "Create a vendor credit for “Acme Steel Supply”: credit memo 109001, 64.99 USD"),
        # A write planned as a finished sentence is shown as it is and counted as nothing.
        ("NAV", "a write only a sentence describes"),
    ]
    assert summary.startswith("The first sync would create 1 vendor(s) in BILL, create 1 vendor(s) in NAV, "
                              "update 2 vendor(s), create 2 bill(s) in BILL worth 1,244.50 USD, create 1 vendor "
                              "credit(s) in BILL, post 1 payment(s) in NAV."), summary


def test_a_real_dry_run_plans_structured_writes(engine):
    report = engine.run(dry_run=True)
    assert report.completed, report.errors
    kinds = {(write.system, write.kind) for write in report.plan}
    assert ("BILL", "create_vendor") in kinds and ("BILL", "create_bill") in kinds, kinds
    new_vendors = {w.record: w.name for w in report.plan if w.kind == "create_vendor" and w.system == "BILL"}
    bills = [w for w in report.plan if w.kind == "create_bill"]
    assert all(isinstance(w.amount, Decimal) and w.vendor and w.record for w in bills), bills[:3]
    # A bill for a vendor the same run would create names that vendor's stand-in id and its name.
    assert any(w.vendor in new_vendors and w.name == new_vendors[w.vendor] for w in bills), bills[:3]
    assert report.planned == [w.text for w in report.plan] and len(report.planned) == len(report.plan)
