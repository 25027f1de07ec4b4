"""A BILL vendor credit (``/v3/vendor-credits``, id prefix ``vcr``): what a NAV posted purchase credit memo becomes.

Facts and sources: docs/vendor-credits.md. The flow that creates them from NAV is not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class AppliedCredit:
    """A BILL vendor credit applied to a bill within a payment (``billPayments[].vendorCredits[{id, amount}]``)."""

    vendor_credit_id: str
    amount: Decimal


@dataclass(frozen=True)
class VendorCreditLine:
    amount: Decimal
    description: str = ""
    chart_of_account_id: str = ""  # classifications.chartOfAccountId
    classifications: tuple[tuple[str, str], ...] = ()  # other classifications, e.g. ("departmentId", "0de…")


@dataclass(frozen=True)
class VendorCredit:
    vendor_id: str
    reference_number: str  # the NAV credit memo No.: how the connector finds its own credit again
    credit_date: date
    lines: tuple[VendorCreditLine, ...]
    description: str = ""
    id: str = ""  # "" before creation
    archived: bool = False

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


@dataclass(frozen=True)
class PostedCreditMemo:
    """A posted NAV purchase credit memo (Business Central API v2.0 ``purchaseCreditMemos``, BC 22/23+, or NAV
    2016-2018 pages 147/141)."""

    number: str
    vendor_number: str
    vendor_credit_memo_number: str
    posting_date: date
    document_date: date
    amount: Decimal  # excluding tax, as the lines
    amount_including_tax: Decimal
    status: str  # Open | Paid | Corrective | Canceled
    lines: tuple = ()  # app.domain.models.InvoiceLine: mapped to BILL exactly like an invoice's lines
    currency: str = ""
