"""A small versioned schema runner: ordered steps, one ``schema_version`` row per applied step.

A newer app opens an older database by applying the missing steps in order; the database file is
copied aside before the first step runs (``navbill.sqlite3.v1-20261102T101500.bak``), so a failed
upgrade never loses data. A database newer than the app is refused rather than guessed at.

Steps must never change once released: a later change to a table is a new step. (Step 1 creates the
version-1 tables from the current models, except those a later step alters: their version-1
definitions are frozen here, as ``invoice_links`` is.)
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Connection, Engine, Index, MetaData, String, Table, inspect, select, text

from app.store import schema

log = logging.getLogger("navbill.store")


# invoice_links as version 1 created it; version 3 adds its date columns.
_V1_INVOICE_LINKS = Table(
    "invoice_links", MetaData(),
    Column("nav_number", String(20), primary_key=True),
    Column("vendor_number", String(20), nullable=False),
    Column("vendor_invoice_number", String(60), nullable=False),
    Column("bill_id", String(40), nullable=False),
    Column("idempotency_key", String(80), nullable=False),
    Column("state", String(12), nullable=False),
    Column("amount", schema.DecimalText, nullable=False),
    Column("created_at", schema.UtcDateTime, nullable=False),
    Column("updated_at", schema.UtcDateTime, nullable=False),
    Index("ix_invoice_links_vendor_number", "vendor_number"),
    Index("ix_invoice_links_bill_id", "bill_id"),
)


def _v1_initial(connection: Connection) -> None:
    schema.Base.metadata.create_all(connection, tables=schema.V1_TABLES)
    _V1_INVOICE_LINKS.create(connection)


def _v2_number_series_and_candidates(connection: Connection) -> None:
    schema.Base.metadata.create_all(connection, tables=schema.V2_TABLES)


def _v3_invoice_dates(connection: Connection) -> None:
    # Added nullable and without a default: links recorded before this step keep NULL dates.
    for column in schema.V3_INVOICE_DATE_COLUMNS:
        column_type = column.type.compile(dialect=connection.dialect)
        connection.execute(text(f"ALTER TABLE invoice_links ADD COLUMN {column.name} {column_type}"))


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial tables", _v1_initial),
    (2, "number series and BILL vendor match index", _v2_number_series_and_candidates),
    (3, "posting, document and due dates on invoice links", _v3_invoice_dates),
]
LATEST_VERSION = MIGRATIONS[-1][0]


def current_version(connection: Connection) -> int:
    if not inspect(connection).has_table("schema_version"):
        return 0
    version = connection.execute(select(schema.SchemaVersion.version).order_by(
        schema.SchemaVersion.version.desc()).limit(1)).scalar()
    return version or 0


def backup_file(database_file: Path, version: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = database_file.with_name(f"{database_file.name}.v{version}-{stamp}.bak")
    shutil.copy2(database_file, target)
    for suffix in ("-wal",):  # committed pages not yet checkpointed live here
        side = database_file.with_name(database_file.name + suffix)
        if side.exists():
            shutil.copy2(side, target.with_name(target.name + suffix))
    target.chmod(0o600)
    return target


def migrate(engine: Engine, database_file: Path | None, target: int = LATEST_VERSION) -> int:
    """Bring the schema up to ``target``; returns the version before. Raises ValueError if too new."""
    with engine.connect() as connection:
        before = current_version(connection)
    if before > LATEST_VERSION:
        raise ValueError(f"the database was written by a newer version of the app (schema {before}, "
                         f"this app knows up to {LATEST_VERSION})")
    pending = [m for m in MIGRATIONS if before < m[0] <= target]
    if not pending:
        return before
    if before > 0 and database_file is not None and database_file.exists():
        copy = backup_file(database_file, before)
        log.info("Database backed up to %s before upgrading from schema %d", copy.name, before)
    for version, title, step in pending:
        with engine.begin() as connection:
            if version == 1:
                schema.Base.metadata.create_all(connection, tables=[schema.SchemaVersion.__table__])
            step(connection)
            connection.execute(schema.SchemaVersion.__table__.insert().values(
                version=version, applied_at=datetime.now(UTC).replace(tzinfo=None)))
        log.info("Database schema %d applied: %s", version, title)
    return before
