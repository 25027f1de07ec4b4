"""What each screen shows, as plain frozen dataclasses, and what the screens can ask for.

The window never talks to the store or the engine directly: it talks to a ``ConnectorBackend``
(see ``backend.py``), whose read methods return these rows and whose commands change one record.
Every backend method may block (database, network), so the window only calls them from workers.
Nothing here imports Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class VendorState(StrEnum):
    LINKED = "linked"
    ONLY_NAV = "only in NAV"
    ONLY_BILL = "only in BILL"
    PROPOSED = "proposed match"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class VendorDiffRow:
    state: VendorState
    nav_number: str = ""
    bill_id: str = ""
    nav_fields: dict[str, Any] = field(default_factory=dict)  # VENDOR_SYNC_FIELDS -> value
    bill_fields: dict[str, Any] = field(default_factory=dict)
    conflict_fields: tuple[str, ...] = ()  # the fields both sides changed: the user picks a side
    reason: str = ""  # why a match was proposed, or what the conflict is about
    suggested_sides: dict[str, str] = field(default_factory=dict)  # conflict field -> "nav"|"bill" (newer change)
    unlinked: bool = False  # unlinked by a person: shown until linked again or the next sync reads it

    @property
    def name(self) -> str:
        return str(self.nav_fields.get("name") or self.bill_fields.get("name") or "")

    def differing_fields(self) -> tuple[str, ...]:
        if not (self.nav_fields and self.bill_fields):
            return ()
        return tuple(k for k in self.nav_fields if k in self.bill_fields and self.nav_fields[k] != self.bill_fields[k])


class HoldReason(StrEnum):
    NONE = ""
    UNLINKED_VENDOR = "unlinked vendor"
    UNMAPPED_ACCOUNT = "unmapped account"
    UNMAPPED_DIMENSION = "unmapped dimension value"
    OTHER = "other"


@dataclass(frozen=True)
class PendingInvoiceRow:
    nav_number: str
    vendor_number: str
    vendor_name: str
    vendor_invoice_number: str
    posting_date: date | None
    due_date: date | None
    amount: Decimal
    held: bool
    hold_reason: HoldReason = HoldReason.NONE
    reason_text: str = ""  # the reason in plain words
    gl_account: str = ""  # the unmapped account, when that is the reason
    dimension: tuple[str, str] = ()  # (dimension code, value code) without a BILL classification
    bill_id: str = ""  # set once the bill exists in BILL
    item_id: str = ""  # the held item in the queue (Retry now, Skip)
    currency: str = ""

    @property
    def status_text(self) -> str:
        return "Held" if self.held else "In BILL" if self.bill_id else "Waiting"

    flow = "invoices"

    @property
    def record(self) -> str:
        return self.nav_number

    @property
    def document(self) -> str:
        return f"Invoice {self.nav_number}" + (f" (vendor's {self.vendor_invoice_number})"
                                               if self.vendor_invoice_number else "")

    @property
    def label(self) -> str:
        vendor = self.vendor_name or f"vendor {self.vendor_number}"
        return f"{self.document} ({vendor}, {money(self.amount, self.currency)})"


@dataclass(frozen=True)
class PaymentRow:
    bill_payment_id: str
    vendor_name: str
    amount: Decimal
    process_date: date | None
    posted: bool
    nav_document_numbers: tuple[str, ...] = ()
    applies_to: tuple[str, ...] = ()  # NAV posted invoice numbers
    note: str = ""


FLOW_OF_KIND = {"vendor": "vendors", "bill vendor": "vendors", "invoice": "invoices", "payment": "payments"}


@dataclass(frozen=True)
class FailedItemRow:
    item_id: str
    kind: str  # vendor, bill vendor, invoice, payment
    record: str  # the store's key, e.g. "PI-1001"
    error: str  # plain words, in full
    held: bool
    attempts: int = 0
    last_attempt: datetime | None = None
    vendor: str = ""  # the vendor's name (and number)
    document: str = ""  # "Invoice 108007 (vendor's AC-7781)", "BILL payment stp01…"
    amount: Decimal | None = None
    currency: str = ""
    date: date | None = None  # the document's date (posting or payment date)
    hold_reason: HoldReason = HoldReason.NONE
    vendor_number: str = ""
    gl_account: str = ""
    dimension: tuple[str, str] = ()

    @property
    def flow(self) -> str:
        return FLOW_OF_KIND.get(self.kind, "")

    @property
    def label(self) -> str:
        """How messages name it: "invoice 108007 (Acme Steel Supply, 1,250.00 USD)"."""
        what = ", ".join(p for p in (self.vendor, money(self.amount, self.currency) if self.amount is not None
                                     else "") if p)
        return f"{self.document or f'{self.kind} {self.record}'}" + (f" ({what})" if what else "")


@dataclass(frozen=True)
class MappingRow:
    nav_account: str
    nav_account_name: str
    dimensions: dict[str, str] = field(default_factory=dict)  # NAV dimension code -> value code
    bill_account_id: str = ""
    bill_account_name: str = ""
    classifications: dict[str, str] = field(default_factory=dict)  # BILL kind -> classification name
    suggested_account_id: str = ""
    suggested_account_name: str = ""
    suggestion_reason: str = ""
    source: str = ""  # "user" (chosen by a person) | "suggested" (filled in by the connector)
    invoices_waiting: int = 0  # held invoices with a line on this account while it is unmapped

    @property
    def mapped(self) -> bool:
        return bool(self.bill_account_id)

    @property
    def awaiting_confirmation(self) -> bool:
        """A suggestion nobody has confirmed yet (in use or not)."""
        if self.mapped:
            return self.source == "suggested"
        return bool(self.suggested_account_id)

    @property
    def proposed_account_id(self) -> str:
        return self.suggested_account_id or self.bill_account_id

    @property
    def dimensions_text(self) -> str:
        return ", ".join(f"{code}={value}" for code, value in sorted(self.dimensions.items()))


@dataclass(frozen=True)
class DimensionMappingRow:
    """A NAV dimension value → a BILL classification (department, location, class or job)."""

    dimension_code: str
    value_code: str
    value_name: str = ""
    classification_id: str = ""
    classification_label: str = ""  # "Accounting class: Line 3 Retrofit"
    source: str = ""  # user | suggested | "" (not mapped)
    suggested_id: str = ""
    suggested_label: str = ""
    suggestion_reason: str = ""
    required: bool = False  # the dimension is mapped, so invoice lines with this value wait for a mapping
    blocked: bool = False

    @property
    def mapped(self) -> bool:
        return bool(self.classification_id)

    @property
    def awaiting_confirmation(self) -> bool:
        if self.mapped:
            return self.source == "suggested"
        return bool(self.suggested_id)

    @property
    def proposed_id(self) -> str:
        return self.suggested_id or self.classification_id


@dataclass(frozen=True)
class ClassificationChoice:
    id: str
    kind: str
    label: str  # "Accounting class: Line 3 Retrofit"


@dataclass(frozen=True)
class BillAccountChoice:
    id: str
    label: str  # "6100 Office Supplies"
    kind: str = ""  # BILL's account type: EXPENSE, COST_OF_GOODS_SOLD, BANK, ACCOUNTS_PAYABLE, ...


# BILL account types an invoice line's expense must not land on (without an explicit "Map anyway").
UNSUITABLE_ACCOUNT_TYPES = {
    "BANK": "a bank account", "ACCOUNTS_PAYABLE": "the Accounts Payable account",
    "ACCOUNTS_RECEIVABLE": "the Accounts Receivable account", "HEADING": "a heading (it cannot be posted to)",
    "HEADER": "a heading (it cannot be posted to)", "EQUITY": "an equity account",
}


def account_mapping_warning(row: MappingRow, choice: BillAccountChoice) -> str:
    """Why mapping ``row`` to ``choice`` is probably wrong ("" when it looks right)."""
    what = UNSUITABLE_ACCOUNT_TYPES.get((choice.kind or "").upper().replace(" ", "_"))
    if not what:
        return ""
    return (f"BILL account “{choice.label}” is {what}. Invoice lines on NAV G/L {row.nav_account} "
            f"“{row.nav_account_name}” are expenses: mapped there, every bill line would book the cost to "
            f"{what} instead of an expense account.")


_DIMENSION_KIND_HINTS = (("DEPART", "department"), ("LOCAT", "location"), ("AREA", "location"),
                         ("SITE", "location"), ("PROJ", "class"), ("JOB", "job"), ("CLASS", "class"))


def dimension_mapping_warning(row: DimensionMappingRow, choice: ClassificationChoice,
                              rows: Sequence[DimensionMappingRow], kinds: dict[str, str]) -> str:
    """Why mapping a dimension value to ``choice`` is probably the wrong classification ("" when fine).

    The other values of the same dimension decide (PROJECT values go to classes: a Department is wrong);
    with none mapped yet, the dimension's code does (DEPARTMENT → departments)."""
    used = {kinds.get(r.classification_id, "") for r in rows
            if r.dimension_code == row.dimension_code and r.mapped and r.value_code != row.value_code}
    used.discard("")
    if used:
        if choice.kind in used:
            return ""
        names = ", ".join(sorted(_kind_word(k) for k in used))
        return (f"Other {row.dimension_code} values go to BILL {names}; “{choice.label}” would put "
                f"{row.dimension_code} {row.value_code} “{row.value_name}” in a {_kind_word(choice.kind)} instead.")
    code = row.dimension_code.upper()
    expected = next((kind for hint, kind in _DIMENSION_KIND_HINTS if hint in code), "")
    if expected and expected not in choice.kind.lower():
        return (f"{row.dimension_code} {row.value_code} “{row.value_name}” looks like a {expected}, but "
                f"“{choice.label}” is a BILL {_kind_word(choice.kind)}.")
    return ""


