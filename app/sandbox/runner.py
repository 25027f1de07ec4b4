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
            company_id=demo_data.COMPANY_ID,  # the BC API shape (webhook subscriptions) names the company by id
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
                    bill_port: int = 0, nav_flavor: str | None = None, **bill_options) -> RunningSandboxes:
    """Both sandboxes on ``host``. ``nav_flavor`` ("bc" or "classic") chooses which NAV the sandbox plays where
    the NAV sandbox supports it; it is accepted (and ignored) where it does not yet."""
    from app.sandbox.bill import BillSandbox
    from app.sandbox.nav import NavSandbox

    clock = SandboxClock()
    nav_app = _nav_sandbox(NavSandbox, seed, clock, nav_flavor)
    bill_app = BillSandbox(seed=seed, clock=clock, **bill_options)
    nav_server = SandboxServer(nav_app, host, nav_port).start()
    try:
        bill_server = SandboxServer(bill_app, host, bill_port).start()
    except OSError:
        nav_server.stop()
        raise
    running = RunningSandboxes(nav_server, bill_server, clock)
    running.set_faults(faults)
    return running


def _nav_sandbox(cls, seed, clock, nav_flavor):
    if nav_flavor:
        import inspect

        if "flavor" in inspect.signature(cls).parameters:
            return cls(seed=seed, clock=clock, flavor=nav_flavor)
        if "nav_flavor" in inspect.signature(cls).parameters:
            return cls(seed=seed, clock=clock, nav_flavor=nav_flavor)
    return cls(seed=seed, clock=clock)


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


def main(args) -> int:
    """`python main.py sandbox`: both sandboxes in the foreground until Ctrl+C."""
    from app.log import setup_logging

    setup_logging(None, console=True)
    try:
        running = start_sandboxes(seed=args.seed, faults=args.faults, host=args.host, nav_port=args.nav_port,
                                  bill_port=args.bill_port)
    except OSError as exc:
        print(f"Could not start the sandboxes: {exc} (is the port already in use? choose another with "
              f"--nav-port / --bill-port)")
        return 2
    except ValueError as exc:
        print(f"Bad option: {exc}")
        return 2
    nav = running.nav_connection()
    print(f"NAV sandbox   OData v4: {running.nav_url}/{nav.server_instance}/ODataV4/Company('{nav.company}')/")
    print(f"              user {demo_data.NAV_USER}, web-service key {demo_data.NAV_WEB_SERVICE_KEY} (demo values)")
    print(f"BILL sandbox  v3 API:   {running.bill_url}/connect/v3/  events: {running.bill_url}/connect-events/v3/")
    print(f"              org {demo_data.BILL_ORGANIZATION_ID}, user {demo_data.BILL_USERNAME} (demo values)")
    print(f"Seed: {args.seed}; faults: {args.faults or 'none'}. Ctrl+C to stop.")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    stop_sandboxes(running)
    return 0
