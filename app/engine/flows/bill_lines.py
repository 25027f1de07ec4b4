"""Decide a bill's lines from a posted invoice: account and dimension mappings, and why a line cannot go.

Pure once the mappings are loaded (``load_mappings`` reads them from the store once per invoices flow).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.models import CLASSIFICATION_LINE_FIELD, BillLine, ClassificationKind, PostedInvoice
from app.store import schema as t


@dataclass
class Mappings:
    """The account and dimension mappings plus what BILL has active, loaded once per invoices flow."""

    accounts: dict[str, list[t.AccountMapping]]
    dimensions: dict[tuple[str, str], t.DimensionMapping]
    mapped_dimensions: set[str]
    active_bill_accounts: set[str]
    known_bill_accounts: set[str]
    gl_names: dict[str, str]
    dimension_value_names: dict[tuple[str, str], str]
    bill_account_labels: dict[str, str]  # BILL account id -> "number name", for hold reasons
    archived_bill_accounts_by_number: dict[str, str]  # account.number -> label, archived in BILL


def load_mappings(s: Session) -> Mappings:
    """The account and dimension mappings and the account caches, read once per invoices flow."""
    accounts: dict[str, list[t.AccountMapping]] = {}
    for mapping in s.scalars(select(t.AccountMapping)):
        accounts.setdefault(mapping.nav_account, []).append(mapping)
    dimensions = {(m.dimension_code, m.value_code): m for m in s.scalars(select(t.DimensionMapping))}
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
        account_label = f"G/L {line.gl_account} {m.gl_names.get(line.gl_account, '')}".rstrip()
        candidates = [c for c in m.accounts.get(line.gl_account, [])
                      if all(line.dimensions.get(k) == v for k, v in c.dimension_filter.items())]
        if not candidates:
            archived_twin = m.archived_bill_accounts_by_number.get(line.gl_account)
            # Say why when BILL has the matching account but it is archived: the fix is in BILL or a mapping.
            problems.append(f"{label}: {account_label} has no BILL account" + (
                f" (BILL's account {archived_twin} is archived)" if archived_twin else ""))
            continue
        mapping = max(candidates, key=lambda c: len(c.dimension_filter))  # the most specific filter wins
        if mapping.bill_account_id not in m.active_bill_accounts and (
                m.known_bill_accounts or not mapping.bill_account_id):
            target = m.bill_account_labels.get(mapping.bill_account_id)
            problems.append(f"{label}: {account_label} is mapped to BILL account {target}, which is archived"
                            if target else
                            f"{label}: {account_label} is mapped to a BILL account that no longer exists")
            continue
        classifications = dict(mapping.classifications)
        for code, value in sorted(line.dimensions.items()):
            if code not in m.mapped_dimensions:
                continue  # a dimension nobody maps to BILL
            target = m.dimensions.get((code, value))
            if target is None:
                name = m.dimension_value_names.get((code, value), "")
                problems.append(f"{label}: {code} {value} {name}".rstrip() + " has no BILL classification")
                continue
            line_field = CLASSIFICATION_LINE_FIELD.get(ClassificationKind(target.kind), "")
            if line_field:
                classifications.setdefault(line_field, target.classification_id)
        lines.append(BillLine(amount=line.amount, description=line.description,
                              chart_of_account_id=mapping.bill_account_id, classifications=classifications))
    if not invoice.lines:
        problems.append("the invoice has no lines")
    return lines, problems


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
