"""The engine's settings, kept in the store's settings table under ``engine.*``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from app.domain.errors import ConfigurationError
from app.domain.periods import CLOSED_PERIOD_ACTIONS

CONFLICT_POLICIES = ("ask", "nav", "bill")
BALANCING_ACCOUNT_TYPES = ("G/L Account", "Bank Account")  # NAV's Bal. Account Type options the connector writes


@dataclass
class EngineSettings:
    master_on_conflict: str = "ask"  # ask | nav | bill
    vendor_number_prefix: str = "VB"  # new NAV vendors for vendors created in BILL
    vendor_number_width: int = 5
    payment_document_prefix: str = "BILLPAY"
    payment_document_width: int = 6
    journal_template: str = "PAYMENT"
    journal_batch: str = "BILL"
    balancing_account_type: str = "G/L Account"  # or "Bank Account"
    balancing_account_number: str = ""
    create_nav_vendors: bool = True  # flow 2 (BILL → NAV)
    write_concurrency: int = 3  # BILL creates in flight at once (BILL's limit is 3 per devKey and organization)
    bill_hourly_limit: int = 20000  # BILL's requests per developer key per hour (docs/api-rate-limits)
    bill_budget_headroom_percent: int = 20  # of that, left for the organization's other integrations
    hold_payments_on_bank_change: bool = True  # a vendor's payments wait while its bank-detail change is unconfirmed
    closed_period_action: str = "hold"  # a payment dated before NAV's allowed posting dates: hold | first_open_date
    reconcile_digest_time: str = "08:00"  # the window's daily reconciliation digest, HH:MM local; "" = off

    def validate(self, flows: tuple[str, ...]) -> None:
        if self.master_on_conflict not in CONFLICT_POLICIES:
            raise ConfigurationError(f"master_on_conflict must be one of {', '.join(CONFLICT_POLICIES)}")
        if self.balancing_account_type not in BALANCING_ACCOUNT_TYPES:
            raise ConfigurationError(f"balancing_account_type must be {' or '.join(BALANCING_ACCOUNT_TYPES)}, not "
                                     f"'{self.balancing_account_type}'.")
        if self.closed_period_action not in CLOSED_PERIOD_ACTIONS:
            raise ConfigurationError(f"closed_period_action must be one of {', '.join(CLOSED_PERIOD_ACTIONS)}, not "
                                     f"'{self.closed_period_action}'.")
        from app.engine.digest import parse_time

        parse_time(self.reconcile_digest_time)
        if not 1 <= int(self.write_concurrency) <= 3:
            raise ConfigurationError("write_concurrency must be 1, 2 or 3 (BILL allows 3 concurrent requests).")
        if int(self.bill_hourly_limit) < 1 or not 0 <= int(self.bill_budget_headroom_percent) <= 90:
            raise ConfigurationError("bill_hourly_limit must be at least 1 and bill_budget_headroom_percent "
                                     "between 0 and 90.")
        if "payments" in flows and not (self.journal_template and self.journal_batch
                                        and self.balancing_account_number):
            raise ConfigurationError("Payments need a journal template, a journal batch and a balancing "
                                     "account in the settings.", system="NAV")

    @classmethod
    def load(cls, store) -> EngineSettings:
        known = {f.name for f in fields(cls)}
        values = store.get_setting("engine", {}) or {}
        return cls(**{k: v for k, v in values.items() if k in known})

    def save(self, store) -> None:
        store.set_setting("engine", asdict(self))
