"""The NAV client against the NAV sandbox over real sockets: it parses the sandbox's real payloads."""

from __future__ import annotations

import socket
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.clients.nav import NavClient, NavConnection
from app.clients.retry import RetryPolicy
from app.domain.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    ConnectionFailedError,
    RetryableError,
    UnknownOutcomeError,
)
from app.domain.models import JournalLine, VendorFields
from app.sandbox import demo_data
from app.sandbox.base import FaultSpec, SandboxServer
from app.sandbox.nav import NavSandbox

pytest_plugins = ["tests.sandbox.nav_fixtures"]

NO_WAIT = RetryPolicy(max_attempts=6, sleep=lambda seconds: None)


def _connection(server: SandboxServer, **overrides) -> NavConnection:
    values = dict(mode="onprem", base_url=server.url, server_instance=demo_data.SERVER_INSTANCE,
                  company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                  web_service_key=demo_data.NAV_WEB_SERVICE_KEY, company_id=demo_data.COMPANY_ID)
    values.update(overrides)
    return NavConnection(**values)


@pytest.fixture
def client(nav_server):
    nav_client = NavClient(_connection(nav_server), retry=NO_WAIT, page_size=7)
    yield nav_client
    nav_client.close()


def test_ping_and_configuration_errors(nav_server):
    assert NavClient(_connection(nav_server), retry=NO_WAIT).ping()["Name"] == demo_data.COMPANY_NAME
    with pytest.raises(ConfigurationError, match="wrong instance"):
        NavClient(_connection(nav_server, server_instance="NAV90"), retry=NO_WAIT).ping()
    with pytest.raises(ConfigurationError, match="wrong company"):
        NavClient(_connection(nav_server, company="Contoso"), retry=NO_WAIT).ping()


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


def test_iter_vendors_streams_pages(client, nav):
    vendors = list(client.iter_vendors())
    assert len(vendors) == 40 and client.call_count == 6  # 7 per page
    acme = vendors[0]
    assert acme.number == "V00010" and acme.fields.state == "PA" and acme.etag and acme.last_modified
    assert [v.number for v in vendors if v.fields.inactive] == ["V00380"]
    assert {v.number for v in vendors if v.fields.is_1099} == {"V00260", "V00300", "V00390", "V00400"}


def test_iter_vendors_modified_since(client, nav):
    nav.clock.advance(120)
    since = nav.clock.now()
    nav.edit_vendor("V00050", Name="Precision Bearings Company")
    changed = list(client.iter_vendors(modified_since=since))
    assert [v.number for v in changed] == ["V00050"]
    assert changed[0].fields.name == "Precision Bearings Company"


def test_create_get_update_vendor(client):
    created = client.create_vendor(VendorFields(name="Quick Print Shop", city="Pittsburgh", is_1099=True), "V90010")
    assert created.number == "V90010" and created.fields.is_1099
    fetched = client.get_vendor("V90010")
    updated = client.update_vendor("V90010", VendorFields(name="Quick Print Shop", city="Erie", is_1099=True),
                                   fetched.etag)
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


def test_posted_invoices_with_lines_and_dimensions(client):
    invoices = list(client.iter_posted_invoices())
    assert len(invoices) == 60
    third = next(i for i in invoices if i.number == "108003")
    assert third.amount == sum(line.amount for line in third.lines) == Decimal("1130.00")
    assert third.lines[0].gl_account == "5120" and third.lines[0].dimensions == {"DEPARTMENT": "PROD"}
    assert "PROJECT" in third.lines[1].dimensions
    assert client.get_posted_invoice("108003") == third
    assert client.get_posted_invoice("999999") is None
    orders = {o["No"] for o in client.iter_purchase_orders()}
    assert orders and not orders & {i.number for i in invoices}


def test_reference_data(client):
    accounts = list(client.iter_gl_accounts())
    assert {a.number for a in accounts} >= {"2110", "6400"}
    assert {d.code for d in client.iter_dimensions()} == {"DEPARTMENT", "PROJECT"}
    assert len(list(client.iter_dimension_values())) == 7


def test_post_payment_creates_ledger_entries_and_reduces_remaining(client):
    owed = client.invoice_remaining_amount("108002")
    assert client.find_payments("stp01PAY1") == []
    line = JournalLine(document_number="BILL-0001", posting_date=date(2026, 11, 2), vendor_number="V00010",
                       amount=Decimal("50.10"), applies_to_invoice="108002", external_document_number="stp01PAY1",
                       description="BILL payment stp01PAY1", balancing_account_number="2910")
    posted = client.post_payment([line], "PAYMENT", "BILL")
    assert [(p.vendor_number, p.amount) for p in posted] == [("V00010", Decimal("50.10"))]
    assert client.find_payments("stp01PAY1") == posted
    assert client.invoice_remaining_amount("108002") == owed - Decimal("50.10")


