"""Bulk writes end to end (engine, client, BILL sandbox on loopback): all-or-nothing refusals split out and
held, the hourly budget's stop line and the next hour's resume, and single creates for webhook one-offs."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from app.sandbox.runner import running_sandboxes
from app.store import schema as t
from tests.engine.conftest import make_engine

BULK_VENDORS, BULK_BILLS = "/connect/v3/vendors/bulk", "/connect/v3/bills/bulk"


def no_duplicates(sandboxes) -> None:
    bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
    assert not bills or max(bills.values()) == 1
    names = Counter(v["name"] for v in sandboxes.bill.vendors.values())
    assert max(names.values()) == 1


def test_first_sync_goes_in_bulk_calls(engine, store, sandboxes):
    report = engine.run(flows=["accounts", "vendors", "invoices"])
    assert report.completed, report.errors
    assert report.flows["vendors"].created >= 30 and report.flows["invoices"].created >= 40
    assert sandboxes.bill.count("POST", BULK_VENDORS) == 2  # 36 vendors, 20 a call
    assert sandboxes.bill.count("POST", BULK_BILLS) == 1  # 46 bills in one call
    assert sandboxes.bill.count("POST", "/connect/v3/bills") == 1  # only the bulk one ("/bills" is its prefix)
    with store.session() as s:
        rows = Counter(s.scalars(select(t.OutboxEntry.action)))
    assert rows["create_bill_vendors"] == 2 and rows["create_bills"] == 1  # one outbox row per bulk call
    assert rows["create_bill"] == 0


def test_bill_refuses_one_bulk_call_for_some_bills_they_are_held_with_bills_reason_and_the_rest_go(
        engine, store, sandboxes):
    assert engine.run(flows=["accounts", "vendors"]).completed
    vendor_number = "V00010"
    bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == vendor_number)
    sandboxes.bill.vendors[bill_id]["archived"] = True  # archived in BILL after it was linked
    report = engine.run(flows=["invoices"])
    assert report.completed, report.errors
    refused = [q for q in store.queue_items(kind="invoice") if f"Vendor {bill_id} is archived" in q.reason]
    assert refused, [q.reason for q in store.queue_items(kind="invoice")]
    assert all(q.reason.startswith(f"invoice {q.record_key}: BILL refused it: ") for q in refused)
    assert all("bills[" not in q.reason for q in refused)  # BILL's index in the call means nothing to a clerk
    created = store.invoice_rows(state="created")
    assert len(created) == len(sandboxes.bill.bills) == report.flows["invoices"].created
    # one call refused per refused bill (each split out), then the good ones in one call
    assert sandboxes.bill.count("POST", BULK_BILLS) == len(refused) + 1

    sandboxes.bill.vendors[bill_id]["archived"] = False  # restored in BILL: the next run sends them, once each
    again = engine.run(flows=["invoices"])
    assert again.completed, again.errors
    assert len(store.invoice_rows(state="created")) == len(sandboxes.bill.bills) == len(created) + len(refused)
    no_duplicates(sandboxes)


def test_the_budget_stop_line_stops_bill_cleanly_and_each_next_hour_goes_on_without_duplicates(store):
    with running_sandboxes(seed="demo") as sandboxes:
        clock = sandboxes.clock
        clock.advance(3600 - clock.time() % 3600 + 1)  # a fresh hourly window
        engine = make_engine(store, sandboxes, bill_hourly_limit=20, bill_budget_headroom_percent=20)
        engine.bill.budget.clock = clock.time  # the client's hour turns with the sandbox's
        engine.bill.bulk_vendor_limit = 2  # more calls than one hour's 16 allow
        reports = []
        for _ in range(8):
            hour = int(clock.time() // 3600)
            report = engine.run(flows=["accounts", "vendors", "invoices"])
            reports.append(report)
            assert report.completed, report.errors  # a clean stop is not a failure
            sent = sum(n for (key, h), n in sandboxes.bill._hour_counts.items() if h == hour)
            assert sent <= 16  # never past the stop line: 4 of the 20 are left for other integrations
            assert sandboxes.bill.limit_rejections.get("BDC_1144", 0) == 0
            if not report.notes:
                break
            assert any("stop line" in note and "16 of 20" in note for note in report.notes), report.notes
            clock.advance(3600)
        assert len(reports) >= 2 and not reports[-1].notes, [r.notes for r in reports]
        no_duplicates(sandboxes)
        assert len(store.invoice_rows(state="created")) == len(sandboxes.bill.bills) >= 40
        with store.session() as s:
            assert set(s.scalars(select(t.OutboxEntry.state))) <= {"done", "failed"}
        assert engine.bill_requests_this_hour().startswith("BILL requests this hour: ")
        assert engine.bill_requests_this_hour().endswith(" / 20")


def test_a_webhook_one_off_uses_the_single_create(engine, store, sandboxes):
    assert engine.run(flows=["accounts", "vendors"]).completed
    bulk_before = sandboxes.bill.count("POST", BULK_VENDORS)
    single_before = sandboxes.bill.count("POST", "/connect/v3/vendors")
    created = sandboxes.nav.create_vendor(Name="Brand New Supplies", City="Austin")
    report = engine.sync_nav_vendor(created["No"])
    assert report.completed and report.flows["vendors"].created == 1
    assert sandboxes.bill.count("POST", BULK_VENDORS) == bulk_before
    assert sandboxes.bill.count("POST", "/connect/v3/vendors") == single_before + 1


def test_a_lost_answer_to_a_bulk_vendor_call_is_settled_by_one_lookup_in_the_same_run(engine, store, sandboxes):
    from app.domain.errors import UnknownOutcomeError

    create = engine.bill.create_vendors
    calls, made = [], []

    def lost_answer(fields_list):
        result = create(fields_list)  # BILL made them...
        calls.append(len(fields_list))
        made.extend(v.id for v in result)
        if len(calls) == 1:
            raise UnknownOutcomeError("no answer", system="BILL")  # ...but the answer never came
        return result

    engine.bill.create_vendors = lost_answer
    lookups_before = [r for r in sandboxes.bill.requests if "createdTime" in r.query]
    report = engine.run(flows=["vendors"])
    assert report.completed, report.errors
    lookups = [r for r in sandboxes.bill.requests if "createdTime" in r.query]
    assert len(lookups) - len(lookups_before) == 1  # one list call found the lost call's vendors
    assert len(calls) == 2  # the lost call's vendors were not sent again
    no_duplicates(sandboxes)
    linked = {r.bill_id for r in store.vendor_rows(status="linked")}
    assert len(made) > 20 and set(made) <= linked  # the lost call's vendors too: found and linked
    with store.session() as s:
        assert set(s.scalars(select(t.OutboxEntry.state).where(t.OutboxEntry.action == "create_bill_vendors"))) \
            == {"done"}
