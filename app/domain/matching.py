"""Finding the BILL vendor that already is a given NAV vendor, so the first sync links instead of duplicating.

Rules, strongest first:
  1. exact name (trimmed)                         -> one hit links without asking
  2. normalised name, e-mail address or tax id    -> one hit is a proposal the user accepts
  3. a very similar normalised name ("Aluminium" vs "Aluminum")      -> proposal
More than one candidate at the strongest rule that found anything is ambiguous: the user picks.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

# Legal-form words that people add or drop at will: "Midwest Fasteners, Inc" is "Midwest Fasteners Inc."
_LEGAL_FORMS = {
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "co", "corp", "corporation", "company",
    "plc", "gmbh", "pc", "pllc", "the",
}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
SIMILAR_NAME_RATIO = 0.9


def normalise_name(name: str) -> str:
    """Lower case, accents and punctuation dropped, '&' read as 'and', legal forms removed."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ")
    words = [w for w in _NON_ALNUM.split(text) if w and w not in _LEGAL_FORMS]
    return " ".join(words)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def normalise_tax_id(tax_id: str) -> str:
    """Digits only: '12-3456789' and '123456789' are the same EIN."""
    digits = "".join(ch for ch in (tax_id or "") if ch.isdigit())
    return digits if len(digits) >= 6 else ""  # shorter is a placeholder, not an identity


@lru_cache(maxsize=8192)  # a first sync compares each NAV name with up to SIMILAR_POOL candidates: the same few
def _digits(text: str) -> str:  # thousand candidate names again and again
    return "".join(ch for ch in text if ch.isdigit())


@dataclass(frozen=True)
class MatchKeys:
    """The normalised identities of one vendor, as stored in the candidate index."""

    exact_name: str
    name: str
    email: str
    tax_id: str

    @classmethod
    def of(cls, name: str, email: str = "", tax_id: str = "") -> MatchKeys:
        return cls(exact_name=(name or "").strip(), name=normalise_name(name), email=normalise_email(email),
                   tax_id=normalise_tax_id(tax_id))


@dataclass(frozen=True)
class Candidate:
    id: str  # BILL vendor id
    keys: MatchKeys


class MatchKind(StrEnum):
    NONE = "none"
    EXACT = "exact"  # link without asking
    PROPOSED = "proposed"  # one likely match: the user confirms
    AMBIGUOUS = "ambiguous"  # several: the user picks


@dataclass(frozen=True)
class MatchResult:
    kind: MatchKind
    candidate_ids: tuple[str, ...] = ()
    reason: str = ""

    @property
    def single(self) -> str:
        return self.candidate_ids[0] if len(self.candidate_ids) == 1 else ""


def _result(ids: list[str], single_kind: MatchKind, reason: str) -> MatchResult | None:
    unique = tuple(dict.fromkeys(ids))
    if not unique:
        return None
    if len(unique) == 1:
        return MatchResult(single_kind, unique, reason)
    return MatchResult(MatchKind.AMBIGUOUS, unique, f"{len(unique)} BILL vendors share the {reason}")


def match_vendor(keys: MatchKeys, candidates: Iterable[Candidate]) -> MatchResult:
    """Decide how ``keys`` (a NAV vendor) relates to the unlinked BILL vendors in ``candidates``."""
    candidates = list(candidates)
    if keys.exact_name:
        exact_name = keys.exact_name
        found = _result([c.id for c in candidates if c.keys.exact_name == exact_name], MatchKind.EXACT, "same name")
        if found:
            return found
    strong: list[str] = []
    reasons: list[str] = []
    for attribute, label in (("name", "same name apart from spelling"), ("email", "same e-mail address"),
                             ("tax_id", "same tax id")):
        value = getattr(keys, attribute)
        if not value:
            continue
        hits = [c.id for c in candidates if getattr(c.keys, attribute) == value]
        if hits:
            strong.extend(hits)
            reasons.append(label)
    found = _result(strong, MatchKind.PROPOSED, " / ".join(reasons))
    if found:
        return found
    name = keys.name
    if not name:
        return MatchResult(MatchKind.NONE)
    digits = _digits(name)
    similar = [
        c.id for c in candidates
        if c.keys.name and _digits(c.keys.name) == digits  # "Unit 7" is not "Unit 8"
        and difflib.SequenceMatcher(None, name, c.keys.name).ratio() >= SIMILAR_NAME_RATIO
    ]
    return _result(similar, MatchKind.PROPOSED, "very similar name") or MatchResult(MatchKind.NONE)
