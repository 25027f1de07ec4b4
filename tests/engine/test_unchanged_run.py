"""An unchanged run asks NAV and BILL very little (issue 14: at most 8 HTTP calls, flat with the company's size),
and the reference lists (G/L accounts, dimensions, BILL's chart of accounts and classifications) are read in full
only when NAV's change filter shows a change, an hour has passed, or the run names the accounts flow.

Calls are counted in the sandboxes' own request logs (what reached the servers), not by the clients."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from app.sandbox.runner import running_sandboxes
from app.store import Store
from tests.engine.conftest import make_engine

GOAL = 8  # HTTP calls of an unchanged run, both sides together


def _log_since(sandboxes, nav_before: int, bill_before: int) -> Counter:
    """Calls per endpoint (side, method, last path segment) since the marks."""
    calls = Counter()
    for side, log, before in (("NAV", sandboxes.nav.requests, nav_before), ("BILL", sandboxes.bill.requests,
                                                                          bill_before)):
        for request in log[before:]:
            calls[(side, request.method, request.path.rsplit("/", 1)[-1])] += 1
    return calls


def _unchanged_run(engine, sandboxes, **options) -> tuple[Counter, object]:
    nav_before, bill_before = len(sandboxes.nav.requests), len(sandboxes.bill.requests)
    report = engine.run(**options)
    return _log_since(sandboxes, nav_before, bill_before), report


class _Clock:
    def __init__(self) -> None:
        from datetime import UTC, datetime
        self.now = datetime.now(UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clocked(tmp_path):
    """An engine on the demo sandboxes whose clock a test can move."""
    def make(flavor: str = "bc"):
        stack = running_sandboxes(seed="demo", nav_flavor=flavor)
        sandboxes = stack.__enter__()
        store = Store(f"sqlite:///{tmp_path / flavor}.sqlite3")
        engine = make_engine(store, sandboxes)
        engine.clock = clock = _Clock()
        made.append((stack, store, engine))
        return engine, sandboxes, clock

    made: list = []
    yield make
    for stack, store, engine in made:
        engine.nav.close()
        engine.bill.close()
        store.close()
        stack.__exit__(None, None, None)


@pytest.mark.parametrize("seed", ["large:34", "large:400"])
def test_an_unchanged_run_makes_at_most_8_calls_whatever_the_size(tmp_path, seed):
    with running_sandboxes(seed=seed) as sandboxes:
        store = Store(f"sqlite:///{tmp_path}/s.sqlite3")
        engine = make_engine(store, sandboxes)
        try:
            first = engine.run()
            assert first.completed, first.errors
            assert first.flows["vendors"].created > 0 and first.flows["invoices"].created > 0
            calls, second = _unchanged_run(engine, sandboxes)
        finally:
            engine.nav.close()
            engine.bill.close()
            store.close()
    assert second.completed, second.errors
    assert all(c.created == c.updated == 0 for c in second.flows.values()), second.flows
    total = sum(calls.values())
    assert total == second.nav_calls + second.bill_calls  # the engine's own count agrees with the servers'
    assert total <= GOAL, sorted(calls.items())
    # What is left: one changed-since read per list, and NAV's three one-row change probes.
    assert calls[("BILL", "GET", "vendors")] == 1 and calls[("BILL", "GET", "payments")] == 1
    assert not any(side == "BILL" and "classifications" in str(path) for side, _, path in calls)
    assert not any(endpoint in calls for endpoint in [("BILL", "GET", "chart-of-accounts"),
                                                       ("BILL", "GET", "departments")])
    assert calls[("NAV", "GET", "accounts")] == 1  # the probe ($top=1), not the list


def test_the_unchanged_run_is_flat_from_34_to_400_vendors(tmp_path):
    totals = {}
    for seed in ("large:34", "large:400"):
        with running_sandboxes(seed=seed) as sandboxes:
            store = Store(f"sqlite:///{tmp_path}/{seed.replace(':', '_')}.sqlite3")
            engine = make_engine(store, sandboxes)
            try:
                assert engine.run().completed
                calls, _ = _unchanged_run(engine, sandboxes)
            finally:
                engine.nav.close()
                engine.bill.close()
                store.close()
        totals[seed] = sum(calls.values())
    assert totals["large:34"] == totals["large:400"], totals


def test_a_changed_nav_account_is_read_at_the_next_run(clocked):
    engine, sandboxes, clock = clocked()
    assert engine.run().completed
    _calls, quiet = _unchanged_run(engine, sandboxes)
    assert quiet.flows["accounts"].updated == 0  # nothing read: nothing changed
    company = sandboxes.nav.company
    with sandboxes.nav.state_lock:
        row = dict(company.gl_accounts.get("6400"))
        row.update(Name="Calibration and Testing", SystemModifiedAt=company.now() + timedelta(seconds=5))
        company.gl_accounts.put("6400", row)
    calls, changed = _unchanged_run(engine, sandboxes)
    assert changed.flows["accounts"].updated > 0
    assert calls[("BILL", "GET", "chart-of-accounts")] == 1  # a full read, both sides
    names = {a["number"]: a["name"] for a in engine.store.reference_data()["gl_accounts"]}
    assert names["6400"] == "Calibration and Testing"
    _calls, after = _unchanged_run(engine, sandboxes)
    assert after.flows["accounts"].updated == 0  # the change was read once, not at every run


def test_bill_classifications_are_read_again_after_an_hour(clocked):
    engine, sandboxes, clock = clocked()
    assert engine.run().completed
    fees = next(a for a in sandboxes.bill.classifications["chart-of-accounts"].values()
                if a["name"] == "Professional Fees")
    fees["archived"] = True  # BILL has no change filter the connector relies on for these lists
    calls, within = _unchanged_run(engine, sandboxes)
    assert within.flows["accounts"].updated == 0 and calls[("BILL", "GET", "chart-of-accounts")] == 0
    clock.now += timedelta(minutes=61)
    calls, later = _unchanged_run(engine, sandboxes)
    assert later.flows["accounts"].updated > 0 and calls[("BILL", "GET", "chart-of-accounts")] == 1
    archived = {a["id"]: a["archived"] for a in engine.store.reference_data()["bill_accounts"]}
    assert archived[fees["id"]] is True


def test_a_run_that_names_the_accounts_flow_reads_every_list(clocked):
    engine, sandboxes, clock = clocked()
    assert engine.run().completed
    calls, forced = _unchanged_run(engine, sandboxes, flows=["accounts"])
    assert forced.flows["accounts"].updated > 0
    assert calls[("BILL", "GET", "chart-of-accounts")] == 1 and calls[("NAV", "GET", "dimensionValues")] >= 1


def test_nav_pages_without_change_times_are_read_hourly(clocked):
    engine, sandboxes, clock = clocked("classic")
    assert engine.run().completed
    calls, quiet = _unchanged_run(engine, sandboxes)
    assert quiet.completed and quiet.flows["accounts"].updated == 0
    assert sum(calls.values()) <= GOAL, sorted(calls.items())
    assert calls[("NAV", "GET", "ChartOfAccounts")] == 0
    clock.now += timedelta(hours=1)
    calls, hourly = _unchanged_run(engine, sandboxes)
    assert hourly.flows["accounts"].updated > 0 and calls[("NAV", "GET", "ChartOfAccounts")] == 1
