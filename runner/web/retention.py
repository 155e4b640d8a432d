"""The retention pages: the saved-customer report of a campaign, the monthly churn report
and the satisfaction watch list (``campaigns.watchlist``), paged ``PAGE_ROWS`` at a time.

The charts are the same inline SVG the mailed HTML reports carry (``runner.reports.html``).
Both pages take the same filters as query parameters, their choices read from the store
(``campaigns.monthly.filter_choices``); a value the store does not know is shown as an
error beside its field and the page is drawn without it.

    campaign    saved customers: the list to report; monthly: the lists whose saves
                count (repeatable)
    segment     saved customers: the segment rows; monthly: churn, complaints and
                saves among the segment's customers
    offer       saved customers: the offer rows; monthly: saves of entries with it
    agent       a username; saved customers: the agent's row; monthly: saves among the
                customers the agent spoke with

On the saved-customer page each filter keeps rows of the report's splits: each split is
measured against its own fair control, so a filtered row is still a holdout comparison.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import Engine

from campaigns.errors import CampaignError, CampaignNotFoundError
from campaigns.monthly import FilterChoices, Filters, filter_choices, monthly_report
from campaigns.reports import saved_report
from campaigns.watchlist import READINGS, watch_list
from dialer.kpis import kpis_for
from dialer.webhooks import DIALER
from runner.reports.html import funnel_svg, monthly_svg, refusals_svg, survival_svg
from runner.web.desk import FieldErrors, campaign_rows
from runner.web.render import render_page
from runner.web.report_query import WatchListQuery, monthly_query, watch_list_query

__all__ = ["FILTERS", "add_retention_routes", "filter_splits"]

# matplotlib's SVG styles its shapes with style attributes, which the site-wide policy
# (default-src 'self') would strip; the charts are our own output, not user content.
CHART_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)

FILTERS = ("segment", "offer", "agent")  # query names; each is also the split's name
PAGE_ROWS = 50  # of the watch list and of the promoters, per page


def _campaign_report(engine: Engine, name: str) -> dict[str, Any]:
    saved = saved_report(engine, name)
    kpis = kpis_for(engine, name)
    return {
        "saved": saved.to_json(),
        "kpis": kpis.to_json(),
        "charts": {
            "survival": survival_svg(saved.curves, saved.launched_on, saved.kind),
            "funnel": funnel_svg(kpis),
            "refusals": refusals_svg(kpis),
        },
    }


def _options(choices: FilterChoices) -> dict[str, list[tuple[str, str]]]:
    """(value, label) of every choice of each filter, for the pages' selects."""
    return {
        "segment": [(s, s) for s in choices.segments],
        "offer": [(o, o) for o in choices.offers],
        "agent": [(a.username, f"{a.full_name} ({a.username})") for a in choices.agents],
    }


def _checked(filters: Filters, choices: FilterChoices) -> tuple[Filters, dict[str, str]]:
    """The filters without the values the store does not know, and an error for each."""
    errors = choices.problems(filters)
    kept = dataclasses.replace(
        filters,
        campaigns=tuple(c for c in filters.campaigns if c in choices.campaigns),
        segment=None if "segment" in errors else filters.segment,
        offer=None if "offer" in errors else filters.offer,
        agent=None if "agent" in errors else filters.agent,
    )
    return kept, errors


def filter_splits(splits: list[dict[str, Any]], chosen: Mapping[str, str]) -> list[dict[str, Any]]:
    """The split rows the chosen filters keep (``chosen`` maps a split to its value).

    With no filter chosen every row stays; with some chosen, the rows of those splits
    with the chosen value (and the ABC rows, which no filter narrows, are left out).
    """
    active = {by: value for by, value in chosen.items() if by in FILTERS and value}
    if not active:
        return splits
    return [s for s in splits if s["by"] in active and s["value"] == active[s["by"]]]


