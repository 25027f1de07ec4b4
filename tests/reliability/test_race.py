"""One writer per company: `serve` (polling every 3 s, webhooks on), `sync` and a window-style Sync now, all
at once on ONE home, for 3 rounds with fresh work each round. Nothing may be written twice.

`serve` and `sync` are real processes of `main.py` on a connection profile made with the `profile` command;
the window's Sync now is an engine run in this process on the same profile (as the window's runner makes
it). Each round the users' work (NAV invoices, BILL vendors, BILL payments) lands just as the runs start,
so webhooks, polls and both manual runs all want to write the same records. Every run either completes or
says plainly that a sync is already running (who, since when); after every round both sandboxes are free
of duplicates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.__main__ import main
from app.cli.unlock import unlock
from app.engine import EngineSettings, SyncEngine
from app.sandbox import demo_data
from app.sandbox.runner import running_sandboxes
from app.setup.wiring import open_profile
from app.store import Store
from tests.reliability.scenario import kill_test_workload, pay_ready_bills
from tests.reliability.state import duplicates

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "race test vault passphrase"
ROUNDS = 3
INVOICES_PER_ROUND = 25


def _set_up_home(home: Path, sandboxes, monkeypatch) -> None:
    nav, bill = urlsplit(sandboxes.nav_url), sandboxes.bill_url.rstrip("/")
    assert main(["--home", str(home), "profile", "add", "Race", f"nav.server={nav.hostname}", f"nav.port={nav.port}",
                 f"nav.server_instance={demo_data.SERVER_INSTANCE}", f"nav.company={demo_data.COMPANY_NAME}",
                 f"nav.user={demo_data.NAV_USER}", f"bill.username={demo_data.BILL_USERNAME}",
                 f"bill.organization_id={demo_data.BILL_ORGANIZATION_ID}", f"bill.base_url={bill}/connect",
                 f"bill.events_base_url={bill}/connect-events"]) == 0
    for key, value in {"nav.web_service_key": demo_data.NAV_WEB_SERVICE_KEY, "bill.password": demo_data.BILL_PASSWORD,
                       "bill.dev_key": demo_data.BILL_DEV_KEY}.items():
        monkeypatch.setenv("NAVBILL_SECRET_VALUE", value)
        assert main(["--home", str(home), "profile", "secret", "Race", key]) == 0
    monkeypatch.delenv("NAVBILL_SECRET_VALUE")
    assert main(["--home", str(home), "settings", "journal_batch=BILL", "balancing_account_number=2910",
                 "vendor_number_prefix=VB"]) == 0
    store = Store(f"sqlite:///{home / 'data' / 'navbill.sqlite3'}")
    try:  # serve: polls every 3 s, webhooks to its own listener, no daily schedule
        store.set_setting("push", {"push_enabled": True, "poll_minutes": 0.05, "schedule": "manual"})
    finally:
        store.close()


def _post_invoices(sandboxes, round_number: int, count: int) -> None:
    template = sandboxes.nav.invoices.get("108001")["_lines"][0]
    for index in range(count):
        sandboxes.nav.post_invoice("V00010", f"RACE-{round_number}-{index:02d}", [
            {"account": template["No"], "amount": f"{200 + index}.{round_number:02d}", "description": "Race order",
             "dimensions": {"DEPARTMENT": "PROD"}}])


def _cli(home: Path, *args: str, lock_wait: str = "5") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", "--home", str(home), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "NAVBILL_LOCK_WAIT": lock_wait})


def _window_sync_now(home: Path, outcomes: list[str], lock_wait: float) -> None:
    """What the window's Sync now does: an engine on the active profile, trigger "window"."""
    with open_profile(str(home), None, "window", unlock) as opened:
        report = SyncEngine(opened.store, opened.nav, opened.bill, EngineSettings.load(opened.store),
                            lock_wait=lock_wait).run(trigger="window")
    outcomes.append(report.status if report.status != "busy" else f"busy: {report.errors[0]}")


@pytest.fixture
def vault_env(no_keyring, monkeypatch):
    monkeypatch.setenv("NAVBILL_VAULT_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("NAVBILL_SECRET_VALUE", raising=False)


def test_serve_sync_and_sync_now_at_once_write_nothing_twice(tmp_path, vault_env, monkeypatch):
    home = tmp_path / "home"
    workload = kill_test_workload(ROUNDS * 2)
    outcomes: list[str] = []
    with running_sandboxes(seed="demo", faults="latency=15ms") as sandboxes:
        serve = None
        try:
            _set_up_home(home, sandboxes, monkeypatch)
            # A first sync links the demo company, so the race is about new work.
            first = _cli(home, "sync", "--json")
            out, err = first.communicate(timeout=300)
            assert first.returncode in (0, 1) and '"run_status": "completed"' in out, out + err  # 1: some held
            serve = _cli(home, "serve", "--listen", "127.0.0.1:0", "--run-for", "600")
            for line in serve.stdout:
                if line.startswith("Listening on"):
                    break
            else:
                pytest.fail("serve did not start: " + serve.stderr.read())
            database = home / "data" / "navbill.sqlite3"
            for round_number in range(1, ROUNDS + 1):
                # Fresh work lands, its webhooks reach serve, and sync and Sync now start on it at once.
                workload.next_step(sandboxes)
                workload.next_step(sandboxes)
                _post_invoices(sandboxes, round_number, INVOICES_PER_ROUND)
                store = Store(f"sqlite:///{database}")
                try:
                    pay_ready_bills(sandboxes, store, workload.payments)
                finally:
                    store.close()
                # Round 1 waits the default 5 s for a running sync; later rounds give up sooner and say why.
                sync = _cli(home, "sync", "--json", lock_wait="5" if round_number == 1 else "0.1")
                window = threading.Thread(target=_window_sync_now,
                                          args=(home, outcomes, 5.0 if round_number == 1 else 0.0))
                window.start()
                out, err = sync.communicate(timeout=300)
                window.join(timeout=300)
                assert "Traceback" not in out + err, err[-3000:]
                if sync.returncode in (0, 1) and '"run_status": "completed"' in out:  # 1: records held
                    outcomes.append("completed")
                else:
                    assert "A sync is already running (started " in out + err, out + err
                    outcomes.append("busy: " + next(line for line in (out + err).splitlines()
                                                    if "already running" in line).strip())
                time.sleep(4)  # serve's next poll and the webhooks' targeted runs
                dupes = duplicates(sandboxes)
                assert not dupes, f"round {round_number}: written twice:\n" + "\n".join(dupes)
            # The work of the last round reaches both sides through serve alone.
            time.sleep(4)
        finally:
            if serve is not None:
                serve.terminate()
                serve_out, serve_err = serve.communicate(timeout=120)
        assert "Traceback" not in serve_out + serve_err, serve_err[-3000:]
        assert not duplicates(sandboxes)
        serve_runs = serve_out.count("run: ") + serve_out.count("targeted: ")
        busy = [o for o in outcomes if o.startswith("busy")]
        print(f"\nrounds {ROUNDS}; manual runs {len(outcomes)} ({len(busy)} waited and said a sync is running); "
              f"serve runs {serve_runs}; duplicates 0")
        for line in busy[:3]:
            print("  " + line)
        assert all(o == "completed" or "started " in o for o in outcomes), outcomes
        assert serve_runs >= ROUNDS, serve_out[-3000:]
