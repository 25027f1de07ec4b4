"""ConnectorService end to end: real engine, real clients, both sandboxes, the listener, all over loopback.

A change made by a user in one sandbox must reach the other through a webhook without any scheduled or
polled run; with inbound traffic blocked the service says "polling" and the same change arrives by polling.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.clients.bill import BillClient
from app.clients.nav import NavClient
from app.engine import EngineSettings, SyncEngine
from app.push.listener import WebhookListener
from app.push.scheduler import Schedule
from app.push.service import POLL_JOB, UPKEEP_JOB, ConnectorService, PushSettings, bc_number_lookup
from app.push.state import PushState
from app.push.status import Mode
from app.sandbox import demo_data
from app.store import Store
from tests.engine.conftest import DEMO_SETTINGS, fast_retry

WAIT = 15.0


def wait_for(condition, timeout: float = WAIT):
    pause = threading.Event()
    for _ in range(int(timeout / 0.02)):
        value = condition()
        if value:
            return value
        pause.wait(0.02)
    return condition()


class Parts:
    def __init__(self, sandboxes, tmp_path, vault) -> None:
        self.sandboxes = sandboxes
        self.store = Store(f"sqlite:///{tmp_path / 'navbill.sqlite3'}")
        self.nav = NavClient(sandboxes.nav_connection(company_id=demo_data.COMPANY_ID), retry=fast_retry())
        self.bill = BillClient(sandboxes.bill_connection(), retry=fast_retry())
        self.engine = SyncEngine(self.store, self.nav, self.bill, EngineSettings(**DEMO_SETTINGS))
        self.state = PushState(f"sqlite:///{tmp_path / 'navbill.sqlite3'}")
        self.vault = vault
        self.services: list[ConnectorService] = []

    def service(self, **settings) -> ConnectorService:
        values = dict(listen_port=0, poll_interval=timedelta(hours=1), inbound_timeout=5.0,
                      schedule=Schedule(mode="manual"))
        values.update(settings)
        service = ConnectorService(self.engine, self.nav, self.bill, state=self.state, vault=self.vault,
                                   settings=PushSettings(**values), now=self.sandboxes.clock.now,
                                   nav_record_key=bc_number_lookup(self.nav))
        self.services.append(service)
        return service

    def close(self) -> None:
        for service in self.services:
            service.stop(timeout=WAIT)
        self.sandboxes.nav.stop()
        self.nav.close()
        self.bill.close()
        self.store.close()


@pytest.fixture
def parts(sandboxes, tmp_path, vault):
    parts = Parts(sandboxes, tmp_path, vault)
    assert parts.engine.run(flows=["vendors"]).completed  # link the demo vendors first
    yield parts
    parts.close()


def linked_bill_id(parts, nav_number: str) -> str:
    return next(r.bill_id for r in parts.store.vendor_rows() if r.nav_number == nav_number)


def closed_port_url() -> str:
    listener = WebhookListener("127.0.0.1", 0).start()
    url = listener.url
    listener.stop()
    return url


def test_a_nav_change_reaches_bill_through_a_webhook_without_any_run(parts):
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    snapshot = service.status.snapshot()
    assert (snapshot.nav.mode, snapshot.bill.mode) == (Mode.PUSH, Mode.PUSH), snapshot.describe()
    assert {s.resource for s in snapshot.nav.subscriptions} == {"vendors", "purchaseInvoices"}

    bill_id = linked_bill_id(parts, "V00050")
    parts.sandboxes.nav.edit_vendor("V00050", Phone_No="555-0101")
    assert wait_for(lambda: parts.sandboxes.bill.vendors[bill_id].get("phone") == "555-0101")
    assert service.scheduler.runs_completed == 0  # it came by the targeted sync, not a run
    assert service.status.side("nav").last_event_at is not None


def test_a_bill_change_reaches_nav_through_a_signed_webhook(parts):
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    bill_id = linked_bill_id(parts, "V00050")
    parts.sandboxes.bill.edit_vendor(bill_id, {"email": "push@precision.example"})
    assert wait_for(lambda: parts.sandboxes.nav.vendors.get("V00050")["E_Mail"] == "push@precision.example")
    assert service.scheduler.runs_completed == 0
    assert service.bill_receiver.accepted >= 2  # the test event and the vendor event


def test_with_inbound_blocked_both_sides_poll_and_the_change_still_arrives(parts):
    service = parts.service(public_url=closed_port_url(), poll_interval=timedelta(seconds=1), inbound_timeout=0.5)
    service.start()
    assert service.wait_until_ready(WAIT)
    snapshot = service.status.snapshot()
    assert (snapshot.nav.mode, snapshot.bill.mode) == (Mode.POLLING, Mode.POLLING)
    assert "could not subscribe" in snapshot.nav.reason and "1 s" in snapshot.nav.reason
    assert "test event did not reach" in snapshot.bill.reason
    assert service.poll_flows() == {"vendors", "invoices", "payments"}

    bill_id = linked_bill_id(parts, "V00050")
    parts.sandboxes.nav.edit_vendor("V00050", Phone_No="555-0202")
    assert wait_for(lambda: parts.sandboxes.bill.vendors[bill_id].get("phone") == "555-0202")
    assert wait_for(lambda: service.scheduler.runs_completed >= 1)  # it came by a poll


def test_old_nav_without_webhooks_polls_nav_and_still_pushes_bill(parts):
    parts.sandboxes.nav.webhooks_supported = False
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    nav, bill = service.status.side("nav"), service.status.side("bill")
    assert nav.mode == Mode.POLLING and "no webhooks" in nav.reason
    assert bill.mode == Mode.PUSH
    assert service.poll_flows() == {"vendors", "invoices", "payments"}  # BILL's vendors too: shared flow


def test_push_turned_off_means_no_listener_and_polling(parts):
    service = parts.service(push_enabled=False)
    service.start()
    assert service.wait_until_ready(WAIT)
    assert service.listener is None
    assert {service.status.mode("nav"), service.status.mode("bill")} == {Mode.POLLING}
    assert "turned off" in service.status.side("nav").reason
    assert service.scheduler.has_periodic(POLL_JOB)


def test_payments_are_polled_even_when_both_sides_push(parts):
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    assert service.poll_flows() == {"payments"}
    assert service.status.snapshot().payments_always_polled


def test_upkeep_renews_nav_subscriptions_on_the_sandbox_clock_and_restarts_reuse_everything(parts):
    port = int(closed_port_url().rsplit(":", 1)[1])  # a restart must find the same address
    service = parts.service(listen_port=port)
    service.start()
    assert service.wait_until_ready(WAIT)
    assert service.scheduler.has_periodic(UPKEEP_JOB)
    bill_subscription = service.bill_keeper.subscription_id
    key_name = "bill.webhook_security_key"
    key = parts.vault.get(key_name)
    assert key and key == parts.sandboxes.bill.webhooks.subscriptions[bill_subscription].security_key

    parts.sandboxes.clock.advance(2.5 * 24 * 3600)
    snapshot = service.check_subscriptions()
    assert {s.state for s in snapshot.nav.subscriptions} == {"renewed"}
    service.stop(WAIT)

    again = parts.service(listen_port=port)
    again.start()
    assert again.wait_until_ready(WAIT)
    assert {s.state for s in again.status.side("nav").subscriptions} == {"active"}
    assert again.bill_keeper.subscription_id == bill_subscription
    assert parts.vault.get(key_name) == key  # the same key, read from the vault
    assert again.status.mode("bill") == Mode.PUSH
    assert len(parts.sandboxes.bill.webhooks.subscriptions) == 1


def test_the_bill_security_key_is_stored_encrypted(parts, tmp_path):
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    key = parts.vault.get("bill.webhook_security_key")
    raw = (tmp_path / "vault.sqlite3").read_bytes()
    assert key.encode() not in raw


def test_a_subscription_bill_disabled_is_enabled_again(parts):
    service = parts.service()
    service.start()
    assert service.wait_until_ready(WAIT)
    subscription = parts.sandboxes.bill.webhooks.subscriptions[service.bill_keeper.subscription_id]
    subscription.enabled = False  # BILL gave up after failed deliveries
    snapshot = service.check_subscriptions()
    assert snapshot.bill.subscriptions[0].state == "re-enabled"
    assert subscription.enabled and snapshot.bill.mode == Mode.PUSH
