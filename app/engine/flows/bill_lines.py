"""Decide a bill's lines from a posted invoice: account and dimension mappings, and why a line cannot go.

Pure once the mappings are loaded (``load_mappings`` reads them from the store once per invoices flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.models import CLASSIFICATION_LINE_FIELD, BillLine, ClassificationKind, PostedInvoice
from app.store import schema as t


@dataclass(frozen=True, slots=True)
class AccountRule:
    """One account mapping as plain data (read off its store row once per flow, not once per invoice line)."""

    bill_account_id: str
    dimension_filter: dict[str, Any]  # {"DEPARTMENT": "PROD"}; {} = any
    classifications: dict[str, Any]
    filter_items: tuple[tuple[str, Any], ...]  # dimension_filter's items, for the per-line test


@dataclass(frozen=True, slots=True)
class DimensionRule:
    """One dimension value mapping as plain data."""

    kind: str  # a ClassificationKind value
    classification_id: str


@dataclass
class Mappings:
    """The account and dimension mappings plus what BILL has active, loaded once per invoices flow."""

    accounts: dict[str, list[AccountRule]]
    dimensions: dict[tuple[str, str], DimensionRule]
    mapped_dimensions: set[str]
    active_bill_accounts: set[str]
    known_bill_accounts: set[str]
    gl_names: dict[str, str]
    dimension_value_names: dict[tuple[str, str], str]
    bill_account_labels: dict[str, str]  # BILL account id -> "number name", for hold reasons
    archived_bill_accounts_by_number: dict[str, str]  # account.number -> label, archived in BILL


def load_mappings(s: Session) -> Mappings:
    """The account and dimension mappings and the account caches, read once per invoices flow."""
    accounts: dict[str, list[AccountRule]] = {}
    for mapping in s.scalars(select(t.AccountMapping)):
        dimension_filter = mapping.dimension_filter
        accounts.setdefault(mapping.nav_account, []).append(AccountRule(
            mapping.bill_account_id, dimension_filter, mapping.classifications, tuple(dimension_filter.items())))
    dimensions = {(m.dimension_code, m.value_code): DimensionRule(m.kind, m.classification_id)
                  for m in s.scalars(select(t.DimensionMapping))}
    bill_accounts = list(s.scalars(select(t.BillAccountCache)))
    return Mappings(
        accounts=accounts,
        dimensions=dimensions,
        mapped_dimensions={code for code, _ in dimensions},
        active_bill_accounts={a.id for a in bill_accounts if not a.archived},
        known_bill_accounts={a.id for a in bill_accounts},
        gl_names={a.number: a.name for a in s.scalars(select(t.NavGLAccountCache))},
        dimension_value_names={(v.dimension_code, v.code): v.name
                               for v in s.scalars(select(t.NavDimensionValueCache))},
        bill_account_labels={a.id: f"{a.number} {a.name}".strip() for a in bill_accounts},
        archived_bill_accounts_by_number={a.number: f"{a.number} {a.name}".strip()
                                          for a in bill_accounts if a.archived and a.number},
    )


_LINE_FIELDS = {kind.value: CLASSIFICATION_LINE_FIELD.get(kind, "") for kind in ClassificationKind}


def _line_field(kind: str) -> str:
    """Where a classification of ``kind`` goes on a bill line ("" nowhere); an unknown kind raises ValueError."""
    found = _LINE_FIELDS.get(kind)
    return found if found is not None else CLASSIFICATION_LINE_FIELD.get(ClassificationKind(kind), "")


def bill_lines(m: Mappings, invoice: PostedInvoice) -> tuple[list[BillLine], list[str]]:
    """The bill's lines, or the reasons (one per line) why the invoice cannot go to BILL yet."""
    lines: list[BillLine] = []
    problems: list[str] = []
    for line in invoice.lines:
        label = f"line {line.line_no}"
        if not line.gl_account:
            what = f"{line.line_type} {line.object_number}".strip() if line.line_type else "a line"
            problems.append(f"{label}: is {_article(what)} {what} line, not a G/L account line; BILL needs a "
                            "chart-of-accounts entry, so post such costs to a G/L account or enter this bill "
                            "in BILL by hand")
            continue
        rules = m.accounts.get(line.gl_account)
        dimensions = line.dimensions
        candidates = [c for c in rules if not c.filter_items or all(
            dimensions.get(k) == v for k, v in c.filter_items)] if rules else []
        if not candidates:
            archived_twin = m.archived_bill_accounts_by_number.get(line.gl_account)
            # Say why when BILL has the matching account but it is archived: the fix is in BILL or a mapping.
            problems.append(f"{label}: {_account_label(m, line.gl_account)} has no BILL account" + (
                f" (BILL's account {archived_twin} is archived)" if archived_twin else ""))
            continue
        # the most specific filter wins (the first of them)
        mapping = candidates[0] if len(candidates) == 1 else max(candidates, key=lambda c: len(c.filter_items))
        if mapping.bill_account_id not in m.active_bill_accounts and (
                m.known_bill_accounts or not mapping.bill_account_id):
            target = m.bill_account_labels.get(mapping.bill_account_id)
            account_label = _account_label(m, line.gl_account)
            problems.append(f"{label}: {account_label} is mapped to BILL account {target}, which is archived"
                            if target else
                            f"{label}: {account_label} is mapped to a BILL account that no longer exists")
            continue
        classifications = dict(mapping.classifications)
        for code, value in sorted(dimensions.items()):
            if code not in m.mapped_dimensions:
                continue  # a dimension nobody maps to BILL
            target = m.dimensions.get((code, value))
            if target is None:
                name = m.dimension_value_names.get((code, value), "")
                problems.append(f"{label}: {code} {value} {name}".rstrip() + " has no BILL classification")
                continue
            line_field = _line_field(target.kind)
            if line_field:
                classifications.setdefault(line_field, target.classification_id)
        lines.append(BillLine(amount=line.amount, description=line.description,
                              chart_of_account_id=mapping.bill_account_id, classifications=classifications))
    if not invoice.lines:
        problems.append("the invoice has no lines")
    return lines, problems


def _account_label(m: Mappings, gl_account: str) -> str:
    return f"G/L {gl_account} {m.gl_names.get(gl_account, '')}".rstrip()


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
