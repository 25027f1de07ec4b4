"""The unlinked BILL vendors a batch of new NAV vendors could match, read in a few queries.

The vendors flow asks ``candidate_pool`` once per batch; ``app.domain.matching.match_vendor`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.domain.matching import Candidate, MatchKeys
from app.store import schema as t

SIMILAR_POOL = 50  # "very similar name" candidates looked at per NAV vendor (they share the first word)


@dataclass
class CandidatePool:
    """The unlinked BILL vendors that could match one batch of NAV vendors, read in a few queries.

    Each row's match keys are read off the ORM row once, when the pool is made (``keys``), not once per NAV
    vendor that looks at it: on a first sync every NAV vendor whose name shares its first word with BILL
    vendors' looks at SIMILAR_POOL of them."""

    rows: dict[str, t.BillVendorCandidate]
    by_key: dict[tuple[str, str], list[str]]  # (attribute, value) -> bill ids
    by_word: dict[str, list[str]]  # first word of the normalised name -> bill ids (the name_key prefix)
    gone: set[str] = field(default_factory=set)  # linked or claimed by an earlier vendor of the batch
    keys: dict[str, Candidate] = field(init=False)  # bill id -> its match keys

    def __post_init__(self) -> None:
        self.keys = {bill_id: Candidate(bill_id, MatchKeys(row.exact_name, row.name_key, row.email_key, row.tax_key))
                     for bill_id, row in self.rows.items()}

    def candidates(self, keys: MatchKeys) -> list[Candidate]:
        """What ``match_vendor`` needs to see for ``keys``, in the order it would see the whole pool's.

        The rows sharing one of the keys are all in ``by_key`` (read by one query over the batch's keys), so
        when one of them is left ``match_vendor`` answers from them alone (exact or same key): the "very
        similar name" rows are added only when none is, as they could change nothing else."""
        gone = self.gone
        ids: list[str] = []
        for attribute, value in (("exact_name", keys.exact_name), ("name_key", keys.name),
                                 ("email_key", keys.email), ("tax_key", keys.tax_id)):
            if value:
                ids.extend(i for i in self.by_key.get((attribute, value), ()) if i not in gone)
        if not ids:
            first_word = keys.name.split(" ")[0] if keys.name else ""
            if first_word:
                ids.extend(islice((i for i in self.by_word.get(first_word, ()) if i not in gone), SIMILAR_POOL))
        known = self.keys
        return [known[i] for i in dict.fromkeys(ids)]


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


def candidate_rows(s: Session, bill_ids: list[str]) -> dict[str, t.BillVendorCandidate]:
    """The candidate index rows of these BILL vendors (those that have one), in one query."""
    if not bill_ids:
        return {}
    c = t.BillVendorCandidate
    return {row.bill_id: row for row in s.scalars(select(c).where(c.bill_id.in_(bill_ids)))}
