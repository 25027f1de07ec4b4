"""The sync flows: accounts, vendors (+ vendor_links, nav_vendors), invoices (+ bill_lines), payments, bank.
May import app.domain, app.store and app.engine's common, lane, recovery, payloads; never app.engine.engine or Qt.

Each reads, decides with ``app.domain`` and writes through the lane or the outbox; bank is a step of vendors and
payments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.flows.accounts import AccountsFlow
from app.engine.flows.bank import BankWatch
from app.engine.flows.invoices import InvoicesFlow
from app.engine.flows.payments import PaymentsFlow
from app.engine.flows.vendors import VendorsFlow

if TYPE_CHECKING:
    from app.engine.context import RunContext


class Flows:
    """The flows of one run, wired to each other where one asks another (bank details for payments)."""

    def __init__(self, ctx: RunContext) -> None:
        self.bank = BankWatch(ctx)
        self.accounts = AccountsFlow(ctx)
        self.vendors = VendorsFlow(ctx, self.bank)
        self.invoices = InvoicesFlow(ctx)
        self.payments = PaymentsFlow(ctx, self.bank)


__all__ = ["Flows", "AccountsFlow", "BankWatch", "VendorsFlow", "InvoicesFlow", "PaymentsFlow"]
