"""Engine fixtures: a store on a temp SQLite file (and, in modules marked ``both_stores``, on PostgreSQL too:
tests/postgres.py), real clients talking to the sandboxes over loopback."""

from __future__ import annotations

import pytest

from app.clients.bill import BillClient
from app.clients.nav import NavClient
from app.clients.retry import RetryPolicy
from app.engine import EngineSettings, SyncEngine
from app.store import Store

DEMO_SETTINGS = dict(journal_template="PAYMENT", journal_batch="BILL", balancing_account_type="G/L Account",
                     balancing_account_number="2910", vendor_number_prefix="VB")


def fast_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, sleep=lambda seconds: None)


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    yield store
    store.close()


def make_engine(store, running, **settings) -> SyncEngine:
    nav = NavClient(running.nav_connection(), retry=fast_retry())
    bill = BillClient(running.bill_connection(), retry=fast_retry())
    return SyncEngine(store, nav, bill, EngineSettings(**{**DEMO_SETTINGS, **settings}))


@pytest.fixture
def engine(store, sandboxes):
    engine = make_engine(store, sandboxes)
    yield engine
    engine.nav.close()
    engine.bill.close()
