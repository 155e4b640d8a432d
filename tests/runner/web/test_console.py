"""The agent console against the app as it runs: logging in to a campaign, ready and
pause, a call handed over the way the answer webhook does it, the card, offer and script,
dispositions (validation, ownership, idempotence), call-backs, today's figures and the
live event stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dialer.context import Dialer
from dialer.dispositions import record_disposition
from dialer.outcomes import apply_status
from dialer.webhooks import DIALER
from runner.web import call_view
from runner.web.call_script import render_call_script
from runner.web.card import customer_card
from runner.web.users import hash_password
from store.db import transaction
from store.models import (
    AgentEvent,
    AnsweredBy,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Channel,
    Customer,
    Disposition,
    EntryStatus,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    ModelKind,
    ModelVersion,
    Product,
    Role,
    Score,
    Segment,
    User,
)
from tests.dialer.dial_base import build_running_campaign
from tests.runner.web_harness import PASSWORD, USERS, Client, RunWeb, login, login_as

S = AttemptStatus
NAME = "Eve <b>Bold</b> *Star*"  # markup and markdown in data must come out as typed
REASONS = [
    {"code": "complaints", "text": "2 complaints in the last 90 days", "weight": 0.12},
    {"code": "contract", "text": "contract ends in 3 weeks", "weight": 0.08},
    {"code": "spend", "text": "spend fell by a third", "weight": 0.03},
]


def _campaign(engine: Engine) -> tuple[int, list[int]]:
    """A running anti-churn campaign whose first customer has a full record."""
    campaign_id, customers = build_running_campaign(
        engine, 3, kind=CampaignKind.ANTI_CHURN, name="Keep them"
    )
    first = customers[0]
    with transaction(engine) as session:
        segment = Segment(code="FAM", name="Families")
        mobile = Product(code="MOB", name="Mobile 10GB", family="Mobile", monthly_price=20.0)
        tv = Product(code="TV", name="TV Basic", family="TV", monthly_price=15.0)
        version = MatrixVersion(version=1, source="test")
        model = ModelVersion(kind=ModelKind.CHURN, version="churn-test", artifact_path="x")
        session.add_all([segment, mobile, tv, version, model])
        session.flush()
        session.add_all(
            [
                MatrixCell(matrix_version_id=version.id, segment_id=segment.id, product_id=p.id)
                for p in (mobile, tv)
            ]
        )
        customer = session.get(Customer, first)
        assert customer is not None
        customer.name = NAME
        customer.segment_id = segment.id
        customer.signup_date = dt.date(2023, 1, 15)
        session.add(
            Holding(
                customer_id=first,
                product_id=mobile.id,
                start_date=dt.date(2023, 1, 15),
                monthly_revenue=22.5,
            )
        )
        session.add(
            Score(
                customer_id=first,
                model_version_id=model.id,
                p_churn=0.62,
                reasons={"top": REASONS},
                arpu=22.5,
                clv=810.0,
                abc_class="B",
                xyz_class="X",
                lifecycle="regular",
            )
        )
        session.add_all(
            [
                Interaction(
                    customer_id=first,
                    kind=InteractionKind.COMPLAINT,
                    occurred_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                    topic="billing",
                ),
                Interaction(
                    customer_id=first,
                    kind=InteractionKind.SURVEY,
                    occurred_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC),
                    score=3,
                    scale=5,
                ),
            ]
        )
        entry = session.scalars(
            select(ListEntry).where(
                ListEntry.campaign_id == campaign_id, ListEntry.customer_id == first
            )
        ).one()
        entry.offer = "Service recovery: priority support and one month's credit"
        entry.script_template = "calls/anti-churn.md.j2"
    return campaign_id, customers


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


async def _give_call(dialer: Dialer, campaign_id: int, customer_id: int) -> tuple[int, int | None]:
    """An answered call for the customer's entry, claimed for the longest-ready agent,
    as the answer webhook does it; (attempt id, agent id)."""
    now = dialer.clock.utcnow()

    def dial(session: Session) -> int:
        entry = session.scalars(
            select(ListEntry).where(
                ListEntry.campaign_id == campaign_id, ListEntry.customer_id == customer_id
            )
        ).one()
        entry.status = EntryStatus.IN_PROGRESS
        attempt = Attempt(
            campaign_id=campaign_id,
            list_entry_id=entry.id,
            customer_id=customer_id,
            channel=Channel.CALL,
            phone="+12125550000",
            status=S.IN_PROGRESS,
            created_at=now,
            started_at=now,
            answered_at=now,
        )
        session.add(attempt)
        session.flush()
        return attempt.id

    attempt_id = await dialer.gateway.write(dial)
    agent = await dialer.board.claim(campaign_id, attempt_id, dialer.clock.now())

    def connected(session: Session) -> None:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.agent_id = agent
        if agent is not None:
            session.add(
                AgentEvent(
                    agent_id=agent,
                    campaign_id=campaign_id,
                    attempt_id=attempt_id,
                    state="talk",
                    at=now,
                )
            )

    await dialer.gateway.write(connected)
    return attempt_id, agent


async def _end_call(dialer: Dialer, attempt_id: int) -> None:
    """The carrier's 'completed': the attempt is final and its agent goes to wrap-up."""
    now = dialer.clock.utcnow()
    await dialer.gateway.write(
        lambda s: apply_status(s, attempt_id, S.COMPLETED, now=now, duration_s=60)
    )
    await dialer.board.end_call(attempt_id, dialer.clock.now())


