"""BILL sandbox bulk creates over real sockets: POST /v3/vendors/bulk (up to 20) and POST /v3/bills/bulk (up to
100), all or nothing, the failing record named, one request against the hourly limit; shapes from BILL's
Postman collection (request: a JSON array; answers 201: vendors {"vendors": [...]}, bills a list)."""

from __future__ import annotations

import pytest

from app.sandbox.base import SandboxServer
from app.sandbox.bill import BillSandbox
from tests.sandbox.test_bill_reference_shapes import POSTMAN, REFERENCE, load
from tests.sandbox.test_bill_sandbox import Api, code


@pytest.fixture
def api():
    app = BillSandbox(seed="demo", webhook_retry_base_seconds=0.005)
    with SandboxServer(app) as server:
        yield Api(server)
        app.close()


def vendor_body(name: str) -> dict:
    return {"name": name, "accountType": "BUSINESS", "address": {"line1": "1 Main St", "city": "Austin",
                                                                  "zipOrPostalCode": "73301", "country": "US"}}


def bill_body(api: Api, invoice: str, amount: float = 10, vendor_id: str | None = None) -> dict:
    vendor_id = vendor_id or api.ids("vendors", filters="archived:eq:false")[0]
    account = api.ids("classifications/chart-of-accounts", filters="archived:eq:false")[0]
    return {"vendorId": vendor_id, "dueDate": "2026-12-31",
            "invoice": {"invoiceNumber": invoice, "invoiceDate": "2026-11-01"},
            "billLineItems": [{"amount": amount, "description": "Steel",
                               "classifications": {"chartOfAccountId": account}}]}


def test_bulk_vendors_create_all_and_answer_201_with_vendors(api):
    before = len(api.app.vendors)
    answer = api.post("vendors/bulk", [vendor_body(f"Bulk Vendor {i}") for i in range(20)])
    assert answer.status_code == 201, answer.text
    created = answer.json()["vendors"]
    assert [v["name"] for v in created] == [f"Bulk Vendor {i}" for i in range(20)]  # in request order
    assert all(v["id"].startswith("009") for v in created)
    assert len(api.app.vendors) == before + 20


def test_bulk_vendors_refuse_more_than_20_and_create_nothing(api):
    before = len(api.app.vendors)
    answer = api.post("vendors/bulk", [vendor_body(f"Bulk Vendor {i}") for i in range(21)])
    assert answer.status_code == 400
    assert "1 to 20" in answer.json()[0]["message"]
    assert len(api.app.vendors) == before


def test_bulk_vendors_one_bad_record_fails_all_and_is_named(api):
    before = len(api.app.vendors)
    body = [vendor_body("Good One"), {"accountType": "BUSINESS"}, vendor_body("Good Two")]
    answer = api.post("vendors/bulk", body)
    assert answer.status_code == 400
    error = answer.json()[0]
    assert error["message"].startswith("vendors[1]: name is required")
    assert error["params"] == [{"name": "index", "value": "1"}]
    assert len(api.app.vendors) == before  # nothing created


def test_bulk_bills_create_all_in_one_request(api):
    template = bill_body(api, "B")
    body = [{**template, "invoice": {"invoiceNumber": f"B-{i}", "invoiceDate": "2026-11-01"},
             "billLineItems": [{**template["billLineItems"][0], "amount": 10 + i}]} for i in range(100)]
    requests_before = sum(api.app._hour_counts.values())
    answer = api.post("bills/bulk", body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert [b["invoice"]["invoiceNumber"] for b in created] == [f"B-{i}" for i in range(100)]
    assert created[5]["amount"] == 15
    assert len(api.app.bills) == 100
    assert sum(api.app._hour_counts.values()) - requests_before == 1  # 100 bills, one request


def test_bulk_bills_refuse_101(api):
    body = [bill_body(api, "B-1")] * 101
    answer = api.post("bills/bulk", body)
    assert answer.status_code == 400 and "1 to 100" in answer.json()[0]["message"]
    assert api.app.bills == {}


def test_bulk_bills_unknown_vendor_fails_the_whole_call_naming_the_bill(api):
    body = [bill_body(api, "B-1"), bill_body(api, "B-2"), bill_body(api, "B-3", vendor_id="00902SBXNOSUCHVEND1")]
    answer = api.post("bills/bulk", body)
    assert answer.status_code == 400
    error = answer.json()[0]
    assert error["message"] == "bills[2]: Vendor 00902SBXNOSUCHVEND1 was not found."
    assert error["params"] == [{"name": "index", "value": "2"}]
    assert api.app.bills == {}  # all or nothing


def test_bulk_call_counts_once_against_the_hourly_limit_then_bdc_1144():
    app = BillSandbox(seed="demo", hourly_limit=4)
    with SandboxServer(app) as server:
        app.clock.advance(3600 - app.clock.time() % 3600 + 1)  # a fresh hourly window
        api = Api(server)  # login: 1
        assert api.post("vendors/bulk", [vendor_body(f"V{i}") for i in range(20)]).status_code == 201  # 2
        assert api.post("vendors/bulk", [vendor_body(f"W{i}") for i in range(20)]).status_code == 201  # 3
        assert api.post("vendors/bulk", [vendor_body(f"X{i}") for i in range(20)]).status_code == 201  # 4
        refused = api.post("vendors/bulk", [vendor_body(f"Y{i}") for i in range(20)])
        assert refused.status_code == 400 and code(refused) == "BDC_1144"
        assert not any(v["name"].startswith("Y") for v in app.vendors.values())
        app.close()


@pytest.mark.skipif(not REFERENCE.exists(), reason="BILL reference samples not available")
def test_official_bulk_bill_example_is_accepted_in_one_call(api):
    vendor_id = api.ids("vendors", filters="archived:eq:false")[0]
    answer = api.post("bills/bulk", load(POSTMAN / "v3_bill_bulk_create_request.json", vendor_id=vendor_id))
    assert answer.status_code == 201, answer.text
    assert [b["amount"] for b in answer.json()] == [pytest.approx(228.99)] * 2
