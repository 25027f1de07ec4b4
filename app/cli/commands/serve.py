"""`navbill serve`: the scheduler and the webhook listener without a window (a server, or a test).

    navbill serve [--demo] [--listen host:port] [--run-for N]

Runs the same ``ConnectorService`` the window uses. Settings come from the store's ``push`` setting
(written by the window): ``{"push_enabled", "listen", "public_url", "poll_minutes", "schedule"}``;
``--listen`` overrides the address. With ``--demo`` everything runs against fresh embedded sandboxes,
a first sync links the demo vendors, and the output says how to change a record as a user would.

It prints what changed (a run's figures, a targeted sync that changed something, a failure), each line stamped
in local time with the zone; the echoes of its own writes (a webhook about a vendor it just created, whose
targeted sync changes nothing) go to the log file only. Log lines on the terminal are warnings and errors
only, unless -v.

Exit status: 0 after a clean stop (Ctrl+C, SIGTERM or --run-for), 2 when it could not start (bad settings,
no profile, the listen port taken), 3 when NAV or BILL could not be reached at the start.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime

from app.push.service import ConnectorService, bc_number_lookup, settings_from
from app.push.state import PushState
from app.push.status import StatusSnapshot

log = logging.getLogger("navbill.serve")


def stamp(moment: datetime | None = None) -> str:
    """``2026-12-01 15:45:07 CET``: local time with the zone."""
    return (moment or datetime.now(UTC)).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _print_status(snapshot: StatusSnapshot) -> None:
    print(snapshot.describe(), flush=True)


def run_summary(report) -> str:
    """What a run changed, in the words of the sync report (only the counts that are not zero)."""
    from app.engine.report import named_counts

    parts = []
    for flow, counts in getattr(report, "flows", {}).items():
        words = [f"{word} {n}" for word, n in named_counts(flow, counts).items() if n and word != "read"]
        if words:
            parts.append(f"{flow} {', '.join(words)}")
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        parts.append("problems: " + "; ".join(errors))
    return "; ".join(parts) or "nothing to change"


def describe_outcome(outcome) -> str | None:
    """The line `serve` prints for a finished run, or None for an echo of its own write (nothing changed)."""
    report = outcome.result
    if outcome.ok and outcome.kind == "targeted" and report is not None and getattr(report, "run_id", 0) is None:
        return None
    if outcome.cancelled:
        text = "cancelled"
    elif outcome.error is not None:
        text = f"failed: {outcome.error}"
    else:
        text = run_summary(report) if report is not None else "ok"
    return f"{stamp(outcome.finished_at)}  {outcome.kind}: {outcome.description}: {text}"


def _stop_event() -> threading.Event:
    """Set by Ctrl+C or SIGTERM. Installed before anything is printed: whoever reads "Listening on" may send
    SIGTERM at once, and must get a clean stop."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _wait(run_for: float, stop: threading.Event | None = None) -> None:
    stop = stop or _stop_event()
    deadline = time.monotonic() + run_for if run_for > 0 else None
    # Short waits, never one long one: a SIGTERM the kernel hands to another thread runs its Python handler only
    # when the main thread next wakes, so one long wait could sleep through it until --run-for ran out.
    while not stop.wait(0.25):
        if deadline is not None and time.monotonic() >= deadline:
            return


def _follow(leadership, stop: threading.Event, where: str) -> bool:
    """On a team store: wait until this process leads the company (True), or is stopped first (False)."""
    if leadership is None or leadership.try_lead():
        return True

    def following(who: str) -> None:
        print(f"{stamp()}  following: {'the leader (' + who + ')' if who else 'another connector'} runs the "
              f"schedule and the webhook listener for the team store {where}; this one takes over if it stops.",
              flush=True)

    if not leadership.wait_to_lead(stop, following):
        return False
    print(f"{stamp()}  leading: this connector now runs the schedule and the webhook listener for the team store "
          f"{where}.", flush=True)
    return True


def _serve(service: ConnectorService, run_for: float, first_sync: bool, leadership=None, where: str = "") -> int:
    stop = _stop_event()
    started = time.monotonic()
    followed = leadership is not None and not leadership.leading and not leadership.try_lead()
    if followed:
        timer = None
        if run_for > 0:  # --run-for counts from the start, following included
            timer = threading.Timer(run_for, stop.set)
            timer.daemon = True
            timer.start()
        if not _follow(leadership, stop, where):
            print("Stopped without leading: the leader kept the lead.", flush=True)
            return 0
        if timer is not None:
            timer.cancel()
        if run_for > 0:
            run_for = max(0.001, run_for - (time.monotonic() - started))
    lost = threading.Event()
    if leadership is not None and leadership.shared:
        leadership.on_sync_request = lambda who: (print(f"{stamp()}  Sync now asked for by {who}", flush=True),
                                                  service.sync_now())
        leadership.watch(stop, lost)
    try:
        code = _serve_leading(service, stop, first_sync or followed, run_for)
    finally:
        if leadership is not None:
            leadership.release()
    if lost.is_set():
        from app.cli.errors import UNREACHABLE

        print(f"{stamp()}  lost the lead: the connection to the team store {where} dropped, so another connector "
              "may lead now; this one stopped its schedule and listener. Start serve again (a service manager "
              "restarts it) and it follows or leads as the store says.", flush=True)
        return UNREACHABLE
    return code


