"""Push vs polling latency (run on demand, not collected by pytest):

    python tests/benchmarks/bench_push.py [--samples 10] [--poll-seconds 3] [--latency 0ms]

Measures, over real sockets against both sandboxes, the time from a user's change in one system to its
effect in the other:

1. push, NAV → BILL: a NAV vendor edit → BC notification → targeted sync → BILL vendor updated (target < 2 s)
2. push, BILL → NAV: a BILL vendor edit → signed webhook → targeted sync → NAV vendor updated (target < 2 s)
3. polling, NAV → BILL, with inbound blocked (notification URL on a closed port): bounded by the poll
   interval plus one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.clients.bill import BillClient  # noqa: E402
from app.clients.nav import NavClient  # noqa: E402
from app.engine import EngineSettings, SyncEngine  # noqa: E402
from app.push.listener import WebhookListener  # noqa: E402
from app.push.scheduler import Schedule  # noqa: E402
from app.push.service import ConnectorService, PushSettings, bc_number_lookup  # noqa: E402
from app.push.state import PushState  # noqa: E402
from app.push.status import Mode  # noqa: E402
from app.sandbox import demo_data  # noqa: E402
from app.sandbox.runner import running_sandboxes  # noqa: E402
from app.setup.vault import Vault  # noqa: E402
from app.store import Store  # noqa: E402
from tests.engine.conftest import DEMO_SETTINGS, fast_retry  # noqa: E402

NAV_VENDOR = "V00050"


def _wait_until(condition, timeout: float = 60.0) -> float | None:
    started = time.perf_counter()
    pause = threading.Event()
    while time.perf_counter() - started < timeout:
        if condition():
            return time.perf_counter() - started
        pause.wait(0.002)
    return None


def _closed_port_url() -> str:
    listener = WebhookListener("127.0.0.1", 0).start()
    url = listener.url
    listener.stop()
    return url


def _service(sandboxes, folder: str, **settings) -> tuple[ConnectorService, Store, SyncEngine]:
    store = Store(f"sqlite:///{folder}/bench.sqlite3")
    nav = NavClient(sandboxes.nav_connection(company_id=demo_data.COMPANY_ID), retry=fast_retry())
    bill = BillClient(sandboxes.bill_connection(), retry=fast_retry())
    engine = SyncEngine(store, nav, bill, EngineSettings(**DEMO_SETTINGS))
    engine.run(flows=["vendors"])
    vault = Vault.open_with_passphrase(f"sqlite:///{folder}/vault.sqlite3", "bench-passphrase", scrypt_n=2**10)
    values = dict(listen_port=0, poll_interval=timedelta(hours=1), schedule=Schedule(mode="manual"),
                  inbound_timeout=1.0)
    values.update(settings)
    service = ConnectorService(engine, nav, bill, state=PushState(store.engine), vault=vault,
                               settings=PushSettings(**values), nav_record_key=bc_number_lookup(nav))
    service.start()
    service.wait_until_ready(30)
    return service, store, engine


def _report(label: str, samples: list[float | None], target: str) -> None:
    got = [s for s in samples if s is not None]
    lost = len(samples) - len(got)
    if not got:
        print(f"{label:<34} no change arrived ({lost} lost)")
        return
    print(f"{label:<34} n={len(got):>3}  min {min(got) * 1000:7.1f} ms  median {statistics.median(got) * 1000:7.1f} ms"
          f"  max {max(got) * 1000:7.1f} ms  lost {lost}   ({target})")


def push_latency(samples: int, latency: str) -> None:
    with running_sandboxes(seed="demo", faults=f"latency={latency}" if latency else "") as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        service, store, engine = _service(sandboxes, folder)
        try:
            snapshot = service.status.snapshot()
            print(f"modes: NAV {snapshot.nav.mode.value}, BILL {snapshot.bill.mode.value}")
            assert snapshot.nav.mode == Mode.PUSH and snapshot.bill.mode == Mode.PUSH, snapshot.describe()
            bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == NAV_VENDOR)
            nav_to_bill, bill_to_nav = [], []
            for index in range(samples):
                phone = f"555-{index:04d}"
                sandboxes.nav.edit_vendor(NAV_VENDOR, Phone_No=phone)
                nav_to_bill.append(_wait_until(lambda p=phone: sandboxes.bill.vendors[bill_id].get("phone") == p))
                service.scheduler.wait_idle(30)
                email = f"bench{index}@precision.example"
                sandboxes.bill.edit_vendor(bill_id, {"email": email})
                bill_to_nav.append(_wait_until(
                    lambda e=email: sandboxes.nav.vendors.get(NAV_VENDOR)["E_Mail"] == e))
                service.scheduler.wait_idle(30)
            _report("push NAV -> BILL", nav_to_bill, "target < 2 s")
            _report("push BILL -> NAV", bill_to_nav, "target < 2 s")
            print(f"full runs during the push samples: {service.scheduler.runs_completed} (0 expected)")
        finally:
            service.stop()
            sandboxes.nav.stop()
            store.close()


def poll_latency(samples: int, poll_seconds: float, latency: str) -> None:
    with running_sandboxes(seed="demo", faults=f"latency={latency}" if latency else "") as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        service, store, engine = _service(sandboxes, folder, public_url=_closed_port_url(),
                                          poll_interval=timedelta(seconds=poll_seconds))
        try:
            snapshot = service.status.snapshot()
            print(f"modes: NAV {snapshot.nav.mode.value}, BILL {snapshot.bill.mode.value} (inbound blocked)")
            bill_id = next(r.bill_id for r in store.vendor_rows() if r.nav_number == NAV_VENDOR)
            results = []
            for index in range(samples):
                phone = f"555-9{index:03d}"
                sandboxes.nav.edit_vendor(NAV_VENDOR, Phone_No=phone)
                results.append(_wait_until(lambda p=phone: sandboxes.bill.vendors[bill_id].get("phone") == p,
                                           timeout=poll_seconds * 4 + 30))
            _report(f"polling NAV -> BILL ({poll_seconds:g} s)", results,
                    f"bound: interval {poll_seconds:g} s + one run")
        finally:
            service.stop()
            sandboxes.nav.stop()
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--poll-seconds", type=float, default=3.0)
    parser.add_argument("--poll-samples", type=int, default=4)
    parser.add_argument("--latency", default="", help="sandbox latency per request, e.g. 20ms")
    args = parser.parse_args()
    push_latency(args.samples, args.latency)
    poll_latency(args.poll_samples, args.poll_seconds, args.latency)


if __name__ == "__main__":
    main()
