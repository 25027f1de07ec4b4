"""One sync run in a process of its own, against sandboxes that live in the test process.

    python -m tests.reliability.kill_worker NAV_URL BILL_URL DATABASE_FILE

Prints "started" once the imports are done and the run begins, so a test's random SIGKILL delay
counts from the start of the sync rather than from interpreter start-up. With NAVBILL_CRASH_AT set,
the engine dies at that crash point with os._exit(137).
"""

from __future__ import annotations

import sys

from app.clients.bill import BillClient
from app.clients.nav import NavClient
from app.engine import EngineSettings, SyncEngine
from app.sandbox.runner import RunningSandboxes
from app.store import Store
from tests.engine.conftest import DEMO_SETTINGS, fast_retry


class _Urls:
    def __init__(self, url: str) -> None:
        self.url = url


def main(argv: list[str]) -> int:
    nav_url, bill_url, database = argv[:3]
    # RunningSandboxes only builds the connection settings here; no server is started.
    remote = RunningSandboxes(_Urls(nav_url), _Urls(bill_url), None)  # type: ignore[arg-type]
    nav = NavClient(remote.nav_connection(), retry=fast_retry())
    bill = BillClient(remote.bill_connection(), retry=fast_retry())
    store = Store(f"sqlite:///{database}")
    print("started", flush=True)
    try:
        report = SyncEngine(store, nav, bill, EngineSettings(**DEMO_SETTINGS)).run()
    finally:
        nav.close()
        bill.close()
        store.close()
    print(f"finished {report.status}", flush=True)
    return 0 if report.completed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
