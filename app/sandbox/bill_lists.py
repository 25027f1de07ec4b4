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
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import itemgetter
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


def split_outside_quotes(text: str, separator: str) -> list[str]:
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
    for clause in split_outside_quotes(raw, ","):
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
    return _predicate(condition)(record)


def _getter(field_name: str) -> Callable[[dict], Any]:
    """``field_value`` for one field, with the path split and the conversion chosen once."""
    parts = field_name.split(".")
    if len(parts) == 1:
        key = parts[0]

        def raw(record: dict) -> Any:
            return record.get(key)
    else:
        def raw(record: dict) -> Any:
            value: Any = record
            for part in parts:
                value = value.get(part) if isinstance(value, dict) else None
            return value
    if field_name in _DATE_FIELDS:
        def timed(record: dict) -> Any:
            value = raw(record)
            return None if value is None else parse_time(value)
        return timed
    if field_name in _DAY_FIELDS:
        def day(record: dict) -> Any:
            value = raw(record)
            return None if value is None else date.fromisoformat(str(value)[:10])
        return day
    return raw


def _predicate(condition: Condition) -> Callable[[dict], bool]:
    """One condition as a function of a record (what ``_matches`` decides, without re-reading the condition
    for every record of every page)."""
    get = _getter(condition.field)
    values = condition.values
    first = values[0]
    op = condition.op
    if op == "eq":
        return lambda record: get(record) == first
    if op == "ne":
        return lambda record: get(record) != first
    if op in ("in", "nin"):
        try:
            lookup: Any = frozenset(values)  # vendorId:in with a hundred ids, over every bill
        except TypeError:
            lookup = values

        def member(record: dict) -> bool:
            actual = get(record)
            try:
                return actual in lookup
            except TypeError:  # unhashable: compare one by one, as a tuple does
                return actual in values
        if op == "in":
            return member
        return lambda record: not member(record)
    if op == "sw":
        prefix = str(first).lower()

        def starts(record: dict) -> bool:
            actual = get(record)
            return isinstance(actual, str) and actual.lower().startswith(prefix)
        return starts
    compare: Callable[[Any, Any], bool] = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
                                           "lte": operator.le}[op]

    def ordered(record: dict) -> bool:
        actual = get(record)
        return actual is not None and compare(actual, first)
    return ordered


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


def _raw_column(records: list[dict], field_name: str) -> list[Any]:
    """The stored (unconverted) value of a field in every record, in order."""
    if "." not in field_name:
        return [record.get(field_name) for record in records]
    parts = field_name.split(".")

    def raw(record: dict) -> Any:
        value: Any = record
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return value
    return [raw(record) for record in records]


def _select(records: list[dict], conditions: list[Condition], sort: tuple[str, bool] | None) -> list[dict]:
    """The records matching every condition, sorted."""
    predicates = [_predicate(c) for c in conditions]
    matching: Iterable[dict]
    if not predicates:
        matching = records
    elif len(predicates) == 1:
        matching = filter(predicates[0], records)
    else:
        matching = (r for r in records if all(p(r) for p in predicates))
    if not sort:
        return list(matching)
    field_name, descending = sort
    # Records without the field sort last either way; ties keep creation order (stable sort).
    get = _getter(field_name)
    present: list[tuple[Any, dict]] = []
    missing: list[dict] = []
    for record in matching:
        value = get(record)
        if value is None:
            missing.append(record)
        else:
            present.append((value, record))
    present.sort(key=itemgetter(0), reverse=descending)
    return [record for _, record in present] + missing


class SelectionCache:
    """The last selections (filtered, sorted records) of a sandbox's lists, so a walk of N pages filters and
    sorts once, not N times. A selection is reused only if the list holds the same record objects in the same
    order and every field the filters and sort read has the same stored value in each: the selection is a
    function of exactly those, so a cached page is the page a fresh scan would give, also after a change."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: dict[tuple, tuple[list[dict], list[list[Any]], list[dict]]] = {}
        self.hits = 0  # pages answered from a cached selection (a test aid)

    def select(self, records: list[dict], list_name: str, query: dict[str, str], conditions: list[Condition],
               sort: tuple[str, bool] | None) -> list[dict]:
        fields = list(dict.fromkeys([c.field for c in conditions] + ([sort[0]] if sort else [])))
        key = (list_name, query.get("filters") or "", query.get("sort") or "")
        columns = [_raw_column(records, name) for name in fields]
        hit = self._entries.get(key)
        if hit is not None:
            cached_records, cached_columns, selection = hit
            if (len(cached_records) == len(records) and all(map(operator.is_, cached_records, records))
                    and cached_columns == columns):
                self.hits += 1
                return selection
        selection = _select(records, conditions, sort)
        if key not in self._entries and len(self._entries) >= self._size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (list(records), columns, selection)
        return selection


def list_page(records: list[dict], query: dict[str, str], list_name: str, *,
              with_prev_page: bool = True, cache: SelectionCache | None = None) -> dict:
    """Filter, sort and cut one page; raises ListQueryError for anything BILL answers with 400. With a
    ``cache``, the selection a walk's earlier page made is reused when nothing it depends on changed."""
    size = parse_max(query.get("max"))
    offset = decode_cursor(query.get("page"))
    conditions = parse_filters(query.get("filters"), list_name)
    sort = parse_sort(query.get("sort"), list_name)
    if not conditions and not sort:
        selected = records
    elif cache is not None:
        selected = cache.select(records, list_name, query, conditions, sort)
    else:
        selected = _select(records, conditions, sort)
    page = selected[offset:offset + size]
    envelope: dict[str, Any] = {}
    if offset + size < len(selected):
        envelope["nextPage"] = encode_cursor(offset + size)
    if with_prev_page and offset > 0:
        envelope["prevPage"] = encode_cursor(max(0, offset - size))
    envelope["results"] = page
    return envelope
