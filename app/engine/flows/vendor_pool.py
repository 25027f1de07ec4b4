"""The unlinked BILL vendors a batch of new NAV vendors could match, read in a few queries.

The vendors flow asks ``candidate_pool`` once per batch; ``app.domain.matching.match_vendor`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.domain.matching import MatchKeys
from app.store import schema as t

SIMILAR_POOL = 50  # "very similar name" candidates looked at per NAV vendor (they share the first word)


@dataclass
class CandidatePool:
    """The unlinked BILL vendors that could match one batch of NAV vendors, read in a few queries."""

    rows: dict[str, t.BillVendorCandidate]
    by_key: dict[tuple[str, str], list[str]]  # (attribute, value) -> bill ids
    by_word: dict[str, list[str]]  # first word of the normalised name -> bill ids (the name_key prefix)
    gone: set[str] = field(default_factory=set)  # linked or claimed by an earlier vendor of the batch

    def candidates(self, keys: MatchKeys) -> list[t.BillVendorCandidate]:
        ids: list[str] = []
        for attribute, value in (("exact_name", keys.exact_name), ("name_key", keys.name),
                                 ("email_key", keys.email), ("tax_key", keys.tax_id)):
            if value:
                ids.extend(self.by_key.get((attribute, value), ()))
        first_word = keys.name.split(" ")[0] if keys.name else ""
        if first_word:
            ids.extend([i for i in self.by_word.get(first_word, ()) if i not in self.gone][:SIMILAR_POOL])
        return [self.rows[i] for i in dict.fromkeys(ids) if i not in self.gone]


def candidate_pool(s: Session, keys: list[MatchKeys]) -> CandidatePool:
    """The unclaimed BILL vendors any of ``keys`` could match: one query for the equal keys, one per
    distinct first word for "very similar name" (a name_key prefix range, on its index)."""
    c = t.BillVendorCandidate
    rows: dict[str, t.BillVendorCandidate] = {}
    by_key: dict[tuple[str, str], list[str]] = {}
    columns = (("exact_name", c.exact_name, {k.exact_name for k in keys if k.exact_name}),
               ("name_key", c.name_key, {k.name for k in keys if k.name}),
               ("email_key", c.email_key, {k.email for k in keys if k.email}),
               ("tax_key", c.tax_key, {k.tax_id for k in keys if k.tax_id}))
    conditions = [column.in_(sorted(values)) for _, column, values in columns if values]
    if conditions:
        for row in s.scalars(select(c).where(c.claimed_by == "", or_(*conditions))):
            rows[row.bill_id] = row
            for attribute, _, values in columns:
                value = getattr(row, attribute)
                if value in values:
                    by_key.setdefault((attribute, value), []).append(row.bill_id)
    words: dict[str, int] = {}
    for k in keys:
        if k.name:
            word = k.name.split(" ")[0]
            words[word] = words.get(word, 0) + 1
    by_word: dict[str, list[str]] = {}
    for word, uses in words.items():
        # Enough that each vendor of the batch still sees SIMILAR_POOL after earlier ones took some.
        upper = word[:-1] + chr(ord(word[-1]) + 1)
        found = list(s.scalars(select(c).where(c.claimed_by == "", c.name_key >= word, c.name_key < upper)
                               .order_by(c.name_key).limit(SIMILAR_POOL + uses)))
        for row in found:
            rows.setdefault(row.bill_id, row)
        by_word[word] = [row.bill_id for row in found]
    return CandidatePool(rows, by_key, by_word)
