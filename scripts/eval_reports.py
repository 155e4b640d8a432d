"""Does the saved-customer report's 95% interval hold the truth?

For each seed: generate demo data, import it, train and score (``prepared_store``),
plan an anti-churn list, launch it, dial it against the carrier simulator with
simulated agents, draw the next 90 days from the ground truth and import them as a
holdings feed (``simulation.outcomes``), then compute the saved-customer report and
compare its interval with the true expected incremental saves: the sum, over the
treated customers an agent reached, of their true drop in churn probability.

The revenue billed in the window is judged the same way: the bills of the window's
months are drawn from the feed (``simulation.bills``) and imported, and the report's
revenue figure is compared with the expected change the calls made to those bills
(``simulation.bills.true_revenue``). Both outcomes are judged twice, on the plain
difference and on the covariate-adjusted estimate (``campaigns.adjusted``).

    uv run python scripts/eval_reports.py --seeds 20 --json

prints ``{"seeds": 20, "covered": k, "mean_estimate": .., "mean_truth": ..,
"saves": {"unadjusted": {"covered", "seeds", "mean_width"}, "adjusted": {..},
"narrower": ..}, "revenue": {..}}`` (and, besides, each seed's figures under
``"runs"``). Each interval should hold the truth in about 19 of 20 seeds; at least 18
is the bar. ``narrower`` is the mean over seeds of 1 - adjusted width / plain width.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaigns.reports import SavedReport

__all__ = ["evaluate_seed", "main"]


def evaluate_seed(
    seed: int,
    work: Path,
    *,
    customers: int,
    size: int,
    holdout: float,
    agents: int,
    log: Any = print,
) -> dict[str, Any]:
    """One seed end to end; returns the report's estimate and interval and the truth."""
    from campaigns.billed import window_months
    from campaigns.lifecycle import move
    from campaigns.outcomes import MEASURE_DAYS
    from campaigns.plan_request import PlanRequest
    from campaigns.planner import plan
    from campaigns.reports import saved_report
    from campaigns.settings.versions import set_campaign_settings
    from runner.demo.dialing_run import work_lists
    from runner.embedded import redis_url
    from runner.settings import Settings
    from scripts.prepared_store import prepare
    from simulation.base.generator import DEFAULT_AS_OF, generate
    from simulation.bills import draw_bills, true_revenue
    from simulation.carrier.config import SimulatorConfig
    from simulation.outcomes import draw_feed, true_saves
    from store.db import transaction
    from store.importer import import_file
    from store.models import Campaign, CampaignKind

    started = time.perf_counter()
    data, db = work / "data", work / "store.db"
    generate(data, customers, seed)
    engine = prepare(data, db, work / "models", log=lambda _m: None)
    name = f"eval anti-churn {seed}"
    request = PlanRequest(
        kind=CampaignKind.ANTI_CHURN, name=name, size=size, holdout=holdout, seed=seed
    )
    plan(engine, request)
    start = launch_time(DEFAULT_AS_OF)
    with transaction(engine) as session:
        campaign = session.query(Campaign).filter_by(name=name).one()
        set_campaign_settings(session, campaign, {"pacing": "predictive"}, "eval_reports")
        campaign_id = campaign.id
    move(engine, name, "launch", now=start)
    settings = Settings.model_validate(
        {"TELECAMPAIGN_HOME": str(work), "DATABASE_URL": f"sqlite:///{db}"}
    )
    with redis_url(settings) as url:
        asyncio.run(
            work_lists(
                settings,
                url,
                [campaign_id],
                agents=agents,
                start_at=start,
                time_scale=600.0,
                simulator=SimulatorConfig(seed=seed),
                max_hours=10.0,
                seed=seed,
            )
        )
    feed = draw_feed(
        engine,
        data / "ground_truth.csv",
        [campaign_id],
        start.date(),
        work / "feed.csv",
        days=MEASURE_DAYS,
        seed=seed,
    )
    months = window_months(start.date(), feed.until)
    # the current revenue is that of the holdings open before the drawn feed ends some
    revenue_truth = true_revenue(
        engine, data / "ground_truth.csv", campaign_id, start.date(), months, days=MEASURE_DAYS
    )
    import_file(engine, "holdings", feed.path, rejects_dir=work / "rejects", workers=0)
    bills = draw_bills(engine, [campaign_id], months, work / "bills.csv")
    import_file(engine, "billing", bills, rejects_dir=work / "rejects", workers=0)
    report = saved_report(engine, name, as_of=feed.until)
    truth = true_saves(engine, data / "ground_truth.csv", campaign_id)
    engine.dispose()
    row = seed_row(seed, report, truth, started)
    row["saves"] = judged(report, "saves", truth)
    row["revenue"] = judged(report, "revenue", revenue_truth)
    log(
        f"seed {seed}: estimate {row['estimate']:+.1f} ({row['ci95'][0]:+.1f} to "
        f"{row['ci95'][1]:+.1f}), truth {row['truth']:+.1f}, "
        f"{'covered' if row['covered'] else 'MISSED'} ({row['seconds']} s); "
        + "; ".join(_line(what, row[what]) for what in ("saves", "revenue"))
    )
    return row


