"""The OData side of the NAV sandbox shared by classic pages and API v2.0: views, queries, errors, JSON.

A ``View`` is one entity set as a client sees it: its property names, its key, where its rows come from and
how a table row is projected onto the wire names. ``collection()`` answers a GET on it with ``$filter``,
``$select``, ``$expand``, ``$orderby``, ``$top``, ``$skip`` and server-driven paging (``@odata.nextLink``,
``Prefer: odata.maxpagesize``).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from app.sandbox.base import Request, Response
from app.sandbox.nav_odata import ODataSyntaxError, parse_filter


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> Response:
        return Response(self.status, {"error": {"code": self.code, "message": self.message}}, dict(self.headers))


_PLAIN = frozenset({str, int, bool, float, type(None)})  # the JSON encoder takes these as they are


def json_value(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        # A JSON number, as NAV sends it; two-decimal amounts survive float's shortest repr exactly.
        return float(value)
    if isinstance(value, datetime):
        if value.year == 1:
            return "0001-01-01T00:00:00Z"
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def etag(key: Any, version: int) -> str:
    token = binascii.b2a_base64(f"'{key}';{version};".encode(), newline=False).decode()  # = base64.b64encode
    return f'W/"{token}"'


Rows = Callable[[Any], Iterator[tuple[Any, dict]]]


@dataclass
class View:
    """One entity set: ``rows(after)`` yields (sort key, table row) in key order after ``after``."""

    name: str
    entity_type: str  # for messages: 'NAV.Vendor', 'Microsoft.NAV.vendor'
    fields: tuple[str, ...]
    keys: tuple[str, ...]
    rows: Rows
    project: Callable[[dict], dict]  # table row -> {wire name: python value}
    get: Callable[[tuple], dict | None] = lambda key: None
    version_of: Callable[[dict], int] = lambda row: row.get("_v", 1)
    # navigation properties usable in $expand and as path segments: name -> rows under a parent row
    children: dict[str, Callable[[dict], View]] = field(default_factory=dict)
    actions: dict[str, Callable[[dict], Response]] = field(default_factory=dict)
    insert: Callable[[dict], dict] | None = None
    modify: Callable[[dict, dict], dict] | None = None
    delete: Callable[[dict], None] | None = None
    expandable: bool = True  # False: a list page with no parts ($expand of anything → 400)
    # a cheaper row source for a given $filter text (e.g. ``Entry_No gt 41`` → start after entry 41); the
    # filter is still applied to every row it yields
    narrow: Callable[[str], Rows | None] | None = None
    # 'or' across different fields: refused by NAV/BC (AL record filters cannot express it; odata-known-limitations)
    distinct_or: bool = False

    def key_of(self, projected: dict) -> tuple:
        return tuple(projected[k] for k in self.keys)

    def etag(self, row: dict, projected: dict | None = None) -> str:
        projected = projected if projected is not None else self.project(row)
        key = ",".join(str(projected.get(k)) for k in self.keys)
        return etag(key, self.version_of(row))


def parse_expand(text: str | None) -> list[tuple[str, dict[str, str]]]:
    """``a,b($expand=c;$select=x)`` → [("a", {}), ("b", {"$expand": "c", "$select": "x"})]."""
    if not text:
        return []
    return [(name, dict(options)) for name, options in _parsed_expand(text)]


@lru_cache(maxsize=256)  # serialize() reads the same $expand for every row of a page
def _parsed_expand(text: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    return tuple((name, tuple(options.items())) for name, options in _parse_expand(text))


def _parse_expand(text: str) -> list[tuple[str, dict[str, str]]]:
    items, depth, current = [], 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            if current.strip():
                items.append(current.strip())
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if depth:
        raise ODataSyntaxError(f"Unbalanced parentheses in $expand '{text}'.")
    parsed = []
    for item in items:
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        if rest:
            inner, depth, part = rest[:-1], 0, ""
            for char in inner + ";":
                if char == ";" and depth == 0:
                    if part.strip():
                        key, _, value = part.strip().partition("=")
                        options[key.strip()] = value.strip()
                    part = ""
                    continue
                depth += char == "("
                depth -= char == ")"
                part += char
        parsed.append((name.strip(), options))
    return parsed


def parse_select(text: str | None, view: View) -> set[str] | None:
    if not text:
        return None
    return set(_parsed_select(text, tuple(view.fields), view.entity_type))


@lru_cache(maxsize=256)  # serialize() reads the same $select for every row of a page
def _parsed_select(text: str, fields: tuple[str, ...], entity_type: str) -> frozenset[str]:
    selected = {part.strip() for part in text.split(",") if part.strip()}
    unknown = selected - set(fields)
    if unknown:
        raise ODataError(400, "BadRequest_NotFound",
                         f"Could not find a property named '{sorted(unknown)[0]}' on type '{entity_type}'.")
    return frozenset(selected)


@lru_cache(maxsize=512)
def _wire_names(fields: tuple[str, ...], selected: frozenset[str] | None) -> tuple[str, ...]:
    """The properties a row shows, in the view's order ($select keeps the order of the fields, not its own)."""
    return tuple(name for name in fields if selected is None or name in selected)


