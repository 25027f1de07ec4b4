"""``add_rows`` writes what adding one ORM object per row writes: the same stored values (money as exact text or
NUMERIC, UTC times, JSON with SQL NULL only where the column says so, the columns' Python defaults), on SQLite
and PostgreSQL, because it bypasses SQLAlchemy's per-row parameter handling and must not bypass its conversions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.store import repository as q
from app.store import schema as t
from app.store.store import Store, StoreError

pytestmark = pytest.mark.both_stores

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
ELSEWHERE = WHEN.astimezone(timezone(timedelta(hours=-5)))  # the same moment, written with another offset


@pytest.fixture()
def store(store_url):
    store = Store(store_url)
    yield store
    store.close()


def _columns(row) -> dict:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns if column.key != "id"}


def _same_as_orm(store, model, values: dict, key: str, *unique: str) -> tuple[dict, dict]:
    """The row ``add_rows`` stored for ``values`` and the row an ORM object with the same values stored (``key``
    and the other ``unique`` columns made different), as read back."""
    twin = {**values, **{name: f"{values[name]}-orm" for name in (key, *unique)}}
    with store.session() as s:
        q.add_rows(s, model, [values])
        s.add(model(**twin))
    with store.session() as s:
        rows = {getattr(r, key): r for r in s.scalars(select(model).where(
            getattr(model, key).in_([values[key], twin[key]])))}
        return _columns(rows[values[key]]), _columns(rows[twin[key]])


def test_invoice_links_keep_money_dates_and_defaults_exactly(store):
    values = {"nav_number": "PPI-1001", "vendor_number": "V-10", "bill_id": "00n02ABC", "state": "created",
              "idempotency_key": "bill.create:PPI-1001", "vendor_invoice_number": "INV 7/1",
              "amount": Decimal("1130.10"), "posting_date": date(2026, 2, 28), "document_date": date(2026, 2, 27),
              "due_date": None}
    fast, orm = _same_as_orm(store, t.InvoiceLink, values, "nav_number")
    assert fast["amount"] == Decimal("1130.10") and str(fast["amount"]) == "1130.10"  # no float, scale kept
    assert fast["posting_date"] == date(2026, 2, 28) and fast["due_date"] is None
    assert fast["created_at"].tzinfo is not None and fast["updated_at"].tzinfo is not None  # defaults filled
    for name in ("created_at", "updated_at"):
        fast.pop(name), orm.pop(name)
    assert {**fast, "nav_number": ""} == {**orm, "nav_number": ""}


def test_vendor_links_keep_json_and_sql_null_as_the_orm_does(store):
    values = {"nav_number": "V-20", "bill_id": "00902XYZ", "name": "Fabrikam, Inc.", "status": "linked",
              "candidate_ids": [], "nav_snapshot": {"name": "Fabrikam, Inc.", "email": None, "amount": "1.10"},
              "bill_snapshot": {"name": "Fabrikam, Inc.", "tags": ["a", "ü"]}, "nav_pending": None,
              "bill_pending": None, "nav_etag": 'W/"JzQ0OzE7Jw=="', "nav_modified": ELSEWHERE,
              "bill_updated": WHEN, "synced_at": WHEN}
    fast, orm = _same_as_orm(store, t.VendorLink, values, "nav_number", "bill_id")
    assert fast["nav_snapshot"] == values["nav_snapshot"] and fast["bill_snapshot"] == values["bill_snapshot"]
    assert fast["nav_modified"] == WHEN and fast["nav_modified"].utcoffset() == timedelta(0)  # stored as UTC
    assert fast["match_reason"] == "" and fast["created_at"] is not None  # Python defaults
    fast.pop("created_at"), orm.pop("created_at")
    assert {**fast, "nav_number": "", "bill_id": ""} == {**orm, "nav_number": "", "bill_id": ""}
    with store.session() as s:  # SQL NULL (what links_to_reconcile tests), not the JSON text 'null'
        pending = s.execute(select(t.VendorLink.nav_pending.is_(None), t.VendorLink.bill_pending.is_(None)).where(
            t.VendorLink.nav_number == "V-20")).one()
    assert tuple(pending) == (True, True)


def test_audit_rows_keep_their_order_time_and_detail(store):
    rows = [{"run_id": 7, "at": WHEN + timedelta(microseconds=n), "system": "BILL", "action": "create_bill",
             "record": f"invoice PPI-{n}", "detail": {"amount": "10.00", "n": n}} for n in range(3)]
    with store.session() as s:
        q.add_rows(s, t.AuditEntry, rows)
    with store.session() as s:
        stored = list(s.scalars(select(t.AuditEntry).where(t.AuditEntry.run_id == 7).order_by(t.AuditEntry.id)))
    assert [(a.record, a.at, a.detail) for a in stored] == [(r["record"], r["at"], r["detail"]) for r in rows]


def test_an_outbox_row_takes_its_defaults_and_a_second_row_for_the_same_key_is_refused(store):
    values = {"key": "bill.bills.bulk:3.1", "system": "BILL", "action": "create_bills", "record": "100 bills",
              "payload": {"bills": [{"amount": "5.00"}]}, "run_id": 3, "state": "in_flight", "attempts": 1}
    with store.session() as s:
        q.add_rows(s, t.OutboxEntry, [values])
    with store.session() as s:
        row = s.scalars(select(t.OutboxEntry).where(t.OutboxEntry.key == values["key"])).one()
        assert (row.state, row.attempts, row.last_error, row.result, row.payload) == (
            "in_flight", 1, "", {}, values["payload"])
        assert row.created_at is not None and row.updated_at is not None
    with pytest.raises(StoreError, match="(?i)unique|duplicate key"), store.session() as s:  # noqa: PT012
        q.add_rows(s, t.OutboxEntry, [values])


def test_a_column_the_table_does_not_have_is_refused_before_anything_is_written(store):
    with pytest.raises(ValueError, match="audit_log has no column actor"), store.session() as s:  # noqa: PT012
        q.add_rows(s, t.AuditEntry, [{"run_id": 1, "at": WHEN, "system": "BILL", "action": "x", "record": "y",
                                      "detail": {}, "actor": "someone"}])
    with store.session() as s:
        assert s.scalars(select(t.AuditEntry)).all() == []
