"""Suggesting which BILL account (and classification) each NAV G/L account (and dimension value) maps to.

Suggestions only fill gaps: a mapping the user made always wins and is never replaced. Archived BILL
accounts and classifications are never suggested (BILL refuses them on new bills).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.matching import normalise_name
from app.domain.models import ChartOfAccount, Classification, DimensionValue, GLAccount


@dataclass(frozen=True)
class AccountSuggestion:
    nav_account: str
    bill_account_id: str
    reason: str  # "same number 6100" / "same name 'Freight In'"


@dataclass(frozen=True)
class DimensionSuggestion:
    dimension_code: str
    value_code: str
    kind: str  # ClassificationKind value
    classification_id: str
    reason: str


def is_mappable_gl_account(account: GLAccount) -> bool:
    """Only posting accounts carry invoice lines; headings and totals never do."""
    return account.account_type == "Posting" and not account.blocked


def _number_key(number: str) -> str:
    # "6-110" and "6110" are the same account number written two ways.
    return "".join(ch for ch in (number or "") if ch.isalnum()).lower()


def _unique_index(items: Iterable, key) -> dict[str, object]:
    """Map key -> item, dropping keys that more than one item shares (those are not evidence)."""
    index: dict[str, object] = {}
    clashes: set[str] = set()
    for item in items:
        value = key(item)
        if not value:
            continue
        if value in index:
            clashes.add(value)
        index[value] = item
    for value in clashes:
        del index[value]
    return index


def suggest_account_mappings(gl_accounts: Iterable[GLAccount], bill_accounts: Iterable[ChartOfAccount],
                             already_mapped: Iterable[str] = ()) -> list[AccountSuggestion]:
    """One suggestion per mappable, not yet mapped NAV account that has an evident BILL counterpart."""
    active = [a for a in bill_accounts if not a.archived]
    by_number = _unique_index(active, lambda a: _number_key(a.number))
    by_name = _unique_index(active, lambda a: normalise_name(a.name))
    skip = set(already_mapped)
    suggestions = []
    for account in gl_accounts:
        if not is_mappable_gl_account(account) or account.number in skip:
            continue
        hit = by_number.get(_number_key(account.number))
        if hit is not None:
            suggestions.append(AccountSuggestion(account.number, hit.id, f"same number {hit.number}"))
            continue
        hit = by_name.get(normalise_name(account.name))
        if hit is not None:
            suggestions.append(AccountSuggestion(account.number, hit.id, f"same name '{hit.name}'"))
    return suggestions


def suggest_dimension_mappings(values: Iterable[DimensionValue], classifications: Iterable[Classification],
                               already_mapped: Iterable[tuple[str, str]] = ()) -> list[DimensionSuggestion]:
    """Dimension values to classifications by name (or by code against the short name)."""
    active = [c for c in classifications if not c.archived]
    by_name = _unique_index(active, lambda c: normalise_name(c.name))
    by_short = _unique_index(active, lambda c: normalise_name(c.short_name))
    skip = set(already_mapped)
    suggestions = []
    for value in values:
        if value.blocked or (value.dimension_code, value.code) in skip:
            continue
        hit = by_name.get(normalise_name(value.name))
        reason = f"same name '{value.name}'"
        if hit is None:
            hit = by_short.get(normalise_name(value.code))
            reason = f"short name '{value.code}'"
        if hit is not None:
            suggestions.append(DimensionSuggestion(value.dimension_code, value.code, str(hit.kind), hit.id, reason))
    return suggestions
