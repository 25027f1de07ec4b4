"""OData v4 pieces the NAV sandbox needs: a $filter parser, key literals, a lazily seeded table.

The filter grammar is the subset NAV's OData v4 endpoint is used with by integrations:
``eq ne gt ge lt le``, ``and or not``, parentheses, string literals in single quotes (``''`` escapes a
quote), numbers, ``true``/``false``/``null``, and unquoted date / date-time literals
(``2026-11-02``, ``2026-11-02T10:00:00Z``) as OData v4 writes them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


class ODataSyntaxError(ValueError):
    """A $filter, $orderby or key segment NAV would refuse with 400."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<typed>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+'(?:[^']|'')*')
      | (?P<string>'(?:[^']|'')*')
      | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z]))
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<paren>[()])
      | (?P<comma>,)
      | (?P<word>[A-Za-z_][A-Za-z0-9_./]*)
    )""",
    re.VERBOSE,
)

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ODataSyntaxError(f"Syntax error at position {position} in '{text}'.")
        position = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "typed":  # an enum member with its type: Microsoft.NAV.invoiceEntityAggregateStatus'Open'
            text_value = raw[raw.index("'"):]
            tokens.append(("literal", text_value[1:-1].replace("''", "'")))
        elif kind == "string":
            tokens.append(("literal", raw[1:-1].replace("''", "'")))
        elif kind == "guid":  # API v2.0 ids are unquoted GUID literals: documentId eq 3b5c2f1e-...
            tokens.append(("literal", raw.lower()))
        elif kind == "datetime":
            tokens.append(("literal", parse_datetime(raw)))
        elif kind == "date":
            tokens.append(("literal", date.fromisoformat(raw)))
        elif kind == "number":
            tokens.append(("literal", int(raw) if raw.lstrip("-").isdigit() else Decimal(raw)))
        elif kind == "word" and raw in ("true", "false"):
            tokens.append(("literal", raw == "true"))
        elif kind == "word" and raw == "null":
            tokens.append(("literal", None))
        else:
            tokens.append((kind, raw))
    return tokens


Predicate = Callable[[dict], bool]


class _FilterParser:
    def __init__(self, text: str, fields: set[str]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.fields = fields
        self.seen: list[str] = []  # property names in the order the comparisons were parsed
        self.distinct_or = False  # an 'or' joins comparisons on different properties

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise ODataSyntaxError(f"Expression expected at the end of '{self.text}'.")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise ODataSyntaxError(f"Unexpected '{self.peek()[1]}' in '{self.text}'.")
        return predicate

    def parse_or(self) -> Predicate:
        start = len(self.seen)
        left = self.parse_and()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.parse_and()
            if len(set(self.seen[start:])) > 1:
                self.distinct_or = True
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_not()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.parse_not()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def parse_not(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.parse_not()
            return lambda row: not inner(row)
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        if self.peek() == ("paren", "("):
            self.take()
            inner = self.parse_or()
            if self.take() != ("paren", ")"):
                raise ODataSyntaxError(f"')' expected in '{self.text}'.")
            return inner
        kind, name = self.take()
        if kind != "word":
            raise ODataSyntaxError(f"A property name is expected before '{name}' in '{self.text}'.")
        if name not in self.fields:
            raise ODataSyntaxError(f"Could not find a property named '{name}'.")
        kind, operator = self.take()
        if kind != "word" or operator not in COMPARISONS:
            raise ODataSyntaxError(f"A comparison operator is expected after '{name}' in '{self.text}'.")
        kind, literal = self.take()
        if kind != "literal":
            raise ODataSyntaxError(f"A literal value is expected after '{operator}' in '{self.text}'.")
        self.seen.append(name)
        return _comparison(name, operator, literal)


def _coerce(value: Any, literal: Any) -> tuple[Any, Any]:
    """Bring a row value and a literal to comparable types (a date-time column against a date, etc.)."""
    if isinstance(value, datetime) and isinstance(literal, date) and not isinstance(literal, datetime):
        return value.date(), literal
    if isinstance(value, date) and not isinstance(value, datetime) and isinstance(literal, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), literal
    if isinstance(value, Decimal) and isinstance(literal, int):
        return value, Decimal(literal)
    if isinstance(value, int) and isinstance(literal, Decimal):
        return Decimal(value), literal
    return value, literal


def _comparison(name: str, operator: str, literal: Any) -> Predicate:
    def check(row: dict) -> bool:
        value, other = _coerce(row.get(name), literal)
        if operator == "eq":
            return value == other
        if operator == "ne":
            return value != other
        if value is None or other is None:
            return False
        try:
            if operator == "gt":
                return value > other
            if operator == "ge":
                return value >= other
            if operator == "lt":
                return value < other
            return value <= other
        except TypeError:
            return False

    return check


class ODataNotSupported(ODataSyntaxError):
    """A filter NAV understands but refuses (classic pages: 'or' across different fields)."""


def parse_filter(text: str, fields: set[str], distinct_or: bool = True) -> Predicate:
    """``distinct_or=False``: refuse ``or`` across different properties, as NAV/BC do (AL record filters are
    per field; odata-known-limitations: "The 'OR' operator is not supported on distinct fields on an OData
    filter.")."""
    parser = _FilterParser(text, fields)
    predicate = parser.parse()
    if parser.distinct_or and not distinct_or:
        raise ODataNotSupported("The 'OR' operator is not supported on distinct fields on an OData filter.")
    return predicate


_NAMED_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")


def parse_key_segment(args: str, key_fields: tuple[str, ...]) -> tuple:
    """Parse the text inside ``Entity(...)``: positional (single key) or ``Name=value`` pairs."""
    args = args.strip()
    if "=" in args and not args.startswith("'"):
        values: dict[str, Any] = {}
        position = 0
        while position < len(args):
            match = _NAMED_KEY.match(args, position)
            if not match:
                raise ODataSyntaxError(f"Bad key segment '({args})'.")
            name, literal = match.group(1), match.group(2).strip()
            (kind, value), *rest = _tokenize(literal)
            if kind != "literal" or rest:
                raise ODataSyntaxError(f"Bad key value '{literal}'.")
            values[name] = value
            position = match.end()
        if set(values) != set(key_fields):
            raise ODataSyntaxError(f"The key '({args})' does not match the entity key {', '.join(key_fields)}.")
        return tuple(values[name] for name in key_fields)
    tokens = _tokenize(args)
    if len(key_fields) != 1 or len(tokens) != 1 or tokens[0][0] != "literal":
        raise ODataSyntaxError(f"The key '({args})' does not match the entity key {', '.join(key_fields)}.")
    return (tokens[0][1],)


def format_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


class _VirtualKeys:
    """The base keys of a lazy table as a sequence, so ``bisect`` can search them without a list."""

    def __init__(self, count: int, key_of: Callable[[int], Any]) -> None:
        self.count = count
        self.key_of = key_of

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Any:
        return self.key_of(index)


@dataclass
class LazyTable:
    """Rows ordered by key. ``large:N`` seeds come from ``make(i)`` on demand; changes are kept aside.

    Base keys (index 0..count-1) must be generated in ascending key order. Rows added later live in
    ``extra_keys`` (kept sorted) with their data in ``overrides``; a deleted base row is an override
    of ``None``. So 100,000 seeded vendors cost no memory until one of them is read or changed.
    """

    count: int = 0
    key_of: Callable[[int], Any] = lambda i: i
    make: Callable[[int], dict] = lambda i: {}
    # Optional inverse of key_of (the index a key would have), so a lookup costs one call instead of a binary
    # search of ~log2(count) key_of calls; any candidate is checked against key_of, so it may guess wrong.
    index_of: Callable[[Any], int] | None = None

    def __post_init__(self) -> None:
        self._keys = _VirtualKeys(self.count, self.key_of)
        self.overrides: dict[Any, dict | None] = {}
        self.extra_keys: list[Any] = []

    def _base_index(self, key: Any) -> int | None:
        if not self.count:
            return None
        if self.index_of is not None:
            try:
                index = self.index_of(key)
            except (TypeError, ValueError, OverflowError):
                return None
            if 0 <= index < self.count and self.key_of(index) == key:
                return index
            return None
        try:
            index = bisect.bisect_left(self._keys, key)
        except TypeError:
            return None
        if index < self.count and self.key_of(index) == key:
            return index
        return None

    def is_seeded(self, key: Any) -> bool:
        """Whether ``key`` is one of the base (seeded) keys, changed or not."""
        return self._base_index(key) is not None

    def get(self, key: Any) -> dict | None:
        if key in self.overrides:
            return self.overrides[key]
        index = self._base_index(key)
        return self.make(index) if index is not None else None

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def put(self, key: Any, row: dict) -> None:
        if key not in self.overrides and self._base_index(key) is None:
            bisect.insort(self.extra_keys, key)
        self.overrides[key] = row

    def delete(self, key: Any) -> None:
        if self._base_index(key) is not None:
            self.overrides[key] = None
        else:
            self.overrides.pop(key, None)
            index = bisect.bisect_left(self.extra_keys, key)
            if index < len(self.extra_keys) and self.extra_keys[index] == key:
                del self.extra_keys[index]

    def iter_from(self, after: Any = None) -> Iterator[tuple[Any, dict]]:
        """Rows in key order, starting after ``after`` (None: from the start)."""
        base = 0 if after is None or not self.count else bisect.bisect_right(self._keys, after)
        extra = 0 if after is None else bisect.bisect_right(self.extra_keys, after)
        extras = self.extra_keys
        while base < self.count or extra < len(extras):
            base_key = self.key_of(base) if base < self.count else None
            if extra < len(extras) and (base_key is None or extras[extra] < base_key):
                key = extras[extra]
                extra += 1
                row = self.overrides.get(key)
            else:
                key = base_key
                base += 1
                row = self.overrides[key] if key in self.overrides else self.make(base - 1)
            if row is not None:
                yield key, row

    def __len__(self) -> int:
        deleted = sum(1 for key, row in self.overrides.items() if row is None)
        return self.count - deleted + len(self.extra_keys)


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidOperation
    return Decimal(str(value))
