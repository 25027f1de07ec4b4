"""The questions the flows ask the store by name (app.store.repository), on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.store import Store
from app.store import repository as q
from app.store import schema as t

pytestmark = pytest.mark.both_stores


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    yield store
    store.close()


def test_links_to_reconcile_are_the_linked_ones_with_a_change_noted_or_never_merged(store):
    with store.session() as s:
        s.add_all([
            t.VendorLink(nav_number="V1", bill_id="b1", status="linked", nav_snapshot={"name": "A"},
                         bill_snapshot={"name": "A"}, nav_pending={"name": "A2"}),
            t.VendorLink(nav_number="V2", bill_id="b2", status="linked", nav_snapshot={"name": "B"},
                         bill_snapshot={"name": "B"}),  # quiet
            t.VendorLink(nav_number="V3", bill_id="b3", status="linked"),  # never merged
            t.VendorLink(nav_number="V4", bill_id="b4", status="proposed", nav_pending={"name": "D"}),
            t.VendorLink(nav_number="V5", bill_id="b5", status="linked", nav_snapshot={"name": "E"},
                         bill_snapshot={"name": "E"}, bill_pending={"name": "E2"}),
        ])
    with store.session() as s:
        assert [link.nav_number for link in q.links_to_reconcile(s, 0, 10)] == ["V1", "V3", "V5"]
        first = q.links_to_reconcile(s, 0, 1)
        assert [link.nav_number for link in q.links_to_reconcile(s, first[0].id, 10)] == ["V3", "V5"]
        assert [link.nav_number for link in q.links_to_reconcile(s, 0, 10, only_bill_id="b5")] == ["V5"]
        assert q.linked_bill_ids(s, ["b1", "b4", "zz"]) == {"b1"}
        assert q.linked_bill_ids(s, []) == set()
        assert q.bill_vendor_ids(s, ["V1", "V4", "V9"]) == {"V1": "b1"}


def test_held_items_page_by_id_and_leave_the_retries_and_the_closed_ones_out(store):
    with store.session() as s:
        for n in range(5):
            s.add(t.QueueItem(kind="invoice", record_key=f"PI{n}", reason="held"))
        s.add(t.QueueItem(kind="invoice", record_key="PIR", reason="retry", retryable=True))
        s.add(t.QueueItem(kind="invoice", record_key="PIS", reason="skipped", state="skipped"))
        s.add(t.QueueItem(kind="payment", record_key="P1", reason="other kind"))
    with store.session() as s:
        page = q.held_items(s, "invoice", 0, 3)
        assert [i.record_key for i in page] == ["PI0", "PI1", "PI2"]
        assert [i.record_key for i in q.held_items(s, "invoice", page[-1].id, 3)] == ["PI3", "PI4"]
        assert q.retry_keys(s, "invoice") == ["PIR"]


def test_open_items_take_any_number_of_keys_and_a_key_prefix_is_taken_literally(store):
    keys = [f"K{n:04}" for n in range(1203)]
    with store.session() as s:
        s.add_all(t.QueueItem(kind="vendor", record_key=key, reason="r") for key in keys)
        s.add(t.QueueItem(kind="bank_change", record_key="b_1:acct", reason="r"))
    with store.session() as s:
        assert len(list(q.open_items(s, "vendor", keys))) == 1203
        assert q.open_item_starting(s, "bank_change", "b_1:") is not None
        assert q.open_item_starting(s, "bank_change", "b%:") is None  # not a LIKE pattern
        assert q.open_item_starting(s, "bank_change", "bx1:") is None  # "_" is not a wildcard either


def test_posted_amounts_are_the_other_payments_posted_on_these_bills(store):
    with store.session() as s:
        s.add_all([
            t.PaymentLink(payment_id="p1", bill_id="b1", amount=Decimal("10.50"), state="posted"),
            t.PaymentLink(payment_id="p2", bill_id="b1", amount=Decimal("4.25"), state="posted"),
            t.PaymentLink(payment_id="p3", bill_id="b1", amount=Decimal("99"), state="voided"),
            t.PaymentLink(payment_id="p4", bill_id="b2", amount=Decimal("7"), state="in journal"),
        ])
    with store.session() as s:
        assert sorted((bill, Decimal(str(amount))) for bill, amount in q.posted_amounts(s, ["b1", "b2"], "p2")) == [
            ("b1", Decimal("10.50"))]
        assert q.payments_in_journal(s) == ["p4"]
        assert [link.payment_id for link in q.payment_links_for(s, ["p1", "p4"])] == ["p1", "p4"]


def test_queue_items_by_key_finds_each_key_once_across_chunks_and_kinds_apart(store):
    keys = [f"PI{n:04}" for n in range(1203)]
    with store.session() as s:
        s.add_all(t.QueueItem(kind="invoice", record_key=key, reason="r") for key in keys[::2])
        s.add(t.QueueItem(kind="vendor", record_key="PI0001", reason="another kind"))
    with store.session() as s:
        found = q.queue_items_by_key(s, "invoice", keys)
        assert sorted(found) == keys[::2] and all(item.kind == "invoice" for item in found.values())


def test_with_undecided_conflicts_names_the_vendors_with_an_open_or_chosen_conflict_across_chunks(store):
    numbers = [f"V{n:04}" for n in range(q.IN_CHUNK + 20)]
    with store.session() as s:
        s.add_all([t.Conflict(record_key=numbers[3], field="email", state="open"),
                   t.Conflict(record_key=numbers[q.IN_CHUNK + 5], field="phone", state="chosen"),
                   t.Conflict(record_key=numbers[7], field="email", state="applied"),
                   t.Conflict(record_key="V9999", field="email", state="open")])  # not asked about
    with store.session() as s:
        assert q.with_undecided_conflicts(s, numbers) == {numbers[3], numbers[q.IN_CHUNK + 5]}
        assert q.with_undecided_conflicts(s, []) == set()
