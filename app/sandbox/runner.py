"""Start both sandboxes together: for `--demo` runs, for tests, for benchmarks, and in the foreground.

``running_sandboxes()`` is the one way the rest of the app starts them, so a demo sync, a test and a
benchmark all talk to the same kind of servers over real sockets. The `sandbox` command that runs them in the
foreground is app.cli.commands.sandbox.
"""

from __future__ import annotations

import contextlib
import logging
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
