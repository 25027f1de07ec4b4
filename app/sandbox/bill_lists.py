"""BILL v3 list mechanics for the sandbox: ``max``, the opaque ``page`` cursor, ``filters`` and ``sort``.

Per https://developer.bill.com/docs/search-op-with-lists and /docs/filterable-fields:
``filters=field:op:value[,field:op:value]`` (comma = AND), operators eq ne gt gte lt lte in nin sw,
multi-value and date values in double quotes (``accountType:nin:"NONE,PERSON"``,
``createdTime:gte:"2025-09-01T00:00:00.000Z"``); ``sort=field:asc|desc``; ``max`` 1..100 (default 20);
the answer is ``{"nextPage", "prevPage", "results"}`` with a cursor only where there is a page to go to.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "sw")
DEFAULT_MAX = 20
LARGEST_MAX = 100

# Filterable fields per list, from BILL's filterable-fields page. Payments and classifications are
# not on the page excerpt we could read; the sandbox allows the obvious keys and says so here.
_TIMES = {"createdTime": ("gt", "gte", "lt", "lte"), "updatedTime": ("gt", "gte", "lt", "lte")}
FILTERABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "vendors": {
        "id": ("eq", "ne", "in"), "archived": ("eq", "ne"), "name": ("eq", "sw"),
        "accountType": ("eq", "ne", "in", "nin"), "address.country": ("eq", "ne"),
        "billCurrency": ("eq", "ne", "in", "nin"), "paymentStatus": ("eq", "ne", "in", "nin"), **_TIMES,
    },
    "bills": {
        "id": ("eq", "ne", "in"), "archived": ("eq", "ne"), "vendorId": ("eq", "in"),
        "dueDate": ("gt", "gte", "lt", "lte"), "paymentStatus": ("eq", "ne", "in"),
        "payFromChartOfAccountId": ("eq", "ne", "in"), **_TIMES,
    },
    "payments": {  # sandbox choice (not confirmed from BILL text)
        "id": ("eq", "ne", "in"), "vendorId": ("eq", "in"), "billId": ("eq", "in"),
        "status": ("eq", "ne", "in", "nin"), "singleStatus": ("eq", "ne", "in", "nin"),
        "processDate": ("gt", "gte", "lt", "lte"), **_TIMES,
    },
    "vendor-credits": {  # sandbox choice (BILL's filterable fields for vendor credits not read)
        "id": ("eq", "ne", "in"), "archived": ("eq", "ne"), "vendorId": ("eq", "in"),
        "referenceNumber": ("eq",), **_TIMES,
    },
    "classifications": {  # sandbox choice for every /v3/classifications/* list
        "id": ("eq", "ne", "in"), "archived": ("eq", "ne"), "name": ("eq", "sw"), **_TIMES,
    },
}
_DATE_FIELDS = {"createdTime", "updatedTime"}
_DAY_FIELDS = {"dueDate", "processDate"}


class ListQueryError(ValueError):
    """A list parameter BILL would refuse with HTTP 400."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    values: tuple[Any, ...]