@pytest.mark.parametrize("path", ["api", "odata"])
def test_post_payment_after_an_interrupted_attempt_reuses_the_waiting_journal_line(path, nav_server):
    # A crash after the journal line was created but before the batch was posted leaves the line waiting.
    # "api": BC API vendorPaymentJournals (company id set); "odata": the GeneralJournalLines page.
    import requests

    client = NavClient(_connection(nav_server, company_id=demo_data.COMPANY_ID if path == "api" else ""),
                       retry=NO_WAIT)

    url = f"{client.connection.company_root}/GeneralJournalLines"
    waiting = {"Journal_Template_Name": "PAYMENT", "Journal_Batch_Name": "BILL", "Posting_Date": "2026-11-02",
               "Document_Type": "Payment", "Document_No": "BILL-0002", "External_Document_No": "stp01PAY2",
               "Account_Type": "Vendor", "Account_No": "V00010", "Amount": 25.5, "Bal_Account_Type": "G/L Account",
               "Bal_Account_No": "2910", "Applies_to_Doc_Type": "Invoice", "Applies_to_Doc_No": "108002"}
    answer = requests.post(url, json=waiting, auth=(demo_data.NAV_USER, demo_data.NAV_WEB_SERVICE_KEY), timeout=5)
    assert answer.status_code == 201
    owed = client.invoice_remaining_amount("108002")

    line = JournalLine(document_number="BILL-0002", posting_date=date(2026, 11, 2), vendor_number="V00010",
                       amount=Decimal("25.50"), applies_to_invoice="108002", external_document_number="stp01PAY2",
                       description="BILL payment stp01PAY2", balancing_account_type="G/L Account",
                       balancing_account_number="2910")
    posted = client.post_payment([line], "PAYMENT", "BILL")

    assert [p.amount for p in posted] == [Decimal("25.50")]  # one ledger entry, not two
    assert client.invoice_remaining_amount("108002") == owed - Decimal("25.50")


def test_retries_through_5xx_and_rate_limits(client, nav):
    nav.set_faults(FaultSpec(error_5xx=0.3, rate_limit=0.3, seed=3))
    assert len(list(client.iter_vendors())) == 40
    assert nav.count(path_contains="/Vendor") > 6


def test_persistent_5xx_becomes_retryable_error(client, nav):
    nav.set_faults(FaultSpec(error_5xx=1.0))
    with pytest.raises(RetryableError):
        client.get_vendor("V00010")


def test_dropped_get_is_retried_but_dropped_post_is_unknown_outcome(client, nav):
    nav.set_faults(FaultSpec(drop=0.5, seed=11))
    assert client.get_vendor("V00020").number == "V00020"
    nav.set_faults(FaultSpec(drop=1.0))
    with pytest.raises(UnknownOutcomeError):
        client.create_vendor(VendorFields(name="Maybe"), "V95000")
    nav.set_faults(FaultSpec())
    assert nav.count("POST", "/Vendor") == 1  # never resent blindly


def test_online_mode_uses_and_refreshes_bearer_tokens(nav_server, nav):
    connection = _connection(nav_server, mode="online",
                             base_url=f"{nav_server.url}/v2.0/{demo_data.NAV_TENANT}/production",
                             client_id=demo_data.NAV_CLIENT_ID, client_secret=demo_data.NAV_CLIENT_SECRET,
                             token_url=f"{nav_server.url}/{demo_data.NAV_TENANT}/oauth2/v2.0/token")
    client = NavClient(connection, retry=NO_WAIT)
    assert client.get_vendor("V00010").fields.name == "Acme Steel Supply"
    nav.set_faults(FaultSpec(expire=1.0))  # every request invalidates the caller's token first
    with pytest.raises(AuthenticationError):
        client.get_vendor("V00010")
    nav.set_faults(FaultSpec())
    assert client.get_vendor("V00020") is not None
    bad = NavClient(_connection(nav_server, mode="online", base_url=connection.base_url, client_id="x",
                                client_secret="wrong-secret-1", token_url=connection.token_url), retry=NO_WAIT)
    with pytest.raises(AuthenticationError) as caught:
        bad.ping()
    assert "wrong-secret-1" not in str(caught.value)


def test_subscriptions_lifecycle(client, nav, receiver):
    assert client.webhooks_supported()
    created = client.create_subscription(receiver.url, client.resource_path("vendors"), "state-1")
    subscription_id = created["subscriptionId"]
    assert [s["subscriptionId"] for s in client.list_subscriptions()] == [subscription_id]
    nav.clock.advance(2 * 86400)
    renewed = client.renew_subscription(subscription_id)
    assert renewed["expirationDateTime"] > created["expirationDateTime"]
    nav.edit_vendor("V00010", City="Erie")
    assert receiver.wait_for(1)[0]["value"][0]["subscriptionId"] == subscription_id
    client.delete_subscription(subscription_id)
    assert client.get_subscription(subscription_id) is None
    nav.webhooks_supported = False
    assert not client.webhooks_supported()


def test_large_seed_streams_without_loading_everything(clock):
    app = NavSandbox("large:3000", clock=clock)
    with SandboxServer(app) as server:
        client = NavClient(_connection(server), retry=NO_WAIT, page_size=1000)
        count = sum(1 for _ in client.iter_vendors())
        assert count == 3000 and client.call_count == 3
        since = (clock.now() - timedelta(days=2))
        assert sum(1 for _ in client.iter_posted_invoices(modified_since=since)) == 6000