def _kind_word(kind: str) -> str:
    kind = (kind or "").lower()
    for word in ("department", "location", "class", "job"):
        if word in kind:
            return word
    return kind or "classification"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started: datetime | None
    finished: datetime | None
    status: str
    dry_run: bool
    summary: str


@dataclass(frozen=True)
class AuditRow:
    time: datetime | None
    actor: str  # "sync", "user", "webhook"
    action: str
    record: str
    detail: str


@dataclass(frozen=True)
class SyncOutcome:
    """The part of the engine's run report the window shows."""

    ok: bool
    dry_run: bool
    summary: str
    needs_attention: int = 0  # held items + conflicts + failures after the run
    details: tuple[str, ...] = ()  # one sentence per planned or made change (the dry-run preview)
    offline: bool = False  # a side could not be reached
    started: datetime | None = None


@dataclass(frozen=True)
class StatusInfo:
    last_sync: datetime | None = None
    next_sync: datetime | None = None
    nav_mode: str = "polling"  # "push" or "polling"
    nav_mode_reason: str = ""
    bill_mode: str = "polling"
    bill_mode_reason: str = ""
    subscription_expiry: datetime | None = None
    paused: bool = False
    last_problem: str = ""  # the last real run ended with errors: what they were (until a clean run)
    bill_requests: str = ""  # "BILL requests this hour: used / limit" ("" without a profile)
    bill_requests_detail: str = ""  # the stop line, the headroom kept, when the count starts again


