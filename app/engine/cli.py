"""`navbill sync`: one sync run from the command line, then exit.

    navbill sync [--demo] [--dry-run] [--only vendors|invoices|payments|accounts] [--json]

Exit status: 0 when the run completed (held items are normal), 1 when a side could not be used or the
run failed part way, 2 when it could not start at all (no profile, locked database, bad option).
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack

from app.domain.errors import ConnectorError
from app.engine.demo import DEMO_SETTINGS, add_follow_up_run, pay_some_demo_bills
from app.engine.engine import SyncEngine
from app.engine.report import RunReport
from app.engine.settings import EngineSettings

log = logging.getLogger("navbill.sync")


def _print_report(report: RunReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    print(f"Sync {'(dry run) ' if report.dry_run else ''}{report.status} in {report.duration_seconds:.1f} s; "
          f"HTTP calls NAV {report.nav_calls}, BILL {report.bill_calls}")
    for name, counts in report.flows.items():
        print(f"  {name:<9} created {counts.created}, updated {counts.updated}, skipped {counts.skipped}, "
              f"held {counts.held}, failed {counts.failed}, conflicts {counts.conflicts}")
    for error in report.errors:
        print(f"  ! {error}")
    for note in report.notes:
        print(f"  - {note}")
    for line in report.planned[:50]:
        print(f"  would: {line}")


def _run_demo(args, flows) -> tuple[int, RunReport | None]:
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.config import app_paths
    from app.sandbox.runner import running_sandboxes
    from app.store import Store

    paths = app_paths(args.home).ensure()
    database = paths.data_dir / "demo.sqlite3"
    for leftover in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the sandboxes start fresh each time, so must the demo store
    with ExitStack() as stack:
        sandboxes = stack.enter_context(running_sandboxes(seed="demo", faults=getattr(args, "faults", "")))
        store = Store(f"sqlite:///{database}")
        stack.callback(store.close)
        nav, bill = NavClient(sandboxes.nav_connection()), BillClient(sandboxes.bill_connection())
        stack.callback(nav.close)
        stack.callback(bill.close)
        DEMO_SETTINGS.save(store)
        engine = SyncEngine(store, nav, bill, DEMO_SETTINGS)
        report = engine.run(flows=flows, dry_run=args.dry_run, trigger="cli --demo")
        if not args.dry_run and report.completed and (flows is None or "payments" in flows) \
                and (flows is None or "invoices" in flows or store.invoice_rows(state="created")):
            if pay_some_demo_bills(sandboxes, store):
                add_follow_up_run(report, engine.run(flows=["payments"], trigger="cli --demo payments"))
        return (0 if report.completed else 1), report


def _run_profile(args, flows) -> tuple[int, RunReport | None]:
    from app.wiring import open_profile

    with open_profile(args.home, getattr(args, "profile", None), "sync") as opened:
        engine = SyncEngine(opened.store, opened.nav, opened.bill, EngineSettings.load(opened.store))
        report = engine.run(flows=flows, dry_run=args.dry_run, trigger=f"cli {opened.profile.name}")
        return (0 if report.completed else 1), report


def main(args) -> int:
    from app.config import app_paths
    from app.log import setup_logging

    verbose = getattr(args, "verbose", False)
    # The file records every run; the console shows only warnings (held records), so --json stays clean.
    setup_logging(app_paths(args.home).log_dir, level=logging.DEBUG if verbose else logging.INFO,
                  console_level=logging.DEBUG if verbose else logging.WARNING)
    flows = [args.only] if getattr(args, "only", None) else None
    try:
        code, report = (_run_demo if args.demo else _run_profile)(args, flows)
    except ConnectorError as exc:
        print(f"Sync could not run: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"Sync could not run: {exc}", file=sys.stderr)
        return 2
    if report is not None:
        _print_report(report, args.json)
    return code
