"""BILL sandbox behaviour over real sockets: login and sessions, validation, lists, payments, limits,
faults and webhooks."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from app.clients.bill_signature import verify_signature
from app.sandbox import demo_data
from app.sandbox.base import FaultSpec, SandboxServer
from app.sandbox.bill import BillSandbox
from tests.sandbox.test_bill_reference_shapes import Receiver

CREDENTIALS = {"username": demo_data.BILL_USERNAME, "password": demo_data.BILL_PASSWORD,
               "organizationId": demo_data.BILL_ORGANIZATION_ID, "devKey": demo_data.BILL_DEV_KEY}


class Api:
    def __init__(self, server: SandboxServer) -> None:
        self.app: BillSandbox = server.app  # type: ignore[assignment]
        self.url = server.url
        self.rest = f"{server.url}/connect/v3"
        self.events = f"{server.url}/connect-events/v3"
        self.http = requests.Session()
        self.login()

    def login(self) -> None:
        answer = requests.post(f"{self.rest}/login", json=CREDENTIALS)
        assert answer.status_code == 200, answer.text
        self.http.headers.update({"devKey": demo_data.BILL_DEV_KEY, "sessionId": answer.json()["sessionId"]})

    def get(self, path: str, **params):
        return self.http.get(f"{self.rest}/{path}", params=params)

    def post(self, path: str, body=None, **kw):
        return self.http.post(f"{self.rest}/{path}", json=body, **kw)

    def ids(self, path: str, **params) -> list[str]:
        return [r["id"] for r in self.get(path, **params).json()["results"]]


def code(response) -> str:
    return response.json()[0]["code"]


@pytest.fixture
def api():
    app = BillSandbox(seed="demo", webhook_retry_base_seconds=0.005)
    with SandboxServer(app) as server:
        yield Api(server)
        app.close()


def new_bill(api: Api, invoice: str = "INV-1", amount: float = 100, vendor_id: str | None = None) -> dict:
    vendor_id = vendor_id or api.ids("vendors", filters="archived:eq:false")[0]
    account = api.ids("classifications/chart-of-accounts", filters="archived:eq:false")[0]
    answer = api.post("bills", {"vendorId": vendor_id, "dueDate": "2026-12-31",
                                "invoice": {"invoiceNumber": invoice, "invoiceDate": "2026-11-01"},
                                "billLineItems": [{"amount": amount, "description": "Steel",
                                                   "classifications": {"chartOfAccountId": account}}]})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- login and sessions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("change, expected", [
    ({"password": "wrong"}, "BDC_1101"), ({"username": "nobody@example.com"}, "BDC_1101"),
    ({"devKey": "wrong-key"}, "BDC_1102"), ({"organizationId": "00802WRONGORG000001"}, "BDC_1103"),
])
def test_login_refusals(api, change, expected):
    answer = requests.post(f"{api.rest}/login", json={**CREDENTIALS, **change})
    assert answer.status_code == 400
    assert code(answer) == expected
    assert "wrong" not in answer.text.lower().replace("wrongorg", "")  # the secret is not echoed


def test_session_expires_after_idle_time_and_activity_keeps_it(api):
    api.app.clock.advance(30 * 60)
    assert api.get("vendors").status_code == 200  # resets the idle timer
    api.app.clock.advance(30 * 60)
    assert api.get("vendors").status_code == 200
    api.app.clock.advance(35 * 60 + 1)
    expired = api.get("vendors")
    assert expired.status_code == 401 and code(expired) == "BDC_1109"
    assert expired.json()[0]["message"] == "Session is invalid.  Please log in."


def test_logout_ends_the_session_and_missing_headers_are_refused(api):
    assert requests.get(f"{api.rest}/vendors").status_code == 401
    assert api.post("logout").status_code == 200
    assert code(api.get("vendors")) == "BDC_1109"


def test_unknown_path_is_bdc_1121(api):
    answer = api.get("no-such-thing")
    assert answer.status_code == 404 and code(answer) == "BDC_1121"


# -- validation ------------------------------------------------------------------------------------------
def test_bad_json_wrong_types_and_missing_fields_are_400_arrays(api):
    bad_json = api.http.post(f"{api.rest}/vendors", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and isinstance(bad_json.json(), list)
    assert api.post("vendors", {"name": 42}).status_code == 400
    assert api.post("vendors", {"email": "x@y.example"}).status_code == 400
    for answer in (bad_json, api.post("vendors", {"name": 42})):
        assert set(answer.json()[0]) == {"timestamp", "code", "severity", "category", "message"}


def test_bill_create_validation(api):
    good = {"vendorId": api.ids("vendors")[0], "dueDate": "2026-12-31",
            "invoice": {"invoiceNumber": "A-1", "invoiceDate": "2026-11-01"},
            "billLineItems": [{"amount": 10, "description": "x"}]}
    archived_account = api.ids("classifications/chart-of-accounts", filters="archived:eq:true")[0]
    archived_vendor = api.ids("vendors")[1]
    api.post(f"vendors/{archived_vendor}/archive")
    cases = [
        {**good, "vendorId": "00902NOSUCHVENDOR01"},
        {**good, "vendorId": archived_vendor},
        {**good, "dueDate": "31/12/2026"},
        {k: v for k, v in good.items() if k != "dueDate"},
        {k: v for k, v in good.items() if k != "invoice"},
        {**good, "invoice": {"invoiceDate": "2026-11-01"}},
        {**good, "billLineItems": []},
        {**good, "billLineItems": [{"amount": "ten"}]},
        {**good, "billLineItems": [{"amount": 10, "classifications": {"chartOfAccountId": "0ca02NOSUCH0000001"}}]},
        {**good, "billLineItems": [{"amount": 10, "classifications": {"chartOfAccountId": archived_account}}]},
    ]
    for body in cases:
        answer = api.post("bills", body)
        assert answer.status_code == 400, body
        assert code(answer).startswith("BDC_")
    assert api.post("bills", good).status_code == 200
    assert api.post("bills", good).status_code == 200  # a duplicate invoice number is accepted, as BILL does
    assert len(api.get("bills", filters=f"vendorId:eq:{good['vendorId']}").json()["results"]) == 2


# -- lists -------------------------------------------------------------------------------------------------
def test_paging_follows_cursors_without_gaps_or_repeats():
    app = BillSandbox(seed="large:450")
    with SandboxServer(app) as server:
        api = Api(server)
        assert len(api.get("vendors").json()["results"]) == 20  # default max
        for bad in ("0", "101", "x"):
            assert api.get("vendors", max=bad).status_code == 400
        seen, page, pages = [], None, 0
        while True:
            params = {"max": 7, **({"page": page} if page else {})}
            answer = api.get("vendors", **params).json()
            pages += 1
            if pages > 1:
                assert "prevPage" in answer
            seen += [r["id"] for r in answer["results"]]
            page = answer.get("nextPage")
            if not page:
                break
        assert len(seen) == len(set(seen)) == 45  # ~10% of the 450 are already in BILL
        assert pages == 7
        assert api.get("vendors", page="garbage!").status_code == 400


def test_filters_and_sort(api):
    names = [r["name"] for r in api.get("vendors", sort="name:desc").json()["results"]]
    assert names == sorted(names, reverse=True)
    assert [r["name"] for r in api.get("vendors", filters='name:sw:"Acme"').json()["results"]] == ["Acme Steel Supply"]
    two = api.ids("vendors")[:2]
    assert sorted(api.ids("vendors", filters=f'id:in:"{two[0]},{two[1]}"')) == sorted(two)
    assert len(api.ids("classifications/chart-of-accounts", filters="archived:eq:true")) == 1
    assert api.ids("vendors", filters='createdTime:gte:"2000-01-01T00:00:00.000Z"') == api.ids("vendors")
    assert api.ids("vendors", filters='updatedTime:gt:"2999-01-01"') == []
    unknown = api.get("vendors", filters="colour:eq:red")
    assert unknown.status_code == 400 and "colour" in unknown.json()[0]["message"]
    assert api.get("vendors", filters="name:gt:A").status_code == 400  # operator not allowed for name
    assert api.get("vendors", sort="colour:asc").status_code == 400


# -- payments ------------------------------------------------------------------------------------------------
def test_scheduled_payment_then_cleared_keeps_amounts_consistent(api):
    bill = new_bill(api, amount=100)
    payment = api.post("payments", {"vendorId": bill["vendorId"], "billId": bill["id"], "processDate": "2026-12-01",
                                    "fundingAccount": {"type": "BANK_ACCOUNT", "id": "bac02SBXBANK00000001"},
                                    "amount": 40})
    assert payment.status_code == 200, payment.text
    assert payment.json()["singleStatus"] == "SCHEDULED"
    after = api.get(f"bills/{bill['id']}").json()
    assert after["paymentStatus"] == "SCHEDULED" and after["paidAmount"] == 0 and after["dueAmount"] == 100
    cleared = requests.post(f"{api.url}/_sandbox/payments/{payment.json()['id']}/clear").json()
    assert cleared["singleStatus"] == "CLEARED" and cleared["status"] == "PAID"
    after = api.get(f"bills/{bill['id']}").json()
    assert (after["paymentStatus"], after["paidAmount"], after["dueAmount"]) == ("PARTIAL", 40, 60)
    paid = requests.post(f"{api.url}/_sandbox/bills/{bill['id']}/pay", json={}).json()
    assert paid["amount"] == 60 and paid["billPayments"][0]["billId"] == bill["id"]
    after = api.get(f"bills/{bill['id']}").json()
    assert (after["paymentStatus"], after["paidAmount"], after["dueAmount"]) == ("PAID", 100, 0)
    assert len(api.get("payments").json()["results"]) == 2
    assert api.post("payments", {"vendorId": bill["vendorId"], "billId": bill["id"], "processDate": "2026-12-01",
                                 "fundingAccount": {"type": "BANK_ACCOUNT", "id": "x"}, "amount": 1}).status_code == 400


def test_partial_pay_by_a_bill_user(api):
    bill = new_bill(api, amount=250.5)
    api.app.pay_bill(bill["id"], Decimal("50.25"))
    after = api.get(f"bills/{bill['id']}").json()
    assert (after["paymentStatus"], after["paidAmount"], after["dueAmount"]) == ("PARTIAL", 50.25, 200.25)


# -- limits -----------------------------------------------------------------------------------------------------
def test_more_than_three_simultaneous_requests_get_bdc_1322(api):
    answers: list[requests.Response] = []
    api.app.hold()
    threads = [threading.Thread(target=lambda: answers.append(api.http.get(f"{api.rest}/vendors")))
               for _ in range(4)]
    for t in threads:
        t.start()
    # The fourth arrives while three are held in flight: it is refused at once.
    deadline = threading.Event()
    for _ in range(500):
        if len(answers) == 1 and api.app.in_flight() == 3:
            break
        deadline.wait(0.01)
    api.app.release()
    for t in threads:
        t.join(10)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 200, 400]
    refused = next(a for a in answers if a.status_code == 400)
    assert code(refused) == "BDC_1322"
    assert refused.json()[0]["message"] == "Max number of concurrent requests per organization reached."


def test_hourly_limit_then_next_hour():
    app = BillSandbox(seed="empty", hourly_limit=5)
    with SandboxServer(app) as server:
        api = Api(server)  # the login is request 1
        app.clock.advance(3600 - app.clock.time() % 3600 + 1)  # a fresh hourly window
        api.login()  # request 1 of this hour
        statuses = [api.get("vendors").status_code for _ in range(6)]
        assert statuses[:4] == [200] * 4 and statuses[-1] == 400
        assert code(api.get("vendors")) == "BDC_1144"
        app.clock.advance(3600)
        api.login()  # the session also went idle for an hour
        assert api.get("vendors").status_code == 200


# -- faults -----------------------------------------------------------------------------------------------------
def test_faults_have_bill_shapes_and_spare_control_paths(api):
    api.app.set_faults(FaultSpec(error_5xx=1.0))
    answer = api.get("vendors")
    assert answer.status_code == 503 and code(answer) == "BDC_1001"
    assert requests.get(f"{api.url}/_sandbox/stats").status_code == 200
    api.app.set_faults(FaultSpec(rate_limit=1.0))
    assert code(api.get("vendors")) == "BDC_1322"
    api.app.set_faults(FaultSpec(expire=1.0))
    answer = api.get("vendors")
    assert answer.status_code == 401 and code(answer) == "BDC_1109"


# -- webhooks -----------------------------------------------------------------------------------------------------
def subscribe(api: Api, url: str, events: list[str], key: str = "key-1") -> requests.Response:
    return api.http.post(f"{api.events}/subscriptions", headers={"X-Idempotent-Key": key},
                         json={"name": "connector", "notificationUrl": url,
                               "events": [{"type": e, "version": "1"} for e in events]})


def test_subscription_rules(api):
    assert api.http.post(f"{api.events}/subscriptions", json={"name": "x", "notificationUrl": "https://a.example/h",
                                                              "events": [{"type": "bill.created"}]}).status_code == 400
    assert subscribe(api, "http://example.com/hook", ["bill.created"]).status_code == 400  # https only off-loopback
    first = subscribe(api, "https://hooks.example/h", ["bill.created"], key="same")
    again = subscribe(api, "https://hooks.example/h", ["bill.created"], key="same")
    assert first.json()["id"] == again.json()["id"]
    catalog = api.http.get(f"{api.events}/events/catalog").json()
    assert {"type": "vendor.created", "versions": ["1"]} in catalog
    sub_id = first.json()["id"]
    for spelling in ("security_key", "security-key"):
        assert api.http.post(f"{api.events}/subscriptions/{sub_id}/{spelling}").json()["securityKey"]
    patched = api.http.patch(f"{api.events}/subscriptions/{sub_id}", json={"status": {"enabled": False}})
    assert patched.json()["status"] == {"enabled": False}
    assert api.http.delete(f"{api.events}/subscriptions/{sub_id}").status_code == 200
    assert api.http.get(f"{api.events}/subscriptions/{sub_id}").status_code == 404


def test_notifications_are_signed_and_sent_for_user_changes(api):
    receiver = Receiver()
    try:
        created = subscribe(api, receiver.url, ["vendor.created", "vendor.updated", "payment.updated", "bill.updated"])
        key = created.json()["securityKey"]
        vendor = requests.post(f"{api.url}/_sandbox/vendors", json={"name": "Walk-in Vendor"}).json()
        requests.patch(f"{api.url}/_sandbox/vendors/{vendor['id']}", json={"email": "new@walkin.example"})
        bill = new_bill(api)
        api.app.pay_bill(bill["id"])
        assert api.app.webhooks.wait_idle(10)
        types = [p["metadata"]["eventType"] for p in receiver.payloads()]
        assert sorted(types) == ["bill.updated", "payment.updated", "vendor.created", "vendor.updated"]
        history = api.http.get(f"{api.events}/events/subscription/{created.json()['id']}").json()
        assert len(history["results"]) == 4 and "prevPage" not in history
    finally:
        receiver.close()
    for body in receiver.bodies:
        assert b": " not in body and b", " not in body[:40]  # minified
    # The receiver kept only bodies; re-sign them to check the algorithm end to end.
    from app.sandbox.bill_webhooks import sign
    assert all(verify_signature(key, body, sign(key, body)) for body in receiver.bodies)


def test_failed_deliveries_are_retried_five_times_then_the_subscription_is_disabled(api):
    attempts: list[str] = []

    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            attempts.append(self.headers["x-bill-sha-signature"])
            assert body
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        created = subscribe(api, f"http://127.0.0.1:{server.server_address[1]}/h", ["vendor.created"])
        api.app.create_vendor({"name": "Retry Me"})
        assert api.app.webhooks.wait_idle(10)
    finally:
        server.shutdown()
        server.server_close()
    assert len(attempts) == 6  # the first try and 5 resends
    assert len(set(attempts)) == 1  # the same body each time
    status = api.http.get(f"{api.events}/subscriptions/{created.json()['id']}").json()["status"]
    assert status == {"enabled": False}


def test_large_seed_is_mostly_absent_from_bill():
    app = BillSandbox(seed="large:1000")
    assert len(app.vendors) == 100
    assert all(v["name"].startswith("Bench Vendor") for v in app.vendors.values())


def test_voiding_a_paid_payment_gives_the_bill_its_due_back_once(api):
    bill = new_bill(api, amount=100)
    receiver = Receiver()
    try:
        assert subscribe(api, receiver.url, ["payment.updated"]).status_code == 200
        payment = api.app.pay_bill(bill["id"], Decimal("40"))
        assert api.app.webhooks.wait_idle(10)
        assert api.post(f"payments/{payment['id']}/void", {"type": "SOMETIMES", "reason": "x"}).status_code == 400

        voided = api.post(f"payments/{payment['id']}/void", {"type": "VOID_ONLY", "reason": "Wrong vendor"})

        assert voided.status_code == 200, voided.text
        assert (voided.json()["status"], voided.json()["singleStatus"]) == ("VOID", "VOIDED")
        assert api.get(f"payments/{payment['id']}").json()["singleStatus"] == "VOIDED"
        after = api.get(f"bills/{bill['id']}").json()
        assert (after["paymentStatus"], after["paidAmount"], after["dueAmount"]) == ("UNPAID", 0, 100)
        assert api.app.webhooks.wait_idle(10)
        events = [p for p in receiver.payloads() if p["metadata"]["eventType"] == "payment.updated"]
        assert [(e["payment"]["id"], e["payment"]["status"]) for e in events] == [
            (payment["id"], "PROCESSED"), (payment["id"], "VOIDED")]
    finally:
        receiver.close()
    again = api.post(f"payments/{payment['id']}/void", {"type": "VOID_ONLY", "reason": "twice"})
    assert again.status_code == 400 and code(again) == "BDC_1270"
    after = api.get(f"bills/{bill['id']}").json()
    assert (after["paidAmount"], after["dueAmount"]) == (0, 100)  # not given back twice
