"""The records the connector moves, in one vocabulary for both systems.

The NAV and BILL clients translate their wire payloads into these types, and the engine
only ever sees these types. Amounts are Decimal (money is never a float here); times are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from app.domain.bank import BankDetails

# The vendor fields that sync both ways. A conflict is decided per field of this list.
VENDOR_SYNC_FIELDS: tuple[str, ...] = (
    "name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "email",
    "phone",
    "tax_id",
    "is_1099",
    "inactive",
)


LOCAL_CURRENCY = "USD"  # BILL organizations pay in US dollars; another currency is held for a person


@dataclass(frozen=True)
class VendorFields:
    """The comparable part of a vendor, the same on both sides.

    ``inactive`` is NAV's Blocked (any value but blank) and BILL's ``archived``.
    ``is_1099`` is NAV's IRS 1099 Code being set and BILL's ``additionalInfo.track1099``.
    Empty values are "" (never None) so that a missing field and an empty one compare equal.
    """

    name: str
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""
    tax_id: str = ""
    is_1099: bool = False
    inactive: bool = False

    def as_dict(self) -> dict[str, str | bool]:
        return {name: getattr(self, name) for name in VENDOR_SYNC_FIELDS}

    @classmethod
    def from_dict(cls, values: dict) -> VendorFields:
        return cls(**{k: values[k] for k in VENDOR_SYNC_FIELDS if k in values})


@dataclass(frozen=True)
class NavVendor:
    number: str  # NAV "No." — the permanent key on the NAV side
    fields: VendorFields
    last_modified: datetime | None = None
    etag: str = ""
    system_id: str = ""  # BC API GUID, when the API shape is used


@dataclass(frozen=True)
class BillVendor:
    id: str  # BILL vendor id, prefix 009
    fields: VendorFields
    updated_time: datetime | None = None
    created_time: datetime | None = None
    bank: BankDetails | None = None  # None: BILL sent no paymentInformation (nothing known)


@dataclass(frozen=True)
class InvoiceLine:
    line_no: int
    gl_account: str  # NAV G/L account No.; "" for non-G/L lines (items are posted to their G/L account by NAV)
    description: str
    amount: Decimal
    dimensions: dict[str, str] = field(default_factory=dict)  # dimension code -> value code
    quantity: Decimal = Decimal("1")
    line_type: str = "G/L Account"  # NAV's line type in English: G/L Account, Item, Resource, Fixed Asset, ...
    object_number: str = ""  # the item, resource or asset No. of a line that is not a G/L account line


@dataclass(frozen=True)
class PostedInvoice:
    """A posted NAV purchase invoice. Purchase orders never become one of these."""

    number: str  # NAV posted invoice No.
    vendor_number: str
    vendor_invoice_number: str
    posting_date: date
    document_date: date
    due_date: date
    amount: Decimal  # excluding tax, sum of the lines
    amount_including_tax: Decimal
    currency: str = ""  # ISO code; "" = the company's local currency where NAV does not name it (the classic pages)
    lines: tuple[InvoiceLine, ...] = ()
    last_modified: datetime | None = None
    cancelled: bool = False  # NAV cancelled it with a corrective credit memo: it must not be paid
    remaining_amount: Decimal | None = None  # what is still owed in NAV, where the backend can say
    system_id: str = ""  # the BC API id (stable from draft to posted)
    status: str = ""  # BC API v2.0: Open | Paid | Corrective | Canceled ("" where the backend has none)


@dataclass(frozen=True)
class GLAccount:
    number: str
    name: str
    account_type: str = "Posting"  # Posting, Heading, Total, Begin-Total, End-Total
    income_balance: str = ""  # "Income Statement" or "Balance Sheet"
    blocked: bool = False
    category: str = ""  # Assets, Liabilities, Equity, Income, Cost of Goods Sold, Expense ("" when NAV has none)


@dataclass(frozen=True)
class Dimension:
    code: str
    name: str


@dataclass(frozen=True)
class DimensionValue:
    dimension_code: str
    code: str
    name: str
    blocked: bool = False


@dataclass(frozen=True)
class ChartOfAccount:
    """A BILL chart-of-accounts entry (id prefix 0ca)."""

    id: str
    name: str
    number: str = ""
    account_type: str = ""
    archived: bool = False
    parent_id: str = ""


class ClassificationKind(StrEnum):
    DEPARTMENT = "departments"
    LOCATION = "locations"
    ACCOUNTING_CLASS = "accounting-classes"
    JOB = "jobs"


# Where each BILL classification kind goes on a bill line's "classifications" object.
CLASSIFICATION_LINE_FIELD: dict[ClassificationKind, str] = {
    ClassificationKind.DEPARTMENT: "departmentId",
    ClassificationKind.LOCATION: "locationId",
    ClassificationKind.ACCOUNTING_CLASS: "accountingClassId",
    ClassificationKind.JOB: "jobId",
}


@dataclass(frozen=True)
class Classification:
    kind: ClassificationKind
    id: str
    name: str
    short_name: str = ""
    archived: bool = False


@dataclass(frozen=True)
class BillLine:
    amount: Decimal
    description: str
    chart_of_account_id: str
    classifications: dict[str, str] = field(default_factory=dict)  # e.g. {"departmentId": "0de..."}
    id: str = ""


class PaymentStatus(StrEnum):
    UNPAID = "UNPAID"
    SCHEDULED = "SCHEDULED"
    PARTIAL = "PARTIAL"
    PAID = "PAID"
    UNDEFINED = "UNDEFINED"


@dataclass(frozen=True)
class Bill:
    id: str  # prefix 00n; "" before creation
    vendor_id: str
    invoice_number: str
    invoice_date: date
    due_date: date
    amount: Decimal
    lines: tuple[BillLine, ...]
    description: str = ""
    payment_status: str = PaymentStatus.UNPAID
    paid_amount: Decimal = Decimal("0")
    due_amount: Decimal = Decimal("0")
    archived: bool = False
    updated_time: datetime | None = None


@dataclass(frozen=True)
class BillPaymentAllocation:
    bill_id: str
    amount: Decimal  # the cash paid on this bill
    credits: tuple = ()  # app.domain.credits.AppliedCredit: vendor credits BILL applied to this bill in the payment


@dataclass(frozen=True)
class Payment:
    """A BILL payment (id prefix stp). Only ``settled`` payments are posted to NAV."""

    id: str
    vendor_id: str
    amount: Decimal
    process_date: date
    status: str
    single_status: str
    allocations: tuple[BillPaymentAllocation, ...]
    updated_time: datetime | None = None
    currency: str = ""  # ISO code when BILL says it ("" = the organization's currency)

    @property
    def settled(self) -> bool:
        # BILL's unified lifecycle: money has left (or reached the vendor). Scheduled,
        # cancelled, voided or failed payments are not posted to the ledger.
        return self.status == "PAID" or self.single_status in {"CLEARED", "DELIVERED", "PROCESSED"}


@dataclass(frozen=True)
class JournalLine:
    """A NEW general journal line to create in NAV (posted entries are never modified)."""

    document_number: str
    posting_date: date
    vendor_number: str
    amount: Decimal  # positive: a payment reduces what we owe the vendor
    applies_to_invoice: str  # NAV posted invoice No. the payment is applied to
    external_document_number: str  # the BILL payment id: our idempotency key in NAV
    description: str
    balancing_account_type: str = "Bank Account"  # or "G/L Account"
    balancing_account_number: str = ""
    # A credit memo applied through the payment (app.engine.credits) is two lines of this kind: +credit applied to
    # the invoice and -credit applied to the credit memo, document type blank, no balancing account (they balance
    # each other), so the invoice is closed by the payment and the credit memo together.
    document_type: str = "Payment"  # or " "
    applies_to_type: str = "Invoice"  # or "Credit Memo"


def payment_description(payment_id: str, dated: date | None = None) -> str:
    """The description of every NAV journal line a BILL payment becomes; Business Central's G/L entries keep it,
    so a posted payment is found by it where the API shows no external document number. ``dated``: the payment's
    own date, when it is posted on another (its period is closed in NAV; ``app.domain.periods``)."""
    text = f"BILL payment {payment_id}"
    if dated is not None:
        text += f" (dated {dated.isoformat()})"
    return text[:100]


def is_payment_description(description: str, payment_id: str) -> bool:
    """The description the connector gives this BILL payment's lines, with or without a shifted date."""
    plain = payment_description(payment_id)
    return description == plain or (description.startswith(plain + " (dated ") and description.endswith(")"))


