"""BillClient against the BILL sandbox on a real loopback socket (no HTTP mocks)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.clients.bill import (
    BillClient,
    BillConnection,
    parse_bill,
    parse_chart_of_account,
    parse_payment,
    parse_payment_event,
    parse_vendor,
)
from app.clients.bill_signature import verify_signature
from app.clients.retry import RetryPolicy
from app.domain.credits import VendorCredit, VendorCreditLine
from app.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    RecordError,
    RetryableError,
    UnknownOutcomeError,
)
from app.domain.models import Bill, BillLine, ClassificationKind, VendorFields
from app.sandbox import demo_data
from app.sandbox.base import FaultSpec, SandboxServer
from app.sandbox.bill import BillSandbox
from tests.sandbox.test_bill_reference_shapes import Receiver

REFERENCE = Path("/work/shared/reference/bill")
NO_WAIT = RetryPolicy(max_attempts=8, sleep=lambda _s: None)


def connection(server: SandboxServer, **changes) -> BillConnection:
    values = dict(base_url=f"{server.url}/connect", events_base_url=f"{server.url}/connect-events",
                  username=demo_data.BILL_USERNAME, password=demo_data.BILL_PASSWORD,
                  organization_id=demo_data.BILL_ORGANIZATION_ID, dev_key=demo_data.BILL_DEV_KEY)
    values.update(changes)
    return BillConnection(**values)


@pytest.fixture
def server():
    app = BillSandbox(seed="demo", webhook_retry_base_seconds=0.005)
    with SandboxServer(app) as running:
        yield running
        app.close()


@pytest.fixture
def client(server):
    bill_client = BillClient(connection(server), retry=NO_WAIT)
    yield bill_client
    bill_client.close()


def logins(server) -> int:
    return server.app.count("POST", "/connect/v3/login")


def a_bill(client: BillClient, vendor_id: str, invoice: str = "PI-1001", amount: str = "120.50") -> Bill:
    account = next(a for a in client.iter_chart_of_accounts() if not a.archived and a.number == "5110")
    department = next(iter(client.iter_classifications(ClassificationKind.DEPARTMENT)))
    return Bill(id="", vendor_id=vendor_id, invoice_number=invoice, invoice_date=date(2026, 10, 1),
                due_date=date(2026, 10, 31), amount=Decimal(amount),
                lines=(BillLine(Decimal(amount), "Raw steel", account.id, {"departmentId": department.id}),))


# -- sessions ---------------------------------------------------------------------------------------
def test_logs_in_lazily_and_reuses_one_session(server, client):
    assert client.call_count == 0 and logins(server) == 0
    details = client.ping()
    assert details["organizationId"] == demo_data.BILL_ORGANIZATION_ID and "sessionId" not in details
    list(client.iter_vendors())
    client.get_vendor(next(client.iter_vendors()).id)
    assert logins(server) == 1
    assert client.call_count == server.app.count()


@pytest.mark.parametrize("answer", [(401, "BDC_1109"), (401, "BDC_1120"), (403, "BDC_1361")])
def test_expired_session_is_renewed_once_and_the_call_retried(server, answer):
    """BDC_1109 is BILL's documented answer (common-api-error-codes); BDC_1120 and 403 BDC_1361 ("Session expired or
    untrusted") are what third-party clients meet: each is a new login, not a refusal."""
    server.app.dead_session_answer = answer
    sessions: list[str | None] = []
    client = BillClient(connection(server), retry=NO_WAIT, on_session=sessions.append)
    client.ping()
    server.app.clock.advance(36 * 60)
    assert len(list(client.iter_vendors())) == 7
    assert logins(server) == 2 and len(sessions) == 2 and sessions[0] != sessions[1]
    client.logout()
    assert sessions[-1] is None


def test_stored_session_id_is_used_without_login(server):
    first = BillClient(connection(server), retry=NO_WAIT)
    first.ping()
    second = BillClient(connection(server), retry=NO_WAIT, session_id=first._session_id)
    second.ping()
    assert logins(server) == 1