def parse_max(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_MAX
    try:
        value = int(raw)
    except ValueError:
        raise ListQueryError(f"max must be a number between 1 and {LARGEST_MAX}.") from None
    if not 1 <= value <= LARGEST_MAX:
        raise ListQueryError(f"max must be between 1 and {LARGEST_MAX}.")
    return value


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sbx-offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, offset = text.split(":", 1)
        if prefix != "sbx-offset" or int(offset) < 0:
            raise ValueError
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ListQueryError("page is not a valid page token.") from None


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise ListQueryError("filters has an unclosed double quote.")
    parts.append("".join(current))
    return parts


@lru_cache(maxsize=200_000)  # every page of a list compares every record's times: parse each string once
def parse_time(text: str) -> datetime:
    """BILL accepts yyyy-MM-dd'T'HH:mm:ss.SSSX and shorter variants down to yyyy-MM-dd."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ListQueryError(f"'{text}' is not a date or time (use yyyy-MM-dd'T'HH:mm:ss.SSSZ).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_filters(raw: str | None, list_name: str) -> list[Condition]:
    if not raw:
        return []
    allowed = FILTERABLE[list_name]
    conditions = []
    for clause in _split_outside_quotes(raw, ","):
        pieces = clause.split(":", 2)
        if len(pieces) != 3 or not pieces[0]:
            raise ListQueryError(f"Filter '{clause}' must look like field:operator:value.")
        field_name, op, value = pieces
        if field_name not in allowed:
            raise ListQueryError(
                f"Invalid filter field '{field_name}'. Filterable fields: {', '.join(allowed)}.")
        if op not in OPERATORS:
            raise ListQueryError(f"Invalid filter operator '{op}'. Operators: {', '.join(OPERATORS)}.")
        if op not in allowed[field_name]:
            raise ListQueryError(
                f"Operator '{op}' is not allowed for '{field_name}'; use {', '.join(allowed[field_name])}.")
        quoted = len(value) >= 2 and value.startswith('"') and value.endswith('"')
        text = value[1:-1] if quoted else value
        items = text.split(",") if op in ("in", "nin") else [text]
        conditions.append(Condition(field_name, op, tuple(_typed(field_name, item) for item in items)))
    return conditions


def _typed(field_name: str, text: str) -> Any:
    if field_name in _DATE_FIELDS:
        return parse_time(text)
    if field_name in _DAY_FIELDS:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise ListQueryError(f"'{text}' is not a date (use yyyy-MM-dd).") from None
    if field_name == "archived":
        if text.lower() not in ("true", "false"):
            raise ListQueryError("archived can only be compared with true or false.")
        return text.lower() == "true"
    return text


def field_value(record: dict, field_name: str) -> Any:
    value: Any = record
    for part in field_name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return None
    if field_name in _DATE_FIELDS:
        return parse_time(value)
    if field_name in _DAY_FIELDS:
        return date.fromisoformat(str(value)[:10])
    return value


def _matches(record: dict, condition: Condition) -> bool:
    actual = field_value(record, condition.field)
    first = condition.values[0]
    op = condition.op
    if op == "eq":
        return actual == first
    if op == "ne":
        return actual != first
    if op == "in":
        return actual in condition.values
    if op == "nin":
        return actual not in condition.values
    if op == "sw":
        return isinstance(actual, str) and actual.lower().startswith(str(first).lower())
    if actual is None:
        return False
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }
    return comparisons[op](actual, first)


def parse_sort(raw: str | None, list_name: str) -> tuple[str, bool] | None:
    """(field, descending) or None. Sortable: the filterable fields plus name."""
    if not raw:
        return None
    field_name, _, direction = raw.partition(":")
    direction = direction or "asc"
    sortable = set(FILTERABLE[list_name]) | {"name"}
    if field_name not in sortable:
        raise ListQueryError(f"Invalid sort field '{field_name}'. Sortable fields: {', '.join(sorted(sortable))}.")
    if direction not in ("asc", "desc"):
        raise ListQueryError("Sort direction must be asc or desc.")
    return field_name, direction == "desc"


def list_page(records: list[dict], query: dict[str, str], list_name: str, *,
              with_prev_page: bool = True) -> dict:
    """Filter, sort and cut one page; raises ListQueryError for anything BILL answers with 400."""
    size = parse_max(query.get("max"))
    offset = decode_cursor(query.get("page"))
    conditions = parse_filters(query.get("filters"), list_name)
    sort = parse_sort(query.get("sort"), list_name)
    selected = [r for r in records if all(_matches(r, c) for c in conditions)]
    if sort:
        field_name, descending = sort
        # Records without the field sort last either way; ties keep creation order (stable sort).
        present = [r for r in selected if field_value(r, field_name) is not None]
        missing = [r for r in selected if field_value(r, field_name) is None]
        present.sort(key=lambda r: field_value(r, field_name), reverse=descending)
        selected = present + missing
    page = selected[offset:offset + size]
    envelope: dict[str, Any] = {}
    if offset + size < len(selected):
        envelope["nextPage"] = encode_cursor(offset + size)
    if with_prev_page and offset > 0:
        envelope["prevPage"] = encode_cursor(max(0, offset - size))
    envelope["results"] = page
    return envelope
