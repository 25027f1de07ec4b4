"""The store's tables (SQLAlchemy 2.x declarative), for SQLite (the embedded default) and PostgreSQL (a
team's shared store). Money comes back as an exact Decimal: text on SQLite, NUMERIC on PostgreSQL.

Times are stored as UTC: SQLite keeps them as ISO text (``UtcDateTime`` restores the zone), PostgreSQL as
``timestamp with time zone``; either way the app sees timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    cast,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def Json(none_as_null: bool = False):  # noqa: N802 - a type, named like one
    """JSON (text) on SQLite; JSONB on PostgreSQL, whose plain json has no equality (the engine compares
    snapshots in SQL)."""
    return JSON(none_as_null=none_as_null).with_variant(JSONB(none_as_null=none_as_null), "postgresql")


def json_set(column):
    """SQL: a nullable JSON column holds a value (neither SQL NULL nor the JSON text 'null')."""
    return and_(column.is_not(None), cast(column, Text) != "null")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _postgres(dialect) -> bool:
    return dialect.name == "postgresql"


class DecimalText(TypeDecorator):
    """Decimal <-> TEXT on SQLite (its NUMERIC is a float underneath, and money must not become one);
    PostgreSQL's NUMERIC (no precision given: arbitrary, exact, keeps the scale: 1130.00 stays 1130.00)."""

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if _postgres(dialect):
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Any, dialect) -> Any:
        if value is None:
            return None
        return Decimal(value) if _postgres(dialect) else str(Decimal(value))

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UtcDateTime(TypeDecorator):
    """A naive datetime is taken as UTC (as the app has always written them); an aware one is converted."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if _postgres(dialect):
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if _postgres(dialect):  # timestamptz: always send an aware value, never the server's local zone
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: Json(), list[Any]: Json(), datetime: UtcDateTime, Decimal: DecimalText}


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class VendorLink(Base):
    """NAV vendor No. ⇄ BILL vendor id, with each side's last-synced fields for three-way comparison.

    ``*_pending`` hold a side's current fields seen by a run but not yet reconciled: a run that stops
    half way leaves them here and the next run finishes the job (the bookmark has already moved on).
    """

    __tablename__ = "vendor_links"
    __table_args__ = (Index("ux_vendor_links_bill_linked", "bill_id", unique=True,
                            sqlite_where=text("status = 'linked'"),
                            postgresql_where=text("status = 'linked'")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    nav_number: Mapped[str] = mapped_column(String(20), unique=True)
    bill_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(12))  # linked | proposed | ambiguous | rejected
    match_reason: Mapped[str] = mapped_column(Text, default="")
    candidate_ids: Mapped[list[Any]] = mapped_column(default=list)
    nav_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bill_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # None is stored as SQL NULL (rows written before this may hold the JSON text 'null': see ``json_set``).
    nav_pending: Mapped[dict[str, Any] | None] = mapped_column(Json(none_as_null=True), nullable=True)
    bill_pending: Mapped[dict[str, Any] | None] = mapped_column(Json(none_as_null=True), nullable=True)
    nav_etag: Mapped[str] = mapped_column(Text, default="")
    nav_modified: Mapped[datetime | None] = mapped_column(nullable=True)
    bill_updated: Mapped[datetime | None] = mapped_column(nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceLink(Base):
    __tablename__ = "invoice_links"
    nav_number: Mapped[str] = mapped_column(String(20), primary_key=True)
    vendor_number: Mapped[str] = mapped_column(String(20), index=True)
    vendor_invoice_number: Mapped[str] = mapped_column(String(60), default="")
    bill_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), default="")
    state: Mapped[str] = mapped_column(String(12))  # created | held
    amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Added in schema version 3: the NAV invoice's own dates (NULL on links recorded before it).
    posting_date: Mapped[date | None] = mapped_column(nullable=True)
    document_date: Mapped[date | None] = mapped_column(nullable=True)
    due_date: Mapped[date | None] = mapped_column(nullable=True)


class PaymentLink(Base):
    __tablename__ = "payment_links"
    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bill_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_number: Mapped[str] = mapped_column(String(20), default="")
    nav_invoice_number: Mapped[str] = mapped_column(String(20), default="")
    nav_document_number: Mapped[str] = mapped_column(String(20), default="")
    amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    state: Mapped[str] = mapped_column(String(12))  # posted | held
    posted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Bookmark(Base):
    __tablename__ = "bookmarks"
    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEntry(Base):
    """A write to NAV or BILL, recorded (and committed) before it is sent.

    ``in_flight`` means "sent, outcome not recorded": whoever finds such a row must look in the target
    system before sending again.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    system: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(40))
    record: Mapped[str] = mapped_column(String(120), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QueueItem(Base):
    """A record the engine could not move: held (needs the user) or failed (will be retried)."""

    __tablename__ = "queue_items"
    __table_args__ = (UniqueConstraint("kind", "record_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # vendor | bill_vendor | invoice | payment | conflict
    record_key: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retry_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | resolved | skipped
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conflict(Base):
    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(20), default="vendor")
    record_key: Mapped[str] = mapped_column(String(40), index=True)  # NAV vendor No.
    bill_id: Mapped[str] = mapped_column(String(40), default="")
    field: Mapped[str] = mapped_column(String(40))
    nav_value: Mapped[Any] = mapped_column(Json(), nullable=True)
    nav_time: Mapped[datetime | None] = mapped_column(nullable=True)
    bill_value: Mapped[Any] = mapped_column(Json(), nullable=True)
    bill_time: Mapped[datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | chosen | applied
    chosen_side: Mapped[str] = mapped_column(String(4), default="")  # nav | bill
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AccountMapping(Base):
    __tablename__ = "account_mappings"
    __table_args__ = (UniqueConstraint("nav_account", "dimension_filter_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    nav_account: Mapped[str] = mapped_column(String(20), index=True)
    dimension_filter: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"DEPARTMENT": "PROD"}; {} = any
    dimension_filter_key: Mapped[str] = mapped_column(String(200), default="")
    bill_account_id: Mapped[str] = mapped_column(String(40))
    classifications: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"departmentId": "0de…"}
    source: Mapped[str] = mapped_column(String(10), default="user")  # suggested | user
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DimensionMapping(Base):
    __tablename__ = "dimension_mappings"
    dimension_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    value_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    classification_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10), default="user")
    reason: Mapped[str] = mapped_column(Text, default="")


class NavGLAccountCache(Base):
    __tablename__ = "nav_gl_accounts"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    account_type: Mapped[str] = mapped_column(String(20), default="Posting")
    income_balance: Mapped[str] = mapped_column(String(30), default="")
    blocked: Mapped[bool] = mapped_column(default=False)


class NavDimensionCache(Base):
    __tablename__ = "nav_dimensions"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")


class NavDimensionValueCache(Base):
    __tablename__ = "nav_dimension_values"
    dimension_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    blocked: Mapped[bool] = mapped_column(default=False)


class BillAccountCache(Base):
    __tablename__ = "bill_accounts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    number: Mapped[str] = mapped_column(String(40), default="")
    account_type: Mapped[str] = mapped_column(String(40), default="")
    archived: Mapped[bool] = mapped_column(default=False)


class BillClassificationCache(Base):
    __tablename__ = "bill_classifications"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200), default="")
    short_name: Mapped[str] = mapped_column(String(60), default="")
    archived: Mapped[bool] = mapped_column(default=False)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="running")  # running|completed|failed|cancelled
    trigger: Mapped[str] = mapped_column(String(40), default="manual")
    flows: Mapped[list[Any]] = mapped_column(default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    nav_calls: Mapped[int] = mapped_column(default=0)
    bill_calls: Mapped[int] = mapped_column(default=0)
    dry_run: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    system: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(40))
    record: Mapped[str] = mapped_column(String(120), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(Json(), nullable=True)


# -- added in schema version 2 ---------------------------------------------------------------------


class NumberSeries(Base):
    """Counters for numbers the connector assigns in NAV (new vendors, payment documents)."""

    __tablename__ = "number_series"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(10))
    next_value: Mapped[int] = mapped_column(default=1)
    width: Mapped[int] = mapped_column(default=5)


