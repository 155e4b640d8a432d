"""The watch list on the web: the retention page (paged), the API route (JSON checked
against the document, and CSV), and the plan form's and API's watch-list candidates."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine, update

from runner.web.retention import PAGE_ROWS
from store.db import transaction
from store.models import Score
from tests.runner.campaign_store import build_scored_base, contact, survey
from tests.runner.web.openapi_check import call
from tests.runner.web_harness import Client, RunWeb, form_token, login_as

AT_RISK = PAGE_ROWS + 5  # two pages


def _surveyed(engine: Engine) -> list[int]:
    """``AT_RISK`` customers at risk (the riskiest contacted since), and two promoters."""
    risks = [0.9 - i * 0.01 for i in range(AT_RISK)] + [0.1, 0.2]
    ids = build_scored_base(engine, len(risks), p_churn=risks)
    with transaction(engine) as session:
        session.execute(update(Score).values(clv=1000.0))  # the order is the risk's
    for cid in ids[:AT_RISK]:
        survey(engine, cid, 2, 5)
    contact(engine, ids[0], days=3, campaign="october care", spoken=True)
    for cid in ids[AT_RISK:]:
        survey(engine, cid, 9, 10)
    return ids


def test_the_retention_page_pages_the_lists(run_web: RunWeb, engine: Engine) -> None:
    _surveyed(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        page = await client.get("/retention/watchlist")
        html = await page.text()
        assert page.status == 200, html
        assert html.count("2/5 open dissatisfaction") == PAGE_ROWS
        assert html.count("9/10 promoter") == 2
        assert "october care, call, completed; an agent spoke with them" in html
        # every customer at risk on the page but the first, and both promoters
        assert html.count("not contacted since the survey") == PAGE_ROWS - 1 + 2
        assert f'href="/retention/watchlist?offset={PAGE_ROWS}"' in html
        assert "/api/reports/watchlist?format=csv" in html
        assert "Plan a follow-up list" not in html  # the manager's to do
        second = await (await client.get(f"/retention/watchlist?offset={PAGE_ROWS}")).text()
        assert second.count("2/5 open dissatisfaction") == AT_RISK - PAGE_ROWS
        assert "No more promoters." in second
        assert 'rel="next"' not in second
        bad = await client.get("/retention/watchlist?offset=-1")
        assert bad.status == 400
        assert "a whole number of rows to skip" in await bad.text()

        await login_as(client, "manager")
        html = await (await client.get("/retention/watchlist")).text()
        assert "/manager?kind=follow-up&amp;candidates=watchlist" in html
        await login_as(client, "agent")
        denied = await client.get("/retention/watchlist", allow_redirects=False)
        assert denied.status == 403

    run_web(scenario)


def test_the_api_route_in_json_and_csv(run_web: RunWeb, engine: Engine) -> None:
    _surveyed(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        status, body = await call(
            client, "GET", "/api/reports/watchlist", query={"offset": "50", "limit": "10"}
        )
        assert status == 200, body
        assert body["counts"]["at_risk"] == AT_RISK
        assert body["counts"]["not_contacted_since_survey"] == AT_RISK - 1
        assert len(body["at_risk"]) == AT_RISK - 50
        assert body["promoters"] == []
        status, first = await call(client, "GET", "/api/reports/watchlist")
        assert first["at_risk"][0]["last_contact_campaign"] == "october care"
        assert first["at_risk"][0]["churn_risk"] == 0.9
        assert [p["churn_risk"] for p in first["promoters"]] == [0.1, 0.2]  # same CLV
        status, bad = await call(
            client, "GET", "/api/reports/watchlist", query={"limit": "0"}, valid_request=False
        )
        assert (status, bad["field"]) == (400, "limit")
        download = await client.get("/api/reports/watchlist", params={"format": "csv"})
        assert download.status == 200
        assert 'filename="watchlist.csv"' in download.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await download.text())))
        assert len(rows) == AT_RISK + 2  # the whole lists
        assert {r["list"] for r in rows} == {"at_risk", "promoter"}

    run_web(scenario)


def test_plans_from_the_watch_list_on_the_form_and_the_api(run_web: RunWeb, engine: Engine) -> None:
    _surveyed(engine)
    plan = {"kind": "follow-up", "name": "after the survey", "candidates": "watchlist"}

    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        form = await (await client.get("/manager?kind=follow-up&candidates=watchlist")).text()
        assert '<option value="watchlist" selected>' in form
        preview = await client.post(
            "/manager/plan", data={**plan, "holdout": "0", "csrf_token": form_token(form)}
        )
        html = await preview.text()
        assert preview.status == 200, html
        assert "Candidates from the watch list" in html
        assert 'name="candidates" value="watchlist"' in html
        status, body = await call(
            client,
            "POST",
            "/api/campaigns/plan",
            body={**plan, "holdout": 0, "dry_run": True},
            token=token,
        )
        assert status == 200, body
        assert body["preview"]["candidates_from"] == "watchlist"
        assert body["preview"]["treated"] == AT_RISK - 1  # one spoken with since
        status, bad = await call(
            client,
            "POST",
            "/api/campaigns/plan",
            body={**plan, "kind": "cross-sell", "dry_run": True},
            token=token,
        )
        assert (status, bad["field"]) == (400, "candidates")

    run_web(scenario)
