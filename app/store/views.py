"""Plain, immutable rows the UI reads from the store. No ORM object ever leaves the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class FieldDiff:
    field: str
    nav_value: Any
    bill_value: Any


@dataclass(frozen=True)
class VendorRow:
    nav_number: str
    bill_id: str
    name: str
    status: str  # linked | proposed | ambiguous | rejected
    match_reason: str = ""
    candidate_ids: tuple[str, ...] = ()
    synced_at: datetime | None = None
    open_conflicts: int = 0
    differences: tuple[FieldDiff, ...] = ()  # fields where the last-synced values differ between the sides


@dataclass(frozen=True)
class ConflictRow:
    id: int
    entity: str
    record_key: str
    bill_id: str
    field: str
    nav_value: Any
    nav_time: datetime | None
    bill_value: Any
    bill_time: datetime | None
    state: str
    chosen_side: str


@dataclass(frozen=True)
class InvoiceRow:
    nav_number: str
    vendor_number: str
    vendor_invoice_number: str
    amount: Decimal
    bill_id: str
    state: str  # created | held
    reason: str = ""
    posting_date: date | None = None  # None on links recorded before the store kept dates (schema 3)
    document_date: date | None = None
    due_date: date | None = None


@dataclass(frozen=True)
class PaymentRow:
    payment_id: str
    bill_id: str
    vendor_number: str
    nav_invoice_number: str
    nav_document_number: str
    amount: Decimal
    state: str
    posted_at: datetime | None


@dataclass(frozen=True)
class QueueItemRow:
    id: int
    kind: str
    record_key: str
    reason: str
    retry_count: int
    last_error: str
    state: str
    retryable: bool
    note: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AccountMappingRow:
    nav_account: str
    nav_account_name: str
    dimension_filter: dict[str, str]
    bill_account_id: str
    bill_account_name: str
    bill_account_archived: bool
    classifications: dict[str, str]
    source: str
    reason: str = ""


@dataclass(frozen=True)
class DimensionMappingRow:
    dimension_code: str
    value_code: str
    value_name: str
    kind: str
    classification_id: str
    classification_name: str
    source: str


@dataclass(frozen=True)
class RunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    trigger: str
    flows: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    nav_calls: int
    bill_calls: int
    dry_run: bool
    message: str


@dataclass(frozen=True)
class AuditRow:
    id: int
    run_id: int | None
    at: datetime
    system: str
    action: str
    record: str
    detail: dict[str, Any] = field(default_factory=dict)
