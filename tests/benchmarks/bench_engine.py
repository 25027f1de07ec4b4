"""Engine benchmarks (run on demand, not collected by pytest):

    python tests/benchmarks/bench_engine.py [--vendors 10000] [--latency 20ms,300ms] [--kill-latency 20ms,300ms]
                                            [--flat-sizes 100,1000,10000] [--memory-vendors 10000,100000]
                                            [--inline-latency 20ms] [--skip first,kill,second,memory]
    python tests/benchmarks/bench_engine.py --vendors 10000 --latency 20ms --profile-engine /tmp/engine.prof
    python tests/benchmarks/bench_engine.py --vendors 10000 --latency 20ms --profile-sandboxes /tmp/sandboxes.prof
    python tests/benchmarks/bench_engine.py ... [--sandbox-processes 2|1]   (first sync: NAV and BILL apart, or together)

1. First sync of large:N (N vendors, 2N posted invoices; about 10% of the vendors already in BILL) with BILL's
   hourly limit ON (20,000 requests per hour, the client's stop line at 80%) and BILL latency injected: BILL
   requests used against a lower bound (login + list pages + one call per 20 new vendors + one per 100 new
   bills: BILL's bulk limits), wall time against requests x latency / 3 (BILL takes 3 requests at once), and
   whether it finished inside one hour's budget with the headroom kept.
2. The same, killed (SIGKILL) while a bulk call of bills is at BILL (the records made, the answer lost), then
   restarted: duplicates in BILL, and the BILL requests the recovery cost (its lookups; and everything the
   crashed run plus the restart sent beyond a clean run, which includes the new process's login and lists).
3. A second, unchanged run at several sizes, of every flow (as the schedule runs it): HTTP calls, BILL and NAV
   apart and together (goal <= 8), and which endpoints they went to.
4. Peak Python memory (tracemalloc) of a vendors pass over large:M (a dry run: every read is real, the
   writes are only planned), showing the streams never hold the whole list.

The first sync runs NAV and BILL each in a process of its own (as the real NAV and BILL are other machines; with
``--sandbox-processes 1`` both in one), so their request handling does not compete with the engine, nor with
each other, for an interpreter's lock; with ``--inline-latency`` it is also run with the sandboxes in the
engine's process, for comparison. The other parts run the sandboxes in this
process (the engine of the kill test in a subprocess). The machine is shared: wall times include other work.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.clients.bill import BULK_BILL_LIMIT, BULK_VENDOR_LIMIT, PAGE_SIZE  # noqa: E402
from app.clients.bill_budget import DEFAULT_HEADROOM, HOURLY_LIMIT  # noqa: E402
from app.sandbox.base import _parse_duration  # noqa: E402
from app.sandbox.runner import RunningSandboxes, running_sandboxes  # noqa: E402
from app.store import Store  # noqa: E402
from tests.engine.conftest import make_engine  # noqa: E402

BILL_CONCURRENCY = 3
FLOWS = ["accounts", "vendors", "invoices"]
STOP_LINE = math.floor(HOURLY_LIMIT * (1 - DEFAULT_HEADROOM))
# The first sync's NAV and BILL sandboxes in one process each (--sandbox-processes 2), as they are two machines:
# measured on the shared 2 cores, large:10000 at 20 ms, two pairs back to back: one process 5.4 s / 5.3 s of
# sandbox CPU and 29.0 s / 25.9 s wall, two processes 4.8 s / 4.7 s and 28.4 s / 23.3 s.
SPLIT_SANDBOXES = True


def _pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


def bill_lower_bound(reference_pages: int, vendors_created: int, bills_created: int,
                     bill_vendors_before: int) -> dict:
    """The fewest BILL requests a first sync can make: log in, read each reference list and the vendors BILL
    had, create in bulk calls, and read this run's new vendors back once (so the next run starts after them)."""
    parts = {"login": 1, "reference list pages": reference_pages, "BILL vendor pages": _pages(bill_vendors_before),
             "read-back pages": math.ceil(vendors_created / PAGE_SIZE),
             "vendor calls": math.ceil(vendors_created / BULK_VENDOR_LIMIT),
             "bill calls": math.ceil(bills_created / BULK_BILL_LIMIT)}
    parts["total"] = sum(parts.values())
    return parts


def _bill_requests(sandboxes, since: int = 0) -> int:
    return len(sandboxes.bill.requests) - since