@pytest.mark.parametrize("change, error, words", [
    ({"password": "not-the-password"}, AuthenticationError, "username or password"),
    ({"dev_key": "not-the-dev-key"}, AuthenticationError, "developer key"),
    ({"organization_id": "00802NOTMYORG000001"}, ConfigurationError, "organization"),
])
def test_login_refusals_become_clerk_readable_errors(server, change, error, words, caplog):
    caplog.set_level(logging.DEBUG)
    client = BillClient(connection(server, **change), retry=NO_WAIT)
    with pytest.raises(error) as raised:
        client.ping()
    assert words in str(raised.value)
    for secret in (demo_data.BILL_PASSWORD, demo_data.BILL_DEV_KEY, "not-the-password", "not-the-dev-key"):
        assert secret not in str(raised.value) and secret not in caplog.text
    assert logins(server) == 1  # a refusal is not retried


def test_no_secret_reaches_the_log(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    client.ping()
    client.create_vendor(VendorFields(name="Log Check Co"))
    session_id = client._session_id
    for secret in (demo_data.BILL_PASSWORD, demo_data.BILL_DEV_KEY, session_id):
        assert secret and secret not in caplog.text
    assert demo_data.BILL_PASSWORD not in repr(client.connection)
    assert demo_data.BILL_DEV_KEY not in repr(client.connection)


# -- vendors -----------------------------------------------------------------------------------------
def test_vendor_round_trip(server, client):
    fields = VendorFields(name="Midwest Fasteners, Inc", address_line1="1 Bolt Way", city="Chicago", state="IL",
                          postal_code="60608", country="US", email="ap@midwest.example", phone="555-0199",
                          tax_id="12-3456789", is_1099=True)
    created = client.create_vendor(fields)
    assert created.id.startswith("009") and created.fields == fields
    assert [v.id for v in client.find_vendors_by_name("Midwest Fasteners, Inc")] == [created.id]
    changed = client.update_vendor(created.id, VendorFields(**{**fields.as_dict(), "email": "", "city": "Joliet",
                                                               "inactive": True}))
    assert changed.fields.city == "Joliet" and changed.fields.email == "" and changed.fields.inactive
    assert client.get_vendor(created.id).fields.inactive
    assert not client.restore_vendor(created.id).fields.inactive
    with pytest.raises(NotFoundError) as missing:
        client.get_vendor("00902NOSUCHVENDOR01")
    assert "00902NOSUCHVENDOR01" in str(missing.value)


def test_iter_vendors_pages_through_everything_and_filters_by_update_time():
    app = BillSandbox(seed="large:2500")
    with SandboxServer(app) as server:
        client = BillClient(connection(server), retry=NO_WAIT)
        assert len({v.id for v in client.iter_vendors()}) == 250
        assert app.count("GET", "/connect/v3/vendors") == 3  # max=100 pages
        since = app.clock.now() + timedelta(seconds=1)
        app.clock.advance(5)
        client.update_vendor(next(client.iter_vendors()).id, VendorFields(name="Renamed Bench Vendor"))
        assert [v.fields.name for v in client.iter_vendors(updated_since=since)] == ["Renamed Bench Vendor"]


def test_a_repeated_cursor_stops_the_list(server, client):
    original = server.app.dispatch

    def looping(request):
        response = original(request)
        if request.path.endswith("/vendors") and request.method == "GET":
            body = json.loads(response.body)
            body["nextPage"] = "same-cursor-forever"
            response.body = json.dumps(body).encode()
        return response

    server.app.dispatch = looping
    with pytest.raises(RetryableError):
        list(client.iter_vendors())


# -- bills and payments ---------------------------------------------------------------------------------
def test_bills_create_find_and_payment_status(server, client):
    vendor = next(client.iter_vendors())
    created = client.create_bill(a_bill(client, vendor.id))
    assert created.id.startswith("00n") and created.amount == Decimal("120.50")
    assert created.lines[0].classifications and created.lines[0].chart_of_account_id
    duplicate = client.create_bill(a_bill(client, vendor.id))  # BILL accepts duplicates: the client looks first
    assert {b.id for b in client.find_bills(vendor.id, "PI-1001")} == {created.id, duplicate.id}
    assert client.find_bills(vendor.id, "PI-9999") == []
    server.app.pay_bill(created.id, Decimal("20.50"))
    assert client.get_bill(created.id).payment_status == "PARTIAL"
    assert [b.id for b in client.iter_bills(payment_status="PARTIAL")] == [created.id]
    payments = list(client.iter_payments())
    assert len(payments) == 1 and payments[0].settled and payments[0].amount == Decimal("20.50")
    assert client.get_payment(payments[0].id).allocations[0].bill_id == created.id


def test_a_refused_bill_names_the_invoice(client):
    archived = next(a for a in client.iter_chart_of_accounts() if a.archived)
    vendor = next(client.iter_vendors())
    bill = a_bill(client, vendor.id, invoice="PI-2002")
    bill = Bill(**{**bill.__dict__, "lines": (BillLine(Decimal("5"), "x", archived.id),)})
    with pytest.raises(RecordError) as refused:
        client.create_bill(bill)
    assert "PI-2002" in str(refused.value) and "archived" in str(refused.value)


# -- limits and faults ----------------------------------------------------------------------------------
def test_eight_threads_never_trip_the_concurrency_limit(server, client):
    server.app.handler_delay = 0.01
    client.ping()
    errors: list[Exception] = []

    def work():
        try:
            for _ in range(4):
                client.get_vendor(next(client.iter_vendors()).id)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert server.app.limit_rejections.get("BDC_1322", 0) == 0


def test_backs_off_on_server_errors_and_rate_limits(server):
    client = BillClient(connection(server), retry=RetryPolicy(max_attempts=30, sleep=lambda _s: None))
    client.ping()
    server.app.set_faults(FaultSpec(error_5xx=0.3, rate_limit=0.3, seed=3))
    for _ in range(10):
        assert len(list(client.iter_vendors())) == 7
    assert client.create_vendor(VendorFields(name="Through The Storm")).id
    faults = [r.fault for r in server.app.requests if r.fault]
    assert "5xx" in faults and "ratelimit" in faults


def test_expire_fault_is_survived_by_logging_in_again(server, client):
    client.ping()
    server.app.set_faults(FaultSpec(expire=1.0))
    with pytest.raises(AuthenticationError):  # every request loses its session: a few renewals, then stop
        client.get_vendor(next(iter(server.app.vendors)))
    assert logins(server) == 4
    server.app.set_faults(FaultSpec(expire=0.3, seed=2))
    assert len(list(client.iter_vendors())) == 7


def test_a_lost_answer_to_a_create_is_an_unknown_outcome_but_reads_are_retried(server, client):
    client.ping()
    server.app.set_faults(FaultSpec(drop=1.0))
    with pytest.raises(UnknownOutcomeError):
        client.create_vendor(VendorFields(name="Maybe Created"))
    server.app.set_faults(FaultSpec(drop=0.4, seed=5))
    assert len(list(client.iter_vendors())) == 7


def test_hourly_limit_surfaces_as_rate_limit_and_is_never_retried(server):
    server.app.hourly_limit = 3
    server.app.clock.advance(3600 - server.app.clock.time() % 3600 + 1)  # a fresh hourly window
    client = BillClient(connection(server), retry=RetryPolicy(max_attempts=6, sleep=lambda _s: None))
    client.ping()
    client.ping()
    with pytest.raises(RetryableError) as limited:
        client.ping()
    assert limited.value.code == "BDC_1144"
    assert server.app.limit_rejections["BDC_1144"] == 1  # one refusal: no retry spent more of the budget


# -- webhooks -------------------------------------------------------------------------------------------
def test_subscriptions_and_signed_notifications(server, client):
    receiver = Receiver()
    headers: list[str] = []
    original = receiver.server.RequestHandlerClass.do_POST

    def keep_header(handler):
        headers.append(handler.headers.get("x-bill-sha-signature"))
        original(handler)

    receiver.server.RequestHandlerClass.do_POST = keep_header
    try:
        subscription, key = client.create_subscription("NAV connector", ["vendor.created", "bill.created"],
                                                       receiver.url)
        assert key and "securityKey" not in subscription
        assert [s["id"] for s in client.list_subscriptions()] == [subscription["id"]]
        server.app.create_vendor({"name": "Signed Vendor"})
        assert server.app.webhooks.wait_idle(10)
        assert verify_signature(key, receiver.bodies[0], headers[0])
        assert not verify_signature(key, receiver.bodies[0] + b" ", headers[0])
        new_key = client.rotate_security_key(subscription["id"])
        assert new_key != key
        test = client.send_test_event(subscription["id"], "bill.created")
        assert test["statusCode"] == 200 and verify_signature(new_key, receiver.bodies[-1], headers[-1])
        updated = client.update_subscription(subscription["id"], enabled=False, name="Paused")
        assert updated["status"] == {"enabled": False} and updated["name"] == "Paused"
        assert client.get_subscription(subscription["id"])["name"] == "Paused"
        client.delete_subscription(subscription["id"])
        assert client.list_subscriptions() == []
    finally:
        receiver.close()


# -- signatures and real BILL payloads --------------------------------------------------------------------
@pytest.mark.skipif(not REFERENCE.exists(), reason="BILL reference samples not available")
def test_signature_matches_the_derived_test_vector():
    vector = json.loads((REFERENCE / "derived/signature_test_vector.DERIVED.json").read_text())
    body = (REFERENCE / "derived" / vector["body_file"]).read_bytes()
    assert verify_signature(vector["securityKey"], body, vector["expected_signature"])
    assert not verify_signature(vector["securityKey"], body.replace(b"228.99", b"228.98"),
                                vector["expected_signature"])
    assert not verify_signature("another key", body, vector["expected_signature"])
    assert not verify_signature(vector["securityKey"], body, None)
    assert not verify_signature(vector["securityKey"], body, "")


@pytest.mark.skipif(not REFERENCE.exists(), reason="BILL reference samples not available")
def test_parses_bill_published_payloads():
    def load(name):
        return json.loads((REFERENCE / name).read_text(), parse_float=Decimal)

    vendor = parse_vendor(load("postman_official/v3_vendor_object.schema_example.json"))
    assert vendor.fields.tax_id == "string" and vendor.fields.is_1099 and vendor.fields.country == "ES"
    bill = parse_bill(load("postman_official/v3_bill_object.schema_example.json"))
    assert bill.invoice_date == date(1995, 4, 22) and len(bill.lines) == 2 and bill.archived
    assert bill.lines[0].chart_of_account_id == "string" and "departmentId" in bill.lines[0].classifications
    assert isinstance(bill.amount, Decimal)
    payment = parse_payment(load("postman_official/v3_payment_object.schema_example.json"))
    assert payment.settled and len(payment.allocations) == 2 and payment.process_date == date(1970, 6, 11)
    accounts = [parse_chart_of_account(w) for w in
                load("postman_official/v3_chart_of_accounts_list_response.schema_example.json")["results"]]
    assert accounts[0].account_type == "OTHER_CURRENT_LIABILITY" and accounts[0].archived
    event = parse_payment_event(load("docs/webhook_payment_updated.json")["payment"])
    assert event.amount == Decimal("228.99") and event.vendor_id == "00902BILKFECNEV2oji1"
    assert event.allocations[0].bill_id == "00n02JZNIEYMNPY99iz9" and event.settled
    webhook_bill = parse_bill(load("docs/webhook_bill_created_full.docs.json")["bill"])
    assert webhook_bill.due_date == date(2026, 12, 31) and webhook_bill.invoice_date == date(2026, 12, 15)
    minimal = parse_vendor(load("docs/webhook_vendor_created_minimal.v3docs.json")["vendor"])
    assert minimal.fields.country == "US" and not minimal.fields.inactive


# -- values at the boundary: unreadable records, finite amounts ---------------------------------------------
def test_a_payment_that_does_not_parse_is_yielded_as_unreadable_and_the_list_goes_on(server, client):
    from app.domain.models import UnreadableRecord

    bill_id = client.create_bill(a_bill(client, next(iter(server.app.vendors)), amount="50.00")).id
    good = server.app.pay_bill(bill_id, Decimal("1.00"))
    bad = server.app.pay_bill(bill_id, Decimal("2.00"))
    server.app.corrupt("payments", bad["id"], {"processDate": "31/12/2026", "billPayments.0.amount": "RAW:1e309"})
    items = {getattr(p, "id", None) or p.key: p for p in client.iter_payments()}
    assert not isinstance(items[good["id"]], UnreadableRecord)
    unreadable = items[bad["id"]]
    assert isinstance(unreadable, UnreadableRecord)
    assert unreadable.field == "billPayments[1].amount" and "1E+309" in unreadable.reason
    assert f"BILL payment {bad['id']}" in unreadable.message
    assert isinstance(client.get_payment(bad["id"]), UnreadableRecord)


def test_a_non_finite_amount_is_never_sent_as_non_standard_json(server, client):
    before = len(server.app.bills)
    good = a_bill(client, next(iter(server.app.vendors)))
    bill = Bill(id="", vendor_id=good.vendor_id, invoice_number="NAN-1", invoice_date=good.invoice_date,
                due_date=good.due_date, amount=Decimal("Infinity"),
                lines=(BillLine(Decimal("Infinity"), "x", good.lines[0].chart_of_account_id),))
    with pytest.raises(RecordError, match="not a finite number"):
        client.create_bill(bill)
    assert len(server.app.bills) == before


# -- vendorId:in: documented for bills (filterable-fields), its number of values is not ------------------------
@pytest.mark.parametrize("limit", [None, 3, 1, 0])
def test_bills_of_many_vendors_where_bill_caps_or_refuses_vendor_id_in(server, client, limit):
    """A BILL that takes fewer than 100 ids in vendorId:in (3, 1) or no ``in`` at all (0) still gives every
    bill of the vendors asked for: fewer ids a query, or vendorId:eq per vendor; learnt once, not per call."""
    app = server.app
    vendor_ids = sorted(app.vendors)
    since = datetime.now(UTC) - timedelta(minutes=1)
    made = {client.create_bill(a_bill(client, vendor_id, invoice=f"IN-{n}")).id
            for n, vendor_id in enumerate(vendor_ids[:5])}
    app.in_filter_limit = limit
    asked = [*vendor_ids, "009NOSUCHVENDOR1", "009NOSUCHVENDOR2"]
    assert {b.id for b in client.find_bills_of_vendors(asked)} == made
    assert {b.id for b in client.bills_created_since(since, asked)} == made
    assert {b.id for b in client.find_bills_of_vendors(asked, created_from=since)} == made
    lists = [r for r in app.requests if r.path.endswith("/v3/bills") and r.method == "GET"]
    refused = [r for r in lists if r.status == 400]
    assert len(refused) == {None: 0, 3: 2, 1: 3, 0: 4}[limit]  # 9 ids → 4 → 2 → 1 → eq: once for the client
    assert all(r.status == 400 for r in lists[:len(refused)])


# -- list options BILL documents only in part: sortable fields, payments' and vendor credits' filters -----------
@pytest.mark.parametrize("how", ["refused", "ignored"])
def test_payments_changed_since_where_bill_does_not_sort_or_filter_payments(server, client, how):
    """developer.bill.com/docs/filterable-fields has no table for payments and names no sortable field: a BILL
    that refuses (400) or ignores ``sort`` and ``updatedTime`` on payments still gives exactly the payments changed
    since the mark, and a refusal is learnt once."""
    app = server.app
    vendors = sorted(app.vendors)
    first = client.create_bill(a_bill(client, vendors[0], invoice="OLD-1"))
    app.pay_bill(first.id, Decimal("20.50"))
    app.clock.advance(3600)
    mark = datetime.fromisoformat(next(iter(app.payments.values()))["updatedTime"].replace("Z", "+00:00"))
    mark += timedelta(minutes=30)
    second = client.create_bill(a_bill(client, vendors[1], invoice="NEW-1"))
    app.pay_bill(second.id, Decimal("10.00"))
    expected = [p.id for p in client.iter_payments(updated_since=mark)]
    assert len(expected) == 1 and len(list(client.iter_payments())) == 2
    options = app.refused_list_options if how == "refused" else app.ignored_list_options
    options |= {"sort", "payments:updatedTime"}
    fresh = BillClient(connection(server), retry=NO_WAIT)
    try:
        assert [p.id for p in fresh.iter_payments(updated_since=mark)] == expected
        app.reset_log()
        assert [p.id for p in fresh.iter_payments(updated_since=mark)] == expected
        assert all(r.status == 200 for r in app.requests if r.path.endswith("/v3/payments"))  # learnt once
        assert [b.id for b in fresh.iter_bills(updated_since=mark)] == [second.id]  # its sort dropped too
    finally:
        fresh.close()


@pytest.mark.parametrize("how", ["refused", "ignored"])
def test_vendor_credits_of_a_vendor_where_bill_does_not_filter_them_by_vendor(server, client, how):
    """No filterable-fields table for vendor credits: where vendorId is refused or ignored, another vendor's credit
    with the same reference number is never taken for this vendor's (that would skip creating it)."""
    app = server.app
    vendors = sorted(app.vendors)
    account = next(a for a in client.iter_chart_of_accounts() if not a.archived)
    theirs = client.create_vendor_credit(VendorCredit(vendor_id=vendors[1], reference_number="CM-1",
                                                      credit_date=date(2026, 10, 1), lines=(VendorCreditLine(
                                                          amount=Decimal("5"), chart_of_account_id=account.id),)))
    (app.refused_list_options if how == "refused" else app.ignored_list_options).add("vendor-credits:vendorId")
    assert client.find_vendor_credits(vendors[0], "CM-1") == []
    assert [c.id for c in client.find_vendor_credits(vendors[1], "CM-1")] == [theirs.id]


@pytest.mark.parametrize("spelling", ["security_key", "security-key"])
def test_the_security_key_is_rotated_on_whichever_path_bill_spells(server, client, spelling):
    """BILL's Postman collection says /security_key, its general-rules page /security-key: a BILL that answers only
    one of them still rotates the key, and the path found is kept."""
    server.app.security_key_spelling = spelling
    subscription, key = client.create_subscription("NavBill", ["vendor.created"], "https://example.com/hook")
    assert client.rotate_security_key(subscription["id"]) not in ("", key)
    server.app.reset_log()
    assert client.rotate_security_key(subscription["id"])
    assert [r.path.rsplit("/", 1)[-1] for r in server.app.requests if "security" in r.path] == [spelling]


def test_a_vendor_looked_up_by_name_is_that_vendor_even_where_bill_ignores_the_name_filter(server, client):
    """The engine links the first unlinked vendor this look-up finds before it creates one: a BILL that ignored
    name:eq and answered every vendor would link a NAV vendor to another company."""
    app = server.app
    wanted = next(iter(app.vendors.values()))["name"]
    assert [v.fields.name for v in client.find_vendors_by_name(wanted)] == [wanted]
    app.ignored_list_options.add("vendors:name")
    assert [v.fields.name for v in client.find_vendors_by_name(wanted)] == [wanted]
    assert client.find_vendors_by_name("No Such Vendor Anywhere") == []


def test_a_vendors_bills_are_that_vendors_even_where_bill_ignores_the_vendor_filter(server, client):
    """find_bills is how the engine knows an invoice is already in BILL: another vendor's bill with the same invoice
    number must never count (the invoice would never be sent)."""
    app = server.app
    vendors = sorted(app.vendors)
    theirs = client.create_bill(a_bill(client, vendors[1], invoice="SAME-1"))
    app.ignored_list_options.add("bills:vendorId")
    assert client.find_bills(vendors[0], "SAME-1") == []
    assert [b.id for b in client.find_bills(vendors[1], "SAME-1")] == [theirs.id]


def test_vendors_created_since_are_only_those_where_bill_ignores_created_time(server, client):
    """What a lost bulk answer may have created is matched by name and tax id: an older vendor of the same name must
    not be taken for it."""
    app = server.app
    app.clock.advance(3600)
    since = app.clock.now()
    made = client.create_vendor(VendorFields(name="Created Just Now"))
    app.ignored_list_options.add("vendors:createdTime")
    assert [v.id for v in client.vendors_created_since(since)] == [made.id]
