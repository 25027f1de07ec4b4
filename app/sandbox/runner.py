"""Start both sandboxes together: for `--demo` runs, for tests, for benchmarks, and in the foreground.

``running_sandboxes()`` is the one way the rest of the app starts them, so a demo sync, a test and a
benchmark all talk to the same kind of servers over real sockets.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from app.sandbox import demo_data
from app.sandbox.base import FaultSpec, SandboxClock, SandboxServer

log = logging.getLogger("navbill.sandbox")


@dataclass
class RunningSandboxes:
    nav_server: SandboxServer
    bill_server: SandboxServer
    clock: SandboxClock
    nav_flavor: str = "bc"  # "bc" (Business Central: API v2.0 + published pages) or "classic" (NAV 2016-2018)

    @property
    def nav(self):
        return self.nav_server.app

    @property
    def bill(self):
        return self.bill_server.app

    @property
    def nav_url(self) -> str:
        return self.nav_server.url

    @property
    def bill_url(self) -> str:
        return self.bill_server.url

    def nav_connection(self, **overrides):
        from app.clients.nav import NavConnection

        values = dict(
            mode="onprem",
            base_url=self.nav_url,
            server_instance=demo_data.SERVER_INSTANCE,
            company=demo_data.COMPANY_NAME,
            user=demo_data.NAV_USER,
            web_service_key=demo_data.NAV_WEB_SERVICE_KEY,
            # the BC API names the company by id; a classic NAV (2016-2018) has no API, so no id to give
            company_id=demo_data.COMPANY_ID if self.nav_flavor == "bc" else "",
        )
        values.update(overrides)
        return NavConnection(**values)

    def bill_connection(self, **overrides):
        from app.clients.bill import BillConnection

        values = dict(
            base_url=f"{self.bill_url}/connect",
            events_base_url=f"{self.bill_url}/connect-events",
            username=demo_data.BILL_USERNAME,
            password=demo_data.BILL_PASSWORD,
            organization_id=demo_data.BILL_ORGANIZATION_ID,
            dev_key=demo_data.BILL_DEV_KEY,
            environment="sandbox",
        )
        values.update(overrides)
        return BillConnection(**values)

    def set_faults(self, spec: str) -> None:
        self.nav.set_faults(FaultSpec.parse(spec, "nav"))
        self.bill.set_faults(FaultSpec.parse(spec, "bill"))


def start_sandboxes(seed: str = "demo", faults: str = "", host: str = "127.0.0.1", nav_port: int = 0,
                    bill_port: int = 0, nav_flavor: str = "bc", nav_options: dict | None = None,
                    **bill_options) -> RunningSandboxes:
    """Start both sandboxes. ``nav_flavor``: "bc" (Business Central 18+) or "classic" (NAV 2016-2018);
    ``nav_options``: more NavSandbox arguments (language, us_localization, notification_delay, ...)."""
    from app.sandbox.bill import BillSandbox
    from app.sandbox.nav import NavSandbox

    clock = SandboxClock()
    nav_app = NavSandbox(seed=seed, clock=clock, flavor=nav_flavor or "bc", **(nav_options or {}))
    bill_app = BillSandbox(seed=seed, clock=clock, **bill_options)
    nav_server = SandboxServer(nav_app, host, nav_port).start()
    try:
        bill_server = SandboxServer(bill_app, host, bill_port).start()
    except OSError:
        nav_server.stop()
        raise
    running = RunningSandboxes(nav_server, bill_server, clock, nav_app.flavor)
    running.set_faults(faults)
    return running


def stop_sandboxes(running: RunningSandboxes) -> None:
    for server in (running.nav_server, running.bill_server):
        with contextlib.suppress(Exception):
            server.stop()
    # Both sandboxes run background delivery threads for webhooks; stop them too.
    for app, method in ((running.nav, "stop"), (running.bill, "close")):
        with contextlib.suppress(Exception):
            getattr(app, method)()


@contextlib.contextmanager
def running_sandboxes(seed: str = "demo", faults: str = "", nav_flavor: str | None = None,
                      **options) -> Iterator[RunningSandboxes]:
    running = start_sandboxes(seed=seed, faults=faults, nav_flavor=nav_flavor, **options)
    try:
        yield running
    finally:
        stop_sandboxes(running)


def profile_values(running: RunningSandboxes, nav_flavor: str | None = None) -> dict[str, str]:
    """Every setting a connection profile needs to use these sandboxes (``profile add`` keys), no secrets."""
    return {
        "nav.mode": "onprem",
        "nav.base_url": running.nav_url,
        "nav.server_instance": demo_data.SERVER_INSTANCE,
        "nav.company": demo_data.COMPANY_NAME,
        "nav.company_id": demo_data.COMPANY_ID if (nav_flavor or running.nav_flavor) == "bc" else "",
        "nav.flavor": nav_flavor or running.nav_flavor,
        "nav.user": demo_data.NAV_USER,
        "bill.environment": "sandbox",
        "bill.base_url": f"{running.bill_url}/connect",
        "bill.events_base_url": f"{running.bill_url}/connect-events",
        "bill.username": demo_data.BILL_USERNAME,
        "bill.organization_id": demo_data.BILL_ORGANIZATION_ID,
        "environment": "sandbox",
    }


def profile_secrets() -> dict[str, str]:
    """The sandboxes' credentials: public demo values (app/sandbox/demo_data.py), still kept in the vault."""
    return {"nav.web_service_key": demo_data.NAV_WEB_SERVICE_KEY, "bill.password": demo_data.BILL_PASSWORD,
            "bill.dev_key": demo_data.BILL_DEV_KEY}


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _program(args) -> str:
    import os
    import sys

    name = os.path.basename(sys.argv[0] or "navbill")
    program = "python main.py" if name.endswith(".py") else name
    home = getattr(args, "home", None)
    return f"{program} --home {_quote(home)}" if home else program