class BillVendorCandidate(Base):
    """Unlinked BILL vendors with their normalised identities, for matching without holding them in memory."""

    __tablename__ = "bill_vendor_candidates"
    bill_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    exact_name: Mapped[str] = mapped_column(String(200), index=True)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    email_key: Mapped[str] = mapped_column(String(200), index=True)
    tax_key: Mapped[str] = mapped_column(String(40), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_time: Mapped[datetime | None] = mapped_column(nullable=True)
    # claimed = a NAV vendor proposes or links to it; otherwise it may become a new NAV vendor
    claimed_by: Mapped[str] = mapped_column(String(20), default="", index=True)


# Version-1 tables whose current model still has its version-1 shape. A table altered by a later step
# has a frozen version-1 definition in migrations.py instead (invoice_links: dates added in version 3).
V1_TABLES = [t for name, t in Base.metadata.tables.items() if name not in ("number_series",
                                                                            "bill_vendor_candidates",
                                                                            "invoice_links")]
V2_TABLES = [Base.metadata.tables["number_series"], Base.metadata.tables["bill_vendor_candidates"]]
V3_INVOICE_DATE_COLUMNS = [InvoiceLink.__table__.c.posting_date, InvoiceLink.__table__.c.document_date,
                           InvoiceLink.__table__.c.due_date]
