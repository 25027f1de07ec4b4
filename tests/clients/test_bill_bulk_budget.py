"""BillClient bulk creates and the hourly request budget, against the BILL sandbox on loopback sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.clients.bill import BillClient
from app.clients.bill_budget import (
    BUDGET_STOP_CODE,
    BudgetExhaustedError,
    RequestBudget,
    requests_this_hour,
)
from app.clients.retry import RetryPolicy
from app.domain.errors import RecordError, UnknownOutcomeError
from app.domain.models import Bill, BillLine, VendorFields
from app.sandbox.base import FaultSpec, SandboxServer
from app.sandbox.bill import BillSandbox
from tests.clients.test_bill_client import a_bill, connection

NO_WAIT = RetryPolicy(max_attempts=6, sleep=lambda _s: None)


class FakeClock:
    def __init__(self, at: float = 3600 * 500_000 + 10) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    app = BillSandbox(seed="demo", webhook_retry_base_seconds=0.005)
    with SandboxServer(app) as running:
        app.clock.advance(3600 - app.clock.time() % 3600 + 1)  # a fresh hourly window for the sandbox
        yield running
        app.close()


@pytest.fixture
def client(server):
    bill_client = BillClient(connection(server), retry=NO_WAIT)
    yield bill_client
    bill_client.close()


def posts(server, path: str) -> int:
    return server.app.count("POST", f"/connect/v3/{path}")


# -- bulk vendors -------------------------------------------------------------------------------------
def test_45_vendors_go_in_3_calls_of_at_most_20(server, client):
    created = client.create_vendors([VendorFields(name=f"Bulk {i}", country="US") for i in range(45)])
    assert [v.fields.name for v in created] == [f"Bulk {i}" for i in range(45)]
    assert posts(server, "vendors/bulk") == 3
    assert len({v.id for v in created}) == 45


def test_a_vendor_bill_would_refuse_is_held_here_and_never_sent(server, client):
    fields = [VendorFields(name="Fine"), VendorFields(name="  "), VendorFields(name="Also Fine", country="USA")]
    results = client.create_vendors(fields)
    assert results[0].fields.name == "Fine"
    assert isinstance(results[1], RecordError) and "no name" in results[1].message
    assert isinstance(results[2], RecordError) and "USA" in results[2].message
    assert posts(server, "vendors/bulk") == 1  # one call with the one good vendor


def test_an_inactive_vendor_is_archived_after_the_bulk_create(server, client):
    [vendor] = client.create_vendors([VendorFields(name="Closed Vendor", inactive=True)])
    assert vendor.fields.inactive and server.app.vendors[vendor.id]["archived"] is True


# -- bulk bills: all or nothing, split out -------------------------------------------------------------
def _bills(client, count: int, bad: set[int] = frozenset()) -> list[Bill]:
    vendor = next(client.iter_vendors())
    template = a_bill(client, vendor.id)
    bills = []
    for i in range(count):
        vendor_id = "00902SBXNOSUCHVEND1" if i in bad else vendor.id
        bills.append(Bill(id="", vendor_id=vendor_id, invoice_number=f"PI-{i}", invoice_date=template.invoice_date,
                          due_date=template.due_date, amount=Decimal(10 + i),
                          lines=(BillLine(Decimal(10 + i), "Steel", template.lines[0].chart_of_account_id),)))
    return bills


def test_250_bills_go_in_3_calls(server, client):
    bills = _bills(client, 250)
    created = client.create_bills(bills)
    assert [b.invoice_number for b in created] == [f"PI-{i}" for i in range(250)]
    assert [b.amount for b in created[:3]] == [Decimal(10), Decimal(11), Decimal(12)]
    assert posts(server, "bills/bulk") == 3
    assert len(server.app.bills) == 250


def test_bill_refuses_the_whole_call_for_one_bill_the_client_splits_it_out_and_sends_the_rest(server, client):
    bills = _bills(client, 10, bad={3, 7})
    results = client.create_bills(bills)
    refused = [i for i, r in enumerate(results) if isinstance(r, RecordError)]
    assert refused == [3, 7]
    assert "Vendor 00902SBXNOSUCHVEND1 was not found" in results[3].message
    assert not results[3].message.startswith("BILL refused it: bills[")  # the index prefix is BILL's, not ours
    assert results[3].record == "bill for invoice PI-3"
    assert sorted(b["invoice"]["invoiceNumber"] for b in server.app.bills.values()) == sorted(
        f"PI-{i}" for i in range(10) if i not in (3, 7))
    assert posts(server, "bills/bulk") == 3  # refused (names 3), refused (names 7), the 8 good ones


def test_when_bill_does_not_name_the_record_the_call_is_halved_until_it_is_found(server, client, monkeypatch):
    bills = _bills(client, 8, bad={5})
    monkeypatch.setattr(BillSandbox, "_named", staticmethod(lambda exc, entity, index: exc))  # no index given
    results = client.create_bills(bills)
    assert [i for i, r in enumerate(results) if isinstance(r, RecordError)] == [5]
    assert len(server.app.bills) == 7  # each good bill once


def test_a_lost_bulk_answer_is_an_unknown_outcome_and_the_lookup_finds_what_bill_created(server, client):
    bills = _bills(client, 5)
    since = datetime.now(UTC) - timedelta(minutes=15)
    server.app.set_faults(FaultSpec(drop=1.0))
    with pytest.raises(UnknownOutcomeError):
        client.create_bills(bills)
    server.app.set_faults(FaultSpec())
    requests_before = client.call_count
    found = client.bills_created_since(since, [bills[0].vendor_id])
    assert client.call_count - requests_before == 1  # one list call
    assert {b.invoice_number for b in found} <= {f"PI-{i}" for i in range(5)}


def test_vendors_created_since_finds_a_bulk_create(server, client):
    since = datetime.now(UTC) - timedelta(minutes=15)
    client.create_vendors([VendorFields(name=f"Recent {i}") for i in range(3)])
    names = {v.fields.name for v in client.vendors_created_since(since)}
    assert {"Recent 0", "Recent 1", "Recent 2"} <= names


# -- the budget ---------------------------------------------------------------------------------------
def test_budget_stops_before_the_limit_leaving_the_headroom_and_sends_nothing(server):
    clock = FakeClock()
    client = BillClient(connection(server), retry=NO_WAIT, budget=RequestBudget(limit=10, headroom=0.2, clock=clock))
    for _ in range(7):
        client.ping()  # login + 7 pings = 8 = the stop line (10 x 80%)
    sent = len(server.app.requests)
    with pytest.raises(BudgetExhaustedError) as stop:
        client.ping()
    assert stop.value.code == BUDGET_STOP_CODE
    assert "8 of 10" in stop.value.message and "2 kept for other integrations" in stop.value.message
    assert len(server.app.requests) == sent  # nothing went out
    assert client.requests_this_hour() == "BILL requests this hour: 8 / 10"
    clock.now += 3600  # the next hour: the budget is back
    client.ping()
    assert client.requests_this_hour() == "BILL requests this hour: 1 / 10"


def test_bdc_1144_is_never_retried_and_nothing_more_is_sent_this_hour(server):
    server.app.hourly_limit = 3
    clock = FakeClock()
    client = BillClient(connection(server), retry=NO_WAIT, budget=RequestBudget(clock=clock))
    client.ping()
    client.ping()  # login + 2: BILL's limit (another integration could have spent it: we counted only 3)
    with pytest.raises(BudgetExhaustedError) as limited:
        client.ping()
    assert limited.value.code == "BDC_1144"
    assert server.app.limit_rejections["BDC_1144"] == 1  # not retried
    sent = len(server.app.requests)
    with pytest.raises(BudgetExhaustedError):
        client.create_vendors([VendorFields(name="Waits For The Next Hour")])
    assert len(server.app.requests) == sent  # every later request waits for the next hour, unsent
    assert client.requests_this_hour() == "BILL requests this hour: 20,000 / 20,000"


def test_the_ledger_is_shared_by_the_processes_of_a_profile(tmp_path, server):
    clock = FakeClock()
    first = BillClient(connection(server), retry=NO_WAIT,
                       budget=RequestBudget(limit=100, clock=clock, ledger=tmp_path / "bill_requests.json", scope="o"))
    first.ping()
    first.ping()  # login + 2
    first.close()
    second = RequestBudget(limit=100, clock=clock, ledger=tmp_path / "bill_requests.json", scope="o")
    second.take()
    assert second.status().used == 4
    second.close()
    assert requests_this_hour(tmp_path, scope="o").text().startswith("BILL requests this hour: ")


def test_budget_configuration_is_checked():
    budget = RequestBudget(limit=20_000)
    assert budget.stop_at == 16_000
    budget.configure(limit=1000, headroom=0.5)
    assert budget.stop_at == 500 and budget.left() == 500
    with pytest.raises(ValueError):
        budget.configure(headroom=1.5)


def test_a_long_lived_budget_learns_what_the_other_processes_counted_when_asked_for_its_status(tmp_path):
    """The window's service keeps one BILL client for hours; a `sync` from a script counts in the same ledger. Each
    run asks the status first (``RunContext._configure_budget``), and must see the script's requests."""
    clock = FakeClock()
    ledger = tmp_path / "bill_requests.json"
    service = RequestBudget(limit=100, headroom=0.2, clock=clock, ledger=ledger, scope="o")
    service.take()
    assert service.status().used == 1
    script = RequestBudget(limit=100, headroom=0.2, clock=clock, ledger=ledger, scope="o")
    for _ in range(70):
        script.take()
    script.close()
    status = service.status()
    assert status.used == 71 and status.left == 9
    assert "stops at 80 this hour, keeping 20 for the organization's other integrations" in status.detail()
    for _ in range(9):
        service.take()
    with pytest.raises(BudgetExhaustedError):
        service.take()
    assert "stop line (80, keeping 20 for the organization's other integrations) is reached" in service.status().detail()


COUNT_IN_THE_LEDGER = """
import sys
from app.clients.bill_budget import RequestBudget
budget = RequestBudget(limit=1_000_000, clock=lambda: 3_600_000.0, ledger=sys.argv[1], scope="o")
print("ready", flush=True)
sys.stdin.readline()  # all start at once
for _ in range(int(sys.argv[2])):
    budget.take()
budget.close()
"""


def test_processes_counting_at_once_lose_no_request_in_the_ledger(tmp_path):
    """The window's service, `serve` and a scripted `sync` flush into one ledger file. Read, add and write used to
    race: 4 processes sending 12,000 requests left about 4,000 in the file, so each thought the hour had room."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    ledger = tmp_path / "bill_requests.json"
    workers = [subprocess.Popen([sys.executable, "-c", COUNT_IN_THE_LEDGER, str(ledger), "3000"], cwd=root,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    assert [worker.wait(120) for worker in workers] == [0, 0, 0, 0]
    reader = RequestBudget(limit=1_000_000, clock=lambda: 3_600_000.0, ledger=ledger, scope="o")
    assert reader.status().used == 12_000
