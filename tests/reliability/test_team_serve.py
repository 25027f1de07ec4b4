"""Two `python main.py serve` on two homes that joined one PostgreSQL team store (`store init --url --use`):
one leads (schedule and webhook listener), the other says who leads and waits; SIGKILL the leader and the other
takes the lead and starts listening. Needs NAVBILL_TEST_POSTGRES_URL (tests/postgres.py)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from app.store import Store
from tests.postgres import postgres_schema
from tests.reliability.test_race import _set_up_home, vault_env  # noqa: F401 - the fixture is used by name

ROOT = Path(__file__).resolve().parents[2]


def _main(home: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", "--home", str(home), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "NAVBILL_LEADER_POLL": "0.2"}, **popen)


def _lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in process.stdout], daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, text: str, seen: list[str], timeout: float = 60) -> str:
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line with {text!r}; saw {seen}") from None
        seen.append(line)
        if text in line:
            return line


def test_a_second_serve_follows_and_takes_the_lead_when_the_leader_dies(tmp_path, vault_env, monkeypatch):  # noqa: F811
    from app.sandbox.runner import running_sandboxes

    first, second = tmp_path / "ap-pc-1", tmp_path / "ap-pc-2"
    with postgres_schema() as url, running_sandboxes(seed="demo") as sandboxes:
        leader = follower = None
        try:
            for home in (first, second):
                joined = _main(home, "--create-home", "store", "init", "--url", url, "--use")
                out, err = joined.communicate(timeout=120)
                assert "This installation now uses the store" in out, out + err
                _set_up_home(home, sandboxes, monkeypatch)
            store = Store(url)
            try:  # serve's settings live in the team store: listen on a free port, no daily schedule
                store.set_setting("push", {"push_enabled": True, "poll_minutes": 5, "schedule": "manual"})
            finally:
                store.close()

            leader = _main(first, "serve", "--listen", "127.0.0.1:0", "--run-for", "300")
            leader_seen: list[str] = []
            _wait_for(_lines(leader), "Listening on", leader_seen)
            follower = _main(second, "serve", "--listen", "127.0.0.1:0", "--run-for", "300")
            follower_out, follower_seen = _lines(follower), []
            following = _wait_for(follower_out, "following:", follower_seen)
            assert f"pid {leader.pid}" in following and "by serve on " in following, following
            assert "takes over if it stops" in following
            status = _main(second, "store", "status")  # the administrator's view from either PC
            out, err = status.communicate(timeout=60)
            assert status.returncode == 0 and "(in use by this installation)" in out, out + err
            assert "Leader: started " in out and "by serve on " in out and f"pid {leader.pid}" in out, out

            leader.send_signal(signal.SIGKILL)
            leader.wait(30)
            took = _wait_for(follower_out, "leading:", follower_seen, timeout=60)
            assert "now runs the schedule and the webhook listener" in took
            _wait_for(follower_out, "Listening on", follower_seen)
            assert not any("Listening on" in line for line in follower_seen[:follower_seen.index(took)])

            follower.send_signal(signal.SIGTERM)
            assert follower.wait(60) == 0, follower.stderr.read()[-3000:]
        finally:
            for process in (leader, follower):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            sandboxes.nav.stop()


def test_a_leader_whose_connection_drops_stops_leading_and_says_so(tmp_path, vault_env, monkeypatch):  # noqa: F811
    """The server drops the leader's connection (as after a PC slept): its lock is gone, another may lead, so
    serve stops its schedule and listener and exits 3 with a sentence saying why."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from app.sandbox.runner import running_sandboxes

    home = tmp_path / "ap-pc-1"
    with postgres_schema() as url, running_sandboxes(seed="demo") as sandboxes:
        leader = None
        try:
            joined = _main(home, "--create-home", "store", "init", "--url", url, "--use")
            assert joined.communicate(timeout=120)[0].count("now uses the store") == 1
            _set_up_home(home, sandboxes, monkeypatch)
            store = Store(url)
            try:
                store.set_setting("push", {"push_enabled": True, "poll_minutes": 5, "schedule": "manual"})
            finally:
                store.close()
            leader = _main(home, "serve", "--listen", "127.0.0.1:0", "--run-for", "300")
            out, seen = _lines(leader), []
            _wait_for(out, "Listening on", seen)
            admin = create_engine(url, poolclass=NullPool)
            try:
                with admin.begin() as connection:
                    dropped = connection.execute(text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name LIKE 'navbill:serve:' || :pid || ':%'"), {"pid": leader.pid}).scalar()
            finally:
                admin.dispose()
            assert dropped == 1
            line = _wait_for(out, "lost the lead", seen, timeout=60)
            assert "another connector may lead now" in line and "Start serve again" in line
            assert leader.wait(60) == 3, leader.stderr.read()[-3000:]
        finally:
            if leader is not None and leader.poll() is None:
                leader.kill()
                leader.wait()
            sandboxes.nav.stop()


def test_the_window_leads_only_when_nobody_else_does(tmp_path, no_keyring):
    """The window's service (schedule and webhooks, app/ui/service_host.build_service) on a team store: refused
    with who leads while a serve leads; once the lead is free the window takes it, and gives it back on close."""
    from app.push.leader import Leadership
    from app.sandbox.runner import running_sandboxes
    from app.setup.config import app_paths
    from app.setup.profiles import ProfileStore, demo_profile, demo_secrets
    from app.setup.vault import Vault
    from app.ui.service_host import build_service

    with postgres_schema() as url, running_sandboxes(seed="demo") as sandboxes:
        store, other = Store(url), Store(url)
        try:
            vault = Vault.open_with_passphrase(store.engine, "team window test passphrase")
            profiles = ProfileStore(app_paths(tmp_path / "home").ensure(), vault)
            profile = profiles.save(demo_profile(sandboxes.nav_url, sandboxes.bill_url), demo_secrets())
            other.set_scope(profile.nav.company, profile.bill.organization_id)
            serve = Leadership(other, "serve")
            assert serve.try_lead()
            try:
                build_service(store, profile, vault)
                raise AssertionError("the window led while serve did")
            except RuntimeError as refused:
                assert "the leader (started " in str(refused) and f"pid {os.getpid()}" in str(refused)
                assert "Sync now still works here" in str(refused)
            serve.release()
            built = build_service(store, profile, vault)
            try:
                assert not Leadership(other, "serve").try_lead()  # the window leads now
            finally:
                built.close()
            follower = Leadership(other, "serve")
            assert follower.try_lead()  # given back
            follower.release()
        finally:
            store.close()
            other.close()
            sandboxes.nav.stop()
