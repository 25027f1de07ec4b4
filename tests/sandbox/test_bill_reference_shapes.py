"""The BILL sandbox answers with the keys and value types of BILL's own published examples.

Every file in shared/reference/bill/postman_official and docs/ is used: response examples are compared
with what the sandbox returns (every key the sandbox sends must exist in BILL's example with the same
JSON type; BILL omits unpopulated keys, so the sandbox may send fewer), and request examples are sent
to the sandbox and must be accepted.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from app.sandbox import demo_data
from app.sandbox.base import SandboxServer
from app.sandbox.bill import BillSandbox

REFERENCE = Path("/work/shared/reference/bill")
POSTMAN = REFERENCE / "postman_official"
DOCS = REFERENCE / "docs"

pytestmark = pytest.mark.skipif(not REFERENCE.exists(), reason="BILL reference samples not available")


def load(path: Path, **placeholders: str):
    text = path.read_text()
    for name, value in placeholders.items():
        text = text.replace("{{" + name + "}}", value)
    return json.loads(text)


def json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def assert_shape(actual, example, where: str = "$", opaque: tuple[str, ...] = ()) -> None:
    """Every key in ``actual`` exists in ``example`` with the same JSON type, recursively."""
    assert json_type(actual) == json_type(example), f"{where}: {json_type(actual)} but BILL has {json_type(example)}"
    if where in opaque:
        return
    if isinstance(actual, dict):
        for key, value in actual.items():
            assert key in example, f"{where}.{key} is not in BILL's example"
            assert value is not None, f"{where}.{key} is null; BILL omits unpopulated keys"
            assert_shape(value, example[key], f"{where}.{key}", opaque)
    elif isinstance(actual, list) and example:
        for item in actual:
            assert_shape(item, example[0], f"{where}[]", opaque)


def assert_has(actual: dict, keys: list[str], where: str = "$") -> None:
    missing = [k for k in keys if k not in actual]
    assert not missing, f"{where} lacks {missing}"


class Receiver:
    """A local notificationUrl that records what BILL posts."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.event = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.event:
                    receiver.bodies.append(body)
                    receiver.event.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def payloads(self) -> list[dict]:
        return [json.loads(b) for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bill():
    app = BillSandbox(seed="demo", webhook_retry_base_seconds=0.01)
    with SandboxServer(app) as server:
        session = requests.Session()
        login = session.post(f"{server.url}/connect/v3/login", json={
            "username": demo_data.BILL_USERNAME, "password": demo_data.BILL_PASSWORD,
            "organizationId": demo_data.BILL_ORGANIZATION_ID, "devKey": demo_data.BILL_DEV_KEY})
        session.headers.update({"devKey": demo_data.BILL_DEV_KEY, "sessionId": login.json()["sessionId"]})
        session.rest = f"{server.url}/connect/v3"  # type: ignore[attr-defined]
        session.events = f"{server.url}/connect-events/v3"  # type: ignore[attr-defined]
        session.app = app  # type: ignore[attr-defined]
        session.login_answer = login.json()  # type: ignore[attr-defined]
        yield session
        app.close()


def first_id(bill, path: str, filters: str = "archived:eq:false") -> str:
    return bill.get(f"{bill.rest}/{path}", params={"filters": filters, "max": 1}).json()["results"][0]["id"]


def make_bill(bill) -> dict:
    vendor_id = first_id(bill, "vendors")
    account = first_id(bill, "classifications/chart-of-accounts")
    department = first_id(bill, "classifications/departments")
    location = first_id(bill, "classifications/locations")
    accounting_class = first_id(bill, "classifications/accounting-classes")
    body = load(POSTMAN / "v3_bill_create_request.json", vendor_id=vendor_id)
    body["description"] = "Happy Music Supplies Dec Bill"
    body["billLineItems"][0]["classifications"] = {"chartOfAccountId": account, "departmentId": department,
                                                   "locationId": location, "accountingClassId": accounting_class}
    answer = bill.post(f"{bill.rest}/bills", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_login_and_session_details_match_bill_examples(bill):
    assert_shape(bill.login_answer, load(POSTMAN / "v3_login_response.schema_example.json"))
    assert_has(bill.login_answer, ["organizationId", "sessionId", "trusted", "userId"])
    details = bill.get(f"{bill.rest}/login/session").json()
    assert_shape(details, load(POSTMAN / "v3_session_details_response.schema_example.json"))
    assert_has(details, ["organizationId", "userId", "mfaStatus", "mfaBypass"])


def test_official_login_request_is_accepted(bill):
    body = load(POSTMAN / "v3_login_request.json", username=demo_data.BILL_USERNAME,
                password=demo_data.BILL_PASSWORD, organization_id=demo_data.BILL_ORGANIZATION_ID,
                developer_key=demo_data.BILL_DEV_KEY)
    assert requests.post(f"{bill.rest}/login", json=body).status_code == 200


def test_vendor_object_and_list_match_bill_examples(bill):
    created = bill.post(f"{bill.rest}/vendors", json=load(POSTMAN / "v3_vendor_create_request.json"))
    assert created.status_code == 200, created.text
    example = load(POSTMAN / "v3_vendor_object.schema_example.json")
    assert_shape(created.json(), example)
    assert_has(created.json(), ["id", "archived", "name", "accountType", "address", "createdTime", "updatedTime"])
    fetched = bill.get(f"{bill.rest}/vendors/{created.json()['id']}").json()
    assert_shape(fetched, example)
    listing = bill.get(f"{bill.rest}/vendors", params={"max": 3}).json()
    assert_shape(listing, load(POSTMAN / "v3_vendor_list_response.schema_example.json"))
    assert_has(listing, ["results", "nextPage"])


def test_official_vendor_update_request_is_accepted(bill):
    vendor_id = first_id(bill, "vendors")
    answer = bill.patch(f"{bill.rest}/vendors/{vendor_id}", json=load(POSTMAN / "v3_vendor_update_request.json"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "Happy Music Supplies (Updated)"
    assert answer.json()["accountType"] == "PERSON"
    assert_shape(answer.json(), load(POSTMAN / "v3_vendor_object.schema_example.json"))


def test_bill_object_and_list_match_bill_examples(bill):
    created = make_bill(bill)
    example = load(POSTMAN / "v3_bill_object.schema_example.json")
    assert_shape(created, example)
    assert_has(created, ["id", "archived", "vendorId", "vendorName", "amount", "paidAmount", "dueAmount", "dueDate",
                         "invoice", "billLineItems", "paymentStatus", "createdTime", "updatedTime"])
    assert_has(created["billLineItems"][0], ["id", "amount", "description", "classifications"])
    listing = bill.get(f"{bill.rest}/bills").json()
    assert_shape(listing, load(POSTMAN / "v3_bill_list_response.schema_example.json"))


def test_official_bill_patch_and_bulk_example_duplicates_are_accepted(bill):
    created = make_bill(bill)
    patch = load(POSTMAN / "v3_bill_patch_request.json", bill_line_item_id01=created["billLineItems"][0]["id"])
    answer = bill.patch(f"{bill.rest}/bills/{created['id']}", json=patch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["amount"] == pytest.approx(179 + 79.99)
    assert_shape(answer.json(), load(POSTMAN / "v3_bill_object.schema_example.json"))
    # BILL's own bulk example repeats one invoice number for one vendor: accepted one by one here.
    vendor_id = first_id(bill, "vendors")
    for item in load(POSTMAN / "v3_bill_bulk_create_request.json", vendor_id=vendor_id):
        assert bill.post(f"{bill.rest}/bills", json=item).status_code == 200


def test_payment_objects_match_bill_example(bill):
    created = make_bill(bill)
    example = load(POSTMAN / "v3_payment_object.schema_example.json")
    body = load(POSTMAN / "v3_payment_create_request.json", vendor_id=created["vendorId"], bill_id=created["id"],
                org_bank_account_id="bac02SBXBANK00000001")
    scheduled = bill.post(f"{bill.rest}/payments", json=body)
    assert scheduled.status_code == 200, scheduled.text
    assert_shape(scheduled.json(), example)
    assert_has(scheduled.json(), ["id", "vendorId", "amount", "processDate", "status", "singleStatus", "billPayments"])
    other = make_bill(bill)  # the scheduled payment covers the whole first bill
    recorded = bill.post(f"{bill.rest}/bills/record-payment", json=load(
        POSTMAN / "v3_record_ap_payment_request.json", vendor_id=other["vendorId"], bill_id=other["id"]))
    assert recorded.status_code == 200, recorded.text
    assert_shape(recorded.json(), example)
    listing = bill.get(f"{bill.rest}/payments").json()
    assert_shape(listing, {"nextPage": "", "prevPage": "", "results": [example]})


@pytest.mark.parametrize("kind, example", [
    ("chart-of-accounts", "v3_chart_of_accounts_list_response.schema_example.json"),
    ("departments", "v3_department_list_response.schema_example.json"),
    ("accounting-classes", "v3_accounting_class_list_response.schema_example.json"),
    ("locations", "v3_location_list_response.schema_example.json"),
])
def test_classification_lists_match_bill_examples(bill, kind, example):
    listing = bill.get(f"{bill.rest}/classifications/{kind}").json()
    assert listing["results"]
    assert_shape(listing, load(POSTMAN / example))
    assert_has(listing["results"][0], ["id", "name", "archived", "createdTime", "updatedTime"])


def test_official_chart_of_accounts_create_request_is_accepted(bill):
    answer = bill.post(f"{bill.rest}/classifications/chart-of-accounts",
                       json=load(POSTMAN / "v3_chart_of_accounts_create_request.json"))
    assert answer.status_code == 200, answer.text
    example = load(POSTMAN / "v3_chart_of_accounts_list_response.schema_example.json")["results"][0]
    assert_shape(answer.json(), example)
    assert answer.json()["account"] == {"type": "EXPENSE", "number": "1-020"}


def test_error_bodies_match_bill_examples(bill):
    bad = bill.post(f"{bill.rest}/bills", json={"vendorId": 5})
    assert bad.status_code == 400
    assert_shape(bad.json(), load(POSTMAN / "v3_error_list_400.schema_example.json"))
    expired = requests.get(f"{bill.rest}/vendors", headers={"devKey": demo_data.BILL_DEV_KEY, "sessionId": "nope"})
    assert expired.status_code == 401
    sample = load(DOCS / "error_v3_BDC_1109_session_invalid.json")
    assert [{k: v for k, v in e.items() if k != "timestamp"} for e in expired.json()] == \
           [{k: v for k, v in e.items() if k != "timestamp"} for e in sample]
    assert_shape(expired.json(), sample)


def test_hourly_limit_body_matches_bill_docs():
    app = BillSandbox(seed="empty", hourly_limit=20000)
    with SandboxServer(app) as server:
        app._hour_counts[(demo_data.BILL_DEV_KEY, int(app.clock.time() // 3600))] = 20000
        answer = requests.get(f"{server.url}/connect/v3/vendors", headers={"devKey": demo_data.BILL_DEV_KEY})
    sample = load(DOCS / "error_v3_BDC_1144_hourly_limit.json")
    assert [{k: v for k, v in e.items() if k != "timestamp"} for e in answer.json()] == \
           [{k: v for k, v in e.items() if k != "timestamp"} for e in sample]


def test_subscription_security_key_and_test_event_match_bill_examples(bill):
    receiver = Receiver()
    try:
        body = load(POSTMAN / "v3_subscription_create_request.json", webhook_notification_url=receiver.url)
        created = bill.post(f"{bill.events}/subscriptions", json=body, headers={"X-Idempotent-Key": "k-1"})
        assert created.status_code == 200, created.text
        # Postman could not resolve status/events in its example: compare their types only.
        assert_shape(created.json(), load(POSTMAN / "v3_subscription_create_response.schema_example.json"),
                     opaque=("$.status", "$.events"))
        assert created.json()["status"] == {"enabled": True}
        assert_has(created.json(), ["id", "organizationId", "status", "events", "notificationUrl", "securityKey"])
        docs_body = load(DOCS / "subscription_create_request.docs.json")
        docs_body["notificationUrl"] = receiver.url
        assert bill.post(f"{bill.events}/subscriptions", json=docs_body,
                         headers={"X-Idempotent-Key": "k-2"}).status_code == 200
        subscription_id = created.json()["id"]
        key = bill.post(f"{bill.events}/subscriptions/{subscription_id}/security_key")
        assert_shape(key.json(), load(POSTMAN / "v3_security_key_response.schema_example.json"))
        test = bill.post(f"{bill.events}/subscriptions/{subscription_id}/test",
                         json=load(POSTMAN / "v3_test_event_request.json"))
        assert test.status_code == 200, test.text
        assert_shape(test.json(), load(POSTMAN / "v3_test_event_response.schema_example.json"))
        assert test.json()["statusCode"] == 200
        assert receiver.payloads()[-1]["bill"] == {"id": "test-bill-id", "vendorId": "test-vendor-id", "amount": 100}
    finally:
        receiver.close()


def test_webhook_payloads_match_bill_docs_samples(bill):
    receiver = Receiver()
    try:
        events = [{"type": t, "version": "1"} for t in ("vendor.created", "bill.created", "payment.updated")]
        bill.post(f"{bill.events}/subscriptions", headers={"X-Idempotent-Key": "shapes"},
                  json={"name": "all", "events": events, "notificationUrl": receiver.url})
        vendor = bill.post(f"{bill.rest}/vendors", json=load(POSTMAN / "v3_vendor_create_request.json")).json()
        created = make_bill(bill)
        bill.app.pay_bill(created["id"])
        assert bill.app.webhooks.wait_idle(10)
        by_type = {p["metadata"]["eventType"]: p for p in receiver.payloads()}
        assert set(by_type) == {"vendor.created", "bill.created", "payment.updated"}

        vendor_sample = load(DOCS / "webhook_vendor_created_minimal.v3docs.json")
        vendor_event = by_type["vendor.created"]
        assert_shape(vendor_event["metadata"], vendor_sample["metadata"])
        assert_has(vendor_event["vendor"], list(vendor_sample["vendor"]))
        assert_shape(vendor_event["vendor"], load(POSTMAN / "v3_vendor_object.schema_example.json"))
        assert vendor_event["vendor"]["id"] == vendor["id"]

        bill_sample = load(DOCS / "webhook_bill_created_full.docs.json")
        bill_event = by_type["bill.created"]
        # Since 2025 bill payloads carry every response field: the docs sample plus the GET bill keys.
        merged_example = {**load(POSTMAN / "v3_bill_object.schema_example.json"), **bill_sample["bill"]}
        assert_shape(bill_event["bill"], merged_example)
        assert_has(bill_event["bill"], [k for k in bill_sample["bill"] if k not in ("purchaseOrderNumber", "payFromChartOfAccountId", "classifications")])

        payment_sample = load(DOCS / "webhook_payment_updated.json")
        payment_event = by_type["payment.updated"]
        assert_shape(payment_event, payment_sample)
        assert_shape(payment_sample, payment_event)  # the same keys both ways: its own documented shape
        assert payment_event["payment"]["billIds"] == [created["id"]]
    finally:
        receiver.close()
