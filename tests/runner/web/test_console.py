"""The agent console against the app as it runs: logging in to a campaign, ready and
pause, a call handed over the way the answer webhook does it, the card, offer and script,
dispositions (validation, ownership, idempotence), call-backs and today's figures."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dialer.outcomes import apply_status
from dialer.webhooks import DIALER
from runner.web.users import hash_password
from store.db import transaction
from store.models import AgentEvent, AnsweredBy, Disposition, EntryStatus, ListEntry, Role, User
from tests.runner.web.console_base import NAME, S, _campaign, _end_call, _get, _give_call, _post
from tests.runner.web_harness import PASSWORD, Client, RunWeb, login, login_as


def _second_agent(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(
            User(
                username="bob",
                full_name="Bob Agent",
                role=Role.AGENT,
                password_hash=hash_password(PASSWORD),
            )
        )


def test_an_agent_works_a_call_from_login_to_disposition(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = _campaign(engine)
    _second_agent(engine)
    ann = users["ann"]

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        token = await login_as(client, "agent")

        page = await client.get("/agent")
        html = await page.text()
        assert page.status == 200
        assert "Keep them" in html
        assert "console.js" in html
        assert 'data-key="7"' in html

        state = await _get(client, "/api/agent/state")
        assert state["state"] == "offline"
        assert [c["id"] for c in state["campaigns"]] == [campaign_id]

        status, body = await _post(client, "/api/agent/login", token, {})
        assert (status, body["field"]) == (400, "campaign_id")
        status, body = await _post(client, "/api/agent/login", token, {"campaign_id": 9999})
        assert (status, body["field"]) == (400, "campaign_id")
        status, body = await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        assert (status, body["state"], body["campaign_id"]) == (200, "ready", campaign_id)

        status, body = await _post(client, "/api/agent/pause", token, {"code": "nap"})
        assert (status, body["field"]) == (400, "code")
        status, body = await _post(client, "/api/agent/pause", token, {"code": "lunch"})
        assert (status, body["state"], body["pause_code"]) == (200, "paused", "lunch")
        status, body = await _post(client, "/api/agent/ready", token, {})
        assert (status, body["state"]) == (200, "ready")

        assert (await _get(client, "/api/agent/call"))["call"] is None
        attempt_id, agent = await _give_call(dialer, campaign_id, customers[0])
        assert agent == ann

        answer = await _get(client, "/api/agent/call")
        call = answer["call"]
        assert answer["state"]["state"] == "talk"
        assert (call["attempt_id"], call["call_state"]) == (attempt_id, "connected")
        card = call["card"]
        assert card["customer"]["name"] == NAME
        assert card["customer"]["timezone"] == "America/New_York"
        assert card["value"] == {
            "arpu": 22.5,
            "clv": 810.0,
            "abc": "B",
            "xyz": "X",
            "lifecycle": "regular",
        }
        assert card["risk"]["p_churn"] == pytest.approx(0.62)
        assert [r["code"] for r in card["risk"]["reasons"]] == ["complaints", "contract", "spend"]
        assert [p["code"] for p in card["products"]["held"]] == ["MOB"]
        assert {p["code"]: p["held"] for p in card["products"]["targeted"]} == {
            "MOB": True,
            "TV": False,
        }
        assert card["products"]["maturity"] == 0.5
        assert card["complaints"][0]["topic"] == "billing"
        assert card["surveys"][0]["at_risk"] is True
        assert call["offer"]["text"].startswith("Service recovery")
        script = call["script_html"]
        assert "<strong>Offer.</strong>" in script
        assert "2 complaints in the last 90 days" in script
        assert "Service recovery" in script
        assert "Ann" in script  # the agent's first name in the opening
        assert "<b>" not in script
        assert "&lt;b&gt;Bold&lt;/b&gt; *Star*" in script

        url = f"/api/attempts/{attempt_id}/disposition"
        status, body = await _post(client, url, token, {"code": "accepted"})
        assert status == 409, body  # still connected

        await _end_call(dialer, attempt_id)
        answer = await _get(client, "/api/agent/call")
        assert (answer["state"]["state"], answer["call"]["call_state"]) == ("wrap", "ended")

        status, body = await _post(client, url, token, {"code": "refused"})
        assert (status, body["field"]) == (400, "refusal_reason")
        status, body = await _post(
            client, url, token, {"code": "refused", "refusal_reason": "price"}
        )
        assert (status, body["field"]) == (400, "funnel_stage")
        status, body = await _post(client, url, token, {"code": "maybe"})
        assert (status, body["field"]) == (400, "code")

        # another agent cannot see or dispose of Ann's call
        client.session.cookie_jar.clear()
        assert (await login(client, "bob")).status == 303
        bob_token = (await _get(client, "/api/me"))["csrf_token"]
        status, body = await _post(client, url, bob_token, {"code": "accepted"})
        assert status == 404, body
        token = await login_as(client, "agent")

        status, body = await _post(client, url, token, {"code": "accepted", "notes": "happy"})
        assert status == 201, body
        assert body["disposition"]["code"] == "accepted"
        assert body["state"]["state"] == "ready"
        again, repeat = await _post(client, url, token, {"code": "refused"})
        assert (again, repeat["repeated"], repeat["disposition"]["code"]) == (
            200,
            True,
            "accepted",
        )

        def stored(session: Session) -> Any:
            rows = session.scalars(select(Disposition)).all()
            entry = session.scalars(
                select(ListEntry.status).where(ListEntry.customer_id == customers[0])
            ).one()
            events = session.scalars(
                select(AgentEvent.state).where(AgentEvent.agent_id == ann).order_by(AgentEvent.id)
            ).all()
            return [(r.code, r.agent_id, r.notes, r.funnel_stage) for r in rows], entry, events

        rows, entry_status, events = await dialer.gateway.write(stored)
        assert rows == [("accepted", ann, "happy", "closed")]
        assert entry_status is EntryStatus.DONE
        assert events == ["ready", "paused", "ready", "talk", "ready"]
        assert (await _get(client, "/api/agent/call"))["call"] is None

        # a second call ends in a personal call-back at 10:00 the customer's time
        attempt_2, _ = await _give_call(dialer, campaign_id, customers[1])
        await _end_call(dialer, attempt_2)
        url_2 = f"/api/attempts/{attempt_2}/disposition"
        status, body = await _post(
            client,
            url_2,
            token,
            {"code": "callback", "callback_local": "2020-01-01T10:00"},
        )
        assert (status, body["field"]) == (400, "callback_at")  # in the past
        local = dialer.clock.utcnow().astimezone(ZoneInfo("America/New_York")).date()
        day = (local + dt.timedelta(days=2)).isoformat()
        status, body = await _post(
            client,
            url_2,
            token,
            {"code": "callback", "callback_local": f"{day}T10:00", "then": "paused"},
        )
        assert (status, body["field"]) == (400, "pause_code")
        status, body = await _post(
            client,
            url_2,
            token,
            {
                "code": "callback",
                "callback_local": f"{day}T10:00",
                "then": "paused",
                "pause_code": "break",
            },
        )
        assert status == 201, body
        assert body["state"]["state"] == "paused"
        expected = dt.datetime.fromisoformat(f"{day}T10:00").replace(
            tzinfo=ZoneInfo("America/New_York")
        )
        assert dt.datetime.fromisoformat(body["disposition"]["callback_at"]) == expected

        callbacks = (await _get(client, "/api/agent/callbacks"))["callbacks"]
        assert len(callbacks) == 1
        assert callbacks[0]["customer"] == "Customer 1"
        assert callbacks[0]["customer_timezone"] == "America/New_York"
        assert callbacks[0]["shared"] is False
        assert dt.datetime.fromisoformat(callbacks[0]["callback_at"]) == expected

        today = await _get(client, "/api/agent/today?tz=America/New_York")
        assert (today["calls"], today["contacts"], today["conversions"]) == (2, 2, 1)
        assert today["talk_seconds"] >= 0
        assert today["dispositions"] == {"accepted": 1, "callback": 1}
        response = await client.get("/api/agent/today?tz=Mars/Olympus")
        assert response.status == 400
        assert (await response.json())["field"] == "tz"

        status, body = await _post(client, "/api/agent/logout", token, {})
        assert (status, body["state"]) == (200, "offline")

    run_web(scenario)


def test_a_call_that_never_reached_the_agent_takes_no_disposition(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    """A machine-answered call the agent was connected to for a moment: the machine's
    outcome is the carrier's, and a "refused" on it would count a refusal no one made."""
    campaign_id, customers = _campaign(engine)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        attempt_id, agent = await _give_call(dialer, campaign_id, customers[0])
        assert agent == users["ann"]
        now = dialer.clock.utcnow()
        await dialer.gateway.write(
            lambda s: apply_status(
                s, attempt_id, S.MACHINE, now=now, answered_by=AnsweredBy.MACHINE
            )
        )
        await dialer.board.release(attempt_id, dialer.clock.now())
        entry_before = await dialer.gateway.write(
            lambda s: s.scalars(
                select(ListEntry.due_at).where(ListEntry.customer_id == customers[0])
            ).one()
        )
        url = f"/api/attempts/{attempt_id}/disposition"
        refusal = {"code": "refused", "refusal_reason": "price", "funnel_stage": "offer"}
        for body in (refusal, {"code": "accepted"}):
            status, answer = await _post(client, url, token, body)
            assert status == 409, answer
            assert answer["message"] == (
                "this call never reached an agent: no disposition to record"
            )
        stored = await dialer.gateway.write(
            lambda s: (
                s.scalars(select(Disposition)).all(),
                s.scalars(
                    select(ListEntry.due_at).where(ListEntry.customer_id == customers[0])
                ).one(),
            )
        )
        assert stored == ([], entry_before), "tried again after the machine's delay only"
        assert (await _get(client, "/api/agent/state"))["state"] == "ready"

    run_web(scenario)
