"""The NAV client against the NAV sandbox in both flavours, over real sockets.

Every test that does not name a flavour runs twice: ``bc`` (Business Central, API v2.0) and ``classic`` (NAV
2016-2018, published OData v4 pages). The sandbox serves what Microsoft's page definitions expose
(``../shared/reference/nav``), so these tests check the client against the definitions, not our guesses.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
import requests

from app.clients.nav import JournalBatchNotEmptyError, NavClient, NavConnection
from app.clients.nav.bcapi import BcApi
from app.clients.nav.classic import ClassicPages
from app.clients.retry import RetryPolicy
from app.domain.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    ConnectionFailedError,
)
from app.domain.models import JournalLine, UnreadableRecord, VendorFields, payment_description
from app.sandbox import demo_data
from app.sandbox.base import SandboxServer

NO_WAIT = RetryPolicy(max_attempts=6, sleep=lambda seconds: None)
FLAVORS = ("bc", "classic")


@pytest.fixture(params=FLAVORS)
def flavor(request) -> str:
    return request.param


def _connection(server: SandboxServer, **overrides) -> NavConnection:
    values = dict(mode="onprem", base_url=server.url, server_instance=demo_data.SERVER_INSTANCE,
                  company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                  web_service_key=demo_data.NAV_WEB_SERVICE_KEY)
    values.update(overrides)
    return NavConnection(**values)


@pytest.fixture
def client(nav_server) -> Iterator[NavClient]:
    nav_client = NavClient(_connection(nav_server), retry=NO_WAIT, page_size=7)
    yield nav_client
    nav_client.close()


def _readable(items) -> list:
    items = list(items)
    assert not [item for item in items if isinstance(item, UnreadableRecord)]
    return items


# -- which NAV ---------------------------------------------------------------------------------------


def test_auto_detects_the_flavour_and_resolves_the_company_id(client, flavor):
    assert client.connection.flavor == "auto"
    assert client.flavor == flavor
    if flavor == "bc":
        assert isinstance(client.backend, BcApi) and client.backend.company_id == demo_data.COMPANY_ID
        assert client.ping()["name"] == demo_data.COMPANY_NAME
    else:
        assert isinstance(client.backend, ClassicPages)
        assert client.ping()["Name"] == demo_data.COMPANY_NAME
        assert client.backend.missing_services() == []
        assert client.backend.captions_translated() is False


def test_nothing_is_sent_when_a_client_is_made(nav_server):
    made = NavClient(_connection(nav_server))
    assert made.call_count == 0


def test_a_bc_server_can_still_be_read_through_its_published_pages(nav_server, flavor):
    pages = NavClient(_connection(nav_server, flavor="classic"), retry=NO_WAIT)
    assert pages.flavor == "classic"
    assert len(_readable(pages.iter_vendors())) == 40


def test_classic_server_has_no_api_so_bc_flavour_says_so(nav_server, flavor):
    if flavor == "bc":
        pytest.skip("the bc sandbox has the API")
    forced = NavClient(_connection(nav_server, flavor="bc"), retry=NO_WAIT)
    with pytest.raises(Exception) as caught:
        forced.ping()
    assert "not found" in str(caught.value).lower() or "does not exist" in str(caught.value).lower()
    assert not NavClient(_connection(nav_server), retry=NO_WAIT).webhooks_supported()


def test_wrong_company_and_wrong_instance(nav_server, flavor):
    with pytest.raises(ConfigurationError, match="wrong company"):
        NavClient(_connection(nav_server, company="Contoso"), retry=NO_WAIT).ping()
    with pytest.raises(ConfigurationError, match="instance"):
        NavClient(_connection(nav_server, server_instance="NAV90", flavor="classic"), retry=NO_WAIT).ping()


def test_wrong_key_is_an_authentication_error_without_the_key(nav_server):
    bad = NavClient(_connection(nav_server, web_service_key="not-the-key-123"), retry=NO_WAIT)
    with pytest.raises(AuthenticationError) as caught:
        bad.ping()
    assert "web-service access key was refused" in str(caught.value)
    assert "not-the-key-123" not in str(caught.value)


def test_connection_refused_names_the_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = NavClient(NavConnection(base_url=f"http://127.0.0.1:{port}", company="x", user="u",
                                     web_service_key="k"), retry=RetryPolicy(max_attempts=2, sleep=lambda s: None))
    with pytest.raises(ConnectionFailedError, match=f"port {port}"):
        client.ping()


def test_windows_auth_needs_requests_ntlm(nav_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "requests_ntlm", None)  # an environment without the package
    with pytest.raises(ConfigurationError, match="requests-ntlm"):
        NavClient(_connection(nav_server, use_windows_auth=True))


# -- vendors ---------------------------------------------------------------------------------------------


def test_vendors_stream_page_by_page(client):
    vendors = _readable(client.iter_vendors())
    assert len(vendors) == 40
    acme = next(v for v in vendors if v.number == "V00010")
    assert acme.fields.name == "Acme Steel Supply" and acme.fields.state == "PA" and acme.etag
    assert acme.fields.tax_id == "11-1001234" and acme.last_modified is not None
    assert [v.number for v in vendors if v.fields.inactive] == ["V00380"]
    assert {v.number for v in vendors if v.fields.is_1099} == {"V00260", "V00300", "V00390", "V00400"}
    assert client.call_count >= 40 // 7  # server-driven paging at 7 a page


def test_vendors_changed_since_a_bookmark(client, nav):
    everything = _readable(client.iter_vendors())
    nav.clock.advance(3 * 86400)  # the last sync ran three days after the vendors were last touched
    bookmark = nav.clock.now()
    nav.clock.advance(3600)
    nav.edit_vendor("V00050", Name="Precision Bearings Company")
    changed = _readable(client.iter_vendors(modified_since=bookmark))
    assert "V00050" in {v.number for v in changed}
    # Classic pages only carry a date: the day before the bookmark is read again (overlap), never all 40.
    assert len(changed) < len(everything)
    assert next(v for v in changed if v.number == "V00050").fields.name == "Precision Bearings Company"


def test_create_get_update_vendor(client):
    created = client.create_vendor(VendorFields(name="Quick Print Shop", city="Pittsburgh", is_1099=True,
                                                tax_id="12-3456789"), "V90010")
    assert created.number == "V90010" and created.fields.is_1099 and created.fields.tax_id == "12-3456789"
    fetched = client.get_vendor("V90010")
    updated = client.update_vendor("V90010", VendorFields(name="Quick Print Shop", city="Erie", is_1099=True,
                                                          tax_id="12-3456789"), fetched.etag)
    assert updated.fields.city == "Erie" and updated.etag != fetched.etag
    assert client.get_vendor("NOPE") is None


def test_update_after_unrelated_change_retries_with_new_etag(client, nav):
    before = client.get_vendor("V00010")
    nav.edit_vendor("V00010", Phone_No="555-9999")  # someone edits another field in NAV
    desired = VendorFields(**{**before.fields.as_dict(), "city": "Erie"})
    updated = client.update_vendor("V00010", desired, before.etag)
    assert updated.fields.city == "Erie" and updated.fields.phone == "555-9999"


def test_update_after_conflicting_change_raises(client, nav):
    before = client.get_vendor("V00010")
    nav.edit_vendor("V00010", City="Altoona")
    desired = VendorFields(**{**before.fields.as_dict(), "city": "Erie"})
    with pytest.raises(ConcurrencyError, match="city"):
        client.update_vendor("V00010", desired, before.etag)


# -- posted invoices ----------------------------------------------------------------------------------


def test_posted_invoices_with_lines_accounts_and_dimensions(client, nav):
    invoices = _readable(client.iter_posted_invoices())
    assert len(invoices) == 60  # posted only: the drafts of the bc sandbox never appear
    for invoice in invoices:
        assert invoice.lines and invoice.amount == sum(line.amount for line in invoice.lines), invoice.number
        # The demo company books in its own currency: the API names it (General Ledger Setup's LCY Code); on the
        # classic pages a blank Currency Code is page 118's LCY Code.
        assert invoice.currency == "USD", invoice.currency
    first = next(i for i in invoices if i.number == "108001")
    assert first.vendor_number == "V00010" and first.vendor_invoice_number == "INV-00010-01"
    assert first.lines[0].gl_account == "5110" and first.lines[0].dimensions == {"DEPARTMENT": "MAINT"}
    dimensions_seen = {code for invoice in invoices for line in invoice.lines for code in line.dimensions}
    assert dimensions_seen >= {"DEPARTMENT", "PROJECT", "AREA"}  # AREA is shortcut dimension 3
    assert client.get_posted_invoice("108001") == first


def test_drafts_never_become_posted_invoices_and_keep_their_id_when_posted(client, nav, flavor):
    if flavor != "bc":
        pytest.skip("drafts appear only in the API's purchaseInvoices")
    api = f"{client.connection.api_root}/companies({demo_data.COMPANY_ID})/purchaseInvoices"
    rows = requests.get(api, auth=(demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY), timeout=10).json()["value"]
    drafts = [row for row in rows if row["status"] == "Draft"]
    assert drafts, "the bc demo seeds draft invoices"
    posted_numbers = {i.number for i in _readable(client.iter_posted_invoices())}
    assert not posted_numbers & {row["number"] for row in drafts}
    posted = nav.post_draft(drafts[0]["number"])
    assert posted["id"] == drafts[0]["id"]
    numbers = {i.number for i in _readable(client.iter_posted_invoices())}
    assert posted["No"] in numbers and drafts[0]["number"] not in numbers


def test_invoices_posted_since_a_bookmark(client, nav):
    first = _readable(client.iter_posted_invoices())
    bookmark = max(i.last_modified for i in first)
    nav.clock.advance(3600)
    new = nav.post_invoice("V00010", "INV-NEW-1", [{"account": "5110", "amount": "99.95",
                                                   "dimensions": {"DEPARTMENT": "PROD"}}])
    later = _readable(client.iter_posted_invoices(modified_since=bookmark))
    assert new["No"] in {i.number for i in later}
    found = next(i for i in later if i.number == new["No"])
    assert found.amount == Decimal("99.95") and found.lines[0].dimensions == {"DEPARTMENT": "PROD"}


def test_an_unreadable_invoice_is_yielded_in_place_and_the_stream_goes_on(client, nav):
    bad = nav.post_invoice("V00010", "INV-BAD", [{"account": "5110", "amount": "10"}])
    with nav.state_lock:  # damage it as a broken customization might
        header = nav.company.invoices.get(bad["No"])
        nav.company.invoices.put(bad["No"], {**header, "Due_Date": "31/12/2026"})
    items = list(client.iter_posted_invoices())
    unreadable = [item for item in items if isinstance(item, UnreadableRecord)]
    assert len(unreadable) == 1 and unreadable[0].key == bad["No"]
    assert "31/12/2026" in unreadable[0].message and "ISO date" in unreadable[0].message
    assert len(items) == 61


# -- reference data -------------------------------------------------------------------------------------------


def test_accounts_dimensions_and_values(client):
    accounts = {a.number: a for a in _readable(client.iter_gl_accounts())}
    assert accounts["2110"].name == "Accounts Payable" and accounts["2110"].income_balance == "Balance Sheet"
    assert accounts["5000"].account_type == "Begin-Total"  # decoded from Begin_x002D_Total or the caption
    assert accounts["5110"].account_type == "Posting" and accounts["5110"].income_balance == "Income Statement"
    dimensions = {d.code for d in client.iter_dimensions()}
    assert dimensions == {"AREA", "DEPARTMENT", "PROJECT"}
    values = {(v.dimension_code, v.code) for v in client.iter_dimension_values()}
    assert ("DEPARTMENT", "MAINT") in values and ("AREA", "EAST") in values


# -- payments -----------------------------------------------------------------------------------------------


def _lines(payment_id: str, invoice: str, amount: str, document: str = "BILLPAY000001") -> list[JournalLine]:
    return [JournalLine(document_number=document, posting_date=date(2026, 11, 20), vendor_number="V00010",
                        amount=Decimal(amount), applies_to_invoice=invoice, external_document_number=payment_id,
                        description=payment_description(payment_id), balancing_account_type="G/L Account",
                        balancing_account_number="2910")]


def test_payment_is_posted_on_bc_and_waits_for_the_accountant_on_classic(client, nav, flavor):
    lines = _lines("stp01PAYMENT0001", "108001", "325.00")
    outcome = client.post_payment(lines, "PAYMENT", "BILL")
    if flavor == "bc":
        assert outcome.posted and outcome.entries
        assert client.find_payments("stp01PAYMENT0001")
    else:
        assert not outcome.posted and client.find_payments("stp01PAYMENT0001") == []
        # Sent again (a crash before the store heard back): the waiting line is reused, not doubled.
        again = client.post_payment(lines, "PAYMENT", "BILL")
        assert not again.posted
        waiting = [row for _, row in nav.company.journal_lines("PAYMENT", "BILL")]
        assert len(waiting) == 1
        nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch in NAV
        assert [p.external_document_number for p in client.find_payments("stp01PAYMENT0001")] == [
            "stp01PAYMENT0001"]
    invoice = client.get_posted_invoice("108001")
    if flavor == "classic":
        assert invoice.remaining_amount == Decimal("0.00")


def test_the_clerks_own_journal_lines_are_never_touched(client, nav):
    before = sorted((key, dict(row)) for key, row in nav.company.journal_lines("PAYMENT", "DEFAULT"))
    assert before, "the demo seeds a clerk's line in PAYMENT/DEFAULT"
    with pytest.raises(JournalBatchNotEmptyError, match="did not write"):
        client.post_payment(_lines("stp01PAYMENT0002", "108001", "100.00"), "PAYMENT", "DEFAULT")
    after = sorted((key, dict(row)) for key, row in nav.company.journal_lines("PAYMENT", "DEFAULT"))
    assert [key for key, _ in after] == [key for key, _ in before]


def test_bc_sees_a_line_the_api_hides_even_without_the_payment_journal_page(client, nav, flavor, monkeypatch):
    """vendorPayments hides unapplied payment lines and journalLines hides every payment line; posting the batch
    would post such a line too. Without page 256 published, the number NAV gives our line gives it away."""
    from app.sandbox import nav_pages

    if flavor != "bc":
        pytest.skip("the hidden-line rule is the API's")
    monkeypatch.delitem(nav_pages.SERVICES, "PaymentJournal")
    with nav.state_lock:
        nav.company.insert_journal_line("PAYMENT", "BILL", {
            "Document_Type": "Payment", "Document_No": "G00777", "Account_Type": "Vendor", "Account_No": "V00010",
            "Amount": Decimal("5.00")})
    with pytest.raises(JournalBatchNotEmptyError, match="cannot see through the API"):
        client.post_payment(_lines("stp01PAYMENT0003", "108001", "325.00"), "PAYMENT", "BILL")
    left = [row["Document_No"] for _, row in nav.company.journal_lines("PAYMENT", "BILL")]
    assert left == ["G00777"]  # ours taken out again, the clerk's untouched, nothing posted
    assert client.find_payments("stp01PAYMENT0003") == []


def test_a_service_that_is_not_published_is_named_with_its_page(client, nav, flavor, monkeypatch):
    from app.sandbox import nav_pages

    if flavor != "classic":
        pytest.skip("the API needs nothing published")
    monkeypatch.delitem(nav_pages.SERVICES, "ChartOfAccounts")
    assert [(service, page) for service, page, _ in client.backend.missing_services()] == [("ChartOfAccounts", 16)]
    with pytest.raises(ConfigurationError, match="publish page 16 .Chart of Accounts. with the service name"):
        list(client.iter_gl_accounts())


def test_the_connectors_own_lines_of_other_payments_share_the_batch(client, nav, flavor):
    """NAV 2016-2018: many payments wait in the batch for the accountant at once. Business Central: the lines of a
    payment whose posting was cut short are posted with the next one, never refused as someone else's."""
    first = _lines("stp01PAYMENT0010", "108001", "100.00", document="BILLPAY000010")
    second = _lines("stp01PAYMENT0011", "108002", "50.00", document="BILLPAY000011")
    if flavor == "bc":
        with nav.state_lock:  # the first payment's line, written before a crash cut its posting short
            nav.company.insert_journal_line("PAYMENT", "BILL", {
                "Document_Type": "Payment", "Document_No": "BILLPAY000010", "Account_Type": "Vendor",
                "Account_No": "V00010", "Amount": Decimal("100.00"), "Applies_to_Doc_Type": "Invoice",
                "Applies_to_Doc_No": "108001", "External_Document_No": "stp01PAYMENT0010",
                "Description": payment_description("stp01PAYMENT0010")})
        assert client.post_payment(second, "PAYMENT", "BILL").posted
    else:
        assert not client.post_payment(first, "PAYMENT", "BILL").posted
        assert not client.post_payment(second, "PAYMENT", "BILL").posted
        assert len(list(nav.company.journal_lines("PAYMENT", "BILL"))) == 2
        nav.post_journal("PAYMENT", "BILL")
    assert [p.amount for p in client.find_payments("stp01PAYMENT0010")] == [Decimal("100.00")]
    assert [p.amount for p in client.find_payments("stp01PAYMENT0011")] == [Decimal("50.00")]