ProgressCallback = Callable[[str, int, int], None]  # message, done, total (total 0 = unknown)


class ConnectorBackend(Protocol):
    """Everything the window reads and asks. Implementations may block; call them from workers."""

    # reads
    def vendor_diff(self) -> Sequence[VendorDiffRow]: ...
    def pending_invoices(self) -> Sequence[PendingInvoiceRow]: ...
    def payments(self) -> Sequence[PaymentRow]: ...
    def failed_items(self) -> Sequence[FailedItemRow]: ...
    def mappings(self) -> Sequence[MappingRow]: ...
    def bill_accounts(self) -> Sequence[BillAccountChoice]: ...
    def runs(self) -> Sequence[RunRow]: ...
    def audit_log(self) -> Sequence[AuditRow]: ...
    def status(self) -> StatusInfo: ...

    # commands
    def link(self, nav_number: str, bill_id: str) -> None: ...
    def unlink(self, nav_number: str) -> None: ...
    def accept_proposal(self, nav_number: str) -> None: ...
    def resolve_conflict(self, nav_number: str, winners: dict[str, str]) -> None: ...  # field -> "nav"|"bill"
    def retry(self, item_id: str) -> None: ...
    def retry_all(self) -> int: ...
    def skip(self, item_id: str, note: str) -> None: ...
    def set_mapping(self, nav_account: str, dimensions: dict[str, str], bill_account_id: str) -> None: ...
    def dimension_mappings(self) -> Sequence[DimensionMappingRow]: ...
    def classification_choices(self) -> Sequence[ClassificationChoice]: ...
    def set_dimension_mapping(self, dimension_code: str, value_code: str, classification_id: str) -> None: ...
    def remove_dimension_mapping(self, dimension_code: str, value_code: str) -> None: ...
    def sync(self, *, dry_run: bool, progress: ProgressCallback, cancel: threading.Event) -> SyncOutcome: ...


DEFAULT_CURRENCY = "USD"  # BILL accounts payable works in US dollars; NAV's local currency for these companies


def money(amount: Any, currency: str = "") -> str:
    """1234.5 → "1,234.50 USD": every amount a clerk reads carries its currency."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except Exception:
        return f"{amount} {currency or DEFAULT_CURRENCY}"
    return f"{value:,.2f} {currency or DEFAULT_CURRENCY}"
