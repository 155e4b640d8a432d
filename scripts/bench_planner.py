"""Benchmark: plan call lists over a scored base of generated customers.

    uv run python scripts/bench_planner.py --customers 1000000 [--store DB] [--json]

Sets up (untimed) a SQLite store with the demo data's customers, products, matrix,
holdings, interactions and do-not-call list, and one score per customer: the ground
truth's churn probability and CLV stand in for the model's (this measures planning, not
scoring; `bench_scoring.py` measures that). Then times, on that base, an anti-churn plan
with a 10% holdout (scores read, contact policy screened, ranked, holdout drawn, entries
and exclusions stored), and a cross-sell plan after it. Prints the seconds and the peak
RSS. Target: the anti-churn plan over 1M scored customers in at most 30 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, insert, select, update

from campaigns.plan_request import PlanRequest
from campaigns.planner import plan
from scoring.value import abc_class, abc_thresholds
from store.db import make_engine, transaction
from store.importer import import_file
from store.migrate import upgrade
from store.models import (
    Billing,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Customer,
    ModelKind,
    ModelVersion,
    Score,
)

KINDS = ("products", "matrix", "customers", "holdings", "interactions", "dnc")


def build_store(data: Path, db: Path) -> Engine:
    """Import the base and write one score per customer from the ground truth."""
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    for kind in KINDS:
        started = time.perf_counter()
        result = import_file(engine, kind, data / f"{kind}.csv", rejects_dir=db.parent)
        print(f"  import {kind}: {result.read:,} rows in {time.perf_counter() - started:.1f} s")
    truth = pd.read_csv(
        data / "ground_truth.csv", usecols=["customer_id", "p_churn_no_call", "clv"]
    )
    with engine.connect() as conn:
        ids = pd.DataFrame(
            conn.execute(select(Customer.id, Customer.external_id)).all(),
            columns=["id", "customer_id"],
        )
    scores = ids.merge(truth, on="customer_id", how="left")
    live = scores["p_churn_no_call"].notna().to_numpy()
    clv = scores["clv"].fillna(0.0).to_numpy(float)
    classes = abc_class(clv, abc_thresholds(clv[live]))
    with transaction(engine) as session:
        mv = ModelVersion(
            kind=ModelKind.CHURN,
            version="bench-ground-truth",
            artifact_path="(scores from ground_truth.csv)",
            active=True,
        )
        session.add(mv)
        session.flush()
        session.add(
            Billing(customer_id=int(ids["id"].iloc[0]), month=dt.date(2026, 10, 1), amount=1.0)
        )
        rows: list[dict[str, Any]] = []
        for cid, p, value, abc, alive in zip(
            scores["id"].tolist(),
            scores["p_churn_no_call"].tolist(),
            clv.tolist(),
            list(classes),
            live.tolist(),
            strict=True,
        ):
            rows.append(
                {
                    "customer_id": cid,
                    "model_version_id": mv.id,
                    "p_churn": p if alive else None,
                    "reasons": {"top": [{"code": "contract", "text": "contract ends soon"}]},
                    "clv": value,
                    "abc_class": str(abc),
                    "lifecycle": "regular" if alive else "lost",
                }
            )
            if len(rows) == 50_000:
                session.execute(insert(Score), rows)
                rows = []
        if rows:
            session.execute(insert(Score), rows)
    return engine


def timed_plan(engine: Engine, kind: CampaignKind, size: int) -> dict[str, Any]:
    started = time.perf_counter()
    result = plan(
        engine,
        PlanRequest(kind=kind, name=f"bench-{kind.value}-{time.time_ns()}", size=size, seed=1),
    )
    seconds = time.perf_counter() - started
    preview = result.preview
    return {
        "seconds": round(seconds, 2),
        "candidates": preview["candidates"],
        "treated": preview["treated"],
        "holdout": preview["holdout"],
        "excluded": sum(preview["exclusions"].values()),
        "basis": preview["basis"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=50_000, help="customers to call")
    parser.add_argument("--data", type=Path, help="demo data already generated here")
    parser.add_argument("--store", type=Path, help="reuse (or keep) the SQLite store here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = sys.stderr if args.json else sys.stdout
    with tempfile.TemporaryDirectory(prefix="tc-bench-plan-") as tmp:
        db = args.store or Path(tmp) / "store.db"
        if db.exists():
            engine = make_engine(f"sqlite:///{db}")
        else:
            data = args.data
            if data is None:
                from simulation.base.generator import generate

                data = Path(tmp) / "data"
                print(f"generating {args.customers:,} customers", file=out)
                generate(data, args.customers, args.seed)
            print("setting up the store (untimed)", file=out)
            engine = build_store(data, db)
        try:
            # a kept store: lists of earlier runs would hold their customers
            with engine.begin() as conn:
                conn.execute(
                    update(Campaign)
                    .where(Campaign.name.like("bench-%"), Campaign.status == CampaignStatus.PLANNED)
                    .values(status=CampaignStatus.STOPPED)
                )
            with engine.connect() as conn:
                scored = conn.execute(select(func.count()).select_from(Score)).scalar_one()
            figures: dict[str, Any] = {
                "scored_customers": scored,
                "anti_churn": timed_plan(engine, CampaignKind.ANTI_CHURN, args.size),
                "cross_sell": timed_plan(engine, CampaignKind.CROSS_SELL, args.size),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for kind in ("anti_churn", "cross_sell"):
            f = figures[kind]
            print(
                f"{kind}: {f['seconds']:.1f} s over {scored:,} scored customers "
                f"({f['candidates']:,} candidates, {f['treated']:,} treated + {f['holdout']:,} "
                f"holdout, {f['excluded']:,} kept off)"
            )
        print(f"peak RSS {figures['peak_rss_mib']:,.0f} MiB; target: anti-churn <= 30 s at 1M")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
