"""The retention pages: the saved-customer report of a campaign and the monthly churn report.

The charts are the same inline SVG the mailed HTML reports carry (``runner.report_html``).
Filters by segment, offer and agent pick rows of the report's splits: each split is
measured against its own fair control, so a filtered row is still a holdout comparison.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from campaigns.errors import CampaignError
from campaigns.monthly import monthly_report
from campaigns.reports import saved_report
from dialer.webhooks import DIALER
from runner.api import monthly_params
from runner.desk import FieldErrors, campaign_rows, kpis_for
from runner.render import render_page
from runner.report_html import funnel_svg, monthly_svg, refusals_svg, survival_svg

__all__ = ["FILTERS", "add_retention_routes"]

# matplotlib's SVG styles its shapes with style attributes, which the site-wide policy
# (default-src 'self') would strip; the charts are our own output, not user content.
CHART_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)

FILTERS = {"segment": "segment", "offer": "offer", "agent": "agent"}  # query name -> split


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


def filter_splits(
    splits: list[dict[str, Any]], chosen: Mapping[str, str]
) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The values each filter offers, and the split rows the chosen filters keep.

    With no filter chosen every row stays; with some chosen, the rows of those splits
    with the chosen value (and the ABC rows, which no filter narrows, are left out).
    """
    options = {
        key: sorted({s["value"] for s in splits if s["by"] == by}) for key, by in FILTERS.items()
    }
    active = {FILTERS[k]: v for k, v in chosen.items() if k in FILTERS and v}
    if not active:
        return options, splits
    kept = [s for s in splits if s["by"] in active and s["value"] == active[s["by"]]]
    return options, kept


async def retention_home(request: web.Request) -> web.Response:
    rows = await request.app[DIALER].store(campaign_rows)
    launched = [r for r in rows if r["launched_at"]]
    name = request.query.get("campaign") or (launched[0]["name"] if launched else "")
    chosen = {key: request.query.get(key, "") for key in FILTERS}
    context: dict[str, Any] = {
        "campaigns": launched,
        "campaign": name,
        "chosen": chosen,
        "report": None,
        "problem": None,
        "options": {},
        "splits": [],
    }
    if name:
        engine = request.app[DIALER].engine
        try:
            report = await asyncio.to_thread(_campaign_report, engine, name)
        except CampaignError as exc:
            context["problem"] = str(exc)
        else:
            options, splits = filter_splits(report["saved"]["splits"], chosen)
            context.update(report=report, options=options, splits=splits)
    response = render_page(request, "retention.html.j2", context)
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


async def retention_monthly(request: web.Request) -> web.Response:
    errors: dict[str, str] = {}
    try:
        months, as_of = monthly_params(request.query)
    except FieldErrors as exc:
        errors = exc.fields
        months, as_of = 12, None
    engine = request.app[DIALER].engine

    def build() -> tuple[dict[str, Any], Any]:
        report = monthly_report(engine, months=months, as_of=as_of)
        return report.to_json(), monthly_svg(report)

    report, chart = await asyncio.to_thread(build)
    context = {
        "report": report,
        "chart": chart,
        "months": request.query.get("months", str(months)),
        "as_of": request.query.get("as_of", ""),
        "errors": errors,
    }
    response = render_page(
        request, "retention_monthly.html.j2", context, status=400 if errors else 200
    )
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


def add_retention_routes(app: web.Application) -> None:
    app.router.add_get("/retention", retention_home, name="retention-home")
    app.router.add_get("/retention/monthly", retention_monthly, name="retention-monthly")
