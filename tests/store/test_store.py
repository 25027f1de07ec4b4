"""The store on a real SQLite file: migrations, privacy, errors, threads, and the UI's read/command API.

The tests that use ``store`` run on PostgreSQL too (a throwaway server from .ci/run: tests/postgres.py)."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select

from app.store import Store, StoreError
from app.store import schema as t
from app.store.migrations import LATEST_VERSION

pytestmark = pytest.mark.both_stores


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "data" / "navbill.sqlite3"


@pytest.fixture
def file_store(db_file):
    store = Store(f"sqlite:///{db_file}")
    yield store
    store.close()


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    yield store
    store.close()


def test_new_database_is_private_wal_and_at_latest_version(file_store, db_file):
    assert file_store.schema_version() == LATEST_VERSION
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
    with sqlite3.connect(db_file) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_older_database_is_upgraded_after_a_backup(db_file):
    old = Store(f"sqlite:///{db_file}", migrate=False)
    old.migrate(target=1)
    old.set_setting("series", {"prefix": "VB"})
    old.close()
    upgraded = Store(f"sqlite:///{db_file}")
    assert upgraded.schema_version() == LATEST_VERSION
    assert upgraded.get_setting("series") == {"prefix": "VB"}
    backups = list(db_file.parent.glob("navbill.sqlite3.v1-*.bak"))
    assert len(backups) == 1 and stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    upgraded.close()


def test_a_schema_2_database_keeps_its_invoice_links_with_null_dates_and_takes_dates_after_upgrade(db_file):
    old = Store(f"sqlite:///{db_file}", migrate=False)
    old.migrate(target=2)
    old.close()
    # Written as the version-2 app wrote it: the table has no date columns yet, so plain SQL.
    with sqlite3.connect(db_file) as raw:
        assert "posting_date" not in {row[1] for row in raw.execute("PRAGMA table_info(invoice_links)")}
        raw.execute("INSERT INTO invoice_links (nav_number, vendor_number, vendor_invoice_number, bill_id, "
                    "idempotency_key, state, amount, created_at, updated_at) VALUES ('108001', 'V00010', "
                    "'AC-7781', '00n01AAA', 'bill.create:108001', 'created', '1250.00', "
                    "'2026-11-02 10:00:00', '2026-11-02 10:00:00')")
    upgraded = Store(f"sqlite:///{db_file}")
    try:
        assert upgraded.schema_version() == LATEST_VERSION
        assert len(list(db_file.parent.glob("navbill.sqlite3.v2-*.bak"))) == 1
        [old_row] = upgraded.invoice_rows()
        assert (old_row.nav_number, old_row.bill_id, old_row.amount) == ("108001", "00n01AAA", Decimal("1250.00"))
        assert (old_row.posting_date, old_row.document_date, old_row.due_date) == (None, None, None)
        with upgraded.session() as s:
            s.add(t.InvoiceLink(nav_number="108002", vendor_number="V00010", state="held", amount=Decimal("1"),
                                posting_date=date(2026, 10, 30), document_date=date(2026, 10, 28),
                                due_date=date(2026, 11, 29)))
        new_row = upgraded.invoice_rows()[1]
        assert (new_row.posting_date, new_row.document_date, new_row.due_date) == (
            date(2026, 10, 30), date(2026, 10, 28), date(2026, 11, 29))
    finally:
        upgraded.close()


def test_migrated_tables_have_exactly_the_columns_the_models_declare(store):
    # The frozen version-1 definitions plus the later steps must add up to the current models.
    with store.engine.connect() as connection:
        database = inspect(connection)
        for name, table in t.Base.metadata.tables.items():
            assert {c["name"] for c in database.get_columns(name)} == set(table.columns.keys()), name


def test_database_from_a_newer_app_is_refused(file_store, db_file):
    with file_store.session() as s:
        s.add(t.SchemaVersion(version=LATEST_VERSION + 1))
    with pytest.raises(StoreError, match="newer version"):
        Store(f"sqlite:///{db_file}")


def test_damaged_file_gives_a_clear_message(tmp_path):
    damaged = tmp_path / "navbill.sqlite3"
    damaged.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="damaged"):
        Store(f"sqlite:///{damaged}")


def test_locked_database_gives_a_clear_message(file_store, db_file, monkeypatch):
    monkeypatch.setattr("app.store.store.BUSY_TIMEOUT_MS", 50)
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        quick = Store(f"sqlite:///{db_file}", migrate=False)
        with pytest.raises(StoreError, match="locked"):
            quick.set_setting("x", 1)
        quick.close()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_money_round_trips_exactly(store):
    with store.session() as s:
        s.add(t.InvoiceLink(nav_number="108001", vendor_number="V00010", state="created",
                            amount=Decimal("1234567.89")))
    assert store.invoice_rows()[0].amount == Decimal("1234567.89")


def test_money_is_exact_and_times_are_utc_in_the_database_itself(store, backend):
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import text

    at = datetime(2026, 11, 2, 10, 15, tzinfo=timezone(timedelta(hours=-5)))  # 15:15 UTC
    with store.session() as s:
        s.add(t.InvoiceLink(nav_number="108002", vendor_number="V00010", state="created",
                            amount=Decimal("1130.10"), created_at=at))
    with store.session() as s:
        link = s.get(t.InvoiceLink, "108002")
        assert str(link.amount) == "1130.10"  # the scale is kept: cents never become a float
        assert link.created_at == at and link.created_at.tzinfo == UTC and link.created_at.hour == 15
        raw = s.execute(text("SELECT amount, created_at FROM invoice_links")).one()
    if backend == "postgres":  # NUMERIC and timestamp with time zone, not text
        assert raw.amount == Decimal("1130.10") and raw.created_at.utcoffset() is not None
    else:
        assert raw.amount == "1130.10"


def test_number_series_counts_up_and_bookmarks_never_move_back(store):
    with store.session() as s:
        assert store.next_number(s, "vendor", "VB") == "VB00001"
        assert store.next_number(s, "vendor", "VB") == "VB00002"
        store.set_bookmark(s, "nav.vendors", "2026-11-02T10:00:00+00:00")
    with store.session() as s:
        store.set_bookmark(s, "nav.vendors", "2026-11-01T10:00:00+00:00")
    assert store.get_bookmark("nav.vendors") == "2026-11-02T10:00:00+00:00"


def test_user_mapping_wins_over_suggestion_and_archived_accounts_are_refused(store):
    with store.session() as s:
        s.add(t.BillAccountCache(id="0ca1", name="Freight-In"))
        s.add(t.BillAccountCache(id="0ca2", name="Old", archived=True))
    store.set_account_mapping("5130", "0ca1")
    store.set_account_mapping("5130", "0ca9", source="suggested")
    assert [(m.nav_account, m.bill_account_id, m.source) for m in store.account_mapping_rows()] == [
        ("5130", "0ca1", "user")]
    with pytest.raises(StoreError, match="archived"):
        store.set_account_mapping("6140", "0ca2")


def test_proposal_accept_links_and_closes_the_queue_item(store):
    with store.session() as s:
        s.add(t.VendorLink(nav_number="V00040", bill_id="009x", status="proposed", name="Great Lakes",
                           match_reason="very similar name"))
        s.add(t.BillVendorCandidate(bill_id="009x", exact_name="Great Lakes Aluminium", name_key="",
                                    email_key="", tax_key="", fields={"name": "Great Lakes Aluminium"},
                                    claimed_by="V00040"))
        s.add(t.QueueItem(kind="vendor", record_key="V00040", reason="confirm the match"))
    store.accept_proposal("V00040")
    [row] = store.vendor_rows()
    assert (row.status, row.bill_id) == ("linked", "009x")
    assert store.queue_items() == []
    assert store.audit(record="V00040")[0].action == "link"
    with pytest.raises(StoreError, match="already linked"):
        store.link_vendor("V00050", "009x")


def test_conflict_resolution_skip_and_retry(store):
    with store.session() as s:
        s.add(t.Conflict(record_key="V00010", field="phone", nav_value="1", bill_value="2"))
        s.add(t.QueueItem(kind="invoice", record_key="108001", reason="line 1: G/L 6400 has no BILL account"))
    [conflict] = store.conflict_rows()
    store.resolve_conflict(conflict.id, "bill")
    assert store.conflict_rows() == [] and store.conflict_rows(state="chosen")[0].chosen_side == "bill"
    [item] = store.queue_items()
    store.skip_item(item.id, "paid by hand")
    assert store.queue_items() == []
    assert store.queue_items(state="skipped")[0].note == "paid by hand"
    store.retry_item(item.id)
    assert store.queue_items()[0].retryable


def test_reads_from_another_thread_while_a_writer_holds_a_transaction(store):
    store.set_setting("k", 1)
    reads: list = []
    with store.session() as writer:
        writer.add(t.Setting(key="other", value=2))
        writer.flush()  # the write transaction is open now
        reader = threading.Thread(target=lambda: reads.append(store.get_setting("k")))
        reader.start()
        reader.join(timeout=30)
    assert reads == [1]
    with store.session() as s:
        assert s.scalars(select(t.Setting.key).order_by(t.Setting.key)).all() == ["k", "other"]


def test_pending_fields_left_empty_are_sql_null_and_json_set_ignores_old_json_null_rows(store):
    from sqlalchemy import text

    with store.session() as s:
        s.add_all([t.VendorLink(nav_number="A", status="linked", nav_pending=None),
                   t.VendorLink(nav_number="B", bill_id="009b", status="linked", nav_pending={"name": "B"})])
    with store.session() as s:  # a row written before pending fields were stored as SQL NULL
        s.execute(text("INSERT INTO vendor_links (nav_number, bill_id, name, status, match_reason, candidate_ids, "
                       "nav_snapshot, bill_snapshot, nav_pending, nav_etag, created_at) VALUES ('C', '009c', '', "
                       "'linked', '', '[]', '{}', '{}', 'null', '', '2026-01-01 00:00:00')"))
    with store.session() as s:
        raw = dict(s.execute(text("SELECT nav_number, nav_pending FROM vendor_links")).all())
        assert raw["A"] is None
        assert list(s.scalars(select(t.VendorLink.nav_number).where(t.json_set(t.VendorLink.nav_pending)))) == ["B"]
        assert s.scalars(select(t.VendorLink).where(t.VendorLink.nav_number == "C")).one().nav_pending is None
