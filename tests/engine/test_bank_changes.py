"""Bank-detail change alerts: a BILL vendor's bank account or payment method changes (the BILL sandbox's control
endpoint, as a BILL user in the web app); the connector raises it at once in the attention queue and holds that
vendor's payments until a person confirms (skips the item). Numbers are never stored: only a keyed fingerprint."""

from __future__ import annotations

import pytest
import requests

from app.engine import bankwatch
from app.sandbox.runner import running_sandboxes
from tests.engine.conftest import make_engine

ACCOUNT, ROUTING, OTHER_ACCOUNT = "987654321012", "021000021", "555000111222"
KEY = b"k" * 32


@pytest.fixture(params=["bc", "classic"])
def flavour_sandboxes(request):
    with running_sandboxes(seed="demo", nav_flavor=request.param) as running:
        yield running


def _set_bank(sandboxes, vendor_id: str, number: str | None) -> dict:
    body = {"bankAccount": None if number is None else {"nameOnAccount": "Remit To", "accountNumber": number,
                                                         "routingNumber": ROUTING, "type": "CHECKING"}}
    response = requests.post(f"{sandboxes.bill_url}/_sandbox/vendors/{vendor_id}/bank-account", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _items(store, kind: str, state: str = "open"):
    return store.queue_items(state=state, kind=kind)


def test_bank_change_is_raised_and_holds_payments_until_confirmed(store, flavour_sandboxes, tmp_path):
    sandboxes = flavour_sandboxes
    engine = make_engine(store, sandboxes)
    engine.bank_key = KEY
    assert engine.run().completed
    assert _items(store, bankwatch.QUEUE_KIND) == []  # first sight: what each vendor has is taken as known
    row = next(iter(store.invoice_rows(state="created")))
    vendor_id = sandboxes.bill.bills[row.bill_id]["vendorId"]
    vendor_name = sandboxes.bill.vendors[vendor_id]["name"]

    shown = _set_bank(sandboxes, vendor_id, ACCOUNT)
    assert shown["accountNumber"] == "********" + ACCOUNT[-4:]  # BILL shows only the last four digits
    payment_id = sandboxes.bill.pay_bill(row.bill_id)["id"]
    held = engine.run()
    assert held.completed, held.errors
    [alert] = _items(store, bankwatch.QUEUE_KIND)
    assert f"BILL vendor {vendor_name} ({vendor_id}, NAV vendor {row.vendor_number})" in alert.reason
    assert "a bank account was added" in alert.reason
    assert "payment method changed from check to electronic (ACH)" in alert.reason
    assert "BILL does not say by whom" in alert.reason and " UTC" in alert.reason
    from app.ui.store_backend import StoreBackend  # what the window's Failed postings tab lists (no Qt here)

    [shown_row] = [r for r in StoreBackend(store).failed_items() if r.kind == "bank change"]
    assert shown_row.document == f"Bank details of BILL vendor {vendor_id}" and shown_row.vendor == f"{vendor_name} ({row.vendor_number})"
    assert shown_row.held and shown_row.date is not None
    [waiting] = [item for item in _items(store, "payment") if item.record_key == payment_id]
    assert "bank details changed in BILL" in waiting.reason and row.vendor_number in waiting.reason
    assert store.payment_rows() == []

    # Nothing of the account is kept: not the number, not its last four, not the routing number.
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and "sqlite" in p.name)
    assert vendor_name.encode() in raw and b"bank details changed" in raw  # the file is really read
    for secret in (ACCOUNT, ACCOUNT[-4:] + '"', ROUTING, "Remit To"):
        assert secret.encode() not in raw, secret

    store.skip_item(alert.id, "confirmed by phone with the vendor's controller")
    posted = engine.run()
    assert posted.completed, posted.errors
    assert [link.payment_id for link in store.payment_rows()] == [payment_id]
    assert not [item for item in _items(store, "payment") if item.record_key == payment_id]

    # A later change raises a new alert even though the earlier one was confirmed; a webhook brings it at once.
    _set_bank(sandboxes, vendor_id, OTHER_ACCOUNT)
    engine.sync_bill_vendor(vendor_id)
    [again] = _items(store, bankwatch.QUEUE_KIND)
    assert "the bank account was replaced by another" in again.reason and "payment method" not in again.reason
    engine.nav.close()
    engine.bill.close()


def test_alert_without_holding_payments_when_the_setting_is_off(store, sandboxes):
    engine = make_engine(store, sandboxes, hold_payments_on_bank_change=False)
    engine.bank_key = KEY
    assert engine.run().completed
    row = next(iter(store.invoice_rows(state="created")))
    vendor_id = sandboxes.bill.bills[row.bill_id]["vendorId"]
    _set_bank(sandboxes, vendor_id, ACCOUNT)
    engine.run()
    _set_bank(sandboxes, vendor_id, None)  # removed: the vendor is paid by check again
    payment_id = sandboxes.bill.pay_bill(row.bill_id)["id"]
    assert engine.run().completed
    reasons = [item.reason for item in _items(store, bankwatch.QUEUE_KIND)]
    assert any("a bank account was added" in r for r in reasons)
    assert any("the bank account was removed and the payment method changed from electronic (ACH) to check" in r
               for r in reasons)
    assert all("Skip this item." in r for r in reasons)
    assert [link.payment_id for link in store.payment_rows()] == [payment_id]
    engine.nav.close()
    engine.bill.close()


def test_fingerprint_is_keyed_and_hides_the_numbers():
    from app.domain.bank import BankDetails

    bank = BankDetails("ACH", "ACH", "********1012", ROUTING, "Remit To", "CHECKING")
    assert bank.fingerprint(KEY) != bank.fingerprint(b"x" * 32)
    assert ROUTING not in repr(bank) and "1012" not in repr(bank)
    assert BankDetails("OFFLINE").fingerprint(KEY) == ""


def test_the_key_comes_from_the_vault_and_is_kept_there(store, monkeypatch):
    from app.setup.vault import Vault

    assert bankwatch.load_key(store) is None  # no vault set up: never made here
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", "correct horse battery staple")
    vault = Vault.open(store.engine, passphrase="correct horse battery staple", scrypt_n=2**10)
    assert vault.is_unlocked and vault.get(bankwatch.KEY_NAME) is None
    key = bankwatch.load_key(store)
    assert key is not None and len(key) == 32
    assert bankwatch.load_key(store) == key and vault.get(bankwatch.KEY_NAME) is not None
