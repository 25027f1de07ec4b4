"""The status word and exit code of a sync run (app.cli.commands.sync.outcome), case by case."""

from __future__ import annotations

from app.cli.commands.sync import outcome
from app.cli.errors import UNREACHABLE, USAGE
from app.engine.report import FlowCounts, RunReport, money, named_counts


def report(**flows: FlowCounts) -> RunReport:
    return RunReport(flows=dict(flows))


def test_clean_run_is_done():
    assert outcome(report(vendors=FlowCounts(created=3)), None, 0) == (0, "done")


def test_failed_records_are_not_done():
    assert outcome(report(invoices=FlowCounts(created=3, failed=1)), None, 1) == (1, "failed")


def test_held_records_this_run_or_still_waiting():
    assert outcome(report(invoices=FlowCounts(held=2)), None, 2) == (1, "held")
    assert outcome(report(invoices=FlowCounts()), None, 14) == (1, "held")  # still held from earlier runs


def test_a_flow_that_could_not_run():
    stopped = report(accounts=FlowCounts())
    stopped.errors.append("accounts: BILL: could not reach BILL")
    assert outcome(stopped, (UNREACHABLE, "BILL could not be reached"), 0) == (3, "unreachable")
    assert outcome(stopped, (USAGE, "BILL refused the login"), 0) == (2, "configuration")
    assert outcome(stopped, None, 0) == (1, "failed")


def test_cancelled():
    assert outcome(RunReport(status="cancelled"), None, 0) == (1, "cancelled")


def test_counts_are_named_for_what_happened_and_amounts_have_two_decimals():
    assert named_counts("accounts", FlowCounts(created=19, updated=34)) == {
        "read": 34, "mappings suggested": 19, "held": 0, "failed": 0}
    assert list(named_counts("invoices", FlowCounts()))[0] == "bills created"
    assert money("310.5", "EUR") == "310.50 EUR" and money(1130, "") == "1,130.00 USD"
