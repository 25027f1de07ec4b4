"""Kill the sync process at random points, 50 times, while users keep working in both systems.

Each run is a subprocess (``tests.reliability.kill_worker``) against sandboxes that live in this test
process, so they survive the kill. A run dies either at a named crash point (``NAVBILL_CRASH_AT``:
before a write is sent, after it was sent, after its link was committed, half way through a read
stream; the n-th time) or by SIGKILL after a random delay. Between runs a NAV user posts invoices and
edits a vendor, a BILL user adds vendors and pays bills.

After every run neither sandbox may hold a duplicate vendor, bill, journal line or ledger entry; at the
end, after clean reruns, both sandboxes and the links equal a fault-free run of the same work on a
fresh pair of sandboxes. The random choices come from the printed reliability seed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from app.sandbox.runner import running_sandboxes
from app.store import Store
from tests.reliability.scenario import kill_test_workload, pay_ready_bills, reference_state
from tests.reliability.state import differences, duplicates, full_state, unaccounted

ROOT = Path(__file__).resolve().parents[2]
RUNS = 50
ROUNDS = 12  # users' work: one round (NAV invoice, BILL vendor, NAV vendor edit) every few runs
CRASH_POINTS = ("before_send", "after_send", "after_commit", "mid_stream")


def start_worker(sandboxes, database: Path, crash_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "NAVBILL_CRASH_AT": crash_at, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.kill_worker", sandboxes.nav_url,
                             sandboxes.bill_url, str(database)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_worker(sandboxes, database: Path, crash_at: str = "", kill_after: float | None = None) -> tuple[int, str]:
    """Run one sync; returns (exit code, stderr tail). ``kill_after``: SIGKILL that many seconds after
    the run started (if it is still going)."""
    worker = start_worker(sandboxes, database, crash_at)
    if kill_after is not None:
        first = worker.stdout.readline()  # "started", or "" if it died before
        if first.startswith("started"):
            threading.Event().wait(kill_after)
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
    _, err = worker.communicate(timeout=240)
    return worker.returncode, err[-3000:]


def test_fifty_random_kills_leave_no_duplicates_and_end_in_the_fault_free_state(tmp_path, rng):
    workload = kill_test_workload(ROUNDS)
    database = tmp_path / "navbill.sqlite3"
    history: list[str] = []
    outcomes = {"crash point": 0, "sigkill": 0, "completed": 0}
    with running_sandboxes(seed="demo", faults="latency=2ms") as sandboxes:
        try:
            for index in range(RUNS):
                if index % 4 == 1:
                    workload.next_step(sandboxes)
                if database.exists():
                    store = Store(f"sqlite:///{database}")
                    try:
                        pay_ready_bills(sandboxes, store, workload.payments)
                    finally:
                        store.close()
                if rng.random() < 0.5:
                    point = f"{rng.choice(CRASH_POINTS)}:{rng.randint(1, 6 if index == 0 else 4)}"
                    code, err = run_worker(sandboxes, database, crash_at=point)
                    how = f"NAVBILL_CRASH_AT={point}"
                else:
                    delay = round(rng.uniform(0.0, 1.0 if index == 0 else 0.4), 3)
                    code, err = run_worker(sandboxes, database, kill_after=delay)
                    how = f"SIGKILL after {delay} s"
                history.append(f"run {index + 1}: {how} -> exit {code}")
                assert code in (0, 137, -signal.SIGKILL), f"{history[-1]} (seed in the header)\n{err}"
                outcomes["completed" if code == 0 else "crash point" if code == 137 else "sigkill"] += 1
                dupes = duplicates(sandboxes)
                assert not dupes, "written twice:\n" + "\n".join(dupes) + "\n" + "\n".join(history)

            # The clerk's last reruns, without kills: the remaining work, the payments, and one more.
            workload.remaining(sandboxes)
            for _ in range(3):
                code, err = run_worker(sandboxes, database)
                assert code == 0, err
                store = Store(f"sqlite:///{database}")
                try:
                    pay_ready_bills(sandboxes, store, workload.payments)
                finally:
                    store.close()
            code, err = run_worker(sandboxes, database)
            assert code == 0, err
            assert not duplicates(sandboxes)
            store = Store(f"sqlite:///{database}")
            try:
                assert unaccounted(sandboxes, store) == []
                state = full_state(sandboxes, store)
            finally:
                store.close()
        finally:
            sandboxes.nav.stop()
    print(f"outcomes over {RUNS} runs: {outcomes}")
    assert outcomes["crash point"] + outcomes["sigkill"] >= RUNS // 4, f"too few runs were killed: {outcomes}"

    expected = reference_state(lambda: kill_test_workload(ROUNDS), tmp_path)
    diff = differences(state, expected)
    assert not diff, "after the kills the state differs from a fault-free run:\n" + "\n".join(diff) + "\n" + \
        "\n".join(history)
