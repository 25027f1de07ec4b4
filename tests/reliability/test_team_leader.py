"""Two connector processes on one PostgreSQL team store: one leads, the other follows; SIGKILL the leader in
the middle of a sync and the follower takes the lead and finishes the work, with no vendor, bill or journal
line written twice and nothing lost (tests/reliability/state.py). Needs NAVBILL_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.sandbox.runner import running_sandboxes
from app.store import Store
from app.store import schema as t
from tests.postgres import postgres_schema
from tests.reliability.state import duplicates, unaccounted

ROOT = Path(__file__).resolve().parents[2]


def _start(sandboxes, url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.leader_worker", sandboxes.nav_url,
                             sandboxes.bill_url, url, *extra], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                         "NAVBILL_PROCESS_ROLE": "serve"})


class Lines:
    """A worker's stdout, read on a thread so the test can wait for a line with a timeout."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.strip())
                self._changed.notify_all()

    def wait_for(self, prefix: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if line.startswith(prefix)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                assert left > 0, f"no line starting with {prefix!r} in {self.lines}"
                self._changed.wait(left)


def test_the_follower_takes_over_when_the_leader_is_killed_mid_sync_and_nothing_is_written_twice(rng):
    delay = round(rng.uniform(0.1, 0.5), 3)
    with postgres_schema() as url, running_sandboxes(seed="demo", faults="latency=5ms") as sandboxes:
        Store(url).close()  # the tables exist before both start
        leader = _start(sandboxes, url, "--wait-for-go")
        follower = None
        try:
            leader_out = Lines(leader)
            leader_out.wait_for("leading", 60)
            follower = _start(sandboxes, url)
            follower_out = Lines(follower)
            following = follower_out.wait_for("following", 60)
            assert "by serve on " in following and f"pid {leader.pid}" in following, following

            leader.stdin.write("go\n")
            leader.stdin.flush()
            leader_out.wait_for("syncing", 30)
            time.sleep(delay)  # the leader is syncing now: kill it in the middle
            assert leader.poll() is None and not any(line.startswith("finished") for line in leader_out.lines), \
                f"the leader finished within {delay} s; nothing was interrupted: {leader_out.lines}"
            leader.send_signal(signal.SIGKILL)
            leader.wait(30)
            store = Store(url)
            try:
                with store.session() as s:  # the leader's run was cut short: its row still says running (the
                    # follower may have started its own by now)
                    first = s.query(t.Run).order_by(t.Run.id).first()
                    assert first is not None and first.status == "running"
            finally:
                store.close()

            follower_out.wait_for("leading", 30)
            assert follower_out.wait_for("finished", 180) == "finished completed", follower_out.lines
            assert follower_out.wait_for("again", 120) == "again completed 0", follower_out.lines
            assert follower.wait(30) == 0, follower.stderr.read()[-3000:]
        finally:
            for process in (leader, follower):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
        dupes = duplicates(sandboxes)
        assert not dupes, "written twice:\n" + "\n".join(dupes)
        store = Store(url)
        try:
            assert unaccounted(sandboxes, store) == []
        finally:
            store.close()
        sandboxes.nav.stop()
