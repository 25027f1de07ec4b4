"""Engine benchmarks (run on demand, not collected by pytest):

    python tests/benchmarks/bench_engine.py [--vendors 10000] [--latency 20ms] [--memory-vendors 100000]

1. Initial sync of large:N with injected latency: wall time, HTTP calls per record against the lower bound
   (reads at the maximum page size plus one call per write), and the HTTP calls of a second, unchanged run.
2. Peak Python memory (tracemalloc) of a vendors pass over large:M (a dry run: every read is real, the
   writes are only planned), showing the streams never hold the whole list.
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

from app.sandbox.runner import running_sandboxes  # noqa: E402
from app.store import Store  # noqa: E402
from tests.engine.conftest import make_engine  # noqa: E402

NAV_PAGE, BILL_PAGE = 1000, 100


def initial_sync(vendors: int, latency: str) -> None:
    with running_sandboxes(seed=f"large:{vendors}", faults=f"latency={latency}") as sandboxes, \
            tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.sqlite3")
        engine = make_engine(store, sandboxes)
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
        print(f"initial sync large:{vendors}, latency {latency}: {wall:.1f} s wall, status {first.status}")
        for name, c in counts.items():
            print(f"  {name:<9} created {c.created} updated {c.updated} held {c.held} failed {c.failed}")
        print(f"  HTTP calls: NAV {first.nav_calls}, BILL {first.bill_calls}; {calls / max(records, 1):.2f} per "
              f"record; lower bound {lower_bound} ({calls / max(lower_bound, 1):.2f}x)")
        print("  note: writes run one at a time; BILL allows 3 concurrent requests per organization, so the wall "
              "time of the write phase could drop to about a third")
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
        # The sandboxes run in this process too: their per-request allocations are part of the peak.
        print(f"vendors pass over large:{vendors} (dry run): {report.flows['vendors'].created} planned creates, "
              f"{time.perf_counter() - started:.1f} s, peak traced memory {peak / 1e6:.1f} MB "
              f"(sandbox request handling included)")
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendors", type=int, default=10_000)
    parser.add_argument("--latency", default="20ms")
    parser.add_argument("--memory-vendors", type=int, default=100_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    initial_sync(args.vendors, args.latency)
    if not args.skip_memory:
        peak_memory(args.memory_vendors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
