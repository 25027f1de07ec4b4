"""`navbill reconcile [--demo] [--json] [--csv FILE]`: do NAV and BILL agree? (read only; app.engine.reconcile)

Exit codes: 0 NAV and BILL agree; 1 differences found (each listed with both numbers and the likely cause);
2 configuration; 3 NAV or BILL could not be reached.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from app.cli.errors import HELD, OK, STATUS, USAGE, CliError
from app.engine.reconcile import ReconcileReport, reconcile

log = logging.getLogger("navbill.reconcile")


def _demo(args) -> ReconcileReport:
    """The demo company after a first sync and a few BILL payments, on a throwaway store."""
    import tempfile

    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.engine.demo import DEMO_SETTINGS, pay_some_demo_bills
    from app.engine.engine import SyncEngine
    from app.sandbox.runner import running_sandboxes
    from app.store import Store

    options = {"nav_flavor": args.nav_flavor} if getattr(args, "nav_flavor", None) else {}
    with tempfile.TemporaryDirectory(prefix="navbill-reconcile-") as folder, \
            running_sandboxes(seed="demo", **options) as sandboxes:
        store = Store(f"sqlite:///{Path(folder) / 'demo.sqlite3'}")
        nav, bill = NavClient(sandboxes.nav_connection()), BillClient(sandboxes.bill_connection())
        try:
            engine = SyncEngine(store, nav, bill, DEMO_SETTINGS)
            engine.run(trigger="reconcile --demo")
            if pay_some_demo_bills(sandboxes, store):
                engine.run(flows=["payments"], trigger="reconcile --demo payments")
            return reconcile(store, nav, bill)
        finally:
            nav.close()
            bill.close()
            store.close()


def main(args) -> int:
    from app.cli.output import emit_json

    as_json = bool(getattr(args, "json", False))
    csv_path = getattr(args, "csv", "") or ""
    if csv_path and not Path(csv_path).expanduser().resolve().parent.is_dir():
        raise CliError(f"--csv {csv_path}: the folder {Path(csv_path).expanduser().resolve().parent} does not "
                       "exist. Give a file in an existing folder.", USAGE)
    if getattr(args, "demo", False):
        report = _demo(args)
    else:
        from app.cli.unlock import unlock
        from app.setup.wiring import open_profile

        with open_profile(args.home, getattr(args, "profile", None), "reconcile", unlock) as opened:
            report = reconcile(opened.store, opened.nav, opened.bill)
    code = OK if report.clean else HELD
    if csv_path:
        Path(csv_path).expanduser().write_text(report.to_csv(), encoding="utf-8", newline="")
    if as_json:
        emit_json({"status": STATUS[code], "exit_code": code, **report.to_dict(),
                   **({"csv": str(Path(csv_path).expanduser().resolve())} if csv_path else {})})
    else:
        print(report.as_text(), flush=True)
        if csv_path:
            print(f"The differences are also in {Path(csv_path).expanduser().resolve()} (CSV).", flush=True)
    if not report.clean:
        log.warning("Reconciliation: %d difference(s) between NAV and BILL.", len(report.differences))
    sys.stdout.flush()
    return code
