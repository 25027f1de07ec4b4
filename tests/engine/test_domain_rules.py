"""Matching, mapping suggestions and three-way conflict detection: pure rules, no I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.domain.conflicts import three_way
from app.domain.mapping import suggest_account_mappings, suggest_dimension_mappings
from app.domain.matching import Candidate, MatchKeys, MatchKind, match_vendor, normalise_name
from app.domain.models import (
    ChartOfAccount,
    Classification,
    ClassificationKind,
    DimensionValue,
    GLAccount,
)


def candidates(*rows):
    return [Candidate(cid, MatchKeys.of(*rest)) for cid, *rest in rows]


def test_normalised_names_ignore_punctuation_case_and_legal_form():
    assert normalise_name("Midwest Fasteners, Inc") == normalise_name("Midwest Fasteners Inc.")
    assert normalise_name("Keystone Paint & Coatings") == normalise_name("KEYSTONE PAINT AND COATINGS LLC")
    assert normalise_name("Acme Steel") != normalise_name("Acme Steels Supply")


def test_exact_name_links_without_asking():
    result = match_vendor(MatchKeys.of("Acme Steel Supply"), candidates(("009a", "Acme Steel Supply"),
                                                                      ("009b", "Other")))
    assert result.kind == MatchKind.EXACT and result.single == "009a"


def test_normalised_email_or_tax_id_is_only_a_proposal():
    pool = candidates(("009a", "Midwest Fasteners Inc."), ("009b", "Zed", "AP@ZED.example"),
                      ("009c", "Why", "", "12 3456789"))
    assert match_vendor(MatchKeys.of("Midwest Fasteners, Inc"), pool).kind == MatchKind.PROPOSED
    assert match_vendor(MatchKeys.of("Zed Corp", "ap@zed.example"), pool).candidate_ids == ("009b",)
    assert match_vendor(MatchKeys.of("Unrelated", "", "12-3456789"), pool).candidate_ids == ("009c",)


def test_similar_spelling_is_proposed():
    result = match_vendor(MatchKeys.of("Great Lakes Aluminum"), candidates(("009a", "Great Lakes Aluminium")))
    assert result.kind == MatchKind.PROPOSED and result.single == "009a"


def test_names_that_differ_only_in_their_numbers_are_not_similar():
    result = match_vendor(MatchKeys.of("Bench Vendor 0000001"), candidates(("009a", "Bench Vendor 0000002")))
    assert result.kind == MatchKind.NONE


def test_two_candidates_are_ambiguous_and_none_is_none():
    pool = candidates(("009a", "Midwest Fasteners Inc."), ("009b", "Midwest Fasteners, Inc"))
    result = match_vendor(MatchKeys.of("Midwest Fasteners"), pool)
    assert result.kind == MatchKind.AMBIGUOUS and set(result.candidate_ids) == {"009a", "009b"}
    assert match_vendor(MatchKeys.of("Nobody Ltd"), pool).kind == MatchKind.NONE


def test_three_way_detects_each_case():
    base = {"name": "A", "city": "X", "phone": "1", "email": "e"}
    nav = {"name": "A2", "city": "Y", "phone": "1", "email": "e2"}
    bill = {"name": "A", "city": "Z", "phone": "2", "email": "e2"}
    result = three_way(base, nav, base, bill, fields=("name", "city", "phone", "email"))
    assert result.to_bill == {"name": "A2"}
    assert result.to_nav == {"phone": "2"}
    assert [(c.field, c.nav_value, c.bill_value) for c in result.conflicts] == [("city", "Y", "Z")]


def test_three_way_uses_each_sides_own_snapshot():
    # BILL stores the phone differently; that difference is no change by anyone.
    result = three_way({"phone": "555-0101"}, {"phone": "555-0101"}, {"phone": "5550101"}, {"phone": "5550101"},
                       fields=("phone",))
    assert result.unchanged


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=3)),
       st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=3)))
def test_three_way_never_both_writes_and_conflicts_a_field(nav, bill):
    base = {"a": "", "b": "", "c": ""}
    result = three_way(base, {**base, **nav}, base, {**base, **bill}, fields=("a", "b", "c"))
    conflicted = {c.field for c in result.conflicts}
    assert not (set(result.to_bill) & set(result.to_nav))
    assert not (conflicted & (set(result.to_bill) | set(result.to_nav)))


def test_account_suggestions_by_number_then_name_never_archived():
    gl = [GLAccount("5130", "Freight In"), GLAccount("6110", "Tools and Small Equipment"),
          GLAccount("6140", "Waste Disposal"), GLAccount("6400", "Calibration Services"),
          GLAccount("5000", "COST OF GOODS SOLD", account_type="Begin-Total"), GLAccount("7000", "Insurance")]
    bill = [ChartOfAccount("0ca1", "Freight-In", "5130"), ChartOfAccount("0ca2", "Tools & Small Equipment", "6-110"),
            ChartOfAccount("0ca3", "Waste Disposal", "6140", archived=True), ChartOfAccount("0ca4", "Insurance", "")]
    found = {s.nav_account: s.bill_account_id for s in suggest_account_mappings(gl, bill)}
    assert found == {"5130": "0ca1", "6110": "0ca2", "7000": "0ca4"}
    assert suggest_account_mappings(gl, bill, already_mapped=["5130"])[0].nav_account == "6110"


def test_dimension_suggestions_by_name():
    values = [DimensionValue("DEPARTMENT", "PROD", "Production"), DimensionValue("PROJECT", "P-1003", "ERP Rollout")]
    classes = [Classification(ClassificationKind.DEPARTMENT, "0de1", "Production"),
               Classification(ClassificationKind.ACCOUNTING_CLASS, "0cl1", "ERP Rollout", archived=True)]
    found = suggest_dimension_mappings(values, classes)
    assert [(s.value_code, s.kind, s.classification_id) for s in found] == [("PROD", "departments", "0de1")]
