"""The NAV sandbox's posted purchase credit memos (Business Central API v2.0 ``purchaseCreditMemos`` and its lines,
BC 22/23+), against the ground truth's field lists and status enum, over HTTP; NAV 2016-2018 has no such API."""

from __future__ import annotations

import json

import pytest
import requests

from app.sandbox.runner import running_sandboxes
from tests.sandbox.nav_fixtures import AUTH
from tests.sandbox.test_nav_contract import TRUTH_PATH

pytestmark = pytest.mark.skipif(TRUTH_PATH is None, reason="the NAV ground truth is not beside this checkout")


def test_credit_memos_have_the_truths_fields_and_enum():
    truth = json.loads(TRUTH_PATH.read_text(encoding="utf-8"))["api_v2"]
    with running_sandboxes(seed="demo", nav_flavor="bc") as running:
        answer = requests.post(f"{running.nav_url}/_sandbox/credit-memos", timeout=10, json={
            "vendor": "V00010", "vendor_credit_memo_number": "CM-77",
            "lines": [{"account": "5110", "amount": 64.99, "description": "Returned steel"}]})
        assert answer.status_code == 201, answer.text
        connection = running.nav_connection()
        base = f"{connection.api_root}/companies({connection.company_id})/purchaseCreditMemos"
        [memo] = requests.get(base, auth=AUTH, timeout=10).json()["value"]
        assert sorted(k for k in memo if not k.startswith("@")) == sorted(
            f["name"] for f in truth["purchaseCreditMemos"]["fields"])
        assert memo["status"] in truth["purchaseCreditMemos"]["enums"]["status"]["values_wire"]
        assert (memo["number"], memo["vendorNumber"], memo["vendorCreditMemoNumber"]) == (
            answer.json()["number"], "V00010", "CM-77")
        [line] = requests.get(f"{base}({memo['id']})/purchaseCreditMemoLines", auth=AUTH, timeout=10).json()["value"]
        assert sorted(k for k in line if not k.startswith("@")) == sorted(
            f["name"] for f in truth["purchaseCreditMemoLines"]["fields"])
        assert (line["lineObjectNumber"], line["amountExcludingTax"], line["documentId"]) == ("5110", 64.99,
                                                                                              memo["id"])
    with running_sandboxes(seed="demo", nav_flavor="classic") as classic:
        connection = classic.nav_connection()
        gone = requests.get(f"{connection.api_root}/companies/purchaseCreditMemos", auth=AUTH, timeout=10)
        assert gone.status_code == 404