async def _post(client: Client, url: str, token: str, body: dict[str, Any]) -> Any:
    response = await client.post(url, json=body, headers={"X-CSRF-Token": token})
    return response.status, await response.json()


async def _get(client: Client, url: str) -> Any:
    response = await client.get(url)
    assert response.status == 200, await response.text()
    return await response.json()


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


async def _next_event(response: Any) -> dict[str, Any]:
    """The data of the next ``state`` event on a server-sent event stream."""
    event = None
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode()
        if line.startswith("event: "):
            event = line[7:].strip()
        elif line.startswith("data: ") and event == "state":
            data: dict[str, Any] = json.loads(line[6:])
            return data


def test_the_event_stream_reports_state_changes_and_ends_on_shutdown(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = _campaign(engine)

    async def scenario(client: Client) -> None:
        app = client.server.app
        token = await login_as(client, "agent")
        stream = await client.get("/api/agent/events")
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await _next_event(stream)
        assert (first["state"], first["call_state"]) == ("offline", None)

        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        ready = await _next_event(stream)
        assert (ready["state"], ready["campaign_id"]) == ("ready", campaign_id)

        attempt_id, _ = await _give_call(app[DIALER], campaign_id, customers[0])
        talk = await _next_event(stream)
        assert (talk["state"], talk["attempt_id"], talk["call_state"]) == (
            "talk",
            attempt_id,
            "connected",
        )

        # a second page of the same agent starts from where the agent is
        again = await client.get("/api/agent/events")
        joined = await _next_event(again)
        assert (joined["state"], joined["attempt_id"]) == ("talk", attempt_id)

        # one board read per look, however many streams are open
        reads: list[list[int]] = []
        board = app[DIALER].board
        statuses = board.statuses

        async def counted(agent_ids: Any) -> Any:
            reads.append(list(agent_ids))
            return await statuses(agent_ids)

        board.statuses = counted
        await _end_call(app[DIALER], attempt_id)
        for page in (stream, again):
            ended = await _next_event(page)
            assert (ended["state"], ended["call_state"]) == ("wrap", "ended")
        board.statuses = statuses
        assert reads
        assert all(agent_ids == [users[USERS["agent"][0]]] for agent_ids in reads)
        assert len(reads) <= 3  # looks every half second: not once per stream

        await app.shutdown()  # what the runner does first when the server stops
        for page in (stream, again):
            rest = await asyncio.wait_for(page.content.read(), 5)
            assert b"event: state" not in rest
            assert page.content.at_eof()

    run_web(scenario)


def test_the_script_renders_for_every_campaign_kind(engine: Engine) -> None:
    campaign_id, customers = _campaign(engine)
    with transaction(engine) as session:
        card = customer_card(session, customers[0], campaign_id, today=dt.date(2026, 11, 25))
    assert card["customer"]["tenure_months"] == 46
    assert card["customer"]["products_text"] == "your Mobile 10GB"
    for kind in CampaignKind:
        kinded = {
            **card,
            "campaign": {**card["campaign"], "kind": kind.value},
            "offer": {**card["offer"], "script_template": None},
        }
        html = render_call_script(
            kinded,
            agent_name="Ann Agent",
            company="Northwind & Co",
            company_phone="+18005550199",
            now=dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC),  # 10:00 in New York
        )
        assert "Good morning, this is Ann from Northwind &amp; Co." in html, kind
        assert "Eve &lt;b&gt;Bold&lt;/b&gt; *Star*?" in html, kind
        assert "<b>" not in html, kind
        assert "<em>Star</em>" not in html, kind
    # a list row cannot point the script at a page template
    card["offer"]["script_template"] = "pages/base.html.j2"
    html = render_call_script(
        card,
        agent_name="Ann",
        company="N",
        company_phone="1",
        now=dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC),
    )
    assert "<strong>Offer.</strong>" in html


