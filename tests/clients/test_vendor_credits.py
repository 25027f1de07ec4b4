"""BILL vendor credits (/v3/vendor-credits, docs/vendor-credits.md): the sandbox's contract (required fields, the
rules the docs state) and the client's create / find round trip, over real sockets. The NAV side and the flow are
not built yet."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests

from app.clients.bill import BillClient
from app.domain.credits import VendorCredit, VendorCreditLine
from app.domain.errors import RecordError
from app.sandbox.bill import ApiError
from app.sandbox.runner import running_sandboxes
from tests.engine.conftest import fast_retry


@pytest.fixture(scope="module")
def running():
    with running_sandboxes(seed="demo") as sandboxes:
        yield sandboxes


@pytest.fixture
def client(running):
    bill = BillClient(running.bill_connection(), retry=fast_retry())
    yield bill
    bill.close()


def _vendor_and_account(running) -> tuple[str, str]:
    vendor = next(v for v in running.bill.vendors.values() if not v.get("archived"))
    account = next(a for a in running.bill.classifications["chart-of-accounts"].values() if not a.get("archived"))
    return vendor["id"], account["id"]


def test_create_and_find_a_vendor_credit(running, client):
    vendor_id, account_id = _vendor_and_account(running)
    credit = VendorCredit(vendor_id=vendor_id, reference_number="109001", credit_date=date(2026, 11, 2),
                          lines=(VendorCreditLine(Decimal("64.99"), "Returned steel", account_id),
                                 VendorCreditLine(Decimal("10.01"), "Freight refund", account_id)),
                          description="NAV credit memo 109001")
    created = client.create_vendor_credit(credit)
    assert created.id.startswith("vcr") and created.amount == Decimal("75.00")
    assert [(line.amount, line.chart_of_account_id) for line in created.lines] == [
        (Decimal("64.99"), account_id), (Decimal("10.01"), account_id)]
    [found] = client.find_vendor_credits(vendor_id, "109001")
    assert found.id == created.id and found.credit_date == date(2026, 11, 2)
    assert client.find_vendor_credits(vendor_id, "109002") == []


def test_the_sandbox_refuses_what_bill_documents_as_required(running, client):
    vendor_id, account_id = _vendor_and_account(running)
    good = {"vendorId": vendor_id, "referenceNumber": "R1", "creditDate": "2026-11-02",
            "vendorCreditLineItems": [{"amount": 5}]}
    with pytest.raises(RecordError, match="vendorCreditLineItems needs at least one line"):
        client.create_vendor_credit(VendorCredit(vendor_id=vendor_id, reference_number="R0",
                                                 credit_date=date(2026, 11, 2), lines=()))
    no_session = requests.post(f"{running.bill_url}/connect/v3/vendor-credits", json=good, timeout=10)
    assert no_session.status_code == 401
    for broken, message in (({**good, "referenceNumber": ""}, "referenceNumber is required"),
                            ({**good, "creditDate": "02/11/2026"}, "yyyy-MM-dd"),
                            ({**good, "applyToChartOfAccountId": account_id, "applyToBankAccountId": "bac1"},
                             "only one of applyToChartOfAccountId or applyToBankAccountId"),
                            ({**good, "vendorCreditLineItems": [{"description": "x"}]}, "amount is required"),
                            ({**good, "vendorId": "009nope"}, "Vendor 009nope was not found")):
        with pytest.raises(ApiError, match=message) as refused:
            running.bill.create_vendor_credit(broken)
        assert refused.value.status in (400, 404)
    assert running.bill.create_vendor_credit(good)["amount"] == 5