def _facts(sandboxes) -> dict:
    """What the first sync reads from the sandboxes, as plain values (they may be in another process)."""
    app = sandboxes.bill
    return {"nav_url": sandboxes.nav_url, "bill_url": sandboxes.bill_url, "nav_flavor": sandboxes.nav_flavor,
            "hourly_limit": app.hourly_limit, "bill_vendors": len(app.vendors),
            "reference_pages": sum(_pages(len(records)) for records in app.classifications.values()),
            "bill_requests": len(app.requests), "nav_requests": len(sandboxes.nav.requests),
            "bdc_1144": app.limit_rejections.get("BDC_1144", 0), "cpu": time.process_time()}


class _HandlerProfiles:
    """cProfile of every request the sandboxes handle: the servers answer on a thread per connection, which a
    profile of the main thread never sees. Each handler thread gets a profiler of its own (Python 3.11's
    cProfile profiles the thread that enables it), timed by the thread's CPU clock so a request waiting on the
    injected latency or on the socket costs nothing; the stats are merged at the end."""

    def __init__(self) -> None:
        import cProfile

        self._local = threading.local()
        self._profiles: list = []
        self._lock = threading.Lock()
        self._make = lambda: cProfile.Profile(time.thread_time)

    def _profile(self):
        profile = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = self._make()
            with self._lock:
                self._profiles.append(profile)
        return profile

    def install(self) -> None:
        from app.sandbox import base

        original = base._RequestHandler.handle_one_request
        profiles = self

        def handle_one_request(handler) -> None:
            profile = profiles._profile()
            profile.enable()
            try:
                original(handler)
            finally:
                profile.disable()

        base._RequestHandler.handle_one_request = handle_one_request

    def dump(self, path: str) -> None:
        import pstats

        with self._lock:
            profiles = list(self._profiles)
        if not profiles:
            return
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(path)


def _side_facts(side: str, app, server, flavor: str = "") -> dict:
    """What the first sync reads from one sandbox, as plain values; cpu is this process's."""
    if side == "nav":
        return {"nav_url": server.url, "nav_flavor": flavor, "nav_requests": len(app.requests),
                "cpu": time.process_time()}
    return {"bill_url": server.url, "hourly_limit": app.hourly_limit, "bill_vendors": len(app.vendors),
            "reference_pages": sum(_pages(len(records)) for records in app.classifications.values()),
            "bill_requests": len(app.requests), "bdc_1144": app.limit_rejections.get("BDC_1144", 0),
            "cpu": time.process_time()}


@contextlib.contextmanager
def _one_sandbox(side: str, seed: str, faults: str):
    """One sandbox (NAV or BILL) on a loopback port, as start_sandboxes makes it; yields a facts function."""
    from app.sandbox.base import FaultSpec, SandboxClock, SandboxServer
    from app.sandbox.bill import BillSandbox
    from app.sandbox.nav import NavSandbox

    clock = SandboxClock()
    app = NavSandbox(seed=seed, clock=clock, flavor="bc") if side == "nav" else BillSandbox(seed=seed, clock=clock)
    app.set_faults(FaultSpec.parse(faults, side))
    server = SandboxServer(app).start()
    try:
        yield lambda: _side_facts(side, app, server, getattr(app, "flavor", ""))
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            app.stop() if side == "nav" else app.close()


def _serve_sandboxes(seed: str, faults: str, pipe, profile: str = "", side: str = "") -> None:
    """In a process of its own: both sandboxes (or only ``side``: nav or bill), their facts sent when ready and
    again when told to stop; with ``profile``, a cProfile of their request handling (every handler thread)
    dumped to that file at the end."""
    profiles = _HandlerProfiles() if profile else None
    if profiles:
        profiles.install()
    if side:
        with _one_sandbox(side, seed, faults) as facts:
            pipe.send(facts())
            pipe.recv()  # the engine is done
            pipe.send(facts())
    else:
        with running_sandboxes(seed=seed, faults=faults) as sandboxes:
            pipe.send(_facts(sandboxes))
            pipe.recv()  # the engine is done
            pipe.send(_facts(sandboxes))
    if profiles:
        profiles.dump(profile)
        pipe.send("profiled")


