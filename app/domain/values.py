"""Parsing of values that arrive from NAV and BILL, at the client boundary.

Each function takes what the wire gave (``None``, a string, a number) and returns a domain value or raises
``ValueError`` whose text says, in words a clerk reads, what is wrong with it. The clients turn that into an
``UnreadableRecord`` naming the record and the field, so one bad record is held and the rest of the run goes on.

Money is a finite ``Decimal`` with at most two decimals (more is rounded half-up to cents, as NAV and BILL
both keep amounts in cents); dates are ISO ``YYYY-MM-DD`` only: a date like ``31/12/2026`` is ambiguous
between countries and is refused rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
# Larger than any invoice or payment a small manufacturer books; beyond it a value is a data error
# (and BILL would refuse it anyway).
LARGEST_AMOUNT = Decimal("999999999.99")
RAW_VALUE_LIMIT = 80  # how much of an unreadable value is kept for the clerk to see


def shown(value: Any) -> str:
    """A raw value as a clerk may see it in a hold reason: short, one line."""
    text = "null" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= RAW_VALUE_LIMIT else text[: RAW_VALUE_LIMIT - 1] + "…"


def parse_amount(value: Any, *, allow_negative: bool = True) -> Decimal:
    """A finite amount in cents. ``None``, text, NaN, infinity and absurd sizes are refused."""
    if value is None or value == "":
        raise ValueError("the amount is empty")
    if isinstance(value, bool):
        raise ValueError(f"the amount {value!r} is not a number")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"the amount '{shown(value)}' is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"the amount '{shown(value)}' is not a finite number")
    if abs(amount) > LARGEST_AMOUNT:
        raise ValueError(f"the amount {shown(value)} is larger than any real invoice or payment")
    if amount < 0 and not allow_negative:
        raise ValueError(f"the amount {amount.quantize(CENT, ROUND_HALF_UP)} is negative")
    return amount.quantize(CENT, ROUND_HALF_UP)


def parse_quantity(value: Any) -> Decimal:
    """A line quantity: finite, may have more decimals than money."""
    if value is None or value == "":
        return Decimal("1")
    try:
        quantity = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"the quantity '{shown(value)}' is not a number") from None
    if not quantity.is_finite():
        raise ValueError(f"the quantity '{shown(value)}' is not a finite number")
    return quantity


def parse_date(value: Any) -> date:
    """An ISO date (``2026-12-31``, or the date part of an ISO date-time). Anything else is refused."""
    if value is None or value == "":
        raise ValueError("the date is empty")
    text = str(value).strip()
    try:
        parsed = date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"the date '{shown(value)}' is not an ISO date (YYYY-MM-DD)") from None
    if len(text) > 10 and text[10] not in "T ":
        raise ValueError(f"the date '{shown(value)}' is not an ISO date (YYYY-MM-DD)")
    if parsed == date(1, 1, 1):  # NAV's blank date (0D) as OData sends it
        raise ValueError("the date is blank in NAV (0001-01-01)")
    return parsed


def parse_optional_date(value: Any) -> date | None:
    """Like ``parse_date`` but an empty or blank (0001-01-01) value is ``None``."""
    if value is None or value == "" or str(value).startswith("0001-01-01"):
        return None
    return parse_date(value)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO date-time as an aware UTC datetime; ``None`` when empty. A naive value is taken as UTC."""
    if value is None or value == "" or str(value).startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"the time '{shown(value)}' is not an ISO date-time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_text(value: Any, *, required: str = "", limit: int = 0) -> str:
    """A text field, stripped; ``required`` names the field when it may not be empty."""
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ValueError(f"the {required} is empty")
    if limit and len(text) > limit:
        raise ValueError(f"the {required or 'text'} is {len(text)} characters long (at most {limit})")
    return text
