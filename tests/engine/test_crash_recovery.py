"""Exactly once under kill -9: a subprocess runs the sync and dies at a named point; a rerun finishes the
job; the sandboxes (in this process) must hold no duplicate vendor, bill or payment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from app.store import Store
from tests.engine.conftest import make_engine

ROOT = Path(__file__).resolve().parents[2]


class WorkerExit(int):
    """A worker's exit code that, in an assertion's message, also shows the end of what the worker wrote to stderr
    (why a run that should have died or completed did not)."""

    stderr = ""

    def __repr__(self) -> str:
        return f"{int(self)} (worker stderr: ...{self.stderr[-1500:]!r})"


def run_worker(sandboxes, database: Path, crash_at: str = "", flows: str = "") -> int:
    env = {**os.environ, "NAVBILL_CRASH_AT": crash_at, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.engine.crash_worker", sandboxes.nav_url, sandboxes.bill_url,
               str(database)] + ([flows] if flows else [])
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    code = WorkerExit(done.returncode)
    code.stderr = done.stderr
    return code


def assert_no_duplicates(sandboxes, database: Path) -> None:
    names = Counter(v["name"] for v in sandboxes.bill.vendors.values())
    assert [n for n, c in names.items() if c > 1] == []
    bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in sandboxes.bill.bills.values())
    assert [k for k, c in bills.items() if c > 1] == []
    nav_names = Counter(row["Name"] for _, row in sandboxes.nav.vendors.iter_from(None))
    assert [n for n, c in nav_names.items() if c > 1 and n.startswith(("Quick", "Metro", "Skyline"))] == []
    store = Store(f"sqlite:///{database}")
    try:
        assert store.vendor_rows(status="linked")
        engine = make_engine(store, sandboxes)
        for payment_id in {p.payment_id for p in store.payment_rows()}:
            assert len(engine.nav.find_payments(payment_id)) == 1
    finally:
        store.close()


# A first sync of the demo company sends 6 writes: two bulk calls of new BILL vendors (1-2, in parallel), three
# NAV vendors numbered from the series (3-5) and one bulk call of 46 bills (6); it passes ``mid_stream`` 4 times.
# The default suite covers a kill at every point of a bulk write (before it is sent, after BILL has it but the
# store does not know, after the links are committed) for both bulk kinds, a NAV vendor create and a half-read
# stream; the slow sweep covers every other point.
BULK_CRASH_POINTS = [f"{point}:{n}" for point in ("before_send", "after_send", "after_commit") for n in (1, 6)]
CRASH_POINTS = BULK_CRASH_POINTS + ["after_send:4", "mid_stream:1"]
MORE_CRASH_POINTS = [f"{point}:{n}" for point in ("before_send", "after_send", "after_commit") for n in (2, 3, 5)
                     ] + ["before_send:4", "after_commit:4", "mid_stream:2", "mid_stream:3", "mid_stream:4"]


def _crash_and_recover(sandboxes, tmp_path, crash_at):
    database = tmp_path / "navbill.sqlite3"
    assert run_worker(sandboxes, database, crash_at) == 137, f"the worker should have died at {crash_at}"
    assert run_worker(sandboxes, database) == 0
    assert run_worker(sandboxes, database) == 0  # and a third run changes nothing
    assert_no_duplicates(sandboxes, database)


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_kill_during_first_sync_then_rerun_leaves_no_duplicates(sandboxes, tmp_path, crash_at):
    _crash_and_recover(sandboxes, tmp_path, crash_at)


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", MORE_CRASH_POINTS)
def test_kill_anywhere_during_first_sync(sandboxes, tmp_path, crash_at):
    _crash_and_recover(sandboxes, tmp_path, crash_at)


@pytest.mark.parametrize("crash_at", ["after_send:2", pytest.param("before_send:1", marks=pytest.mark.slow),
                                      pytest.param("after_send:1", marks=pytest.mark.slow),
                                      pytest.param("after_commit:1", marks=pytest.mark.slow)])
def test_kill_while_posting_payments_posts_each_payment_once(sandboxes, tmp_path, crash_at):
    database = tmp_path / "navbill.sqlite3"
    assert run_worker(sandboxes, database) == 0
    store = Store(f"sqlite:///{database}")
    bills = [row.bill_id for row in store.invoice_rows(state="created")[:3]]
    store.close()
    for bill_id in bills:
        sandboxes.bill.pay_bill(bill_id)
    assert run_worker(sandboxes, database, crash_at, flows="payments") == 137
    assert run_worker(sandboxes, database, flows="payments") == 0
    assert_no_duplicates(sandboxes, database)
    store = Store(f"sqlite:///{database}")
    assert len({p.payment_id for p in store.payment_rows(state="posted")}) == 3
    store.close()