def serialize(view: View, row: dict, query: dict[str, str]) -> dict:
    projected = view.project(row)
    select = query.get("$select")
    selected = _parsed_select(select, tuple(view.fields), view.entity_type) if select else None
    body: dict[str, Any] = {"@odata.etag": view.etag(row, projected)}
    names = _wire_names(tuple(view.fields), selected)
    plain = _PLAIN
    body.update(zip(names, [value if type(value) in plain else float(value) if type(value) is Decimal
                            else json_value(value) for value in map(projected.get, names)], strict=True))
    expand = query.get("$expand")
    for name, pairs in _parsed_expand(expand) if expand else ():
        options = dict(pairs)
        child = view.children.get(name)
        if child is None or not view.expandable:
            raise ODataError(400, "BadRequest_NotFound",
                             f"Could not find a property named '{name}' on type '{view.entity_type}'.")
        sub = child(row)
        rows = [r for _, r in sub.rows(None)]
        if "$filter" in options:
            predicate = parse_filter(options["$filter"], set(sub.fields))
            rows = [r for r in rows if predicate(sub.project(r))]
        body[name] = [serialize(sub, r, options) for r in rows]
    return body


def _non_negative(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    value = query[name]
    if not value.isdigit():
        raise ODataError(400, "BadRequest", f"Invalid value '{value}' for {name}: a non-negative integer is expected.")
    return int(value)


def _sort_key(value: Any) -> tuple:
    return (value is None, value if value is not None else 0)


def encode_token(key: Any) -> str:
    raw = json.dumps(key, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        raise ODataError(400, "BadRequest", "The $skiptoken is not valid.") from None

    def to_tuple(value: Any) -> Any:
        return tuple(to_tuple(v) for v in value) if isinstance(value, list) else value

    return to_tuple(key)


def page_size_of(request: Request, maximum: int) -> int:
    size = maximum
    for part in request.header("Prefer").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
            size = max(1, min(size, int(value)))
    return size


def collection(request: Request, view: View, url: str, context: str, max_page_size: int,
               rows: Rows | None = None) -> Response:
    query = request.query
    predicate = parse_filter(query["$filter"], set(view.fields), view.distinct_or) if query.get("$filter") else None
    page_size = page_size_of(request, max_page_size)
    top = _non_negative(query, "$top")
    skip = _non_negative(query, "$skip") or 0
    orderby = query.get("$orderby", "").strip()
    token = query.get("$skiptoken")
    iterate = rows or (view.narrow(query.get("$filter", "")) if view.narrow else None) or view.rows
    found: list[tuple[Any, dict]] = []
    more = False
    if orderby:
        order = []
        for part in orderby.split(","):
            name, _, direction = part.strip().partition(" ")
            if name not in view.fields or direction.strip() not in ("", "asc", "desc"):
                raise ODataSyntaxError(f"Bad $orderby '{orderby}'.")
            order.append((name, direction.strip() == "desc"))
        every = [(key, row) for key, row in iterate(None) if predicate is None or predicate(view.project(row))]
        for name, descending in reversed(order):
            every.sort(key=lambda item, n=name: _sort_key(view.project(item[1]).get(n)), reverse=descending)
        offset = int(token[2:]) if token and token.startswith("o:") else skip
        end = offset + (min(page_size, top) if top is not None else page_size)
        found = every[offset:end]
        more = end < len(every) and (top is None or top > len(found))
        next_token = f"o:{end}"
    else:
        after = decode_token(token) if token else None
        to_skip = 0 if token else skip
        limit = page_size if top is None else min(page_size, top)
        for key, row in iterate(after):
            if predicate is not None and not predicate(view.project(row)):
                continue
            if to_skip:
                to_skip -= 1
                continue
            if len(found) == limit:
                more = top is None or top > limit
                break
            found.append((key, row))
        next_token = encode_token(found[-1][0]) if found else ""
    body: dict[str, Any] = {"@odata.context": context, "value": [serialize(view, row, query) for _, row in found]}
    if more:
        params = {k: v for k, v in query.items() if k not in ("$skiptoken", "$skip")}
        if top is not None:
            params["$top"] = str(top - len(found))
        params["$skiptoken"] = next_token
        body["@odata.nextLink"] = f"{url}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"
    return Response(200, body)


def request_body(request: Request) -> dict:
    try:
        body = request.json()
    except ValueError:
        raise ODataError(400, "BadRequest", "Invalid Request Body") from None
    if not isinstance(body, dict):
        raise ODataError(400, "BadRequest", "Invalid Request Body")
    return {k: v for k, v in body.items() if not k.startswith("@odata.")}


def check_if_match(request: Request, view: View, row: dict) -> None:
    given = request.header("If-Match")
    if not given:
        raise ODataError(400, "BadRequest_InvalidToken",
                         "Could not validate the client concurrency token required by the service. "
                         "Please provide a valid token in the client request.")
    if given != "*" and given != view.etag(row):
        raise ODataError(412, "Request_EntityChanged", "Another user has already changed the record.")


def split_segment(segment: str) -> tuple[str, str | None]:
    """``Vendor('V1')`` → ("Vendor", "'V1'"); ``Vendor`` → ("Vendor", None)."""
    if segment.endswith(")") and "(" in segment:
        head, _, args = segment.partition("(")
        return head, args[:-1]
    return segment, None


def method_not_allowed(method: str, name: str, product: str) -> ODataError:
    return ODataError(405, "BadRequest_MethodNotAllowed",
                      f"'{method}' requests for '{name}' of EdmType 'Entity' are not allowed within {product} "
                      "OData web services.")
