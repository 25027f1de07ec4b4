"""What settling a bulk answer writes to the store (links, audit rows, outbox rows, resolved holds), now that it
is written by executemany statements instead of one ORM object per record: the same rows, on SQLite and
PostgreSQL, and held items resolved as before whether or not the session holds queue item objects."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from app.engine.common import audit_money
from app.engine.outbox import Outbox
from app.store import schema as t

pytestmark = pytest.mark.both_stores  # these run on PostgreSQL too (tests/postgres.py)


def test_a_bulk_first_sync_writes_one_link_and_one_audit_row_per_record_with_the_usual_fields(engine, store,
                                                                                              sandboxes):
    report = engine.run(flows=["accounts", "vendors", "invoices"])
    assert report.completed, report.errors
    with store.session() as s:
        vendor_links = {link.nav_number: link for link in s.scalars(select(t.VendorLink).where(
            t.VendorLink.status == "linked"))}
        invoice_links = {link.nav_number: link for link in s.scalars(select(t.InvoiceLink).where(
            t.InvoiceLink.state == "created"))}
        audit = list(s.scalars(select(t.AuditEntry).where(t.AuditEntry.system == "BILL").order_by(t.AuditEntry.id)))
        outbox = list(s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.action.in_(
            ("create_bill_vendors", "create_bills")))))
        null_pending = s.scalar(select(func.count()).select_from(t.VendorLink).where(
            t.VendorLink.status == "linked", t.VendorLink.nav_pending.is_(None), t.VendorLink.bill_pending.is_(None)))
        candidates_left = set(s.scalars(select(t.BillVendorCandidate.bill_id)))

    created_vendors = [a for a in audit if a.action == "create_vendor"]
    created_bills = [a for a in audit if a.action == "create_bill"]
    bulk_vendors = [row for row in outbox if row.action == "create_bill_vendors"]
    assert len(created_vendors) == sum(len(row.result["created"]) for row in bulk_vendors) >= 30
    assert len(created_bills) == report.flows["invoices"].created == len(invoice_links) >= 40
    assert Counter(a.record for a in audit).most_common(1)[0][1] == 1  # one row per record, none twice
    for entry in created_vendors:
        link = vendor_links[entry.record.removeprefix("vendor ")]
        assert entry.detail == {"bill_id": link.bill_id, "name": link.name}
        assert entry.run_id == report.run_id and entry.at is not None
        assert link.bill_id in sandboxes.bill.vendors and link.bill_id not in candidates_left
        assert link.nav_snapshot["name"] == link.bill_snapshot["name"] == link.name
        assert link.candidate_ids == [] and link.synced_at is not None and link.created_at is not None
    for entry in created_bills:
        link = invoice_links[entry.record.removeprefix("invoice ")]
        assert entry.detail == {"bill_id": link.bill_id, "amount": audit_money(link.amount),
                                "vendor": link.vendor_number}
        assert entry.run_id == report.run_id
        assert link.state == "created" and link.bill_id in sandboxes.bill.bills
        assert link.idempotency_key == f"bill.create:{link.nav_number}"  # the record's own key, not the call's
        assert link.posting_date is not None and link.due_date is not None
        assert link.created_at is not None and link.updated_at is not None
    # The audit rows keep the order they were written in: times never go back as the ids go up.
    times = [a.at for a in audit]
    assert times == sorted(times)
    # Linked vendors keep no pending side (SQL NULL, not the JSON text 'null'); every bulk row is done.
    assert null_pending == len(vendor_links)
    assert outbox and all(row.state == "done" and row.last_error == "" for row in outbox)
    for row in outbox:
        assert set(row.result) == {"created", "refused"} and not row.result["refused"]


def test_invoices_refused_in_a_bulk_call_are_resolved_when_sent_again(engine, store, sandboxes):
    assert engine.run(flows=["accounts", "vendors"]).completed
    bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == "V00010")
    sandboxes.bill.vendors[bill_id]["archived"] = True
    assert engine.run(flows=["invoices"]).completed
    held = {q.record_key for q in store.queue_items(kind="invoice") if "BILL refused it" in q.reason}
    assert held
    sandboxes.bill.vendors[bill_id]["archived"] = False
    again = engine.run(flows=["invoices"])
    assert again.completed, again.errors
    with store.session() as s:
        items = list(s.scalars(select(t.QueueItem).where(t.QueueItem.kind == "invoice",
                                                         t.QueueItem.record_key.in_(held))))
        links = {link.nav_number: link for link in s.scalars(select(t.InvoiceLink).where(
            t.InvoiceLink.nav_number.in_(held)))}
        audited = set(s.scalars(select(t.AuditEntry.record).where(t.AuditEntry.action == "create_bill",
                                                                  t.AuditEntry.run_id == again.run_id)))
    assert {item.record_key for item in items} == held
    assert [(item.state, item.retryable) for item in items] == [("resolved", False)] * len(held)
    assert all(links[number].state == "created" and links[number].bill_id for number in held)
    assert {f"invoice {number}" for number in held} <= audited


def _open_item(store, kind: str, key: str) -> None:
    with store.session() as s:
        s.add(t.QueueItem(kind=kind, record_key=key, reason="held", retryable=True))


def _state(store, kind: str, key: str) -> tuple[str, bool]:
    with store.session() as s:
        item = s.scalars(select(t.QueueItem).where(t.QueueItem.kind == kind, t.QueueItem.record_key == key)).one()
        return item.state, item.retryable


def test_resolve_items_resolves_only_open_items_of_that_kind_and_keys_without_loading_them(engine, store):
    for kind, key in (("invoice", "A1"), ("invoice", "A2"), ("invoice", "A3"), ("vendor", "A1")):
        _open_item(store, kind, key)
    with store.session() as s:
        skipped = s.scalars(select(t.QueueItem).where(t.QueueItem.record_key == "A3")).one()
        skipped.state = "skipped"
    with store.session() as s:
        engine._resolve_items(s, "invoice", ["A1", "A3", "nothing held"])
        assert not any(isinstance(obj, t.QueueItem) for obj in s.identity_map.values())  # nothing loaded
    assert _state(store, "invoice", "A1") == ("resolved", False)
    assert _state(store, "invoice", "A2") == ("open", True)
    assert _state(store, "invoice", "A3") == ("skipped", True)  # the user's "leave it" stays
    assert _state(store, "vendor", "A1") == ("open", True)


def test_resolve_items_sees_a_hold_added_or_reopened_in_the_same_session(engine, store):
    _open_item(store, "vendor", "B2")
    with store.session() as s:
        s.scalars(select(t.QueueItem).where(t.QueueItem.record_key == "B2")).one().state = "resolved"
    with store.session() as s:
        s.add(t.QueueItem(kind="vendor", record_key="B1", reason="held"))  # not flushed yet
        reopened = s.scalars(select(t.QueueItem).where(t.QueueItem.record_key == "B2")).one()
        reopened.state = "open"
        engine._resolve_items(s, "vendor", ["B1", "B2"])
    assert _state(store, "vendor", "B1") == ("resolved", False)
    assert _state(store, "vendor", "B2") == ("resolved", False)


def test_finish_many_closes_rows_held_in_the_session_and_rows_that_are_not(store):
    outbox = Outbox(store, run_id=7)
    outbox.prepare([("k1", "BILL", "create_bills", "bills", {"bills": [1]}),
                    ("k2", "BILL", "create_bills", "bills", {"bills": [2]}),
                    ("k3", "BILL", "create_bills", "bills", {"bills": [3]})])
    with store.session() as s:
        held = s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == "k1")).one()
        held.last_error = "a lost answer"
        Outbox.finish_many(s, {"k1": {"created": {"A": "b1"}}, "k2": {"created": {"B": "b2"}}})
    with store.session() as s:
        rows = {row.key: row for row in s.scalars(select(t.OutboxEntry))}
    assert (rows["k1"].state, rows["k1"].result, rows["k1"].last_error) == ("done", {"created": {"A": "b1"}}, "")
    assert (rows["k2"].state, rows["k2"].result, rows["k2"].last_error) == ("done", {"created": {"B": "b2"}}, "")
    assert (rows["k3"].state, rows["k3"].result) == ("in_flight", {})
    assert all(row.run_id == 7 and row.attempts == 1 and row.payload["bills"] for row in rows.values())
