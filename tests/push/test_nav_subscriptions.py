"""NAV subscription upkeep against the NAV sandbox: create, renew before expiry, re-create, no-webhooks NAV."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clients.nav import NavClient
from app.push.listener import NAV_PATH, WebhookListener
from app.push.nav_webhooks import NavNotificationReceiver
from app.push.subscriptions import NavSubscriptionKeeper
from app.sandbox import demo_data

CLIENT_STATE = "nav-client-state-for-tests"
DAY = 24 * 3600


@pytest.fixture
def nav_client(sandboxes):
    client = NavClient(sandboxes.nav_connection(company_id=demo_data.COMPANY_ID))
    yield client
    sandboxes.nav.stop()


@pytest.fixture
def listener():
    changes: list = []
    receiver = NavNotificationReceiver(lambda: [CLIENT_STATE], changes.extend)
    with WebhookListener("127.0.0.1", 0) as running:
        running.route(NAV_PATH, receiver)
        running.changes = changes
        running.receiver = receiver
        yield running


@pytest.fixture
def keeper(nav_client, push_state, listener, sandboxes):
    return NavSubscriptionKeeper(nav_client, push_state, listener.url + NAV_PATH, CLIENT_STATE,
                                 now=sandboxes.clock.now)


def live(sandboxes) -> dict[str, dict]:
    with sandboxes.nav.state_lock:
        return {s["subscriptionId"]: dict(s) for s in sandboxes.nav.subscriptions.values()}


def test_one_subscription_per_resource_is_created_with_a_handshake_and_stored(keeper, listener, push_state,
                                                                              sandboxes):
    states = keeper.ensure()
    assert [(s.resource, s.state) for s in states] == [("vendors", "created"), ("purchaseInvoices", "created")]
    assert listener.receiver.handshakes == 2
    assert set(live(sandboxes)) == {s.subscription_id for s in states}
    stored = push_state.subscription("nav", "vendors")
    assert stored.expires_at - sandboxes.clock.now() > timedelta(days=2, hours=23)
    # nothing to do on the next check
    assert [s.state for s in keeper.ensure()] == ["active", "active"]


def test_subscriptions_are_renewed_when_less_than_a_day_remains(keeper, push_state, sandboxes):
    first = {s.resource: s for s in keeper.ensure()}
    sandboxes.clock.advance(1.5 * DAY)
    assert [s.state for s in keeper.ensure()] == ["active", "active"]  # 1.5 days left: not yet
    sandboxes.clock.advance(0.75 * DAY)
    renewed = {s.resource: s for s in keeper.ensure()}
    assert [s.state for s in renewed.values()] == ["renewed", "renewed"]
    for resource, state in renewed.items():
        assert state.subscription_id == first[resource].subscription_id
        assert state.expires_at - sandboxes.clock.now() > timedelta(days=2, hours=23)
        assert push_state.subscription("nav", resource).expires_at == state.expires_at
    # the renewed subscriptions outlive the original expiry
    sandboxes.clock.advance(1.5 * DAY)
    assert len(live(sandboxes)) == 2


def test_a_subscription_deleted_by_business_central_is_recreated(keeper, sandboxes):
    before = {s.resource: s.subscription_id for s in keeper.ensure()}
    with sandboxes.nav.state_lock:
        del sandboxes.nav.subscriptions[before["vendors"]]
    after = {s.resource: s for s in keeper.ensure()}
    assert after["vendors"].state == "recreated" and after["vendors"].subscription_id != before["vendors"]
    assert after["purchaseInvoices"].state == "active"


def test_an_expired_subscription_is_recreated(keeper, sandboxes):
    keeper.ensure()
    sandboxes.clock.advance(4 * DAY)  # the app was off for four days
    assert [s.state for s in keeper.ensure()] == ["recreated", "recreated"]
    assert len(live(sandboxes)) == 2


def test_a_nav_change_arrives_as_a_notification(keeper, listener, sandboxes):
    keeper.ensure()
    sandboxes.nav.edit_vendor("V00010", Name="Renamed by a NAV user")
    deadline_changes = _wait(lambda: listener.changes)
    assert [(c.entity, c.change_type) for c in deadline_changes] == [("vendors", "updated")]
    assert deadline_changes[0].key == sandboxes.nav.company.vendors.get("V00010")["SystemId"]  # the API's id


def test_an_unreachable_listener_fails_the_handshake(nav_client, push_state, sandboxes):
    closed = WebhookListener("127.0.0.1", 0).start()
    url = closed.url + NAV_PATH
    closed.stop()  # nobody listens on this port any more
    keeper = NavSubscriptionKeeper(nav_client, push_state, url, CLIENT_STATE, now=sandboxes.clock.now)
    states = keeper.ensure()
    assert [s.state for s in states] == ["failed", "failed"]
    assert "reach" in states[0].detail or "handshake" in states[0].detail
    assert live(sandboxes) == {}


def test_old_nav_without_webhooks_is_detected(keeper, sandboxes):
    sandboxes.nav.webhooks_supported = False
    assert keeper.supported() is False


def _wait(found, timeout: float = 10.0):
    import threading

    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        value = found()
        if value:
            return value
        done.wait(0.02)
    return found()


def test_a_renewal_answered_204_without_a_body_is_a_renewal(keeper, push_state, sandboxes):
    """OData part 1 11.4.3: a PATCH may be answered 204 No Content; the renewed subscription is read back."""
    first = {s.resource: s for s in keeper.ensure()}
    sandboxes.nav.patch_no_content = True
    sandboxes.clock.advance(2.25 * DAY)
    renewed = {s.resource: s for s in keeper.ensure()}
    assert [s.state for s in renewed.values()] == ["renewed", "renewed"]
    for resource, state in renewed.items():
        assert state.subscription_id == first[resource].subscription_id
        assert state.expires_at - sandboxes.clock.now() > timedelta(days=2, hours=23)
