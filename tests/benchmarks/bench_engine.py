"""Engine benchmarks (run on demand, not collected by pytest):

    python tests/benchmarks/bench_engine.py [--vendors 10000] [--latency 20ms] [--memory-vendors 100000]

1. Initial sync of large:N with injected latency: wall time, HTTP calls per record against the lower bound
   (reads at the maximum page size plus one call per write), wall time against its lower bound (BILL takes 3
   requests at once, so N writes need at least N x latency / 3, plus the reads one page after another), and
   the HTTP calls and time of a second, unchanged run.
2. Peak Python memory (tracemalloc) of a vendors pass over large:M (a dry run: every read is real, the
   writes are only planned), showing the streams never hold the whole list.

The sandboxes run in this process: their request handling shares the interpreter with the engine.
BILL allows 20,000 requests per hour per devKey; large:10000 needs about 29,000, so the sandbox's hourly
limit is lifted here to measure throughput (against real BILL the run stops at the limit and the next run,
an hour later, goes on: see the budget line printed).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.sandbox.base import _parse_duration  # noqa: E402
from app.sandbox.runner import running_sandboxes  # noqa: E402
from app.store import Store  # noqa: E402
from tests.engine.conftest import make_engine  # noqa: E402

NAV_PAGE, BILL_PAGE = 1000, 100
BILL_CONCURRENCY = 3
BILL_HOURLY_LIMIT = 20_000


def round_trip(engine, samples: int = 20) -> float:
    """Mean time of one small BILL request at this latency (what one write costs at best, per slot)."""
    engine.bill.ping()  # login
    started = time.perf_counter()
    for _ in range(samples):
        engine.bill.ping()
    return (time.perf_counter() - started) / samples


def initial_sync(vendors: int, latency: str) -> None:
    with running_sandboxes(seed=f"large:{vendors}", faults=f"latency={latency}", hourly_limit=10**9) as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.sqlite3")
        engine = make_engine(store, sandboxes)
        rtt = round_trip(engine)
        started = time.perf_counter()
        first = engine.run(flows=["accounts", "vendors", "invoices"])
        wall = time.perf_counter() - started
        counts = first.flows
        records = sum(c.created + c.updated + c.held + c.skipped for c in counts.values())
        invoices = counts["invoices"].created + counts["invoices"].held
        writes = counts["vendors"].created + counts["invoices"].created
        lower_bound = (math.ceil(vendors / NAV_PAGE) + math.ceil(invoices / NAV_PAGE) + writes
                       + math.ceil(vendors / BILL_PAGE))
        calls = first.nav_calls + first.bill_calls
        reads = lower_bound - writes
        seconds = _parse_duration(latency)
        wall_bound = writes * seconds / BILL_CONCURRENCY + reads * seconds
        floor = writes * rtt / BILL_CONCURRENCY + reads * rtt
        print(f"initial sync large:{vendors}, latency {latency}: {wall:.1f} s wall, status {first.status}")
        for name, c in counts.items():
            print(f"  {name:<9} created {c.created} updated {c.updated} held {c.held} failed {c.failed}")
        print(f"  HTTP calls: NAV {first.nav_calls}, BILL {first.bill_calls}; {calls / max(records, 1):.2f} per "
              f"record; lower bound {lower_bound} ({calls / max(lower_bound, 1):.2f}x)")
        print(f"  wall: {1000 * wall / max(writes, 1):.2f} ms per write; lower bound {wall_bound:.1f} s "
              f"({writes} writes x {latency} / {BILL_CONCURRENCY} + {reads} reads x {latency}): "
              f"{wall / max(wall_bound, 1e-9):.2f}x")
        print(f"  one BILL round trip here takes {1000 * rtt:.1f} ms (latency + handling): with that per request "
              f"the floor is {floor:.1f} s ({wall / max(floor, 1e-9):.2f}x)")
        hours = first.bill_calls / BILL_HOURLY_LIMIT
        print(f"  BILL budget: {first.bill_calls} BILL requests = {hours:.2f} x the 20,000 per hour BILL allows"
              + (f": against real BILL this first sync needs at least {int(hours)} more run(s) an hour apart"
                 if hours > 1 else ""))
        second = engine.run(flows=["accounts", "vendors", "invoices"])
        print(f"second, unchanged run: NAV {second.nav_calls} + BILL {second.bill_calls} HTTP calls, "
              f"{second.duration_seconds:.1f} s")
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
    parser.add_argument("--latency", default="20ms")
    parser.add_argument("--memory-vendors", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-initial", action="store_true")
    args = parser.parse_args()
    if not args.skip_initial:
        initial_sync(args.vendors, args.latency)
    if not args.skip_memory:
        for size in args.memory_vendors.split(","):
            peak_memory(int(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