@dataclass(frozen=True)
class PaymentPosting:
    """What became of a BILL payment's journal lines in NAV."""

    posted: bool  # True: posted (ledger entries exist); False: written to the batch, waiting to be posted
    batch: str  # "PAYMENT/BILL": where the lines are or were
    entries: tuple[PostedPayment, ...] = ()


@dataclass(frozen=True)
class PostedPayment:
    """A vendor ledger entry of type Payment found in NAV (used to look before writing)."""

    entry_number: int
    document_number: str
    external_document_number: str
    vendor_number: str
    amount: Decimal
    posting_date: date


@dataclass(frozen=True)
class UnreadableRecord:
    """A record from NAV or BILL that could not be parsed into a domain type.

    Client iterators yield one of these in place of the record, so the stream goes on; the engine holds it
    in the failed queue with ``reason`` and moves its bookmark past it. ``value`` is the raw value, shortened
    (``app.domain.values.shown``); never a secret (clients only report record fields).
    """

    system: str  # "NAV" or "BILL"
    kind: str  # "vendor", "posted invoice", "bill", "payment", "G/L account", ...
    key: str  # the record's number or id as far as it could be read ("" when even that is missing)
    field: str  # the field that did not parse, as the system names it (e.g. "Posting_Date", "amount")
    value: str
    reason: str  # plain sentence, e.g. "the date '31/12/2026' is not an ISO date (YYYY-MM-DD)"

    @property
    def label(self) -> str:
        return f"{self.system} {self.kind} {self.key}".rstrip() if self.key else f"{self.system} {self.kind}"

    @property
    def message(self) -> str:
        return (f"{self.label}: field {self.field} could not be read ({self.reason}). Correct it in "
                f"{self.system}; the record is tried again at the next sync.")
