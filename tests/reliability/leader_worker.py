"""A connector process on a team store: waits for the lead (app/push/leader.py, as `serve` does), then syncs.

    python -m tests.reliability.leader_worker NAV_URL BILL_URL STORE_URL [--wait-for-go]

Prints "following <who leads>" while another process leads, "leading" once it leads (then, with --wait-for-go, waits for a line on stdin), "syncing" as its run starts, "finished <status>" after
its first run and "again <status> <records created>" after a second one, then exits (the lead drops with the process).
"""

from __future__ import annotations

import sys
import threading

from app.clients.bill import BillClient
from app.clients.nav import NavClient
from app.engine import EngineSettings, SyncEngine
from app.push.leader import Leadership
from app.sandbox import demo_data
from app.sandbox.runner import RunningSandboxes
from app.store import Store
from tests.engine.conftest import DEMO_SETTINGS, fast_retry
from tests.reliability.kill_worker import _Urls


def main(argv: list[str]) -> int:
    nav_url, bill_url, url = argv[:3]
    remote = RunningSandboxes(_Urls(nav_url), _Urls(bill_url), None)  # type: ignore[arg-type]
    nav = NavClient(remote.nav_connection(), retry=fast_retry())
    bill = BillClient(remote.bill_connection(), retry=fast_retry())
    store = Store(url)
    store.set_scope(demo_data.COMPANY_NAME, demo_data.BILL_ORGANIZATION_ID)
    leadership = Leadership(store, "serve")
    try:
        leadership.wait_to_lead(threading.Event(), lambda who: print(f"following {who}", flush=True), poll=0.1)
        print("leading", flush=True)
        if "--wait-for-go" in argv:  # the test starts the follower first, then lets the leader sync
            sys.stdin.readline()
        print("syncing", flush=True)
        engine = SyncEngine(store, nav, bill, EngineSettings(**DEMO_SETTINGS), lock_wait=30)
        report = engine.run(trigger="schedule")
        print(f"finished {report.status}", flush=True)
        again = engine.run(trigger="schedule")
        created = sum(counts.created for counts in again.flows.values())
        print(f"again {again.status} {created}", flush=True)
    finally:
        leadership.release()
        nav.close()
        bill.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
