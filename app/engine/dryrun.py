"""Dry run: the real flows against a throw-away copy of the store and clients that only pretend to write.

Reads go to NAV and BILL as usual, so the report says what a real run would do now (including the
knock-on effects: a vendor that would be created lets its invoices go too). Nothing is written to
either system or to the real store, except the run's own row (marked dry run) for the history.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app.domain.models import BillVendor, NavVendor, PaymentPosting, PostedPayment
from app.engine.report import PlannedWrite
from app.store import Store
from app.store import schema as t


class _Planner:
    def __init__(self, vendor_names: dict[str, str] | None = None) -> None:
        self.writes: list[PlannedWrite] = []
        self.vendor_names = dict(vendor_names or {})  # BILL vendor id -> name, so a plan line names the vendor

    def lookup(self, vendor_id: str) -> str:  # replaced by a look in the run's copy of the store
        return ""

    def name(self, vendor_id: str) -> str:
        """A BILL vendor's name ("" when neither the run nor the store knows it)."""
        if vendor_id not in self.vendor_names:  # one look per vendor, not per bill
            self.vendor_names[vendor_id] = self.lookup(vendor_id)
        return self.vendor_names[vendor_id]

    def vendor(self, vendor_id: str) -> str:
        """A BILL vendor as a sentence names it: "Name (id)", "Name (new)" or the id."""
        return PlannedWrite("BILL", "create_bill", vendor=vendor_id, name=self.name(vendor_id)).vendor_label

    def next_number(self) -> int:
        """The number ``plan`` gives the next write (a new record's stand-in id is made from it)."""
        return len(self.writes) + 1

    def plan(self, write: PlannedWrite | str) -> int:
        """Note a write (a finished sentence is kept as kind other); its number, counting from 1."""
        self.writes.append(PlannedWrite.said(write) if isinstance(write, str) else write)
        return len(self.writes)


class DryNavClient:
    def __init__(self, inner, planner: _Planner) -> None:
        self._inner, self._planner = inner, planner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_vendor(self, fields, number):
        self._planner.plan(PlannedWrite("NAV", "create_vendor", number, name=fields.name))
        return NavVendor(number=number, fields=fields, last_modified=datetime.now(UTC), etag="dry-run")

    def update_vendor(self, number, fields, etag=""):
        self._planner.plan(PlannedWrite("NAV", "update_vendor", number))
        return NavVendor(number=number, fields=fields, etag="dry-run")

    def post_payment(self, lines, journal_template="", journal_batch=""):
        for line in lines:
            self._planner.plan(PlannedWrite("NAV", "post_payment", line.external_document_number, amount=line.amount,
                                            vendor=line.vendor_number, invoice=line.applies_to_invoice))
        return PaymentPosting(posted=True, batch=f"{journal_template}/{journal_batch}", entries=tuple(
            PostedPayment(0, line.document_number, line.external_document_number, line.vendor_number, line.amount,
                          line.posting_date) for line in lines))


class DryBillClient:
    def __init__(self, inner, planner: _Planner) -> None:
        self._inner, self._planner = inner, planner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_vendor(self, fields):
        vendor_id = f"dry-run-vendor-{self._planner.next_number()}"
        self._planner.plan(PlannedWrite("BILL", "create_vendor", vendor_id, name=fields.name))
        self._planner.vendor_names[vendor_id] = fields.name
        return BillVendor(id=vendor_id, fields=fields, updated_time=datetime.now(UTC))

    def update_vendor(self, vendor_id, fields):
        self._planner.plan(PlannedWrite("BILL", "update_vendor", vendor_id, name=fields.name))
        return BillVendor(id=vendor_id, fields=fields)

    def archive_vendor(self, vendor_id):
        self._planner.plan(PlannedWrite("BILL", "archive_vendor", vendor_id))

    def restore_vendor(self, vendor_id):
        self._planner.plan(PlannedWrite("BILL", "restore_vendor", vendor_id))

    def create_vendors(self, fields_list):
        return [self.create_vendor(fields) for fields in fields_list]

    def create_bills(self, bills):
        return [self.create_bill(bill) for bill in bills]

    def create_bill(self, bill):
        source = bill.description.replace("NAV posted invoice", "NAV invoice") if bill.description else ""
        n = self._planner.plan(PlannedWrite("BILL", "create_bill", bill.invoice_number, amount=bill.amount,
                                            name=self._planner.name(bill.vendor_id), vendor=bill.vendor_id,
                                            source=source))
        return replace(bill, id=f"dry-run-bill-{n}")


def _linked_name(store: Store, bill_id: str) -> str:
    with store.session() as s:
        return s.scalars(select(t.VendorLink.name).where(t.VendorLink.bill_id == bill_id)).first() or ""


def _copy_rows(store: Store, target: Path) -> Store:
    """A server store (PostgreSQL) copied table by table into a throw-away SQLite file at the same schema."""
    copy = Store(f"sqlite:///{target}")
    with store.engine.connect() as source, copy.engine.begin() as into:
        for table in t.Base.metadata.sorted_tables:
            if table.name == t.SchemaVersion.__tablename__:
                continue
            rows = source.execute(select(table)).mappings()
            while batch := rows.fetchmany(1000):
                into.execute(table.insert(), [dict(row) for row in batch])
    return copy


def _copy_store(store: Store, folder: Path) -> Store:
    target = folder / "dry-run.sqlite3"
    if store.url.get_backend_name() != "sqlite":
        return _copy_rows(store, target)
    raw = store.engine.raw_connection()
    try:
        with sqlite3.connect(target) as copy:
            raw.driver_connection.backup(copy)
    finally:
        raw.close()
    return Store(f"sqlite:///{target}")


def dry_run_engine(engine, flows, progress, cancel, trigger):
    """``engine``'s flows run by an engine of the same class on a copy of its store (no import of the engine
    module here: the engine imports this one)."""
    if engine.store.url.get_backend_name() not in ("sqlite", "postgresql"):
        raise NotImplementedError("dry runs need the SQLite or PostgreSQL store")
    planner = _Planner()
    with tempfile.TemporaryDirectory(prefix="navbill-dry-run-") as folder:
        copy = _copy_store(engine.store, Path(folder))
        planner.lookup = lambda vendor_id: _linked_name(copy, vendor_id)
        try:
            shadow = type(engine)(copy, DryNavClient(engine.nav, planner), DryBillClient(engine.bill, planner),
                                engine.settings, engine.clock)
            shadow.read_reference_in_full = engine.read_reference_in_full
            report = shadow._run(flows, progress, cancel, trigger, dry_run=True)
        finally:
            copy.close()
    report.dry_run = True
    report.plan = planner.writes
    with engine.store.session() as s:
        run = t.Run(flows=list(flows), trigger=trigger, dry_run=True, started_at=datetime.now(UTC),
                    finished_at=datetime.now(UTC), status=report.status, counts=report.as_dict()["flows"],
                    nav_calls=report.nav_calls, bill_calls=report.bill_calls,
                    message="; ".join(report.errors)[:4000])
        s.add(run)
        s.flush()
        report.run_id = run.id
    return report
