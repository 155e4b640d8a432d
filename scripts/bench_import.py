"""Benchmark: import a generated customer base into SQLite and PostgreSQL.

    uv run python scripts/bench_import.py --customers 1000000 [--data DIR] [--postgres URL]

Generates the demo data (or reuses --data), then for each database imports products,
the matrix, customers and holdings into a freshly migrated database and prints rows,
seconds and rows per second for each file. The target: the 1M-customer file in at most
60 s on the reference machine (2 cores). PostgreSQL runs when --postgres or
TEST_DATABASE_URL gives a server; a database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.importer import import_file
from store.migrate import upgrade

FILES = ("products", "matrix", "customers", "holdings")
TARGET_SECONDS = 60.0


@contextmanager
def fresh_database(backend: str, pg_url: str | None, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = folder / f"bench-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    assert pg_url is not None
    url = make_url(pg_url).set(drivername="postgresql+psycopg")
    name = f"tc_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench(backend: str, url: str, data: Path, workers: int | None) -> list[dict[str, Any]]:
    upgrade(url)
    engine = make_engine(url)
    rows = []
    try:
        for kind in FILES:
            started = time.perf_counter()
            result = import_file(
                engine, kind, data / f"{kind}.csv", rejects_dir=data / "rejects", workers=workers
            )
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "database": backend,
                    "file": f"{kind}.csv",
                    "rows": result.read,
                    "imported": result.imported,
                    "rejected": result.rejected,
                    "seconds": round(seconds, 2),
                    "rows_per_s": round(result.read / seconds) if seconds else None,
                }
            )
            print(
                f"{backend:10} {kind + '.csv':16} {result.read:>10,} rows "
                f"{seconds:8.1f} s {result.read / seconds:>10,.0f} rows/s "
                f"({result.rejected:,} rejected)",
                flush=True,
            )
    finally:
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="use demo data already generated here")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--workers", type=int, default=None, help="validating processes")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tc-bench-") as tmp:
        folder = Path(tmp)
        data = args.data
        if data is None:
            from simulation.base.generator import generate

            data = folder / "data"
            started = time.perf_counter()
            generate(data, args.customers, args.seed)
            print(
                f"generated {args.customers:,} customers in {time.perf_counter() - started:.1f} s"
            )
        backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
        if args.only:
            backends = [args.only]
        results: list[dict[str, Any]] = []
        for backend in backends:
            with fresh_database(backend, args.postgres, folder) as url:
                results += bench(backend, url, data, args.workers)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    customers = [r for r in results if r["file"] == "customers.csv"]
    verdict = all(r["seconds"] <= TARGET_SECONDS for r in customers)
    print(
        f"peak RSS {peak:,.0f} MiB (largest worker {peak_children:,.0f} MiB); customers file "
        f"{'within' if verdict else 'OVER'} the {TARGET_SECONDS:.0f} s target"
    )
    if args.json:
        print(json.dumps({"results": results, "peak_rss_mib": round(peak), "target_met": verdict}))


if __name__ == "__main__":
    main()