class SandboxProcess:
    """The sandboxes in separate processes (spawned, so no threads are forked): both in one, or (``split``)
    NAV and BILL each in its own, with an interpreter lock of its own; ``connection`` methods as
    RunningSandboxes has them, for make_engine. Facts of two processes are merged, their CPU added."""

    nav_connection = RunningSandboxes.nav_connection
    bill_connection = RunningSandboxes.bill_connection

    def __init__(self, seed: str, faults: str, profile: str = "", split: bool = False):
        context = multiprocessing.get_context("spawn")
        self._profile = profile
        sides = ("nav", "bill") if split else ("",)
        self._pipes, self._processes = [], []
        for side in sides:
            pipe, child = context.Pipe()
            path = f"{profile}.{side}" if profile and side else profile
            process = context.Process(target=_serve_sandboxes, args=(seed, faults, child, path, side), daemon=True)
            process.start()
            child.close()
            self._pipes.append(pipe)
            self._processes.append(process)
        self.profiles = [f"{profile}.{side}" if side else profile for side in sides] if profile else []
        self.facts = self._merged([pipe.recv() for pipe in self._pipes])
        self.nav_url, self.bill_url, self.nav_flavor = (self.facts[k] for k in ("nav_url", "bill_url", "nav_flavor"))

    @staticmethod
    def _merged(parts: list[dict]) -> dict:
        facts: dict = {}
        for part in parts:
            facts.update({k: v for k, v in part.items() if k != "cpu"})
        facts["cpu"] = sum(part["cpu"] for part in parts)
        return facts

    def alive(self) -> list:
        return [process for process in self._processes if process.is_alive()]

    def stop(self) -> dict:
        for pipe in self._pipes:
            pipe.send("stop")
        facts = self._merged([pipe.recv() for pipe in self._pipes])
        if self._profile:
            for pipe in self._pipes:
                pipe.recv()  # the stats are on disk
        for process in self._processes:
            process.join(timeout=60)
        return facts


@contextlib.contextmanager
def _sandboxes(seed: str, faults: str, separate: bool, profile: str = "", split: bool = False):
    """Yields (sandboxes for make_engine, facts before, a function returning the facts after the run)."""
    if separate:
        process = SandboxProcess(seed, faults, profile, split)
        try:
            yield process, process.facts, process.stop
        finally:
            for alive in process.alive():
                alive.terminate()
                alive.join(timeout=10)
    else:
        with running_sandboxes(seed=seed, faults=faults) as sandboxes:
            yield sandboxes, _facts(sandboxes), lambda: _facts(sandboxes)


def _one_first_sync(vendors: int, latency: str, separate: bool, profile: str = "",
                    sandbox_profile: str = "", split: bool = False) -> tuple:
    with _sandboxes(f"large:{vendors}", f"bill.latency={latency}", separate, sandbox_profile, split) as (
            sandboxes, before, after), \
            tempfile.TemporaryDirectory() as folder:
        assert before["hourly_limit"] == HOURLY_LIMIT  # the limit is on, as BILL's
        store = Store(f"sqlite:///{folder}/bench.sqlite3")
        engine = make_engine(store, sandboxes)
        round_trips = _time_round_trips(engine.bill)
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            report = profiler.runcall(engine.run, flows=FLOWS)
            profiler.dump_stats(profile)
        else:
            report = engine.run(flows=FLOWS)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        this_hour = engine.bill_requests_this_hour()
        engine.bill.close()
        engine.nav.close()
        store.close()
        facts = after()
        facts["round_trips"] = round_trips
        return report, wall, cpu, before, facts, this_hour


def _time_round_trips(bill) -> list[float]:
    """The seconds each BILL request took as the connector saw it, from handing it to the HTTP session to having
    its answer (the injected latency, the sandbox's own handling, loopback, and waiting for this process's
    interpreter), collected from the client's threads."""
    seconds: list[float] = []
    send = bill._http.request

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return send(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)  # list.append is atomic under the GIL

    bill._http.request = timed
    return seconds


