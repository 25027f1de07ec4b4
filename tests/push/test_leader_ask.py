"""A follower's Sync now reaches the leader: a NOTIFY on the company's channel, heard on the leader's lock
connection by its watch thread. Real PostgreSQL (``NAVBILL_TEST_POSTGRES_URL``); skipped without it."""

from __future__ import annotations

import os
import threading

from app.push.leader import Leadership
from app.store.store import Store
from tests.postgres import postgres_schema


def test_a_follower_asks_the_leader_and_nobody_is_asked_when_nobody_leads(tmp_path):
    with postgres_schema() as url:
        leader_store, follower_store = Store(url), Store(url)
        stop = threading.Event()
        try:
            for store in (leader_store, follower_store):
                store.set_scope("CRONUS", "00802ORG")
            follower = Leadership(follower_store, "window")
            assert follower.ask_leader("the window on ap-pc-2") is None  # nobody leads: nobody to ask

            leader = Leadership(leader_store, "serve")
            asked: list[str] = []
            heard = threading.Event()
            leader.on_sync_request = lambda who: (asked.append(who), heard.set())
            assert leader.try_lead()
            leader.watch(stop, threading.Event(), poll=0.05)

            holder = follower.ask_leader("the window on ap-pc-2")
            assert holder is not None and holder.pid == os.getpid() and holder.trigger == "serve"
            assert heard.wait(10), "the leader never heard the follower's Sync now"
            assert asked == ["the window on ap-pc-2"]

            stop.set()
            leader.release()
            assert follower.ask_leader("the window on ap-pc-2") is None
        finally:
            stop.set()
            leader_store.close()
            follower_store.close()
