"""The BILL sandbox's list pages (compiled filters, a selection reused across a walk's pages) answer exactly what
a full scan and sort of the list answers for every page, also when records change between two pages."""

from __future__ import annotations

import random
from datetime import date

from app.sandbox.bill_lists import (
    SelectionCache,
    decode_cursor,
    encode_cursor,
    field_value,
    list_page,
    parse_filters,
    parse_max,
    parse_sort,
)


def _reference_page(records: list[dict], query: dict[str, str], list_name: str) -> dict:
    """The plain algorithm: every record tested against every condition, then a stable sort."""
    size = parse_max(query.get("max"))
    offset = decode_cursor(query.get("page"))
    conditions = parse_filters(query.get("filters"), list_name)
    sort = parse_sort(query.get("sort"), list_name)

    def holds(actual, op: str, values: tuple) -> bool:
        first = values[0]
        if op == "eq":
            return actual == first
        if op == "ne":
            return actual != first
        if op == "in":
            return actual in values
        if op == "nin":
            return actual not in values
        if op == "sw":
            return isinstance(actual, str) and actual.lower().startswith(str(first).lower())
        if actual is None:
            return False
        return {"gt": actual > first, "gte": actual >= first, "lt": actual < first, "lte": actual <= first}[op]

    def matches(record: dict) -> bool:
        return all(holds(field_value(record, c.field), c.op, c.values) for c in conditions)

    selected = [r for r in records if matches(r)]
    if sort:
        name, descending = sort
        present = [r for r in selected if field_value(r, name) is not None]
        missing = [r for r in selected if field_value(r, name) is None]
        present.sort(key=lambda r: field_value(r, name), reverse=descending)
        selected = present + missing
    envelope: dict = {}
    if offset + size < len(selected):
        envelope["nextPage"] = encode_cursor(offset + size)
    if offset > 0:
        envelope["prevPage"] = encode_cursor(max(0, offset - size))
    envelope["results"] = selected[offset:offset + size]
    return envelope


def _time(rng: random.Random) -> str:
    return f"2026-12-0{rng.randint(1, 3)}T1{rng.randint(0, 2)}:00:00.000+00:00"


def _bill(rng: random.Random, number: int) -> dict:
    bill = {"id": f"00n{number:05d}", "archived": rng.random() < 0.2, "vendorId": f"009V{rng.randint(1, 6)}",
            "dueDate": date(2026, 12, rng.randint(1, 28)).isoformat(), "paymentStatus": rng.choice(
                ["UNPAID", "PAID", "PARTIAL"]), "createdTime": _time(rng)}
    if rng.random() < 0.8:  # some have never been updated: they sort last either way
        bill["updatedTime"] = _time(rng)
    return bill


QUERIES = [
    {"max": "7"},
    {"max": "5", "filters": 'createdTime:gte:"2026-12-02T00:00:00.000Z"'},
    {"max": "4", "filters": 'updatedTime:gte:"2026-12-01T11:00:00.000Z",updatedTime:lt:"2026-12-03"',
     "sort": "updatedTime:asc"},
    {"max": "6", "filters": 'vendorId:in:"009V1,009V3,009V5"', "sort": "updatedTime:desc"},
    {"max": "3", "filters": "archived:eq:false,paymentStatus:ne:PAID", "sort": "dueDate:asc"},
    {"max": "8", "sort": "createdTime:desc"},
]


def test_every_page_of_a_walk_is_the_page_a_full_scan_gives_also_after_changes():
    rng = random.Random(14)
    records = [_bill(rng, n) for n in range(120)]
    cache = SelectionCache()
    compared = 0
    for round_number in range(40):
        for query in QUERIES:
            offset = 0
            while True:
                page_query = {**query, "page": encode_cursor(offset)} if offset else dict(query)
                got = list_page(list(records), page_query, "bills", cache=cache)
                assert got == _reference_page(list(records), page_query, "bills"), (round_number, page_query)
                compared += 1
                # Between two pages, BILL's data changes now and then: in place, replaced, added, removed.
                change = rng.random()
                victim = rng.randrange(len(records))
                if change < 0.05:
                    records[victim]["updatedTime"] = _time(rng)
                elif change < 0.08:
                    records[victim]["archived"] = not records[victim]["archived"]
                elif change < 0.10:
                    records[victim] = dict(records[victim], vendorId="009V1")
                elif change < 0.12:
                    records.append(_bill(rng, 1000 + compared))
                elif change < 0.13:
                    records.pop(victim)
                if "nextPage" not in got:
                    break
                offset = decode_cursor(got["nextPage"])
    assert compared > 500 and cache.hits > 100  # the walks were long, and the cache was really used


def test_a_cached_selection_is_not_reused_for_an_equal_copy_of_a_record():
    record = {"id": "00n1", "vendorId": "009V1", "createdTime": "2026-12-01T10:00:00.000+00:00", "amount": 1}
    cache = SelectionCache()
    query = {"filters": "vendorId:eq:009V1"}
    assert list_page([record], query, "bills", cache=cache)["results"][0] is record
    copy = dict(record, amount=1.0)  # equal as a dict, but another record: its own page
    assert list_page([copy], query, "bills", cache=cache)["results"][0] is copy
