"""Store benchmark (run on demand, not collected by pytest): the same syncs on SQLite and on PostgreSQL.

    NAVBILL_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST/DB python tests/benchmarks/bench_store.py \
        [--vendors 2000] [--latency 0ms] [--url URL]

Without a URL (``--url`` or NAVBILL_TEST_POSTGRES_URL) it starts a throwaway PostgreSQL cluster with
``.ci/postgres.sh`` (the Debian package ``postgresql``) and removes it afterwards.

For each store: the initial sync of ``large:N`` (accounts, vendors, invoices) on fresh sandboxes, then a second,
unchanged run, with wall time and HTTP calls; then both side by side. At 0 ms injected latency the sandboxes
answer at once, so the store's own cost shows (on PostgreSQL a local server over a unix socket, one round
trip per statement); at 20 ms the network dominates, as it does against real NAV and BILL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.sandbox.runner import running_sandboxes  # noqa: E402
from app.store import Store  # noqa: E402
from tests.engine.conftest import make_engine  # noqa: E402

FLOWS = ["accounts", "vendors", "invoices"]


def measure(url: str, vendors: int, latency: str) -> dict:
    with running_sandboxes(seed=f"large:{vendors}", faults=f"latency={latency}", hourly_limit=10**9) as sandboxes:
        store = Store(url)
        try:
            engine = make_engine(store, sandboxes)
            started = time.perf_counter()
            first = engine.run(flows=FLOWS)
            initial = time.perf_counter() - started
            started = time.perf_counter()
            second = engine.run(flows=FLOWS)
            unchanged = time.perf_counter() - started
            engine.nav.close()
            engine.bill.close()
        finally:
            store.close()
    writes = sum(c.created + c.updated for c in first.flows.values())
    return {"initial": initial, "initial_status": first.status, "writes": writes,
            "initial_calls": first.nav_calls + first.bill_calls, "unchanged": unchanged,
            "unchanged_status": second.status, "unchanged_calls": second.nav_calls + second.bill_calls}


def _postgres(url: str):
    """A fresh schema on the server for this benchmark: (url with search_path, drop function)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    schema = f"navbill_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendors", type=int, default=2000)
    parser.add_argument("--latency", default="0ms")
    parser.add_argument("--url", default=os.environ.get("NAVBILL_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    cluster = ""
    if not args.url:
        started = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "start"], capture_output=True, text=True)
        if started.returncode != 0:
            print(f"No PostgreSQL: pass --url or install postgresql.\n{started.stderr}", file=sys.stderr)
            return 2
        exports = dict(part.split("=", 1) for part in started.stdout.split()[1:])
        cluster, args.url = exports["NAVBILL_PG_DIR"], exports["NAVBILL_TEST_POSTGRES_URL"].strip("'")
    results = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            results["SQLite"] = measure(f"sqlite:///{folder}/bench.sqlite3", args.vendors, args.latency)
        url, drop = _postgres(args.url)
        try:
            results["PostgreSQL"] = measure(url, args.vendors, args.latency)
        finally:
            drop()
    finally:
        if cluster:
            subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop", cluster], check=False)
    print(f"large:{args.vendors}, latency {args.latency}, flows {', '.join(FLOWS)}")
    print(f"{'store':<11} {'initial sync':>13} {'writes':>7} {'HTTP calls':>11} {'unchanged run':>14} {'HTTP calls':>11}")
    for name, r in results.items():
        print(f"{name:<11} {r['initial']:>11.1f} s {r['writes']:>7} {r['initial_calls']:>11} "
              f"{r['unchanged']:>12.2f} s {r['unchanged_calls']:>11}   ({r['initial_status']}, {r['unchanged_status']})")
    sqlite, postgres = results["SQLite"], results["PostgreSQL"]
    print(f"PostgreSQL / SQLite: initial sync {postgres['initial'] / max(sqlite['initial'], 1e-9):.2f}x, "
          f"unchanged run {postgres['unchanged'] / max(sqlite['unchanged'], 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