def test_a_passing_server_error_while_detecting_is_not_taken_for_an_old_nav(nav_server, nav, flavor):
    """Only a 404 from /api/v2.0/companies means NAV 2016-2018; a 500 is raised and the next call asks again."""
    from app.domain.errors import RetryableError
    from app.sandbox.base import FaultSpec

    nav.set_faults(FaultSpec.parse("5xx=1.0,seed=3", "nav"))
    client = NavClient(_connection(nav_server), retry=RetryPolicy(max_attempts=1, sleep=lambda s: None))
    with pytest.raises(RetryableError):
        client.ping()
    nav.set_faults(FaultSpec.parse("", "nav"))
    assert client.flavor == flavor


def test_a_business_central_that_cannot_post_the_batch_by_its_id_leaves_the_lines_for_the_accountant(
        client, nav, flavor, caplog):
    """journals({id})/Microsoft.NAV.post finds a payment batch only from BC 19 (ALAppExtensions 0c64dd52d;
    NAV-GROUND-TRUTH 1.14, INFERRED for the payment batch): before, it answers 404. The payment's lines then wait in
    the batch, as on NAV 2016-2018, and the ledger tells when the accountant posted them; never lost, never twice."""
    if flavor != "bc":
        pytest.skip("NAV 2016-2018 never posts over OData")
    nav.api.journals_by_any_id = False  # Business Central 17/18
    lines = _lines("stp01PAYMENT0003", "108001", "325.00")
    with caplog.at_level(logging.WARNING, logger="navbill.nav"):
        outcome = client.post_payment(lines, "PAYMENT", "BILL")
    assert not outcome.posted and outcome.batch == "PAYMENT/BILL"
    assert "wait in batch BILL for the accountant" in caplog.text
    assert client.find_payments("stp01PAYMENT0003") == []
    again = client.post_payment(lines, "PAYMENT", "BILL")  # sent again: the waiting line is reused
    assert not again.posted and len(list(nav.company.journal_lines("PAYMENT", "BILL"))) == 1
    nav.post_journal("PAYMENT", "BILL")  # the accountant posts the batch in NAV
    assert [p.external_document_number for p in client.find_payments("stp01PAYMENT0003")] == ["stp01PAYMENT0003"]


def test_an_update_answered_204_without_a_body_is_read_back(client, nav):
    """OData part 1 11.4.3: a PATCH may be answered 200 with the entity or 204 No Content (the client asks for the
    entity with Prefer: return=representation; a server may still answer 204): the saved vendor is read back."""
    nav.patch_no_content = True
    before = client.get_vendor("V00010")
    updated = client.update_vendor("V00010", VendorFields(**{**before.fields.as_dict(), "city": "Erie"}), before.etag)
    assert updated.fields.city == "Erie" and updated.etag and updated.etag != before.etag
    assert client.get_vendor("V00010").fields.city == "Erie"
