"""Run one sync in this process against sandboxes running elsewhere (the test process).

    python -m tests.engine.crash_worker NAV_URL BILL_URL DATABASE_FILE [flows,...]

With NAVBILL_CRASH_AT set, the engine dies at that point with os._exit(137), like a kill -9.
"""

from __future__ import annotations

import sys

from app.clients.bill import BillClient, BillConnection
from app.clients.nav import NavClient, NavConnection
from app.engine import EngineSettings, SyncEngine
from app.sandbox import demo_data
from app.store import Store
from tests.engine.conftest import DEMO_SETTINGS, fast_retry


def main(argv: list[str]) -> int:
    nav_url, bill_url, database = argv[:3]
    flows = argv[3].split(",") if len(argv) > 3 else None
    nav = NavClient(NavConnection(mode="onprem", base_url=nav_url, server_instance=demo_data.SERVER_INSTANCE,
                                  company=demo_data.COMPANY_NAME, user=demo_data.NAV_USER,
                                  web_service_key=demo_data.NAV_WEB_SERVICE_KEY), retry=fast_retry())
    bill = BillClient(BillConnection(base_url=f"{bill_url}/connect", events_base_url=f"{bill_url}/connect-events",
                                     username=demo_data.BILL_USERNAME, password=demo_data.BILL_PASSWORD,
                                     organization_id=demo_data.BILL_ORGANIZATION_ID, dev_key=demo_data.BILL_DEV_KEY,
                                     environment="sandbox"), retry=fast_retry())
    store = Store(f"sqlite:///{database}")
    report = SyncEngine(store, nav, bill, EngineSettings(**DEMO_SETTINGS)).run(flows=flows)
    if not report.completed:  # for the test's failure message: why this run did not complete
        print(f"run {report.status}: {report.errors}", file=sys.stderr)
    return 0 if report.completed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