def test_the_polled_call_carries_its_disposition_once_recorded(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    """An outcome recorded while the call is still the agent's (from a second tab, say)
    shows in the polled call, read with the call in one statement."""
    campaign_id, customers = _campaign(engine)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        attempt_id, _ = await _give_call(dialer, campaign_id, customers[0])
        assert (await _get(client, "/api/agent/call"))["call"]["disposition"] is None
        await _end_call(dialer, attempt_id)
        with transaction(engine) as session:
            record_disposition(
                session,
                attempt_id=attempt_id,
                agent_id=users[USERS["agent"][0]],
                code="refused",
                now=dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC),
                refusal_reason="price",
                funnel_stage="offer",
                notes="asked for a cheaper plan",
            )
        call = (await _get(client, "/api/agent/call"))["call"]
        assert call["attempt_id"] == attempt_id
        shown = call["disposition"]
        assert (shown["attempt_id"], shown["code"], shown["refusal_reason"]) == (
            attempt_id,
            "refused",
            "price",
        )
        assert (shown["funnel_stage"], shown["notes"]) == ("offer", "asked for a cheaper plan")
        assert dt.datetime.fromisoformat(shown["created_at"]) == dt.datetime(
            2026, 11, 25, 15, 0, tzinfo=dt.UTC
        )

    run_web(scenario)


def test_a_polling_console_reads_the_card_once_per_call(
    run_web: RunWeb, engine: Engine, users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id, customers = _campaign(engine)
    cards: list[int] = []
    real_card = call_view.customer_card

    def counted(session: Session, customer_id: int, *args: Any, **kwargs: Any) -> Any:
        cards.append(customer_id)
        return real_card(session, customer_id, *args, **kwargs)

    monkeypatch.setattr(call_view, "customer_card", counted)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        attempt_id, _ = await _give_call(dialer, campaign_id, customers[0])
        first = (await _get(client, "/api/agent/call"))["call"]
        again = (await _get(client, "/api/agent/call"))["call"]
        assert again == first  # the same card, offer and script, from the first read
        await _end_call(dialer, attempt_id)
        ended = (await _get(client, "/api/agent/call"))["call"]
        # the call's own facts are read every time: its end shows at once
        assert (ended["call_state"], ended["duration_s"]) == ("ended", 60)
        assert ended["card"] == first["card"]
        assert ended["script_html"] == first["script_html"]
        # the next call's card is read afresh
        status, _ = await _post(
            client, f"/api/attempts/{attempt_id}/disposition", token, {"code": "no_answer"}
        )
        assert status == 201
        second, _ = await _give_call(dialer, campaign_id, customers[1])
        other = (await _get(client, "/api/agent/call"))["call"]
        assert other["attempt_id"] == second

    run_web(scenario)
    assert cards == [customers[0], customers[1]]
