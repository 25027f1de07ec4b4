"""The window on a company that more than one workstation syncs.

- A second installation with an SQLite store of its own: the window's Sync now (F5) and its service are refused
  before anything is written, and the window says why and what to do (app/store/installation.py).

Both homes are set up the way a clerk's would be (`profile add`, `profile secret`, `settings` through the CLI's
``main``), against the real sandboxes.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.cli import main
from app.sandbox.runner import running_sandboxes
from tests.reliability.state import sandbox_state
from tests.reliability.test_race import PASSPHRASE, _set_up_home, vault_env  # noqa: F401 - fixture used by name


@pytest.mark.timeout(600)
def test_a_second_installations_window_refuses_sync_now_and_says_what_to_do(qtbot, tmp_path, vault_env,  # noqa: F811
                                                                           monkeypatch):
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost

    first, second = tmp_path / "first-pc", tmp_path / "second-pc"
    with running_sandboxes(seed="demo") as sandboxes:
        try:
            _set_up_home(first, sandboxes, monkeypatch)
            assert main(["--home", str(first), "sync"]) in (0, 1)  # the first PC's bills are in BILL now
            _set_up_home(second, sandboxes, monkeypatch)
            before = sandbox_state(sandboxes)

            session = open_session(second, demo=False)
            if not session.vault.is_unlocked:  # the window does not read NAVBILL_VAULT_PASSPHRASE: its start-up
                session.vault.unlock(PASSPHRASE)  # dialog asks, as this does
            window = MainWindow(session.backend, profile_name=session.profile.name)
            window.paths = session.paths
            qtbot.addWidget(window)
            window.show()
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
            with qtbot.waitSignal(window.sync_finished, timeout=240_000) as finished:
                QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)  # F5 is Sync now
            outcome = finished.args[0]
            assert not outcome.ok
            assert "Another connector already syncs NAV company CRONUS" in outcome.summary
            assert "made from NAV posted invoice " in outcome.summary and "Nothing was written" in outcome.summary
            assert "Settings → Team store" in outcome.summary and "store confirm-alone" in outcome.summary
            assert window.banner.isVisible() and window.banner.error
            assert "Another connector already syncs" in window.banner.label.text()

            host = ServiceHost(session, window)  # the schedule and webhooks are refused the same way
            with qtbot.waitSignal(host.failed, timeout=240_000) as refused:
                host.start()
            assert "Another connector already syncs" in refused.args[0]
            assert "Scheduled syncs and webhooks are off" in window.message_label.text()
            host.stop_now()
            assert sandbox_state(sandboxes) == before  # nothing was written by the second installation
            window.shutdown()
            session.close()
        finally:
            sandboxes.nav.stop()


HOLD_THE_LEAD = """
import sys, time
from app.push.leader import Leadership
from app.store.store import Store
store = Store(sys.argv[1])
store.set_scope(sys.argv[2], sys.argv[3])
import threading
lead = Leadership(store, "serve")
assert lead.try_lead()
lead.on_sync_request = lambda who: print("asked by", who, flush=True)  # serve queues a sync here
lead.watch(threading.Event(), threading.Event(), poll=0.1)
print("leading", flush=True)
time.sleep(600)
"""


@pytest.mark.timeout(600)
def test_a_follower_window_shows_who_leads_and_takes_the_lead_when_the_leader_dies(qtbot, tmp_path, no_keyring,
                                                                                  monkeypatch):
    """Real PostgreSQL, two processes: a `serve`-like process holds the company's leader lock; the window follows,
    shows that process's workstation, pid and time, and its Sync now asks that leader; SIGKILL the leader and the
    window takes the lead (its schedule and webhooks start), and Sync now then goes to its own service; when the
    server drops the window's lock connection, it notices and leads again."""
    import os
    import queue
    import socket
    import subprocess
    import sys
    import threading
    from pathlib import Path

    from app.push.leader import Leadership
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import Vault
    from app.store.store import Store
    from app.ui.application import ConnectorSession, build_engine_runner
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost
    from app.ui.store_backend import StoreBackend
    from app.ui.team_status import LeaderWatch
    from tests.postgres import postgres_schema

    monkeypatch.setenv("NAVBILL_LEADER_POLL", "0.2")
    root = Path(__file__).resolve().parents[2]
    with postgres_schema() as url, running_sandboxes(seed="demo") as sandboxes:
        store, other = Store(url), Store(url)
        leader = window = host = watch = None
        try:
            vault = Vault.open_with_passphrase(store.engine, "team window test passphrase")
            paths = app_paths(tmp_path / "home").ensure()
            profiles = ProfileStore(paths, vault)
            profile = profiles.save(demo_profile(sandboxes.nav_url, sandboxes.bill_url), demo_secrets())
            from app.engine.demo import DEMO_SETTINGS

            DEMO_SETTINGS.save(store)  # the payment journal batch and balancing account the demo company uses
            store.set_setting("push", {"push_enabled": False, "listen": "127.0.0.1:0", "poll_minutes": 5,
                                       "schedule": "manual"})
            company, organization = profile.nav.company or profile.nav.company_id, profile.bill.organization_id
            leader = subprocess.Popen([sys.executable, "-c", HOLD_THE_LEAD, url, company, organization], cwd=root,
                                      stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONPATH": str(root), "NAVBILL_PROCESS_ROLE": "serve"})
            assert leader.stdout.readline().strip() == "leading"

            session = ConnectorSession(paths=paths, store=store, vault=vault, profiles=profiles, profile=profile)
            session.backend = StoreBackend(store, build_engine_runner(store, profile, vault,
                                                                      config_dir=paths.config_dir))
            window = MainWindow(session.backend, profile_name=profile.name)
            qtbot.addWidget(window)
            host = ServiceHost(session, window)
            watch = LeaderWatch(session, window, host)
            window.show()
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
            with qtbot.waitSignal(host.failed, timeout=60_000) as refused:
                host.start()
            assert "runs them for this company on the team store" in refused.args[0]
            assert window.message_label.text().startswith("This window follows: the leader (started ")
            assert not window.banner.isVisible()  # following is not a fault
            watch.start()
            qtbot.waitUntil(lambda: f"pid {leader.pid}" in watch.label.text(), timeout=30_000)
            text = watch.label.text()
            assert text.startswith(f"Leader: serve on {socket.gethostname()} since "), text
            assert not host.running and window.service_bridge is None

            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=lambda: [lines.put(line) for line in leader.stdout], daemon=True).start()
            with qtbot.waitSignal(watch.asked, timeout=60_000) as asked:  # a follower's Sync now asks the leader
                QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)
            assert f"pid {leader.pid}" in asked.args[0]
            assert window.message_label.text().startswith("Asked the leader (serve on ")
            heard = lines.get(timeout=30).strip()
            assert heard == f"asked by the window on {socket.gethostname()} (pid {os.getpid()})", heard
            assert f"pid {leader.pid}" in watch.label.text() and not host.running  # it did not take the lead

            leader.kill()  # SIGKILL: the server drops its connection, and with it the lock
            leader.wait(30)
            qtbot.waitUntil(lambda: host.built is not None and window.service_bridge is not None, timeout=60_000)
            qtbot.waitUntil(lambda: watch.label.text().startswith("Leader: this window since "), timeout=30_000)
            scoped = other.set_scope(company, organization) or other
            holder = scoped.leader_lock().holder()
            assert holder is not None and holder.pid == os.getpid()
            assert not Leadership(other, "serve").try_lead()  # nobody else may lead while the window does

            with qtbot.waitSignal(window.sync_finished, timeout=240_000) as finished:  # now its own service runs it
                QTest.keyClick(window.tabs.currentWidget().view, Qt.Key.Key_F5)
            assert finished.args[0].summary.startswith("Sync completed"), finished.args[0].summary
            with qtbot.waitSignal(window.sync_finished, timeout=240_000) as finished:  # another PC's Sync now
                assert Leadership(other, "serve").ask_leader("the window on ap-pc-3").pid == os.getpid()
            assert finished.args[0].summary.startswith("Sync completed"), finished.args[0].summary

            # The server drops the window's leader connection (as when its PC sleeps): the window notices, stops its
            # schedule and webhooks, and leads again because nobody else does.
            first_bridge = window.service_bridge
            from sqlalchemy import create_engine, text
            from sqlalchemy.pool import NullPool

            # Only the connection holding the leader lock: a run's own lock connection (named the same way) may
            # still be on its way back to the pool just after sync_finished.
            key = scoped.leader_lock().key()
            admin = create_engine(url, poolclass=NullPool)
            try:
                with qtbot.waitSignal(watch.lead_lost, timeout=30_000), admin.begin() as connection:
                    dropped = connection.execute(text(
                        "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a JOIN pg_locks l "
                        "ON l.pid = a.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.classid::bigint = :classid AND l.objid::bigint = :objid AND l.objsubid = 1 "
                        "AND a.application_name LIKE 'navbill:%:' || :pid || ':%'"),
                        {"pid": os.getpid(), "classid": (key >> 32) & 0xFFFFFFFF,
                         "objid": key & 0xFFFFFFFF}).scalar()
            finally:
                admin.dispose()
            assert dropped == 1
            qtbot.waitUntil(lambda: window.service_bridge is not None and window.service_bridge is not first_bridge
                            and watch.label.text().startswith("Leader: this window since "), timeout=60_000)
            assert other.leader_lock().holder().pid == os.getpid()
        finally:
            if leader is not None and leader.poll() is None:
                leader.kill()
                leader.wait()
            if watch is not None:
                watch.stop()
            if host is not None:
                host.stop_now()
            if window is not None:
                window.shutdown()
            store.close()
            other.close()
            sandboxes.nav.stop()
