"""Three-way comparison of a linked vendor: what changed on NAV, on BILL, and where both changed.

Each side is compared with its own snapshot (what that side looked like right after the last sync),
not with the other side: BILL may store a value slightly differently from NAV (a trimmed phone number),
and that difference is not a change anyone made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.domain.models import VENDOR_SYNC_FIELDS


@dataclass(frozen=True)
class FieldConflict:
    field: str
    nav_value: Any
    bill_value: Any


def clears_1099_tracking(name: str, nav_value: Any, bill_value: Any) -> bool:
    """Whether taking NAV's value would clear BILL's 1099 tracking. NAV without an IRS 1099 Code may mean "not a 1099
    vendor", or a NAV that does not keep the code on its vendor (outside the US, or Business Central once 1099 moved
    to the IRS Forms app, whose API then reads it empty whatever is true). Clearing it on that guess could drop a
    vendor from the year's 1099 filing, so a person decides, whatever the conflict policy says."""
    return name == "is_1099" and bool(bill_value) and not nav_value


@dataclass(frozen=True)
class ThreeWayResult:
    to_bill: dict[str, Any] = field(default_factory=dict)  # NAV changed, BILL did not: write these to BILL
    to_nav: dict[str, Any] = field(default_factory=dict)  # BILL changed, NAV did not: write these to NAV
    conflicts: tuple[FieldConflict, ...] = ()  # both changed to different values: the user decides

    @property
    def unchanged(self) -> bool:
        return not (self.to_bill or self.to_nav or self.conflicts)


def three_way(nav_snapshot: Mapping[str, Any], nav_now: Mapping[str, Any], bill_snapshot: Mapping[str, Any],
              bill_now: Mapping[str, Any], fields: tuple[str, ...] = VENDOR_SYNC_FIELDS) -> ThreeWayResult:
    to_bill: dict[str, Any] = {}
    to_nav: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for name in fields:
        nav_value, bill_value = nav_now.get(name), bill_now.get(name)
        nav_changed = nav_value != nav_snapshot.get(name)
        bill_changed = bill_value != bill_snapshot.get(name)
        if nav_changed and bill_changed:
            if nav_value != bill_value:  # both made the same edit: nothing to decide
                conflicts.append(FieldConflict(name, nav_value, bill_value))
        elif nav_changed:
            if nav_value != bill_value:
                to_bill[name] = nav_value
        elif bill_changed and bill_value != nav_value:
            to_nav[name] = bill_value
    return ThreeWayResult(to_bill, to_nav, tuple(conflicts))
