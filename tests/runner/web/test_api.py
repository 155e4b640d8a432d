"""The JSON API: real requests through the app, each checked against /api/openapi.json."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from runner.settings import Settings
from runner.web.app import create_app
from runner.web.openapi import document
from store.audit import AuditFilter, list_events
from tests.runner.campaign_store import build_scored_base, launched_list
from tests.runner.web.openapi_check import app_router, call
from tests.runner.web_harness import Client, RunWeb, login_as

PLAN = {"kind": "anti-churn", "name": "autumn keep", "size": 40, "holdout": 0.2, "seed": 7}


def test_the_document_is_served_and_is_the_one_checked(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        response = await client.get("/api/openapi.json")
        assert response.status == 200
        served = await response.json()
        assert served == document(app_router())
        assert served["openapi"].startswith("3.1")
        assert "/api/campaigns/plan" in served["paths"]

    run_web(scenario)


def test_plan_launch_pause_resume_stop(run_web: RunWeb, engine: Engine) -> None:
    build_scored_base(engine, 200)

    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        status, body = await call(
            client, "POST", "/api/campaigns/plan", body={**PLAN, "dry_run": True}, token=token
        )
        assert status == 200, body
        assert body["stored"] is False
        preview = body["preview"]
        assert preview["treated"] == 40
        assert preview["holdout"] == 10
        assert "value" in preview["expected"]
        assert isinstance(preview["exclusions"], dict)
        power = preview["power"]
        assert power["mde"] is not None
        assert power["effect_source"] == "assumed: a call removes 20% of the churn risk"
        assert power["warning"].startswith("underpowered: with 20% held out")
        status, body = await call(
            client,
            "POST",
            "/api/campaigns/plan",
            body={**PLAN, "dry_run": True, "expected_effect": 0.5},
            token=token,
        )
        assert status == 200, body
        assert body["preview"]["power"]["effect_source"] == "set by the manager"
        assert body["preview"]["power"]["expected_effect"] == 0.5
        status, listed = await call(client, "GET", "/api/campaigns")
        assert (status, listed["campaigns"]) == (200, [])  # a dry run stores nothing

        status, body = await call(client, "POST", "/api/campaigns/plan", body=PLAN, token=token)
        assert status == 201, body
        assert body["preview"]["treated"] == preview["treated"]
        status, listed = await call(client, "GET", "/api/campaigns")
        (row,) = listed["campaigns"]
        assert (row["name"], row["status"], row["treated"], row["holdout"]) == (
            "autumn keep",
            "planned",
            40,
            10,
        )
        assert row["actions"] == ["launch", "stop"]
        # the plan's settings are version 1, by the manager who planned it
        status, settings = await call(client, "GET", "/api/campaigns/autumn keep/settings")
        assert (status, settings["version"], settings["changed_by"]) == (200, 1, "max")

        for action, after in (
            ("launch", "running"),
            ("pause", "paused"),
            ("resume", "running"),
            ("stop", "stopped"),
        ):
            status, body = await call(
                client, "POST", f"/api/campaigns/autumn keep/{action}", token=token
            )
            assert (status, body) == (200, {"campaign": "autumn keep", "status": after})
            if action == "launch":
                status, live = await call(client, "GET", "/api/campaigns/autumn keep/live")
                assert status == 200
                assert live["status"] == "running"
                assert live["dials"] == 0
                assert live["abandon_limit"] == 0.01  # anti-churn lists are held to 1%
                assert live["agents"]["logged_in"] == 0
                assert live["dial_level"] is None

        status, body = await call(client, "POST", "/api/campaigns/autumn keep/resume", token=token)
        assert status == 409
        assert "stopped" in body["message"]

    run_web(scenario)
    # each plan and move is on the audit trail as the manager's; the refused one is not
    with Session(engine) as session:
        events = list(reversed(list_events(session, AuditFilter(actor="max"))))
    planned = [(e.action, e.detail.get("dry_run")) for e in events if e.action != "login"]
    assert planned == [
        ("plan", True),
        ("plan", True),  # the second dry run, with the manager's expected effect
        ("plan", False),
        ("launch", None),
        ("pause", None),
        ("resume", None),
        ("stop", None),
    ]
    assert len({e.target for e in events if e.action in ("launch", "stop")}) == 1


def test_plan_errors_name_the_field(run_web: RunWeb, engine: Engine) -> None:
    build_scored_base(engine, 50)

    async def scenario(client: Client) -> None:
        token = await login_as(client, "manager")
        bad: list[tuple[dict[str, Any], str]] = [
            ({"kind": "cold-calls", "name": "x"}, "kind"),
            ({"kind": "anti-churn", "name": " "}, "name"),
            ({"kind": "anti-churn", "name": "x", "size": 0}, "size"),
            ({"kind": "anti-churn", "name": "x", "agents": 2}, "hours"),
            ({"kind": "anti-churn", "name": "x", "holdout": 1.5}, "holdout"),
            ({"kind": "anti-churn", "name": "x", "dry_run": "yes"}, "dry_run"),
        ]
        for body, field in bad:
            status, answer = await call(
                client,
                "POST",
                "/api/campaigns/plan",
                body=body,
                token=token,
                valid_request=False,
            )
            assert status == 400, body
            assert answer["error"] == "invalid"
            assert field in answer["fields"], (body, answer)
        status, answer = await call(
            client,
            "POST",
            "/api/campaigns/plan",
            raw=b"{not json",
            token=token,
            valid_request=False,
        )
        assert (status, answer["field"]) == (400, "body")

        status, _ = await call(client, "POST", "/api/campaigns/plan", body=PLAN, token=token)
        assert status == 201
        status, answer = await call(client, "POST", "/api/campaigns/plan", body=PLAN, token=token)
        assert (status, answer["field"]) == (409, "name")

        status, answer = await call(client, "POST", "/api/campaigns/nobody/launch", token=token)
        assert (status, answer["error"]) == (404, "not_found")
        status, answer = await call(
            client, "POST", "/api/campaigns/autumn keep/fly", token=token, valid_request=False
        )
        assert (status, answer["field"]) == (404, "action")
        status, answer = await call(client, "GET", "/api/campaigns/nobody/live")
        assert status == 404

    run_web(scenario)


def test_reports(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        for role in ("retention", "manager"):
            await login_as(client, role)
            status, saved = await call(client, "GET", "/api/reports/saved/spring retention")
            assert status == 200
            assert (saved["treated"], saved["holdout"]) == (24, 8)
            assert {s["by"] for s in saved["splits"]} >= {"segment", "offer", "agent"}
            # 8 held out: no row is large enough to show an interval or be tested
            assert all(s["ci95"] is None and not s["interval_shown"] for s in saved["splits"])
            assert all(s["why_no_interval"] and not s["survives"] for s in saved["splits"])
            assert (
                saved["split_adjustment"]["method"],
                saved["split_adjustment"]["rows_tested"],
            ) == ("holm", 0)
            adjusted = saved["adjusted"]
            assert adjusted["saves"]["unadjusted"]["ci95"] == saved["ci95"]
            # 8 held out: too few to trust a robust interval, the plain one stands
            assert adjusted["saves"]["adjusted"]["ci95"] is None
            assert adjusted["saves"]["note"].startswith("not adjusted: 8 held out")
            assert adjusted["revenue"]["adjusted"]["estimate"] is None  # no bill yet
            assert "not in the store yet" in adjusted["revenue"]["note"]
            status, conversions = await call(
                client, "GET", "/api/reports/conversions/spring retention"
            )
            assert status == 200
            assert conversions["treated"] == 0  # a retention offer sells no product
            status, kpis = await call(client, "GET", "/api/reports/kpis/spring retention")
            assert status == 200
            assert kpis["dials"] == 3 + 24 + 3
            assert kpis["abandon_limit"] == 0.01
            status, monthly = await call(
                client, "GET", "/api/reports/monthly", query={"months": "3"}
            )
            assert status == 200
            assert len(monthly["months"]) == 3
        status, answer = await call(client, "GET", "/api/reports/saved/nobody")
        assert (status, answer["error"]) == (404, "not_found")
        status, answer = await call(
            client, "GET", "/api/reports/monthly", query={"months": "0"}, valid_request=False
        )
        assert (status, answer["field"]) == (400, "months")

    run_web(scenario)


def test_roles(run_web: RunWeb, engine: Engine) -> None:
    launched_list(engine)

    async def scenario(client: Client) -> None:
        # without a session the request breaks the document's security: sent all the same
        status, answer = await call(client, "GET", "/api/campaigns", valid_request=False)
        assert (status, answer["error"]) == (401, "unauthorized")
        token = await login_as(client, "agent")
        for method, path in (
            ("GET", "/api/campaigns"),
            ("GET", "/api/reports/saved/spring retention"),
            ("POST", "/api/campaigns/spring retention/pause"),
        ):
            status, answer = await call(client, method, path, token=token)
            assert (status, answer["error"]) == (403, "forbidden"), path
        token = await login_as(client, "retention")
        status, answer = await call(client, "POST", "/api/campaigns/plan", body=PLAN, token=token)
        assert (status, answer["error"]) == (403, "forbidden")
        status, answer = await call(client, "GET", "/api/campaigns/spring retention/live")
        assert status == 403
        token = await login_as(client, "manager")
        status, answer = await call(
            client, "POST", "/api/campaigns/spring retention/pause", valid_request=False
        )
        assert (status, answer["error"]) == (403, "csrf")  # no token, no move

    run_web(scenario)


def test_every_api_route_of_the_app_is_in_the_document(web_settings: Settings) -> None:
    app = create_app(web_settings, redis_url="redis://unused")  # routes only: never started
    paths = document(app_router())["paths"]
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if not path.startswith("/api/") or path in ("/api/me", "/api/openapi.json"):
            continue
        assert path in paths, f"describe {route.method} {path} in runner.web.openapi"
        assert route.method.lower() in paths[path], f"{route.method} {path}"
