"""The initial sync's batched writes: bulk calls, up to BILL's 3 requests at once, each call one outbox row,
per-record errors held, cancel releases what was not sent, a lost answer looked up (never resent), the hourly
budget stops the BILL side cleanly, and an unchanged second run reads a handful."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from app.domain.errors import RecordError
from app.engine.outbox import Outbox
from app.sandbox.runner import running_sandboxes
from app.store import Store
from app.store import schema as t
from tests.engine.conftest import make_engine


class _Concurrency:
    """Wraps a client method: counts calls in flight at once; the first ``meet`` calls wait for each other."""

    def __init__(self, inner, meet: int = 0) -> None:
        self.inner, self.lock, self.now, self.peak = inner, threading.Lock(), 0, 0
        self.barrier = threading.Barrier(meet) if meet else None
        self.calls = 0

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
            first = self.calls <= (self.barrier.parties if self.barrier else 0)
        try:
            if first:
                # Three writes must be in flight together: with fewer, the barrier breaks (timeout) and the
                # write fails, which the assertions below would see.
                self.barrier.wait(timeout=30)
            return self.inner(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_creates_go_three_at_a_time_never_more(engine, store, sandboxes):
    engine.bill.bulk_bill_limit = 5  # several bulk calls, so that three can be in flight together
    tracker = _Concurrency(engine.bill.create_bills, meet=3)
    engine.bill.create_bills = tracker
    report = engine.run()
    assert report.completed, report.errors
    assert tracker.peak == 3  # three at once (the barrier proved it), never a fourth
    assert report.flows["invoices"].created > 30 and report.flows["invoices"].failed == 0
    assert sandboxes.bill.limit_rejections.get("BDC_1322", 0) == 0
    bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
    assert max(bills.values()) == 1
    with store.session() as s:  # every write has its outbox row, finished
        states = Counter(s.scalars(select(t.OutboxEntry.state)))
    assert set(states) == {"done"}


def test_one_refused_record_is_held_and_the_batch_goes_on(engine, store, sandboxes):
    create = engine.bill.create_vendors

    def refuse_one(fields_list):  # as the client answers when BILL refuses one record of a bulk call
        bad = [i for i, f in enumerate(fields_list) if f.name == "Keystone Paint & Coatings"]
        results = create([f for i, f in enumerate(fields_list) if i not in bad])
        for i in bad:
            results.insert(i, RecordError("the vendor name is not allowed", system="BILL", record="Keystone"))
        return results

    engine.bill.create_vendors = refuse_one
    report = engine.run(flows=["vendors"])
    assert report.flows["vendors"].failed == 1 and report.flows["vendors"].created >= 20
    [item] = [q for q in store.queue_items(kind="vendor") if "not allowed" in q.reason]
    assert "Keystone" in item.reason
    with store.session() as s:
        failed = list(s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.state == "failed")))
    assert len(failed) == 1 and failed[0].action == "create_bill_vendor"

    engine.bill.create_vendors = create  # fixed: the next run sends it, once
    assert engine.run(flows=["vendors"]).completed
    names = Counter(v["name"] for v in sandboxes.bill.vendors.values())
    assert names["Keystone Paint & Coatings"] == 1


def test_cancel_in_the_middle_of_a_batch_releases_what_was_not_sent(engine, store, sandboxes):
    cancel = threading.Event()
    create = engine.bill.create_bills
    sent = []

    def cancel_after_two_calls(bills):
        results = create(bills)
        sent.append(len(results))
        if len(sent) == 2:
            cancel.set()
        return results

    engine.run(flows=["accounts", "vendors"])
    engine.bill.bulk_bill_limit = 5
    engine.settings.write_concurrency = 1
    engine.bill.create_bills = cancel_after_two_calls
    report = engine.run(flows=["invoices"], cancel=cancel)
    assert report.status == "cancelled"
    with store.session() as s:
        rows = list(s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.action == "create_bills")))
    assert len([r for r in rows if r.state == "done"]) == len(sent) == 2  # the calls that went out, only those
    assert all(r.state in ("done", "pending") for r in rows)  # the others were never sent: no lookup owed
    assert len(store.invoice_rows(state="created")) == sum(sent)

    engine.bill.create_bills = create
    assert engine.run(flows=["invoices"]).completed
    bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
    assert max(bills.values()) == 1


def test_a_bulk_call_whose_answer_is_lost_is_looked_up_in_the_same_run_not_resent(engine, store, sandboxes):
    engine.run(flows=["accounts", "vendors"])
    engine.bill.bulk_bill_limit = 5
    create = engine.bill.create_bills
    calls = []

    def lost_answer(bills):
        result = create(bills)
        calls.append(len(bills))
        if len(calls) == 2:
            from app.domain.errors import UnknownOutcomeError

            raise UnknownOutcomeError("no answer", system="BILL")
        return result

    engine.bill.create_bills = lost_answer
    lookups = sandboxes.bill.count("GET", "/connect/v3/bills")
    first = engine.run(flows=["invoices"])
    assert first.completed, first.errors
    # one read to recognise bills already in BILL before creating, and one list call settled the lost answer
    assert sandboxes.bill.count("GET", "/connect/v3/bills") - lookups == 2
    bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
    assert max(bills.values()) == 1  # found by the lookup, linked, not sent again
    assert len(store.invoice_rows(state="created")) == len(sandboxes.bill.bills) == first.flows["invoices"].created
    with store.session() as s:
        assert set(s.scalars(select(t.OutboxEntry.state))) == {"done"}
    assert engine.run(flows=["invoices"]).completed
    assert len(sandboxes.bill.bills) == len(store.invoice_rows(state="created"))


def test_outbox_rows_are_committed_in_flight_before_any_send(store):
    outbox = Outbox(store)
    prepared = outbox.prepare([("k1", "BILL", "create_bill", "invoice 1", {"n": 1}),
                               ("k2", "BILL", "create_bill", "invoice 2", {"n": 2})])
    assert [p.look_first for p in prepared.values()] == [False, False]
    with store.session() as s:
        assert {r.key: r.state for r in s.scalars(select(t.OutboxEntry))} == {"k1": "in_flight", "k2": "in_flight"}
    outbox.release([prepared["k2"]])  # never sent: back as it was
    again = outbox.prepare([("k1", "BILL", "create_bill", "invoice 1", {"n": 9}),
                            ("k2", "BILL", "create_bill", "invoice 2", {"n": 9})])
    assert again["k1"].look_first and not again["k2"].look_first  # k1 may have landed: look first
    assert again["k1"].payload == {"n": 1}  # the recorded payload wins
    found = Outbox.deliver(again["k1"], send=lambda: "sent twice!", look=lambda: "found")
    assert found == "found"
    with store.session() as s:
        Outbox.finish_many(s, {"k1": {"bill_id": "x"}})
    assert outbox.entry("k1").state == "done"


def test_unchanged_second_run_reads_the_same_handful_whatever_the_size():
    def second_run_bill_calls(seed: str) -> tuple[int, int]:
        with running_sandboxes(seed=seed) as sandboxes:
            store = Store("sqlite://")
            try:
                engine = make_engine(store, sandboxes)
                assert engine.run(flows=["accounts", "vendors", "invoices"]).completed
                second = engine.run(flows=["accounts", "vendors", "invoices"])
                assert all(c.created == c.updated == 0 for n, c in second.flows.items() if n != "accounts")
                with store.session() as s:  # nothing left to reconcile
                    assert not list(s.scalars(select(t.VendorLink).where(t.json_set(t.VendorLink.nav_pending))))
                return second.bill_calls, second.nav_calls
            finally:
                store.close()

    small, large = second_run_bill_calls("large:20"), second_run_bill_calls("large:400")
    assert small[0] == large[0] <= 10  # BILL: login, reference lists, one page of vendors
    assert large[1] <= 10


def test_spent_hourly_budget_stops_bill_for_this_run_and_the_next_hour_finishes_the_job(store):
    with running_sandboxes(seed="demo", hourly_limit=12) as sandboxes:
        sandboxes.clock.advance(3600 - sandboxes.clock.time() % 3600 + 1)  # a fresh hourly window
        engine = make_engine(store, sandboxes)
        engine.bill.bulk_vendor_limit = 2  # enough calls to reach BILL's (tiny) limit
        engine.bill.budget.clock = sandboxes.clock.time  # the client's hour turns with the sandbox's
        first = engine.run(flows=["accounts", "vendors", "invoices"])
        assert first.completed, first.errors  # a clean stop, not a failure
        assert any("hourly request limit is reached" in note for note in first.notes), first.notes
        assert any("invoices: not run this time" in note for note in first.notes), first.notes
        refused = sandboxes.bill.limit_rejections["BDC_1144"]
        assert refused <= 3  # at most the calls in flight when BILL said it: never retried
        sandboxes.clock.advance(3600)
        sandboxes.bill.hourly_limit = 20000
        second = engine.run(flows=["accounts", "vendors", "invoices"])
        assert second.completed, second.errors
        bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
        assert bills and max(bills.values()) == 1
        assert max(Counter(v["name"] for v in sandboxes.bill.vendors.values()).values()) == 1
        assert len(store.invoice_rows(state="created")) == len(sandboxes.bill.bills)


def test_a_first_sync_looks_up_no_bills_for_the_vendors_it_just_created(store):
    """Recognising bills already in BILL (a lost store) costs a list call per 100 vendors, once a run: a vendor
    created in this very run can have none, so a first sync of new vendors asks nothing extra, and the invoices
    of the vendors BILL knew wait for one look together instead of a look per batch of invoices."""
    with running_sandboxes(seed="large:200") as sandboxes:
        engine = make_engine(store, sandboxes)
        lookups = sandboxes.bill.count("GET", "/connect/v3/bills")
        report = engine.run()
        assert report.completed, report.errors
        new = engine._vendors_new_this_run
        assert len(new) > 80 and any(b["vendorId"] in new for b in sandboxes.bill.bills.values())
        # Only the 20 vendors BILL knew before (linked, not created) are looked up, in one call for all their
        # invoices (a call per batch of invoices made 2 here; looking up every vendor's bills took 6).
        known = {row.bill_id for row in store.vendor_rows(status="linked")} - new
        assert len(known) == 20
        assert sandboxes.bill.count("GET", "/connect/v3/bills") - lookups == 1
        assert len(store.invoice_rows(state="created")) == len(sandboxes.bill.bills) == 400
        engine.nav.close()
        engine.bill.close()


def test_a_lost_store_recognises_every_bill_with_one_look_per_hundred_vendors(tmp_path):
    """After a first sync the store is lost: the next sync knows none of BILL's 150 vendors as its own, so every
    invoice's bill must be found in BILL, not made again. The invoices of one vendor come in different batches
    of the NAV stream; each vendor is looked up once in the run (two looks for 150 vendors), never once per
    batch, and its bills found are linked."""
    with running_sandboxes(seed="large:150") as sandboxes:
        first_store = Store(f"sqlite:///{tmp_path / 'first.sqlite3'}")
        engine = make_engine(first_store, sandboxes)
        assert engine.run().completed
        bills_before = dict(sandboxes.bill.bills)
        assert len(bills_before) == 300
        engine.nav.close(), engine.bill.close(), first_store.close()

        second_store = Store(f"sqlite:///{tmp_path / 'second.sqlite3'}")  # the first one is gone
        engine = make_engine(second_store, sandboxes)
        lookups = sandboxes.bill.count("GET", "/connect/v3/bills")
        report = engine.run()
        assert report.completed, report.errors
        assert sandboxes.bill.bills == bills_before, "a bill was made twice"
        linked = {row.nav_number: row.bill_id for row in second_store.invoice_rows(state="created")}
        assert len(linked) == 300 and set(linked.values()) == set(bills_before)
        assert report.counts("invoices").updated == 300 and report.counts("invoices").created == 0
        # Two looks (100 vendors and 50), whose 200 and 100 bills come at 100 a page: 3 calls.
        assert sandboxes.bill.count("GET", "/connect/v3/bills") - lookups == 3
        engine.nav.close(), engine.bill.close(), second_store.close()
