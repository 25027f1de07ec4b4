"""Bank-detail change alerts, a step of the vendors flow that the payments flow asks.

Each BILL vendor read is compared with the bank details last seen (``app.engine.bankwatch``, fingerprints
keyed from the vault); a change is held for a person at once, and while it is open that vendor's payments wait.
"""

from __future__ import annotations

from app.domain.models import LOCAL_CURRENCY, Payment
from app.engine import bankwatch
from app.engine.common import BANK_KEY_UNSET, audit_money, iso
from app.engine.flows.base import Flow
from app.store import repository as q
from app.store import schema as t


class BankWatch(Flow):
    """Bank-detail fingerprints of BILL vendors, their change alerts, and the payments they hold."""

    def _bank_fingerprint_key(self) -> bytes | None:
        if self.ctx.bank_key is BANK_KEY_UNSET:
            self.ctx.bank_key = bankwatch.load_key(self.store)
        return self.ctx.bank_key  # type: ignore[return-value]

    def watch_bank(self, vendors: list) -> None:
        """Compare each BILL vendor's bank details with the last ones seen; a change is raised at once."""
        with_bank = [v for v in vendors if getattr(v, "bank", None) is not None]
        if not with_bank or self.report.dry_run:
            return
        key = self._bank_fingerprint_key()
        if key is None:
            return
        known = dict(self.store.get_setting(bankwatch.STATE_SETTING, {}) or {})
        before = dict(known)
        for vendor in with_bank:
            state, change = bankwatch.compare(known, vendor.id, vendor.fields.name, vendor.bank,
                                              iso(vendor.updated_time), key)
            known[vendor.id] = state
            if change is not None:
                self._alert_bank_change(change)
        if known != before:
            self.store.set_setting(bankwatch.STATE_SETTING, known)

    def _alert_bank_change(self, change) -> None:
        with self.store.session() as s:
            link = q.linked_vendor_of_bill_id(s, change.bill_id)
            nav_number = link.nav_number if link is not None else ""
        where = f"BILL vendor {change.vendor_name} ({change.bill_id}" + (f", NAV vendor {nav_number})" if nav_number
                                                                         else ")")
        when = f"on {change.when.replace('T', ' ')[:16]} UTC" if change.when else "at a time BILL does not give"
        then = ("Its payments are not posted to NAV until you confirm: check the change with the vendor at a phone "
                "number you already had, then Skip this item with a note (who confirmed, how)."
                if self.settings.hold_payments_on_bank_change else
                "Check the change with the vendor at a phone number you already had, then Skip this item.")
        reason = f"{where}: {change.describe()} in BILL {when} (BILL does not say by whom). {then}"
        self._hold(bankwatch.QUEUE_KIND, bankwatch.queue_key(change), reason, flow="vendors",
                   detail={"bill_id": change.bill_id, "nav_vendor": nav_number, "account": change.account,
                           "method_before": change.method_before, "method_after": change.method_after,
                           "when": change.when})

    def bank_change_hold(self, payment: Payment, invoices: dict[str, t.InvoiceLink]) -> str:
        if not self.settings.hold_payments_on_bank_change:
            return ""
        with self.store.session() as s:
            item = q.open_item_starting(s, bankwatch.QUEUE_KIND, f"{payment.vendor_id}:")
            if item is None:
                return ""
            when = str((item.detail or {}).get("when") or "")[:10]
        vendors = ", ".join(sorted({invoices[a.bill_id].vendor_number for a in payment.allocations}))
        return (f"BILL payment {payment.id} of {audit_money(payment.amount)} {payment.currency or LOCAL_CURRENCY} "
                f"(NAV vendor {vendors}) waits: the vendor's bank details changed in BILL"
                f"{' on ' + when if when else ''}. Confirm the change (Skip the bank-detail item in Failed "
                "postings); the payment is posted by the next run.")