async def retention_home(request: web.Request) -> web.Response:
    dialer = request.app[DIALER]
    rows = await dialer.gateway.write(campaign_rows)
    choices = await dialer.gateway.batch(filter_choices)
    launched = [r for r in rows if r["launched_at"]]
    asked = request.query.get("campaign", "").strip()
    name = asked or (launched[0]["name"] if launched else "")
    raw = {key: request.query.get(key, "").strip() for key in FILTERS}
    filters, errors = _checked(Filters.of((), **raw), choices)
    context: dict[str, Any] = {
        "campaigns": launched,
        "campaign": name,
        "chosen": raw,
        "options": _options(choices),
        "errors": errors,
        "report": None,
        "problem": None,
        "splits": [],
        "filtered": False,
    }
    if name:
        try:
            report = await dialer.gateway.batch(_campaign_report, name)
        except CampaignNotFoundError:
            errors["campaign"] = f"no campaign named {name!r}: choose one of the list"
        except CampaignError as exc:
            context["problem"] = str(exc)
        else:
            agent = choices.agent(filters.agent) if filters.agent else None
            by_split = {
                "segment": filters.segment or "",
                "offer": filters.offer or "",
                "agent": agent.full_name if agent is not None else "",
            }
            splits = filter_splits(report["saved"]["splits"], by_split)
            context.update(report=report, splits=splits, filtered=any(by_split.values()))
    response = render_page(request, "retention.html.j2", context, status=400 if errors else 200)
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


async def retention_monthly(request: web.Request) -> web.Response:
    errors: dict[str, str] = {}
    try:
        asked = monthly_query(request.query)
    except FieldErrors as exc:
        errors.update(exc.fields)
        # the filters still apply, as given, when months or as_of is written badly
        asked = monthly_query(
            MultiDict((k, v) for k, v in request.query.items() if k not in exc.fields)
        )
    gateway = request.app[DIALER].gateway
    choices = await gateway.batch(filter_choices)
    raw = asked.filters
    filters, problems = _checked(raw, choices)
    errors.update(problems)

    def build(engine: Engine) -> tuple[dict[str, Any], Any]:
        report = monthly_report(engine, months=asked.months, as_of=asked.as_of, filters=filters)
        return report.to_json(), monthly_svg(report)

    report, chart = await gateway.batch(build)
    context = {
        "report": report,
        "chart": chart,
        "months": request.query.get("months", str(asked.months)),
        "as_of": request.query.get("as_of", ""),
        "chosen": {
            "campaign": list(raw.campaigns),
            "segment": raw.segment or "",
            "offer": raw.offer or "",
            "agent": raw.agent or "",
        },
        "campaign_options": choices.campaigns,
        "options": _options(choices),
        "errors": errors,
    }
    response = render_page(
        request, "retention_monthly.html.j2", context, status=400 if errors else 200
    )
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


async def retention_watchlist(request: web.Request) -> web.Response:
    """The watch list and the promoters, a page of each; ``offset`` moves both."""
    errors: dict[str, str] = {}
    try:
        asked = watch_list_query(request.query, limit=PAGE_ROWS)
    except FieldErrors as exc:
        errors.update(exc.fields)
        asked = WatchListQuery(limit=PAGE_ROWS)
    watch = await request.app[DIALER].gateway.batch(watch_list)
    data = watch.to_json(offset=asked.offset, limit=asked.limit)
    counts = data["counts"]
    end = asked.offset + asked.limit
    context = {
        "watch": data,
        "readings": READINGS,
        "errors": errors,
        "first": asked.offset + 1,
        "previous": max(asked.offset - asked.limit, 0) if asked.offset else None,
        "next": end if end < max(counts["at_risk"], counts["promoters"]) else None,
    }
    return render_page(
        request, "retention_watchlist.html.j2", context, status=400 if errors else 200
    )


def add_retention_routes(app: web.Application) -> None:
    app.router.add_get("/retention", retention_home, name="retention-home")
    app.router.add_get("/retention/monthly", retention_monthly, name="retention-monthly")
    app.router.add_get("/retention/watchlist", retention_watchlist, name="retention-watchlist")
