"""The call as the agent console polls it: the customer card and the call script for
every campaign kind, the disposition once recorded, and the card read once per call."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.dispositions import record_disposition
from dialer.webhooks import DIALER
from runner.web import call_view
from runner.web.call_script import render_call_script
from runner.web.card import customer_card
from store.audit import AuditAction, AuditFilter, list_events
from store.db import transaction
from store.models import CampaignKind
from tests.runner.web.console_base import _campaign, _end_call, _get, _give_call, _post
from tests.runner.web_harness import USERS, Client, RunWeb, login_as


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


def _card_views(engine: Engine) -> list[tuple[str, str | None, dict[str, Any]]]:
    with Session(engine) as session:
        rows = list_events(session, AuditFilter(actions=[AuditAction.CARD_VIEW.value]))
    return [(r.actor, r.target, r.detail) for r in reversed(rows)]


def test_a_card_read_after_its_call_has_ended_is_audited_and_a_live_one_is_not(
    run_web: RunWeb, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = _campaign(engine)

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        token = await login_as(client, "agent")
        await _post(client, "/api/agent/login", token, {"campaign_id": campaign_id})
        attempt_id, _ = await _give_call(dialer, campaign_id, customers[0])
        await _get(client, "/api/agent/call")  # on the call: part of the call
        assert _card_views(engine) == []
        await _end_call(dialer, attempt_id)
        await _get(client, "/api/agent/call")  # still on screen from the call
        assert _card_views(engine) == []
        client.server.app[call_view.CALL_VIEWS].clear()  # the console reloaded later
        ended = (await _get(client, "/api/agent/call"))["call"]
        assert ended["call_state"] == "ended"

    run_web(scenario)
    ((actor, target, detail),) = _card_views(engine)
    assert (actor, target) == (USERS["agent"][0], f"customer:{customers[0]}")
    assert detail["campaign_id"] == campaign_id
    assert detail["when"] == "after the call"
    assert isinstance(detail["attempt_id"], int)
