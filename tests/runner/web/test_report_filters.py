"""The report filters on the retention pages and the API, and the API's CSV downloads.

The store holds two lists with known figures (``tests/campaigns/monthly_filter_base``):
each filter must change the numbers the page and the API show to exactly those.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_core.datatypes import RequestParameters
from sqlalchemy import Engine
from typer.testing import CliRunner
from werkzeug.datastructures import Headers, ImmutableMultiDict

from runner.cli.main import app as cli
from tests.runner.campaign_store import launched_list
from tests.runner.web.openapi_check import SPEC, ReceivedResponse, SentRequest
from tests.runner.web_harness import Client, RunWeb, login_as

from monthly_filter_base import (  # isort: skip  (on sys.path through campaign_store)
    AS_OF,
    AUTUMN,
    CHURN,
    EXPECTED,
    FREE_MONTH,
    SPRING,
    build_two_lists,
)

Query = list[tuple[str, str]]
BASE: Query = [("months", "4"), ("as_of", AS_OF.isoformat())]


async def send(
    client: Client, path: str, query: Query, *, accept: str = "application/json"
) -> tuple[int, str, Headers, bytes]:
    """GET ``path``; the request and its answer are checked against the OpenAPI document."""
    headers = {"Accept": accept}
    response = await client.get(path, params=query, headers=headers, allow_redirects=False)
    content = await response.read()
    cookies = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    sent = SentRequest(
        host_url=f"http://{client.host}:{client.port}",
        path=path,
        method="get",
        body=None,
        content_type="",
        parameters=RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            cookie=ImmutableMultiDict({k: m.value for k, m in cookies.items()}),
        ),
    )
    received = ReceivedResponse(
        data=content,
        status_code=response.status,
        content_type=response.content_type,
        headers=Headers(list(response.headers.items())),
    )
    SPEC.validate_request(sent)
    SPEC.validate_response(sent, received)
    return response.status, response.content_type, received.headers, content


def _march(html: str) -> list[str]:
    """The cells of March's row in the months table of the monthly page, after the
    period: customers, lost, churn, target, complaints, saved, interval, money saved."""
    row = re.search(r"<tr><td>2026-03</td>(.*?)</tr>", html)
    assert row, "no row for March"
    return re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))


def _money(saved: float, cost: float) -> float:
    return saved * 300 - cost  # the default acquisition cost is 300


# --- the monthly page ----------------------------------------------------------------

PAGE_CASES: list[tuple[str, Query]] = [
    ("none", []),
    ("campaign=spring", [("campaign", SPRING)]),
    ("none", [("campaign", SPRING), ("campaign", AUTUMN)]),
    ("segment=MASS", [("segment", "MASS")]),
    ("offer=free month", [("offer", FREE_MONTH)]),
    ("agent=bob", [("agent", "agent-bob")]),
    ("segment=MASS,agent=anna", [("segment", "MASS"), ("agent", "agent-anna")]),
]


def test_monthly_page_filters_change_the_figures(run_web: RunWeb, engine: Engine) -> None:
    build_two_lists(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        for case, query in PAGE_CASES:
            page = await client.get("/retention/monthly", params=BASE + query)
            html = await page.text()
            assert page.status == 200, (case, html)
            cells = _march(html)
            saved, cost = EXPECTED[case]
            assert float(cells[5]) == pytest.approx(saved), case
            assert float(cells[7].replace(",", "")) == pytest.approx(_money(saved, cost)), case
            segment = dict(query).get("segment")
            active, lost, complaints = CHURN[segment or "all"]
            assert (int(cells[0]), int(cells[1]), int(cells[4])) == (active, lost, complaints)
        # the choices come from the store, and the current ones stay selected
        page = await client.get(
            "/retention/monthly",
            params=[*BASE, ("campaign", AUTUMN), ("segment", "PREM"), ("agent", "agent-bob")],
        )
        html = await page.text()
        assert f'<option value="{AUTUMN}" selected>' in html
        assert f'<option value="{SPRING}">' in html
        assert '<option value="PREM" selected>PREM</option>' in html
        assert '<option value="MASS">MASS</option>' in html
        assert f'<option value="{FREE_MONTH}">{FREE_MONTH}</option>' in html
        assert '<option value="agent-bob" selected>Bob Agent (agent-bob)</option>' in html
        assert "churn and complaints: customers of segment PREM" in html
        assert f"the lists {AUTUMN}" in html

    run_web(scenario)


def test_monthly_page_names_an_unknown_filter_beside_its_field(
    run_web: RunWeb, engine: Engine
) -> None:
    build_two_lists(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        for name, value, message in (
            ("segment", "GOLD", "no segment &#39;GOLD&#39;"),
            ("offer", "two for one", "no list of a launched campaign offers"),
            ("agent", "nobody", "no agent with the username &#39;nobody&#39;"),
            ("campaign", "winter", "no launched anti-churn or win-back list named"),
        ):
            other = [("segment", "MASS")] if name != "segment" else []
            page = await client.get("/retention/monthly", params=[*BASE, *other, (name, value)])
            html = await page.text()
            assert page.status == 400, name
            assert f'aria-describedby="f-{name}-error"' in html, name
            error = re.search(rf'<p class="field-error" id="f-{name}-error">([^<]*)</p>', html)
            assert error is not None, (name, html)
            assert message in error.group(1), name
            # drawn without the unknown value, the other filters still applied
            if name != "segment":
                assert _march(html)[1] == str(CHURN["MASS"][1])

    run_web(scenario)


# --- the saved-customer page -----------------------------------------------------------


def _split_cells(html: str) -> dict[tuple[str, str], list[str]]:
    rows = re.findall(r"<tr><td>(segment|abc|offer|agent)</td><td>([^<]*)</td>(.*?)</tr>", html)
    return {(by, value): re.findall(r"<td[^>]*>([^<]*)</td>", rest) for by, value, rest in rows}


def test_saved_page_honours_the_same_filters(run_web: RunWeb, engine: Engine) -> None:
    build_two_lists(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        page = await client.get(
            "/retention", params={"campaign": SPRING, "segment": "MASS", "agent": "agent-bob"}
        )
        html = await page.text()
        assert page.status == 200
        rows = _split_cells(html)
        assert set(rows) == {("segment", "MASS"), ("agent", "Bob Agent")}
        # called / holdout / reached, then saved: MASS (0.3 - 0.1) x 10; Bob 5 reached
        assert rows["segment", "MASS"][:3] == ["10", "10", "5"]
        assert float(rows["segment", "MASS"][5]) == pytest.approx(2.0)
        assert rows["agent", "Bob Agent"][2] == "5"
        assert float(rows["agent", "Bob Agent"][5]) == pytest.approx(0.5)
        assert '<option value="agent-bob" selected>' in html
        assert '<option value="MASS" selected>' in html
        # the campaign chooses the list: autumn's offer row is the whole list
        page = await client.get("/retention", params={"campaign": AUTUMN, "offer": FREE_MONTH})
        assert _split_cells(await page.text()) == {}
        page = await client.get(
            "/retention", params={"campaign": AUTUMN, "offer": "10% off for a year"}
        )
        (offer,) = _split_cells(await page.text()).values()
        assert offer[:2] == ["10", "10"]
        assert float(offer[5]) == pytest.approx(5.0)
        bad = await client.get("/retention", params={"campaign": SPRING, "agent": "zed"})
        html = await bad.text()
        assert bad.status == 400
        assert 'id="f-agent-error">no agent with the username' in html
        assert len(_split_cells(html)) > 4  # drawn unfiltered

    run_web(scenario)


# --- the API ------------------------------------------------------------------------------


def test_api_monthly_filters(run_web: RunWeb, engine: Engine) -> None:
    build_two_lists(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        for case, query in PAGE_CASES:
            status, kind, _, body = await send(client, "/api/reports/monthly", BASE + query)
            assert (status, kind) == (200, "application/json"), body
            data = json.loads(body)
            march = data["months"][0]
            saved, cost = EXPECTED[case]
            assert march["customers_saved"] == pytest.approx(saved), case
            assert march["money_saved"] == pytest.approx(_money(saved, cost)), case
            given = dict(query)
            assert data["filters"]["segment"] == given.get("segment"), case
            assert data["filters"]["agent"] == given.get("agent"), case
            assert data["filters"]["campaigns"] == [v for k, v in query if k == "campaign"]
        for name, value in (("segment", "GOLD"), ("agent", "nobody"), ("campaign", "winter")):
            status, _, _, body = await send(client, "/api/reports/monthly", [(name, value)])
            error = json.loads(body)
            assert (status, error["error"], error["field"]) == (400, "invalid", name)
            assert value in error["fields"][name]

    run_web(scenario)


def _cli_csv(db_url: str, tmp_path: Path, *args: str) -> list[dict[str, str]]:
    out = tmp_path / f"cli-{args[0]}.csv"
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "cli-home"), "DATABASE_URL": db_url}
    result = CliRunner().invoke(cli, ["report", *args, "--json", "--csv", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_api_reports_as_csv_with_the_cli_columns(
    run_web: RunWeb, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    launched_list(engine)
    as_of = [("as_of", "2026-06-30")]
    expected = {
        "saved": _cli_csv(db_url, tmp_path, "saved", "spring retention"),
        "kpis": _cli_csv(db_url, tmp_path, "kpis", "spring retention"),
        "monthly": _cli_csv(db_url, tmp_path, "monthly", "--as-of", "2026-06-30"),
    }
    assert {r["by"] for r in expected["saved"]} == {"segment", "abc", "offer", "agent"}

    async def scenario(client: Client) -> None:
        await login_as(client, "manager")
        answers: dict[str, tuple[int, str, Headers, bytes]] = {
            "saved": await send(client, "/api/reports/saved/spring retention", [("format", "csv")]),
            # asked for by the Accept header alone
            "kpis": await send(
                client,
                "/api/reports/kpis/spring retention",
                [],
                accept="text/csv, application/json;q=0.5",
            ),
            "monthly": await send(client, "/api/reports/monthly", [*as_of, ("format", "csv")]),
        }
        for report, (status, kind, _, body) in answers.items():
            assert (status, kind) == (200, "text/csv"), report
            rows = _rows(body)
            assert rows == expected[report], report
            assert list(rows[0]) == list(expected[report][0]), report  # same column order
        assert answers["saved"][2]["Content-Disposition"] == (
            'attachment; filename="saved-spring-retention.csv"'
        )
        assert answers["monthly"][2]["Content-Disposition"] == (
            'attachment; filename="monthly-2026-06-30.csv"'
        )
        monthly = _rows(answers["monthly"][3])
        assert [r["period"] for r in monthly][:3] == ["2025-07", "2025-08", "2025-09"]
        # JSON stays the default, and is what a browser's Accept gets
        status, kind, _, _ = await send(
            client, "/api/reports/saved/spring retention", [], accept="text/html,*/*;q=0.8"
        )
        assert (status, kind) == (200, "application/json")
        response = await client.get(
            "/api/reports/conversions/spring retention", params={"format": "xml"}
        )
        error: dict[str, Any] = await response.json()
        assert (response.status, error["field"]) == (400, "format")
        status, kind, _, body = await send(
            client,
            "/api/reports/monthly",
            [*as_of, ("segment", "MASS"), ("format", "csv")],
        )
        assert status == 200
        assert _rows(body) != monthly  # the filters apply to the CSV too

    run_web(scenario)


def test_a_badly_written_period_is_named_with_what_to_write_instead(
    run_web: RunWeb, engine: Engine
) -> None:
    build_two_lists(engine)

    async def scenario(client: Client) -> None:
        await login_as(client, "retention")
        # sent as a careless client would, past the document's own limits
        response = await client.get(
            "/api/reports/monthly", params=[("months", "0"), ("as_of", "2026-13-40")]
        )
        error = await response.json()
        assert response.status == 400
        assert error["fields"] == {
            "months": "a whole number of months from 1 to 60",
            "as_of": "a date as YYYY-MM-DD",
        }
        page = await client.get("/retention/monthly", params=[("months", "many"), *BASE[1:]])
        html = await page.text()
        assert page.status == 400
        assert "a whole number of months from 1 to 60" in html
        blank = await client.get("/api/reports/monthly", params=[("months", ""), ("as_of", "")])
        assert blank.status == 200, await blank.text()
        assert len((await blank.json())["months"]) == 12

    run_web(scenario)