def first_sync(vendors: int, latency: str, inline: bool = False, split: bool = SPLIT_SANDBOXES) -> None:
    seconds = _parse_duration(latency)
    report, wall, cpu, before, after, this_hour = _one_first_sync(vendors, latency, separate=True, split=split)
    counts = report.flows
    bound = bill_lower_bound(before["reference_pages"], counts["vendors"].created, counts["invoices"].created,
                             before["bill_vendors"])
    wall_bound = report.bill_calls * seconds / BILL_CONCURRENCY
    print(f"first sync large:{vendors} ({vendors} vendors, {2 * vendors} invoices), BILL latency {latency}, "
          f"hourly limit on: {wall:.1f} s wall, status {report.status}")
    where = "NAV and BILL each in a process of its own" if split else "both sandboxes in one separate process"
    print(f"  {where}; the engine's process used {cpu:.1f} s of CPU, the sandboxes' "
          f"{after['cpu'] - before['cpu']:.1f} s; load average " + " ".join(f"{n:.2f}" for n in os.getloadavg()))
    for name, c in counts.items():
        print(f"  {name:<9} created {c.created} updated {c.updated} held {c.held} failed {c.failed}")
    creates = counts["vendors"].created + counts["invoices"].created
    lists = bound["reference list pages"] + bound["BILL vendor pages"]
    issue_bound = lists + math.ceil(counts["vendors"].created / 100) + math.ceil(counts["invoices"].created / 100)
    print(f"  the issue's lower bound (list pages + creates / 100 a call): {issue_bound} = {lists} list pages + "
          f"{math.ceil(counts['vendors'].created / 100)} + {math.ceil(counts['invoices'].created / 100)} "
          f"({creates} creates); with BILL's {BULK_VENDOR_LIMIT} vendors a call, the login and the read-back: "
          f"{bound['total']}")
    print(f"  BILL requests: {report.bill_calls} (goal <= 450); lower bound {bound['total']} = "
          + " + ".join(f"{v} {k}" for k, v in bound.items() if k != "total")
          + f": {report.bill_calls / bound['total']:.2f}x; the BILL sandbox logged "
          f"{after['bill_requests'] - before['bill_requests']}")
    print(f"  NAV requests: {report.nav_calls} (apart from BILL's budget)")
    if wall_bound:
        print(f"  wall against requests x latency / {BILL_CONCURRENCY}: lower bound {wall_bound:.1f} s "
              f"({report.bill_calls} x {latency} / {BILL_CONCURRENCY}): {wall / wall_bound:.2f}x (goal <= 1.3x)")
    else:  # BILL answering at once: what is left is the connector's own work (and the sandboxes')
        print(f"  no latency, so no network bound: {wall:.1f} s is the connector's own work on this machine (a 20 ms "
              f"run's goal of 1.3x allows {1.3 * report.bill_calls * 0.020 / BILL_CONCURRENCY:.1f} s)")
    trips = after["round_trips"]
    if trips:
        mean = sum(trips) / len(trips)
        network = sum(trips) / BILL_CONCURRENCY
        print(f"  BILL round trips as the connector saw them: mean {mean * 1000:.1f} ms, median "
              f"{sorted(trips)[len(trips) // 2] * 1000:.1f} ms ({latency} injected + the sandbox's handling + "
              f"loopback + waiting for the interpreter); their sum / {BILL_CONCURRENCY}: {network:.1f} s, "
              f"wall against it {wall / network:.2f}x")
    inside = report.completed and not report.notes and report.bill_calls <= STOP_LINE
    print(f"  inside one hour's budget with the headroom kept: {'yes' if inside else 'no'} "
          f"({report.bill_calls} of the {STOP_LINE:,} before the stop line; {this_hour}; "
          f"BDC_1144 answers {after['bdc_1144']}"
          + (f"; notes: {report.notes}" if report.notes else "") + ")")
    if inline:
        report, wall, cpu, _, _, _ = _one_first_sync(vendors, latency, separate=False)
        wall_bound = report.bill_calls * seconds / BILL_CONCURRENCY
        print(f"  with the sandboxes in the engine's process instead: {wall:.1f} s wall, {cpu:.1f} s CPU (engine "
              f"and sandboxes), {report.bill_calls} BILL requests, status {report.status}: {wall / wall_bound:.2f}x "
              f"the bound {wall_bound:.1f} s")


def profile_first_sync(vendors: int, latency: str, path: str, split: bool = SPLIT_SANDBOXES) -> None:
    """cProfile of the engine's process only (the sandboxes in their own process), during a first sync."""
    import pstats

    report, wall, cpu, *_ = _one_first_sync(vendors, latency, separate=True, profile=path, split=split)
    print(f"profile of the engine's process, first sync large:{vendors}, BILL latency {latency}: {wall:.1f} s wall "
          f"under cProfile, {cpu:.1f} s CPU, status {report.status}; stats in {path}")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(30)


