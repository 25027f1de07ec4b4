"""A BILL vendor's bank details and payment method, as far as the connector may know them.

BILL shows only the last four digits of a vendor's bank account number (it stores the rest encrypted), the full
routing number, the name on the account and the payment method (``payByType``/``payBySubType``). The connector
never stores or logs any of these: it keeps a keyed fingerprint (HMAC-SHA256 with a key from the vault) of the
account details and the payment method in plain words, and raises an alert when either changes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

_PAY_BY = {"ACH": "electronic (ACH)", "OFFLINE": "check", "RPPS": "electronic (RPPS network)",
           "UNDEFINED": "not set"}


@dataclass(frozen=True)
class BankDetails:
    pay_by_type: str = ""  # ACH | OFFLINE | RPPS | UNDEFINED ("" when BILL omits it)
    pay_by_sub_type: str = ""  # ACH | LOCAL | MULTIPLE | WIRE
    account_number: str = field(default="", repr=False)  # as BILL shows it: only the last four digits
    routing_number: str = field(default="", repr=False)
    name_on_account: str = field(default="", repr=False)
    account_type: str = ""  # CHECKING | SAVINGS
    account_id: str = field(default="", repr=False)  # BILL's id of the account, where it is sent

    @property
    def has_account(self) -> bool:
        return bool(self.account_number or self.routing_number)

    @property
    def method(self) -> str:
        """The payment method in plain words, e.g. "electronic (ACH), WIRE"."""
        words = _PAY_BY.get(self.pay_by_type.upper(), self.pay_by_type or "not set")
        if self.pay_by_sub_type and self.pay_by_sub_type.upper() != self.pay_by_type.upper():
            words += f", {self.pay_by_sub_type}"
        return words

    def fingerprint(self, key: bytes) -> str:
        """HMAC-SHA256 (hex) of the account details; "" when the vendor has no bank account."""
        if not self.has_account:
            return ""
        text = "\x1f".join((self.account_number, self.routing_number, self.name_on_account.strip().lower(),
                            self.account_type.upper(), self.account_id))
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BankChange:
    """What changed on one BILL vendor since the connector last looked (never the numbers themselves)."""

    bill_id: str
    vendor_name: str
    account: str  # "added" | "replaced" | "removed" | ""
    method_before: str
    method_after: str
    when: str  # BILL's updatedTime of the vendor, ISO
    fingerprint: str  # the new one (HMAC), or "" when the account was removed

    def describe(self) -> str:
        parts = []
        if self.account == "added":
            parts.append("a bank account was added")
        elif self.account == "replaced":
            parts.append("the bank account was replaced by another")
        elif self.account == "removed":
            parts.append("the bank account was removed")
        if self.method_before != self.method_after:
            parts.append(f"the payment method changed from {self.method_before} to {self.method_after}")
        return " and ".join(parts)
