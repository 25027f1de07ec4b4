"""The connection test says whether posted purchase credit memos can reach BILL, as an optional step: on classic
NAV (2016-2018) pages 147/141 (and 140 for the vendor's memo number) published or not, on Business Central whether
API v2.0 has purchaseCreditMemos (BC 22+). Not offered is a warning with what to publish and what happens
meanwhile, never a failure (exit code 0). Through `python main.py check` in a subprocess, against the sandboxes
(a `sandbox --write-profile` process whose NAV is told over HTTP which services are not published)."""

from __future__ import annotations

import pytest
import requests

from app.check import PASS, WARN, run_checks
from app.sandbox.runner import running_sandboxes
from tests.cli.test_cli_table import Sandbox, cli

CLASSIC_CREDIT_PAGES = ["PostedPurchaseCreditMemos", "PostedPurchaseCreditMemoLines"]


def _step(result, key: str = "credit_memos") -> dict:
    return next(s for s in result.json()["steps"] if s["side"] == "NAV" and s["key"] == key)


@pytest.mark.parametrize("flavour, expected", [
    ("classic", "Credit memos: pages 147/141 published: posted purchase credit memos become BILL vendor credits "
                "(with the vendor's own memo number from page 140)."),
    ("bc", "Credit memos: API v2.0 has purchaseCreditMemos (Business Central 22 or later)"),
])
def test_demo_check_says_credit_memos_are_read(tmp_path, flavour, expected):
    result = cli(tmp_path / "home", "check", "--demo", "--nav-flavor", flavour)
    assert result.code == 0, result.both
    line = next(line for line in result.out.splitlines() if "Credit memos" in line and "PASS" in line)
    assert expected in line


@pytest.fixture(params=["classic", "bc"])
def unpublished(request, tmp_path):
    """A sandbox process with profile 'sb', whose NAV does not offer credit memos (pages 147/141 not published;
    a Business Central before 22 without purchaseCreditMemos)."""
    home = tmp_path / "home"
    running = Sandbox(home, "--nav-flavor", request.param, "--write-profile", "sb")
    try:
        assert cli(home, "settings", "balancing_account_number=2910").code == 0
        hidden = CLASSIC_CREDIT_PAGES if request.param == "classic" else ["purchaseCreditMemos"]
        answer = requests.post(f"{running.nav_url}/_sandbox/services", json={"unpublish": hidden}, timeout=10)
        assert answer.status_code == 200, answer.text
        yield request.param, home
    finally:
        assert running.stop() == 0


def test_credit_memos_not_offered_is_a_warning_with_what_to_do(unpublished):
    flavour, home = unpublished
    as_json = cli(home, "check", "--profile", "sb", "--json")
    assert as_json.code == 0, as_json.both  # optional: never a failure
    step = _step(as_json)
    assert step["status"] == WARN and as_json.json()["ok"] is True
    assert ("Meanwhile credit memos are not sent to BILL: BILL pays those invoices in full unless the credit is "
            "entered in BILL by hand.") in step["detail"]
    if flavour == "classic":
        assert ("page 147 Posted Purchase Credit Memos as 'PostedPurchaseCreditMemos'; page 141 Posted Purch. Cr. "
                "Memo Subform as 'PostedPurchaseCreditMemoLines'") in step["detail"]
        assert "Web Services" in step["fix"] and "'PostedPurchaseCreditMemo'" in step["fix"]
    else:
        assert "no purchaseCreditMemos (Business Central before 22)" in step["detail"]
        assert "Business Central 22" in step["fix"]
    table = cli(home, "check", "--profile", "sb")
    assert table.code == 0, table.both
    assert any(line.lstrip().startswith("WARN") and "Credit memos" in line for line in table.out.splitlines())
    assert "→ Optional:" in table.out


def test_classic_without_page_140_warns_that_the_vendors_memo_number_is_not_sent():
    with running_sandboxes(seed="demo", nav_flavor="classic",
                           nav_options={"unpublished": ("PostedPurchaseCreditMemo",)}) as sandboxes:
        report = run_checks(sandboxes.nav_connection(), None)
    step = report.step("NAV", "credit_memos")
    assert step.status == WARN and report.ok
    assert step.detail.startswith("Credit memos: pages 147/141 published")
    assert "without the vendor's own credit memo number (page 140 is not published)" in step.detail
    assert "'PostedPurchaseCreditMemo'" in step.fix


def test_classic_lines_through_page_140_when_141_is_not_published():
    with running_sandboxes(seed="demo", nav_flavor="classic",
                           nav_options={"unpublished": ("PostedPurchaseCreditMemoLines",)}) as sandboxes:
        report = run_checks(sandboxes.nav_connection(), None)
    step = report.step("NAV", "credit_memos")
    assert step.status == PASS and step.detail.startswith("Credit memos: pages 147/140 published")