def profile_sandboxes(vendors: int, latency: str, path: str, split: bool = SPLIT_SANDBOXES) -> None:
    """cProfile of the sandboxes' request handling (their own process or processes, every handler thread,
    thread CPU time) during a first sync; with split, NAV's stats in FILE.nav and BILL's in FILE.bill, shown
    together."""
    import pstats

    report, wall, cpu, before, after, _ = _one_first_sync(vendors, latency, separate=True, sandbox_profile=path,
                                                          split=split)
    print(f"profile of the sandboxes' request handling, first sync large:{vendors}, BILL latency {latency}: "
          f"{wall:.1f} s wall, the sandboxes' process(es) used {after['cpu'] - before['cpu']:.1f} s of CPU under "
          f"cProfile (the engine's {cpu:.1f} s), status {report.status}; stats (thread CPU time) in {path}")
    stats = pstats.Stats(*([f"{path}.nav", f"{path}.bill"] if split else [path]))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def _worker(sandboxes, database: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NAVBILL_CRASH_AT": ""}
    return subprocess.Popen([sys.executable, "-m", "tests.engine.crash_worker", sandboxes.nav_url, sandboxes.bill_url,
                             str(database), ",".join(FLOWS)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_and_restart(vendors: int, latency: str) -> None:
    """A clean first sync for the request count, then the same killed with SIGKILL while the middle bulk call of
    bills is at BILL (BILL made them; the answer never arrives), then a restart."""
    with running_sandboxes(seed=f"large:{vendors}", faults=f"bill.latency={latency}") as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        clean = _worker(sandboxes, Path(folder) / "clean.sqlite3")
        clean.wait(timeout=3600)
        clean_requests = _bill_requests(sandboxes)
        bill_calls = sandboxes.bill.count("POST", "/bills/bulk")
        clean_recognition_calls = sum(1 for r in sandboxes.bill.requests if r.method == "GET"
                                      and "createdTime:lt" in unquote(r.query))

    with running_sandboxes(seed=f"large:{vendors}", faults=f"bill.latency={latency}") as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        app = sandboxes.bill
        original = app.dispatch
        target = max(1, bill_calls // 2)
        seen = {"bulk": 0}
        victim: dict[str, subprocess.Popen] = {}
        lock = threading.Lock()

        def kill_during_bulk(request):
            response = original(request)
            if request.method == "POST" and request.path.endswith("/bills/bulk") and response.status == 201:
                with lock:
                    seen["bulk"] += 1
                    if seen["bulk"] == target:
                        os.kill(victim["worker"].pid, signal.SIGKILL)  # the answer goes nowhere
            return response

        app.dispatch = kill_during_bulk
        victim["worker"] = _worker(sandboxes, database)
        code = victim["worker"].wait(timeout=3600)
        app.dispatch = original
        crashed_requests = _bill_requests(sandboxes)
        started = time.perf_counter()
        restart = _worker(sandboxes, database)
        restart_code = restart.wait(timeout=3600)
        restart_seconds = time.perf_counter() - started
        restart_log = app.requests[crashed_requests:]
        lookups = [r for r in restart_log if r.method == "GET" and (
            "createdTime:gte" in unquote(r.query) or "vendorId:in" in unquote(r.query))]
        # Bill recognition (every run, before creating bills for vendors it did not create itself: a lost store
        # makes no duplicate) asks for bills created before the run began (createdTime:lt); the recovery of the
        # lost bulk answer asks for what was created since it was sent (no upper end).
        recognition = [r for r in lookups if "createdTime:lt" in unquote(r.query)]
        lookups = [r for r in lookups if r not in recognition]
        clean_recognition = clean_recognition_calls
        total = _bill_requests(sandboxes)
        bills = Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in app.bills.values())
        names = Counter(v["name"] for v in app.vendors.values())
        duplicates = sum(n - 1 for n in bills.values() if n > 1) + sum(n - 1 for n in names.values() if n > 1)
        store = Store(f"sqlite:///{database}")
        linked = len(store.invoice_rows(state="created"))
        store.close()
        print(f"kill -9 during bulk call {target} of {bill_calls} (bills), large:{vendors}, BILL latency {latency}: "
              f"worker exit {code} (SIGKILL is {-signal.SIGKILL}), restart exit {restart_code} in "
              f"{restart_seconds:.1f} s")
        print(f"  duplicates in BILL: {duplicates}; bills in BILL {len(app.bills)}, linked {linked}")
        print(f"  requests wasted on recovery: {len(lookups)} lookup list call(s) (goal <= 5); the crashed run and "
              f"the restart sent {total} BILL requests against {clean_requests} for a clean run "
              f"(+{total - clean_requests}: the restart's login, reference lists and BILL vendor list again, "
              f"the lookups, and the bulk call whose answer was lost)")
        print(f"  bill recognition list calls (bills already in BILL for vendors the run did not create): restart "
              f"{len(recognition)}, a clean run {clean_recognition}")


def second_run(sizes: list[int]) -> None:
    for size in sizes:
        with running_sandboxes(seed=f"large:{size}") as sandboxes, tempfile.TemporaryDirectory() as folder:
            store = Store(f"sqlite:///{folder}/bench.sqlite3")
            engine = make_engine(store, sandboxes)
            first = engine.run()  # every flow, as the schedule runs them (payments too)
            nav_before, bill_before = len(sandboxes.nav.requests), len(sandboxes.bill.requests)
            second = engine.run()
            endpoints = Counter(f"{side} {r.path.rsplit('/', 1)[-1].split('(')[0]}"
                                + (" (change probe)" if "top=1" in unquote(r.query) else "") for side, log, before in (
                ("NAV", sandboxes.nav.requests, nav_before), ("BILL", sandboxes.bill.requests, bill_before))
                for r in log[before:])
            print(f"second, unchanged run large:{size} ({3 * size} records): {second.bill_calls + second.nav_calls} "
                  f"HTTP calls (goal <= 8): BILL {second.bill_calls}, NAV {second.nav_calls}, "
                  f"{second.duration_seconds:.2f} s; first run {first.status}, BILL {first.bill_calls}")
            print("  " + ", ".join(f"{name} {n}" for name, n in sorted(endpoints.items())))
            engine.bill.close()
            engine.nav.close()
            store.close()


def peak_memory(vendors: int) -> None:
    with running_sandboxes(seed=f"large:{vendors}") as sandboxes, tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.sqlite3")
        engine = make_engine(store, sandboxes)
        tracemalloc.start()
        started = time.perf_counter()
        report = engine.run(flows=["vendors"], dry_run=True)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # The sandboxes run in this process too: their per-request allocations are part of the peak. The
        # dry run's report keeps one line per planned write (the preview lists them all): shown apart.
        planned = sys.getsizeof(report.planned) + sum(sys.getsizeof(line) for line in report.planned)
        print(f"vendors pass over large:{vendors} (dry run, status {report.status}): "
              f"{report.flows['vendors'].created} planned creates, {time.perf_counter() - started:.1f} s, "
              f"peak traced memory {peak / 1e6:.1f} MB (sandbox request handling included), of which the "
              f"report's list of planned writes {planned / 1e6:.1f} MB")
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument("--latency", default="20ms,300ms", help="BILL latencies, comma-separated")
    parser.add_argument("--inline-latency", default="20ms",
                        help="latencies at which the first sync is also run with the sandboxes in this process")
    parser.add_argument("--kill-latency", default="20ms,300ms", help="BILL latencies for the kill test")
    parser.add_argument("--flat-sizes", default="100,1000,10000", help="sizes for the unchanged second run")
    parser.add_argument("--memory-vendors", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--skip", default="", help="comma-separated: first, kill, second, memory")
    parser.add_argument("--profile-engine", default="", metavar="FILE",
                        help="only: cProfile the engine's process during a first sync at the first --latency, "
                             "the stats to FILE")
    parser.add_argument("--sandbox-processes", type=int, choices=(1, 2), default=2 if SPLIT_SANDBOXES else 1,
                        help="first sync: both sandboxes in one process, or NAV and BILL in one each")
    parser.add_argument("--profile-sandboxes", default="", metavar="FILE",
                        help="only: cProfile the sandboxes' request handling (every handler thread) during a first "
                             "sync at the first --latency, the stats to FILE")
    args = parser.parse_args()
    split = args.sandbox_processes == 2
    if args.profile_sandboxes:
        profile_sandboxes(args.vendors, args.latency.split(",")[0], args.profile_sandboxes, split)
        return 0
    if args.profile_engine:
        profile_first_sync(args.vendors, args.latency.split(",")[0], args.profile_engine, split)
        return 0
    skip = set(args.skip.split(","))
    print(f"size: large:{args.vendors}", flush=True)
    if "first" not in skip:
        for latency in args.latency.split(","):
            first_sync(args.vendors, latency, inline=latency in args.inline_latency.split(","), split=split)
    if "kill" not in skip:
        for latency in args.kill_latency.split(","):
            kill_and_restart(args.vendors, latency)
    if "second" not in skip:
        second_run([int(n) for n in args.flat_sizes.split(",")])
    if "memory" not in skip:
        for size in args.memory_vendors.split(","):
            peak_memory(int(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
