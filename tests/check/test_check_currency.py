"""The connection test says which currency the company's posted invoices are in: BILL bills are in US dollars and the
connector converts nothing, so a company booking in another currency hears it before its first sync (a warning with
what to do), not after every invoice is held."""

from __future__ import annotations

from app.check import PASS, WARN, run_checks
from app.sandbox.runner import running_sandboxes
from tests.cli.test_cli_table import cli


def test_demo_check_says_the_invoices_are_in_dollars(tmp_path):
    result = cli(tmp_path / "home", "check", "--demo")
    assert result.code == 0, result.both
    line = next(line for line in result.out.splitlines() if "Currency:" in line)
    assert "PASS" in line and "Currency: invoices in USD." in line, line


def test_a_company_booking_in_canadian_dollars_is_warned_with_what_to_do():
    with running_sandboxes(seed="demo", nav_flavor="bc") as sandboxes:
        sandboxes.nav.company.setup["LCY_Code"] = "CAD"
        report = run_checks(sandboxes.nav_connection(), None)
    step = report.step("NAV", "currency")
    assert step.status == WARN and report.ok  # a warning: the connection itself works
    assert "all 20 posted invoices looked at are in CAD, not USD" in step.detail
    assert "each invoice would be held" in step.detail
    assert "General Ledger Setup's LCY Code" in step.fix


def test_a_few_invoices_in_another_currency_pass_and_are_counted():
    from app.clients.nav import NavClient

    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        client = NavClient(sandboxes.nav_connection())
        try:
            first = next(iter(client.iter_posted_invoices())).number  # among those the check looks at
        finally:
            client.close()
        with sandboxes.nav.state_lock:
            sandboxes.nav.invoices.get(first)["Currency_Code"] = "EUR"  # posted in euros
        report = run_checks(sandboxes.nav_connection(), None)
    step = report.step("NAV", "currency")
    assert step.status == PASS, step.detail
    assert step.detail == ("Currency: invoices in USD; 1 of the 20 looked at is in another currency (EUR), held "
                           "for you to enter in BILL by hand."), step.detail