def _write_profile(args, running: RunningSandboxes) -> str:
    """Save profile ``args.write_profile`` pointing at the sandboxes, its secrets in the vault; returns a sentence."""
    from app.config import app_paths
    from app.profile_cli import _unlocked_vault, apply_settings, parse_settings
    from app.profiles import Profile, ProfileStore, validate_profile_name
    from app.store import open_store
    from app.vault import Vault

    name = validate_profile_name(args.write_profile)
    values = parse_settings([f"{k}={v}" for k, v in profile_values(running, running.nav_flavor).items()])
    paths = app_paths(args.home).ensure()
    database = open_store(paths.database_url)
    try:
        vault = Vault.open(database.engine)
        _unlocked_vault(vault)
        profiles = ProfileStore(paths, vault)
        existing = profiles.get(name) if name in profiles.names() else Profile(name=name)
        saved = profiles.save(apply_settings(existing, values), profile_secrets())
    finally:
        database.close()
    return (f"Profile '{name}' {'updated' if existing.nav.base_url else 'saved'} (its secrets are in the vault)"
            f"{' and active' if saved.active else ''}: try `{_program(args)} check --profile {_quote(name)}`.")


def main(args) -> int:
    """`python main.py sandbox`: both sandboxes in the foreground until Ctrl+C (or SIGTERM).

    Prints the addresses and the `profile add` / `profile secret` lines that point a profile at them; with
    ``--write-profile NAME`` saves that profile itself. Errors go to the command line's one error path.
    """

    from app.cli.errors import USAGE, CliError
    from app.log import register_secret, setup_logging

    for secret in profile_secrets().values():
        register_secret(secret)  # public demo values, but still kept out of any log
    if getattr(args, "write_profile", "") and getattr(args, "log_file", None) is not None:
        setup_logging(args.log_file.parent, console=bool(args.verbose), console_tracebacks=bool(args.verbose))
    else:
        setup_logging(None, console=True, console_level=logging.INFO if args.verbose else logging.WARNING,
                      console_tracebacks=bool(args.verbose))
    # Handlers first: whoever reads "Ctrl+C to stop." may send SIGTERM at once, and must get a clean stop.
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        running = start_sandboxes(seed=args.seed, faults=args.faults, host=args.host, nav_port=args.nav_port,
                                  bill_port=args.bill_port, nav_flavor=getattr(args, "nav_flavor", None))
    except OSError as exc:
        raise CliError(f"Could not start the sandboxes on {args.host} ({exc.strerror or exc}): is port "
                       f"{args.nav_port} or {args.bill_port} already in use? Choose others with --nav-port / "
                       "--bill-port (0 picks a free one).", USAGE) from None
    except (ValueError, OverflowError) as exc:
        raise CliError(f"Could not start the sandboxes: {exc}.", USAGE) from None
    try:
        written = _write_profile(args, running) if getattr(args, "write_profile", "") else ""
        nav = running.nav_connection()
        values = profile_values(running, running.nav_flavor)
        flavor = {"bc": "Business Central (API v2.0 and published pages)",
                  "classic": "NAV 2016-2018 (published OData pages only)"}[running.nav_flavor]
        print(f"NAV sandbox ({flavor}): {running.nav_url}/{nav.server_instance}/ODataV4/Company('{nav.company}')/")
        if running.nav_flavor == "bc":
            print(f"  API v2.0: {running.nav_url}/{nav.server_instance}/api/v2.0/companies({demo_data.COMPANY_ID})/")
            print(f"  company id {demo_data.COMPANY_ID}, user {demo_data.NAV_USER}")
        else:
            print(f"  user {demo_data.NAV_USER}; payments wait in journal batch PAYMENT/BILL for the accountant")
        print(f"BILL sandbox: {running.bill_url}/connect/v3/  events: {running.bill_url}/connect-events/v3/")
        print(f"  organization {demo_data.BILL_ORGANIZATION_ID}, user {demo_data.BILL_USERNAME}")
        print(f"Seed: {args.seed}; faults: {args.faults or 'none'}.")
        if written:
            print(written)
        else:
            program = _program(args)
            print("\nA profile for these sandboxes (the secrets are the sandboxes' public demo values; the vault "
                  "keeps them):")
            print(f"  {program} profile add sandbox " + " ".join(_quote(f"{k}={v}") for k, v in values.items()))
            for key, value in profile_secrets().items():
                print(f"  NAVBILL_SECRET_VALUE={_quote(value)} {program} profile secret sandbox {key}")
            print(f"  (or start the sandboxes with --write-profile sandbox; then `{program} check --profile sandbox`)")
        print("Ctrl+C to stop.", flush=True)
        while not stop.wait(0.25):  # short waits: a signal taken by another thread runs its handler on wake-up
            pass
    finally:
        stop_sandboxes(running)
    return 0
