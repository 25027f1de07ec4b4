"""Read-only queries the window needs and the store's public API does not offer (yet). No Qt here.

Plain dataclasses come out; no ORM object leaves this module. Every function opens its own
session through ``Store.session()`` and only reads, so it is safe beside a running sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.store import schema as t
from app.store.store import Store


@dataclass(frozen=True)
class VendorSides:
    """Every synced field of one NAV vendor and of its BILL vendor, as each side holds them now.

    ``*_pending`` (seen by a run, not yet reconciled) wins over the last-synced snapshot. For a proposed
    or ambiguous match the NAV side is what the matching run read; when that is empty (a store from
    before the engine kept it) only the name is known.
    """

    nav_number: str
    bill_id: str
    status: str
    nav_fields: dict[str, Any] = field(default_factory=dict)
    bill_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BillOnlyVendor:
    """A BILL vendor no NAV vendor is linked to; ``claimed_by`` names a NAV vendor that proposes it."""

    bill_id: str
    fields: dict[str, Any]
    claimed_by: str = ""

    @property
    def proposed_for(self) -> str:
        """The NAV vendor whose proposal shows this one ("" when free or rejected)."""
        return "" if self.claimed_by.startswith("rejected:") else self.claimed_by


@dataclass(frozen=True)
class DimensionValueRow:
    """A NAV dimension value and its BILL classification (if mapped)."""

    dimension_code: str
    value_code: str
    value_name: str
    blocked: bool = False
    kind: str = ""  # BILL classification kind of the mapping
    classification_id: str = ""
    classification_name: str = ""
    classification_archived: bool = False
    source: str = ""  # user | suggested | "" (not mapped)
    reason: str = ""


@dataclass(frozen=True)
class ClassificationChoice:
    id: str
    kind: str
    name: str
    short_name: str = ""


def vendor_sides(store: Store) -> dict[str, VendorSides]:
    """NAV vendor number -> both sides' current fields."""
    with store.session() as s:
        return {link.nav_number: VendorSides(link.nav_number, link.bill_id, link.status,
                                             dict(link.nav_pending or link.nav_snapshot or {}),
                                             dict(link.bill_pending or link.bill_snapshot or {}))
                for link in s.scalars(select(t.VendorLink))}


def bill_only_vendors(store: Store) -> list[BillOnlyVendor]:
    """BILL vendors without a linked NAV vendor (the matching candidates the store keeps)."""
    with store.session() as s:
        return [BillOnlyVendor(c.bill_id, dict(c.fields or {}), c.claimed_by or "")
                for c in s.scalars(select(t.BillVendorCandidate).order_by(t.BillVendorCandidate.exact_name))]


def dimension_values(store: Store) -> list[DimensionValueRow]:
    """Every cached NAV dimension value with its mapping, plus mappings whose value is no longer cached."""
    with store.session() as s:
        classifications = {c.id: c for c in s.scalars(select(t.BillClassificationCache))}
        mappings = {(m.dimension_code, m.value_code): m for m in s.scalars(select(t.DimensionMapping))}
        rows: list[DimensionValueRow] = []
        values = s.scalars(select(t.NavDimensionValueCache).order_by(t.NavDimensionValueCache.dimension_code,
                                                                     t.NavDimensionValueCache.code))
        entries = [(v.dimension_code, v.code, v.name, bool(v.blocked)) for v in values]
        cached = {(e[0], e[1]) for e in entries}
        entries += [(code, value, "", False) for code, value in sorted(mappings) if (code, value) not in cached]
        for code, value, name, blocked in entries:
            mapping = mappings.get((code, value))
            target = classifications.get(mapping.classification_id) if mapping else None
            rows.append(DimensionValueRow(
                code, value, name, blocked,
                kind=mapping.kind if mapping else "", classification_id=mapping.classification_id if mapping else "",
                classification_name=target.name if target else (mapping.classification_id if mapping else ""),
                classification_archived=bool(target and target.archived), source=mapping.source if mapping else "",
                reason=mapping.reason if mapping else ""))
        return rows


def classification_choices(store: Store) -> list[ClassificationChoice]:
    """Active BILL classifications (departments, locations, classes, jobs), by kind then name."""
    with store.session() as s:
        query = select(t.BillClassificationCache).where(t.BillClassificationCache.archived.is_(False)).order_by(
            t.BillClassificationCache.kind, t.BillClassificationCache.name)
        return [ClassificationChoice(c.id, c.kind, c.name, c.short_name) for c in s.scalars(query)]


def mapped_dimension_codes(store: Store) -> set[str]:
    """Dimensions with at least one mapping: the engine holds invoice lines whose value of these is unmapped."""
    with store.session() as s:
        return set(s.scalars(select(t.DimensionMapping.dimension_code).distinct()))
