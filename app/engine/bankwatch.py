"""Bank-detail change alerts: a BILL vendor's bank account or payment method changed.

Each time BILL vendors are read (every sync, and a ``vendor.updated`` webhook, whose payload carries all the
vendor's fields since 2025-04-10), each vendor's bank details are compared with what the connector saw last. What it
keeps per vendor is a keyed fingerprint (HMAC-SHA256, the key ``bank.fingerprint_key`` in the vault, made on first
use) of the account details and the payment method in plain words: never an account or routing number.

A change becomes an item in the failed/attention queue at once (kind ``bank_change``), naming the vendor, what
changed and when BILL says it changed (BILL's vendor record says when, not who). With ``hold_payments_on_bank_change``
(default on) that vendor's payments are not posted to NAV while such an item is open; a person confirms the change by
skipping the item (Failed postings: Skip, with a note), and the payments go through with the next run.
The first time a vendor is seen, what it has is taken as known (no alert).
"""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from app.domain.bank import BankChange, BankDetails

log = logging.getLogger("navbill.engine")

KEY_NAME = "bank.fingerprint_key"
STATE_SETTING = "bank_watch"  # {bill vendor id: {"fp": HMAC hex, "method": words}}
QUEUE_KIND = "bank_change"


def load_key(store: Any) -> bytes | None:
    """The fingerprint key from the vault in the store's database (made on first use); None when the vault is
    locked or unusable: then no account is compared, and the log says so."""
    try:
        from sqlalchemy import inspect, select

        from app.setup.vault import Vault, vault_meta_table

        if not inspect(store.engine).has_table(vault_meta_table.name):
            return _off("no vault is set up in this database")
        with store.engine.connect() as conn:
            if conn.execute(select(vault_meta_table.c.value).where(vault_meta_table.c.key == "mode")).first() is None:
                return _off("no vault is set up in this database")  # never makes a vault (or a keyring entry) itself
        vault = Vault.open_for_headless(store.engine)
        if not vault.is_unlocked:
            return _off("the vault is locked")
        return key_from_vault(vault)
    except Exception as exc:  # noqa: BLE001 - a locked or broken vault must not stop the sync
        return _off(f"the vault could not give the fingerprint key ({type(exc).__name__})")


def key_from_vault(vault: Any) -> bytes | None:
    """The key from an open, unlocked vault (the window has one), made on first use; None when it is locked."""
    try:
        if vault is None or not vault.is_unlocked:
            return None
        text = vault.get(KEY_NAME)
        if text is None:
            text = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            vault.put(KEY_NAME, text)
        return base64.b64decode(text)
    except Exception as exc:  # noqa: BLE001 - a broken vault must not stop the sync
        return _off(f"the vault could not give the fingerprint key ({type(exc).__name__})")


def _off(why: str) -> None:
    log.warning("Bank-detail change alerts are off for this run: %s. Set up or unlock the vault (`navbill vault "
                "status`) to have them.", why)
    return None


def compare(known: dict[str, dict], vendor_id: str, vendor_name: str, bank: BankDetails, when: str,
            key: bytes) -> tuple[dict, BankChange | None]:
    """The new state to keep for this vendor, and the change since ``known`` (None: first sight or unchanged)."""
    state = {"fp": bank.fingerprint(key), "method": bank.method}
    before = known.get(vendor_id)
    if before is None or before == state:
        return state, None
    account = ""
    if before.get("fp") != state["fp"]:
        account = "added" if not before.get("fp") else "removed" if not state["fp"] else "replaced"
    return state, BankChange(bill_id=vendor_id, vendor_name=vendor_name, account=account,
                             method_before=str(before.get("method") or ""), method_after=state["method"], when=when,
                             fingerprint=state["fp"])


def queue_key(change: BankChange) -> str:
    """One queue item per new state of a vendor's bank details: a later change raises a new alert even after the
    earlier one was confirmed."""
    return f"{change.bill_id}:{(change.fingerprint or 'none')[:12]}:{change.method_after}"[:120]
