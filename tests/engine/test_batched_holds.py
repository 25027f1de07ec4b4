"""Invoices that cannot go are held a batch at a time (a first sync before the accounts are mapped holds them
all): each held once with its reasons, counted and audited once, a skipped one left alone, a changed reason
said again, and each hold in the log in the words the window shows."""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.store import schema as t
from tests.engine.conftest import make_engine


def _holds(store) -> dict[str, tuple[str, str]]:
    with store.session() as s:
        return {i.record_key: (i.state, i.reason) for i in s.scalars(select(t.QueueItem).where(
            t.QueueItem.kind == "invoice"))}


def _hold_audits(store) -> int:
    with store.session() as s:
        return len(list(s.scalars(select(t.AuditEntry).where(t.AuditEntry.action == "hold",
                                                             t.AuditEntry.record.like("invoice %")))))


def test_a_first_sync_before_the_accounts_are_mapped_holds_every_invoice_once(store, sandboxes, caplog):
    engine = make_engine(store, sandboxes)
    with caplog.at_level(logging.WARNING, logger="navbill.engine"):
        report = engine.run(flows=["vendors", "invoices"])  # no accounts flow: no line has a BILL account
    holds = _holds(store)
    held = report.counts("invoices").held
    assert held == len(holds) > 1 and report.counts("invoices").created == 0
    assert all(state == "open" and "account" in reason for state, reason in holds.values())
    assert _hold_audits(store) == held
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Held invoice ")]
    assert len(logged) == held and all(f"Held invoice {key}: {holds[key][1]}" in logged for key in holds)
    with store.session() as s:
        links = {link.nav_number: link for link in s.scalars(select(t.InvoiceLink))}
    assert set(links) == set(holds) and all(link.state == "held" and link.posting_date for link in links.values())

    # The same reasons again: nothing new to count or audit. A skipped one stays skipped.
    skipped = sorted(holds)[0]
    with store.session() as s:
        s.scalars(select(t.QueueItem).where(t.QueueItem.record_key == skipped)).one().state = "skipped"
    again = engine.run(flows=["vendors", "invoices"])
    assert again.counts("invoices").held == 0 and _hold_audits(store) == held
    assert _holds(store)[skipped][0] == "skipped"
    engine.nav.close()
    engine.bill.close()
