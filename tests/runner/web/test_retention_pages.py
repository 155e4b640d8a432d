"""The retention pages: the saved-customer report with its charts and filters, and the
monthly churn report."""

from __future__ import annotations

import re

from sqlalchemy import Engine

from tests.runner.campaign_store import launched_list, waiting_list
from tests.runner.web_harness import Client, RunWeb, login_as


def _split_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r"<tr><td>(segment|abc|offer|agent)</td><td>([^<]*)</td>", html)


def test_saved_customers_with_charts_and_filters(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        page = await client.get("/retention")
        html = await page.text()
        assert page.status == 200
        assert '<option value="spring retention" selected>' in html
        assert html.count("<svg") >= 3  # survival, funnel, refusals
        assert "style-src 'self' 'unsafe-inline'" in page.headers["Content-Security-Policy"]
        rows = _split_rows(html)
        assert {by for by, _ in rows} == {"segment", "abc", "offer", "agent"}
        assert ("agent", "Anna Agent") in rows
        # a holdout of 8 shows no interval on any row, says why, and highlights none
        assert "too few held out (8; a row needs at least 30)" in html
        assert 'class="survives"' not in html
        assert "Holm-adjusted across the 0 rows tested" in html
        # the adjusted figures beside the plain ones; no bill of the window yet
        assert "Adjusted for what was known before the launch" in html
        assert "churn score at planning, score decile, value (CLV) at planning" in html
        assert "are not in the store yet" in html

        # the agent filter takes a username, and keeps the row of that agent's full name
        filtered = await client.get(
            "/retention", params={"campaign": "spring retention", "agent": "agent-anna"}
        )
        assert _split_rows(await filtered.text()) == [("agent", "Anna Agent")]
        both = await client.get(
            "/retention",
            params={"campaign": "spring retention", "segment": "MASS", "agent": "agent-anna"},
        )
        assert sorted(_split_rows(await both.text())) == [
            ("agent", "Anna Agent"),
            ("segment", "MASS"),
        ]
        missing = await client.get("/retention", params={"campaign": "nobody"})
        assert missing.status == 400
        assert 'id="f-campaign-error">no campaign named' in await missing.text()

    run_web(scenario)


def test_a_list_with_no_talk_yet_has_its_page_and_kpis(run_web: RunWeb, engine: Engine) -> None:
    waiting_list(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        page = await client.get("/retention", params={"campaign": "autumn retention"})
        assert page.status == 200, await page.text()
        kpis = await client.get("/api/reports/kpis/autumn retention")
        assert kpis.status == 200, await kpis.text()
        assert (await kpis.json())["dials"] == 1

    run_web(scenario)


def test_monthly_report_page(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        for role in ("retention", "manager"):
            await login_as(client, role)
            page = await client.get("/retention/monthly", params={"months": "4"})
            html = await page.text()
            assert page.status == 200, role
            assert "<svg" in html
            assert html.count("<h2>") == 4  # the chart, months, quarters, years
            # the store's feeds end on 1 October (its billing month): October is not over
            assert '2026-10 <span class="muted">incomplete</span>' in html
        bad = await client.get("/retention/monthly", params={"months": "0"})
        html = await bad.text()
        assert bad.status == 400
        assert 'aria-describedby="f-months-error"' in html
        assert "from 1 to 60" in html
        await login_as(client, "agent")
        assert (await client.get("/retention", allow_redirects=False)).status == 403

    run_web(scenario)
