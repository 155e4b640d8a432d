"""Preview dialing through the console's API: the card first, then dial or skip; the
answer goes to the agent who dialed; the contact policy holds at preview and at dial;
personal call-backs reach their agent in any pacing mode."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from dialer.clock import DialerClock
from dialer.context import Dialer
from dialer.preview import SKIP_DELAY
from dialer.provider import agent_identity
from dialer.webhooks import DIALER
from store.audit import AuditAction, AuditFilter, list_events
from store.db import transaction
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Customer,
    DncChannel,
    DncEntry,
    EntryStatus,
    Exclusion,
    ExclusionReason,
    ListEntry,
)
from tests.dialer.dial_base import build_running_campaign
from tests.runner.web_harness import USERS, Client, RunWeb, login_as

S = AttemptStatus
# Tuesday 24 November 2026, 11:00 in New York: inside the calling window, no holiday
MORNING = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)


async def _post(client: Client, url: str, token: str, body: dict[str, Any]) -> Any:
    response = await client.post(url, json=body, headers={"X-CSRF-Token": token})
    return response.status, await response.json()


async def _twilio(client: Client, dialer: Dialer, path: str, params: dict[str, str]) -> str:
    """A request to a webhook, signed as Twilio signs it."""
    url = dialer.config.public_base_url + path
    signature = RequestValidator(dialer.config.auth_token).compute_signature(url, params)
    response = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status in (200, 204), await response.text()
    return await response.text()


def _entries(engine: Engine, campaign_id: int) -> dict[int, ListEntry]:
    with transaction(engine) as session:
        rows = session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id))
        return {entry.customer_id: entry for entry in rows}


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _do_not_call(engine: Engine, customer_id: int) -> None:
    with transaction(engine) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        assert customer.phone
        session.add(DncEntry(phone=customer.phone, channel=DncChannel.CALL, source="test"))


def _events(engine: Engine, agent_id: int) -> list[str]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(AgentEvent.state)
                .where(AgentEvent.agent_id == agent_id)
                .order_by(AgentEvent.id)
            )
        )


def test_an_agent_previews_skips_and_dials_and_the_answer_comes_to_them(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = build_running_campaign(
        engine, 4, kind=CampaignKind.ANTI_CHURN, pacing="preview", name="Preview list"
    )
    ann = users[USERS["agent"][0]]

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        dialer.clock = DialerClock.starting(MORNING)
        token = await login_as(client, "agent")
        status, _ = await _post(client, "/api/agent/preview/next", token, {})
        assert status == 409  # not ready on a campaign yet
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})

        status, first = await _post(client, "/api/agent/preview/next", token, {})
        assert status == 200, first
        assert first["state"]["state"] == "preview"
        shown = first["preview"]
        first_entry = shown["entry_id"]
        assert shown["card"]["customer"]["id"] in customers
        assert shown["script_html"]
        assert shown["offer"] is not None
        # asked again (a reload): the same customer, no second reservation
        _, again = await _post(client, "/api/agent/preview/next", token, {})
        assert again["preview"]["entry_id"] == first_entry
        call = await (await client.get("/api/agent/call")).json()
        assert (call["call"], call["preview"]["entry_id"]) == (None, first_entry)
        # each showing of a previewed card (no live call with the customer) is audited
        with Session(engine) as session:
            views = list_events(session, AuditFilter(actions=[AuditAction.CARD_VIEW.value]))
        assert len(views) == 3
        assert {(v.actor, v.target, v.detail["when"]) for v in views} == {
            (USERS["agent"][0], f"customer:{shown['card']['customer']['id']}", "preview")
        }
        # nothing was dialed by previewing
        with transaction(engine) as session:
            assert session.scalar(select(func.count()).select_from(Attempt)) == 0

        status, skipped = await _post(
            client, "/api/agent/preview/skip", token, {"entry_id": first_entry}
        )
        assert (status, skipped["state"]) == (200, "ready")
        with transaction(engine) as session:
            entry = session.get(ListEntry, first_entry)
            assert entry is not None
            assert entry.status is EntryStatus.PENDING
            assert entry.due_at is not None
            later = _aware(entry.due_at) - dialer.clock.utcnow()
            assert abs(later.total_seconds() - SKIP_DELAY.total_seconds()) < 60

        _, second = await _post(client, "/api/agent/preview/next", token, {})
        entry_id = second["preview"]["entry_id"]
        assert entry_id != first_entry  # the skipped customer waits its turn
        status, dialed = await _post(
            client, "/api/agent/preview/dial", token, {"entry_id": entry_id}
        )
        assert status == 201, dialed
        attempt_id = dialed["attempt_id"]
        assert (dialed["state"]["state"], dialed["state"]["attempt_id"]) == ("preview", attempt_id)
        # dialing twice places no second call
        status, twice = await _post(
            client, "/api/agent/preview/dial", token, {"entry_id": entry_id}
        )
        assert (status, twice["attempt_id"]) == (200, attempt_id)
        with transaction(engine) as session:
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None
            assert attempt.status is S.QUEUED
            assert session.scalar(select(func.count()).select_from(Attempt)) == 1
        assert await dialer.redis.exists("arq:job:" + dialer.job_id(f"call:{attempt_id}"))

        # another agent has waited longer, but the answer goes to the one who dialed
        await dialer.board.login(9999, campaign_id, dialer.clock.now() - 600)
        twiml = await _twilio(
            client,
            dialer,
            f"/twilio/voice/answer?attempt={attempt_id}",
            {"CallSid": "CA" + "1" * 32, "CallStatus": "in-progress"},
        )
        assert f"<Client>{agent_identity(ann)}</Client>" in twiml
        call = await (await client.get("/api/agent/call")).json()
        assert (call["state"]["state"], call["call"]["call_state"]) == ("talk", "connected")
        assert (await dialer.board.status(9999)).state.value == "ready"

        await _twilio(
            client,
            dialer,
            f"/twilio/voice/status?attempt={attempt_id}",
            {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "CallDuration": "95"},
        )
        status, done = await _post(
            client,
            f"/api/attempts/{attempt_id}/disposition",
            token,
            {"code": "accepted"},
        )
        assert status == 201, done
        state = await (await client.get("/api/agent/state")).json()
        assert state["state"] == "ready"

        # dialed and not answered: ready again at once, with nothing to wrap up
        _, third = await _post(client, "/api/agent/preview/next", token, {})
        status, dialed = await _post(
            client, "/api/agent/preview/dial", token, {"entry_id": third["preview"]["entry_id"]}
        )
        unanswered = dialed["attempt_id"]
        await _twilio(
            client,
            dialer,
            f"/twilio/voice/status?attempt={unanswered}",
            {"CallSid": "CA" + "2" * 32, "CallStatus": "no-answer"},
        )
        state = await (await client.get("/api/agent/state")).json()
        assert (state["state"], state["attempt_id"], state["entry_id"]) == ("ready", None, None)
        await dialer.board.logout(9999, dialer.clock.now())

    run_web(scenario)
    assert _events(engine, ann) == [
        "ready",  # login
        "preview",
        "ready",  # skip
        "preview",
        "talk",
        "wrap",
        "ready",  # disposition
        "preview",
        "ready",  # no answer
    ]


def test_the_contact_policy_holds_at_preview_and_at_dial(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = build_running_campaign(
        engine, 3, kind=CampaignKind.ANTI_CHURN, pacing="preview", name="Careful list"
    )
    first = customers[0]
    entries = _entries(engine, campaign_id)
    _do_not_call(engine, first)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        dialer.clock = DialerClock.starting(MORNING)
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        _, shown = await _post(client, "/api/agent/preview/next", token, {})
        # the do-not-call customer is never shown; the reason is kept
        assert shown["preview"]["card"]["customer"]["id"] != first
        previewed = shown["preview"]["entry_id"]
        customer = shown["preview"]["card"]["customer"]["id"]
        # a do-not-call request arrives while the agent reads the card: no dial
        _do_not_call(engine, customer)
        status, refused = await _post(
            client, "/api/agent/preview/dial", token, {"entry_id": previewed}
        )
        assert status == 409
        assert "contact policy holds" in refused["message"]
        assert "do not call" in refused["message"]
        state = await (await client.get("/api/agent/state")).json()
        assert state["state"] == "ready"
        # an entry id that is not due for this agent is named as the faulty field
        status, error = await _post(
            client, "/api/agent/preview/next", token, {"entry_id": entries[first].id}
        )
        assert (status, error["field"]) == (400, "entry_id")

    run_web(scenario)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 0
        reasons = session.scalars(
            select(Exclusion.reason).where(Exclusion.campaign_id == campaign_id)
        ).all()
    assert len(reasons) >= 2
    assert set(reasons) == {ExclusionReason.DO_NOT_CALL}
    still = _entries(engine, campaign_id)
    assert sum(e.status is EntryStatus.PENDING for e in still.values()) == 1


def test_own_callbacks_reach_their_agent_in_a_progressive_campaign(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = build_running_campaign(
        engine, 3, kind=CampaignKind.ANTI_CHURN, name="Dialing list"
    )
    ann = users[USERS["agent"][0]]
    entries = _entries(engine, campaign_id)
    mine = entries[customers[1]].id
    with transaction(engine) as session:
        entry = session.get(ListEntry, mine)
        assert entry is not None
        entry.status = EntryStatus.CALLBACK
        entry.assigned_agent_id = ann
        entry.due_at = MORNING - dt.timedelta(minutes=5)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        dialer.clock = DialerClock.starting(MORNING)
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        # the pacer dials the shared entries; only the agent's own call-back is theirs
        status, other = await _post(
            client, "/api/agent/preview/next", token, {"entry_id": entries[customers[0]].id}
        )
        assert (status, other["field"]) == (400, "entry_id")
        status, shown = await _post(client, "/api/agent/preview/next", token, {"entry_id": mine})
        assert status == 200, shown
        assert shown["preview"]["personal"] is True
        assert shown["preview"]["callback_at"]
        status, dialed = await _post(client, "/api/agent/preview/dial", token, {"entry_id": mine})
        assert status == 201, dialed
        # with the call-back taken there is nothing more for this agent to preview
        await _twilio(
            client,
            dialer,
            f"/twilio/voice/status?attempt={dialed['attempt_id']}",
            {"CallSid": "CA" + "3" * 32, "CallStatus": "busy"},
        )
        _, nothing = await _post(client, "/api/agent/preview/next", token, {})
        assert nothing["preview"] is None
        assert "No customer" in nothing["message"]

    run_web(scenario)