def _serve_leading(service: ConnectorService, stop: threading.Event, first_sync: bool, run_for: float) -> int:
    last: list[str] = []

    def on_status(snapshot: StatusSnapshot) -> None:
        text = snapshot.describe()
        if not last or last[-1] != text:
            last.append(text)
            print(f"-- status at {stamp()} --\n{text}", flush=True)

    def on_finished(outcome) -> None:
        line = describe_outcome(outcome)
        if line is None:
            log.debug("%s: %s: its own echo, nothing changed", outcome.kind, outcome.description)
        else:
            print(line, flush=True)

    service.status.on_change(on_status)
    service.scheduler.on_run_finished(on_finished)
    service.scheduler.on_next_run_changed(
        lambda when: print(f"next scheduled sync: {stamp(when) if when else 'none'}", flush=True))
    try:
        service.start()
    except OSError as exc:
        from app.cli.errors import USAGE, CliError

        raise CliError(f"Could not start the webhook listener on {service.settings.listen_host}:"
                       f"{service.settings.listen_port} ({exc.strerror or exc}): is another program using that "
                       "port? Choose another with --listen host:port.", USAGE) from None
    if service.listener is not None:
        print(f"Listening on {service.listener.url} (NAV: /nav/notifications, BILL: /bill/webhook); "
              f"schedule: {service.settings.schedule.describe()}", flush=True)
    if first_sync:  # the demo's first sync, or the work a leader that stopped may have left half done
        service.scheduler.request_run(reason="startup")
    try:
        _wait(run_for, stop)
    finally:
        print("Stopping…", flush=True)
        service.stop()
    nav_rx, bill_rx = service.nav_receiver, service.bill_receiver
    print(f"Stopped. Runs: {service.scheduler.runs_completed}; NAV notifications accepted "
          f"{nav_rx.accepted if nav_rx else 0}, refused {nav_rx.rejected if nav_rx else 0}; BILL events accepted "
          f"{bill_rx.accepted if bill_rx else 0}, refused {bill_rx.rejected if bill_rx else 0}, duplicates "
          f"{bill_rx.duplicates if bill_rx else 0}", flush=True)
    return 0


def _run_demo(args) -> int:
    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.engine import SyncEngine
    from app.engine.demo import DEMO_SETTINGS
    from app.sandbox import demo_data
    from app.sandbox.runner import running_sandboxes
    from app.setup.config import app_paths
    from app.setup.vault import DEMO_PASSPHRASE, Vault
    from app.store import Store

    paths = app_paths(args.home).ensure()
    database = paths.data_dir / "serve-demo.sqlite3"
    for leftover in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        leftover.unlink(missing_ok=True)  # fresh sandboxes each time, so a fresh demo store too
    with ExitStack() as stack:
        sandboxes = stack.enter_context(running_sandboxes(seed="demo", nav_flavor=getattr(args, "nav_flavor", None)))
        stack.callback(sandboxes.nav.stop)
        store = Store(f"sqlite:///{database}")
        stack.callback(store.close)
        vault = Vault.open_with_passphrase(store.engine, DEMO_PASSPHRASE)
        nav = NavClient(sandboxes.nav_connection(company_id=demo_data.COMPANY_ID))
        bill = BillClient(sandboxes.bill_connection())
        stack.callback(nav.close)
        stack.callback(bill.close)
        DEMO_SETTINGS.save(store)
        engine = SyncEngine(store, nav, bill, DEMO_SETTINGS)
        settings = settings_from({"schedule": "every 60m", "poll_minutes": 5}, args.listen or "127.0.0.1:0")
        service = ConnectorService(engine, nav, bill, state=PushState(store.engine), vault=vault, settings=settings,
                                   nav_record_key=bc_number_lookup(nav))
        print(f"Demo sandboxes: NAV {sandboxes.nav_url}, BILL {sandboxes.bill_url}")
        print(f"Change a NAV vendor as a user would:  curl -X POST {sandboxes.nav_url}/_sandbox/vendors/V00050 "
              "-H 'Content-Type: application/json' -d '{\"Phone_No\": \"555-0100\"}'", flush=True)
        return _serve(service, args.run_for, first_sync=True)


def _run_profile(args) -> int:
    from app.cli.unlock import unlock
    from app.engine import EngineSettings, SyncEngine
    from app.setup.profiles import secret_name
    from app.setup.wiring import guard_installation, open_profile

    with open_profile(args.home, getattr(args, "profile", None), "serve", unlock) as opened:
        guard_installation(opened, args.home)  # a second installation with a store of its own writes nothing
        engine = SyncEngine(opened.store, opened.nav, opened.bill, EngineSettings.load(opened.store))
        settings = settings_from(opened.store.get_setting("push", {}) or {}, args.listen)
        # Same vault names the profile screens use: profile/<name>/bill.webhook_security_key
        settings.vault_prefix = secret_name(opened.profile.name, "bill.webhook_security_key").rsplit("bill.", 1)[0]
        service = ConnectorService(engine, opened.nav, opened.bill, state=PushState(opened.store.engine),
                                   vault=opened.vault, settings=settings, nav_record_key=bc_number_lookup(opened.nav))
        from app.push.leader import Leadership

        return _serve(service, args.run_for, first_sync=False, leadership=Leadership(opened.store, "serve"),
                      where=opened.store.where)


def main(args) -> int:
    from app.log import setup_logging
    from app.setup.config import app_paths

    verbose = bool(getattr(args, "verbose", False))
    setup_logging(app_paths(args.home).ensure().log_dir, level=logging.DEBUG if verbose else logging.INFO,
                  console_level=logging.DEBUG if verbose else logging.WARNING, console_tracebacks=verbose)
    # Errors (no profile, a refused login, bad push settings) go to the command line's one error path.
    return _run_demo(args) if args.demo else _run_profile(args)