def judged(report: SavedReport, outcome: str, truth: float) -> dict[str, Any]:
    """One outcome's plain and adjusted figures against the truth."""
    pair = next(a for a in report.adjusted if a.outcome == outcome)
    out: dict[str, Any] = {"truth": round(truth, 2), "note": pair.note}
    for label, e in (("unadjusted", pair.plain), ("adjusted", pair.adjusted)):
        out[label] = None
        if e is not None:
            out[label] = {
                "estimate": round(e.effect, 2),
                "ci95": [round(e.ci95[0], 2), round(e.ci95[1], 2)],
                "width": round(e.width, 2),
                "covered": bool(e.ci95[0] <= truth <= e.ci95[1]),
            }
    return out


def _line(outcome: str, figures: dict[str, Any]) -> str:
    parts = []
    for label in ("unadjusted", "adjusted"):
        e = figures[label]
        if e is None:
            parts.append(f"{label} -")
            continue
        mark = "" if e["covered"] else " MISSED"
        parts.append(f"{label} {e['ci95'][0]:+,.1f} to {e['ci95'][1]:+,.1f}{mark}")
    return f"{outcome} truth {figures['truth']:+,.1f}: " + ", ".join(parts)


def summary(runs: list[dict[str, Any]], outcome: str) -> dict[str, Any]:
    """Coverage and mean width of one outcome's plain and adjusted intervals over the seeds."""
    out: dict[str, Any] = {}
    for label in ("unadjusted", "adjusted"):
        figures = [r[outcome][label] for r in runs if r[outcome][label] is not None]
        out[label] = {
            "covered": sum(f["covered"] for f in figures),
            "seeds": len(figures),
            "mean_width": round(sum(f["width"] for f in figures) / len(figures), 2)
            if figures
            else None,
        }
    pairs = [
        (r[outcome]["unadjusted"]["width"], r[outcome]["adjusted"]["width"])
        for r in runs
        if r[outcome]["unadjusted"] is not None and r[outcome]["adjusted"] is not None
    ]
    narrower = [1.0 - adj / plain for plain, adj in pairs if plain > 0]
    out["narrower"] = round(sum(narrower) / len(narrower), 4) if narrower else None
    out["narrower_min"] = round(min(narrower), 4) if narrower else None
    out["wider_seeds"] = sum(adj > plain for plain, adj in pairs)
    return out


def launch_time(as_of: dt.date) -> dt.datetime:
    """17:00 UTC on the first weekday from two days after the data's date: the list's launch."""
    day = as_of + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(17, 0), dt.UTC)


def seed_row(seed: int, report: SavedReport, truth: float, started: float) -> dict[str, Any]:
    """One seed's figures: the report's estimate and interval, and the truth they cover or not."""
    e = report.effect
    assert e.total is not None
    assert e.ci95 is not None
    return {
        "seed": seed,
        "treated": e.treated,
        "holdout": e.holdout,
        "reached": report.reached,
        "churn_treated": round(e.rate_treated or 0.0, 4),
        "churn_holdout": round(e.rate_holdout or 0.0, 4),
        "estimate": round(e.total, 2),
        "ci95": [round(e.ci95[0], 2), round(e.ci95[1], 2)],
        "truth": round(truth, 2),
        "covered": bool(e.ci95[0] <= truth <= e.ci95[1]),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--size", type=int, default=400, help="treated customers per list")
    parser.add_argument("--holdout", type=float, default=0.5)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--work", type=Path, help="keep each seed's files here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = args.work or Path(tempfile.mkdtemp(prefix="eval-reports-"))
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    runs = []
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            work = root / f"seed-{seed}"
            if work.exists():
                shutil.rmtree(work)
            runs.append(
                evaluate_seed(
                    seed,
                    work,
                    customers=args.customers,
                    size=args.size,
                    holdout=args.holdout,
                    agents=args.agents,
                    log=log,
                )
            )
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "seeds": len(runs),
        "covered": sum(r["covered"] for r in runs),
        "mean_estimate": round(sum(r["estimate"] for r in runs) / len(runs), 2),
        "mean_truth": round(sum(r["truth"] for r in runs) / len(runs), 2),
        "saves": summary(runs, "saves"),
        "revenue": summary(runs, "revenue"),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"the 95% interval held the truth in {result['covered']} of {result['seeds']} seeds; "
            f"mean estimate {result['mean_estimate']}, mean truth {result['mean_truth']}"
        )
        for outcome in ("saves", "revenue"):
            print(f"{outcome}: {json.dumps(result[outcome])}")


if __name__ == "__main__":
    main()
