"""The connection test knows both NAVs: which one answered, which published services are missing (by page and
service name), translated option captions, and the payment journal batch, against the sandbox in each flavour."""

from __future__ import annotations

import pytest

from app.check import FAIL, PASS, SKIPPED, run_checks
from app.sandbox import nav_pages
from app.sandbox.runner import running_sandboxes

JOURNAL = ("PAYMENT", "BILL", "G/L Account", "2910")


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


def test_which_nav_and_the_payment_journal_in_each_flavour(flavour_sandboxes):
    sandboxes = flavour_sandboxes
    report = run_checks(sandboxes.nav_connection(flavor="auto"), None, payment_journal=JOURNAL)
    assert report.ok, report.as_table()
    which = report.step("NAV", "backend")
    journal = report.step("NAV", "journal")
    if sandboxes.nav_flavor == "bc":
        assert "Business Central API v2.0 (found)" in which.detail
        assert "Vendor payment journal BILL exists (balancing account 2910)" in journal.detail
    else:
        assert "NAV OData v4 pages (found): every web service is published" in which.detail
        assert "wait there for the accountant" in which.detail
        assert "PAYMENT/BILL can be read" in journal.detail and journal.status == PASS
    assert report.step("NAV", "webhooks").status == (PASS if sandboxes.nav_flavor == "bc" else SKIPPED)


def test_a_missing_published_page_is_named_with_its_page_number_and_service_name(monkeypatch):
    monkeypatch.delitem(nav_pages.SERVICES, "PostedPurchaseInvoiceLines")
    monkeypatch.delitem(nav_pages.SERVICES, "GeneralLedgerSetup")
    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        report = run_checks(sandboxes.nav_connection(), None, payment_journal=JOURNAL)
    step = report.step("NAV", "backend")
    assert step.status == FAIL
    assert "page 139 Posted Purch. Invoice Subform as 'PostedPurchaseInvoiceLines'" in step.detail
    assert "page 118 General Ledger Setup as 'GeneralLedgerSetup'" in step.detail
    assert "Web Services" in step.fix


def test_translated_option_captions_are_told_with_what_to_change():
    with running_sandboxes(seed="demo", nav_flavor="classic", nav_options={"language": "de"}) as sandboxes:
        report = run_checks(sandboxes.nav_connection(), None, payment_journal=JOURNAL)
        from app.clients.nav import NavClient

        client = NavClient(sandboxes.nav_connection())
        invoices = list(client.iter_posted_invoices())  # German captions are still read
    step = report.step("NAV", "backend")
    assert step.status == FAIL and "translated captions" in step.detail
    assert "ServicesOptionFormat" in step.fix
    assert invoices and all(not hasattr(i, "reason") for i in invoices)
    assert any(line.gl_account for i in invoices for line in i.lines)


def test_a_clerks_line_in_the_connectors_batch_fails_the_journal_step():
    with running_sandboxes(seed="demo", nav_flavor="classic") as sandboxes:
        with sandboxes.nav.state_lock:
            sandboxes.nav.company.insert_journal_line("PAYMENT", "BILL", {
                "Document_Type": "Payment", "Document_No": "G00999", "Account_Type": "Vendor",
                "Account_No": "V00010", "Amount": 1})
        report = run_checks(sandboxes.nav_connection(), None, payment_journal=JOURNAL)
    step = report.step("NAV", "journal")
    assert step.status == FAIL and "G00999" in step.detail and "did not write" in step.detail


def test_no_journal_set_yet_is_said_not_failed(flavour_sandboxes):
    report = run_checks(flavour_sandboxes.nav_connection(), None, payment_journal=("", "", "", ""))
    step = report.step("NAV", "journal")
    assert step.status == SKIPPED and "Settings" in step.detail
