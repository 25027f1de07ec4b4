"""Contract test for NAV 2016-2018's posted purchase credit memo pages (147 list, 140 document with its lines
part, 141 lines) in the NAV sandbox, over HTTP, against docs/nav_credit_memo_truth.json (the facts with their
sources; nav_truth.json has no credit memo pages). Also: the classic client reads them, and reads none where
page 147 is not published."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from app.clients.nav import NavClient
from app.sandbox import nav_fields, nav_pages
from app.sandbox.runner import running_sandboxes
from tests.sandbox.nav_fixtures import AUTH

TRUTH = json.loads((Path(__file__).resolve().parents[2] / "docs/nav_credit_memo_truth.json").read_text("utf-8"))
PAGES = {"PostedPurchaseCreditMemos": "page_147", "PostedPurchaseCreditMemo": "page_140",
         "PostedPurchaseCreditMemoLines": "page_141"}


def _expected(page: str) -> list[str]:
    spec = TRUTH["classic"][page]
    names = [f["odata"] for f in spec["fields"]]
    return names + [k for k in spec["keys"] if k not in names]


def _post_memo(nav_url: str, vendor: str = "V00010", amount: str = "64.99", account: str = "5110") -> str:
    answer = requests.post(f"{nav_url}/_sandbox/credit-memos", timeout=10, json={
        "vendor": vendor, "vendor_credit_memo_number": "CM-77",
        "lines": [{"account": account, "amount": amount, "description": "Returned steel"},
                  {"account": account, "amount": "1.01", "description": "Freight back"}]})
    assert answer.status_code == 201, answer.text
    return answer.json()["number"]


def test_every_page_source_is_named():
    for page, spec in TRUTH["classic"].items():
        assert spec["source"] and all(spec["source"]), page
        assert any("StefanMaron/MSDyn365BC.Code.History" in source for source in spec["source"]), page


def test_the_embedded_field_lists_are_the_documented_ones():
    for page in ("page_147", "page_140", "page_141"):
        assert list(nav_fields.PAGE_FIELDS[int(page[5:])]) == _expected(page), page
        assert nav_fields.PAGE_KEYS[int(page[5:])] == tuple(TRUTH["classic"][page]["keys"]), page


@pytest.mark.parametrize("flavor", ["classic", "bc"])
def test_the_sandbox_serves_the_documented_credit_memo_pages(flavor):
    with running_sandboxes(seed="demo", nav_flavor=flavor) as running:
        number = _post_memo(running.nav_url)
        root = running.nav_connection().company_root
        for service, page in PAGES.items():
            answer = requests.get(f"{root}/{service}", auth=AUTH, timeout=10)
            assert answer.status_code == 200, (service, answer.text)
            rows = answer.json()["value"]
            assert rows, service
            assert [k for k in rows[0] if not k.startswith("@")] == _expected(page), service
        memo = requests.get(f"{root}/PostedPurchaseCreditMemos('{number}')", auth=AUTH, timeout=10).json()
        assert (memo["No"], memo["Buy_from_Vendor_No"], memo["Amount"], memo["Paid"], memo["Cancelled"]) == (
            number, "V00010", 66.0, False, False)
        assert "Vendor_Cr_Memo_No" not in memo  # only on page 140
        document = requests.get(f"{root}/PostedPurchaseCreditMemo('{number}')", auth=AUTH, timeout=10).json()
        assert document["Vendor_Cr_Memo_No"] == "CM-77"
        part = requests.get(f"{root}/PostedPurchaseCreditMemo('{number}')/PostedPurchaseCreditMemoPurchCrMemoLines",
                            auth=AUTH, timeout=10)
        assert part.status_code == 200
        lines = part.json()["value"]
        assert [(line["Document_No"], line["Type"], line["No"], line["Line_Amount"]) for line in lines] == [
            (number, "G/L Account", "5110", 64.99), (number, "G/L Account", "5110", 1.01)]
        assert all(line["Total_Amount_Excl_VAT"] == 66.0 for line in lines)
        filtered = requests.get(f"{root}/PostedPurchaseCreditMemoLines", auth=AUTH, timeout=10,
                                params={"$filter": f"Document_No eq '{number}'"}).json()["value"]
        assert [line["Line_No"] for line in filtered] == [line["Line_No"] for line in lines]
        refused = requests.get(f"{root}/PostedPurchaseCreditMemos", auth=AUTH, timeout=10,
                               params={"$expand": "PurchCrMemoLines"})
        assert refused.status_code == 400  # a list page without parts
        # its vendor ledger entry: Credit Memo, a positive amount, open
        entries = requests.get(f"{root}/VendorLedgerEntries", auth=AUTH, timeout=10,
                               params={"$filter": f"Document_No eq '{number}'"}).json()["value"]
        assert [(e["Document_Type"], e["Amount"], e["Remaining_Amount"], e["Open"]) for e in entries] == [
            ("Credit Memo", 66.0, 66.0, True)]


def test_the_classic_client_reads_them_into_the_domain_type():
    with running_sandboxes(seed="demo", nav_flavor="classic") as running:
        number = _post_memo(running.nav_url)
        client = NavClient(running.nav_connection())
        try:
            [memo] = [m for m in client.iter_posted_credit_memos() if m.number == number]
            assert (memo.vendor_number, memo.amount, memo.amount_including_tax, memo.status, memo.currency) == (
                "V00010", Decimal("66.00"), Decimal("66.00"), "Open", "USD")  # blank: page 118 LCY Code
            assert memo.vendor_credit_memo_number == "CM-77"  # not on page 147: read from page 140
            assert [(line.gl_account, line.amount, line.line_type) for line in memo.lines] == [
                ("5110", Decimal("64.99"), "G/L Account"), ("5110", Decimal("1.01"), "G/L Account")]
            assert list(client.iter_posted_credit_memos(skip=lambda n: n == number)) == []
        finally:
            client.close()


def test_without_page_147_published_the_client_reads_none_and_says_so(monkeypatch, caplog):
    services = {k: v for k, v in nav_pages.SERVICES.items() if v not in (147, 140, 141)}
    monkeypatch.setattr(nav_pages, "SERVICES", services)
    with running_sandboxes(seed="demo", nav_flavor="classic") as running:
        client = NavClient(running.nav_connection())
        try:
            with caplog.at_level(logging.INFO, logger="navbill.nav"):
                assert list(client.iter_posted_credit_memos()) == []
            assert not client.credit_memos_supported
            assert "page 147 (Posted Purchase Credit Memos)" in caplog.text
        finally:
            client.close()


def test_without_page_140_published_the_vendors_memo_number_is_left_out_and_said(monkeypatch, caplog):
    services = {k: v for k, v in nav_pages.SERVICES.items() if v != 140}
    monkeypatch.setattr(nav_pages, "SERVICES", services)
    with running_sandboxes(seed="demo", nav_flavor="classic") as running:
        number = _post_memo(running.nav_url)
        client = NavClient(running.nav_connection())
        try:
            with caplog.at_level(logging.INFO, logger="navbill.nav"):
                [memo] = [m for m in client.iter_posted_credit_memos() if m.number == number]
            assert (memo.vendor_credit_memo_number, memo.amount, len(memo.lines)) == ("", Decimal("66.00"), 2)
            assert "page 140 (Posted Purchase Credit Memo)" in caplog.text
        finally:
            client.close()
