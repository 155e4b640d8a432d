"""API keys: made, listed and revoked; sent as a bearer token, scoped by role, never with a
cookie, checked on every request, and every use on the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runner.web.api_keys import (
    ApiKeyError,
    add_api_key,
    check_key,
    list_api_keys,
    revoke_api_key,
)
from store.audit import Actor, AuditAction, AuditFilter, list_events
from store.db import transaction
from store.models import ApiKey, Campaign, CampaignKind, CampaignStatus, Role
from tests.runner.web_harness import Client, RunWeb, login_as

CLI = Actor.cli()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _uses(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = list_events(session, AuditFilter(actions=[AuditAction.APIKEY_USE.value]))
    return [{"actor": r.actor, **r.detail} for r in reversed(rows)]


def _planned(engine: Engine, name: str) -> int:
    with transaction(engine) as session:
        campaign = Campaign(name=name, kind=CampaignKind.CROSS_SELL, status=CampaignStatus.PLANNED)
        session.add(campaign)
        session.flush()
        return campaign.id


def test_only_the_hash_is_stored_and_a_key_is_found_by_it(engine: Engine) -> None:
    key, token = add_api_key(engine, " CRM-Sync ", "manager", CLI)
    assert (key.name, key.role, key.active) == ("crm-sync", Role.MANAGER, True)
    assert token.startswith(key.prefix + "_")
    assert len(token) > 50
    with Session(engine) as session:
        stored = session.scalars(select(ApiKey)).one()
        assert token not in (stored.token_hash, stored.prefix)
        assert check_key(session, token).key == key
        # the right prefix with another secret, a mangled key, a bare word: nothing
        for wrong in (token[:-4] + "AAAA", token[:20], "password", key.prefix + "_"):
            assert check_key(session, wrong).key is None
    with pytest.raises(ApiKeyError, match="taken"):
        add_api_key(engine, "crm-sync", "retention", CLI)
    with pytest.raises(ApiKeyError, match="role"):
        add_api_key(engine, "bi", "boss", CLI)
    with pytest.raises(ApiKeyError, match="name"):
        add_api_key(engine, "no spaces please", "manager", CLI)


def test_revoking_a_key_keeps_it_listed_and_its_name_taken(engine: Engine) -> None:
    _, token = add_api_key(engine, "crm", Role.RETENTION, CLI)
    add_api_key(engine, "bi", Role.RETENTION, CLI)
    revoked = revoke_api_key(engine, "crm", CLI)
    assert revoked.revoked_at is not None
    with Session(engine) as session:
        assert check_key(session, token).revoked
    assert [(k.name, k.active) for k in list_api_keys(engine)] == [("bi", True), ("crm", False)]
    with pytest.raises(ApiKeyError, match="revoked already"):
        revoke_api_key(engine, "crm", CLI)
    with pytest.raises(ApiKeyError, match="no API key"):
        revoke_api_key(engine, "nobody", CLI)
    with pytest.raises(ApiKeyError, match="taken"):
        add_api_key(engine, "crm", Role.RETENTION, CLI)
    with Session(engine) as session:
        actions = [e.action for e in list_events(session, AuditFilter())]
    assert actions == ["apikey.revoke", "apikey.add", "apikey.add"]


def test_a_key_opens_the_api_by_its_role_without_csrf_and_each_use_is_audited(
    run_web: RunWeb, engine: Engine
) -> None:
    spring = _planned(engine, "Spring")
    _, manager = add_api_key(engine, "crm", Role.MANAGER, CLI)
    _, retention = add_api_key(engine, "bi", Role.RETENTION, CLI)
    _, agent = add_api_key(engine, "robot", Role.AGENT, CLI)

    async def scenario(client: Client) -> None:
        me = await client.get("/api/me", headers=_bearer(manager))
        assert (me.status, await me.json()) == (200, {"api_key": "crm", "role": "manager"})
        assert me.headers["Cache-Control"] == "no-store"
        listed = await client.get("/api/campaigns", headers=_bearer(retention))
        assert listed.status == 200
        assert [c["name"] for c in (await listed.json())["campaigns"]] == ["Spring"]
        # a POST with a key needs no CSRF token
        launched = await client.post("/api/campaigns/Spring/launch", headers=_bearer(manager))
        assert (launched.status, (await launched.json())["status"]) == (200, "running")
        # too small a role: 403, as for a user of that role
        refused = await client.post("/api/campaigns/Spring/pause", headers=_bearer(retention))
        assert refused.status == 403
        assert "retention" in (await refused.json())["message"]
        assert (await client.get("/api/campaigns", headers=_bearer(agent))).status == 403
        # the console and the pages are for people: a key opens none of them
        assert (await client.get("/api/agent/state", headers=_bearer(agent))).status == 403
        page = await client.get("/manager", headers=_bearer(manager), allow_redirects=False)
        assert page.status == 403

    run_web(scenario)
    uses = _uses(engine)
    assert [(u["actor"], u["route"], u["method"], u["status"]) for u in uses] == [
        ("apikey:crm", "api-me", "GET", 200),
        ("apikey:bi", "api-campaigns", "GET", 200),
        ("apikey:crm", "api-campaign-move", "POST", 200),
        ("apikey:bi", "api-campaign-move", "POST", 403),
        ("apikey:robot", "api-campaigns", "GET", 403),
        ("apikey:robot", "agent-state", "GET", 403),
        ("apikey:crm", "manager-home", "GET", 403),
    ]
    with Session(engine) as session:
        launch = list_events(session, AuditFilter(actions=["launch"]))
    assert [(e.actor, e.actor_kind, e.target) for e in launch] == [
        ("apikey:crm", "apikey", f"campaign:{spring}")
    ]
    assert launch[0].address == "127.0.0.1"


def test_a_wrong_or_revoked_key_gets_401_at_once(run_web: RunWeb, engine: Engine) -> None:
    _, token = add_api_key(engine, "crm", Role.MANAGER, CLI)

    async def scenario(client: Client) -> None:
        assert (await client.get("/api/campaigns", headers=_bearer(token))).status == 200
        revoke_api_key(engine, "crm", CLI)  # straight in the store, as the CLI does
        revoked = await client.get("/api/campaigns", headers=_bearer(token))
        assert revoked.status == 401
        assert "revoked" in (await revoked.json())["message"]
        assert "invalid_token" in revoked.headers["WWW-Authenticate"]
        wrong = await client.get("/api/campaigns", headers=_bearer(token[:-6] + "abcdef"))
        assert wrong.status == 401
        for header in ("Bearer", "Bearer  ", "bearer tck_nothing"):
            bad = await client.get("/api/campaigns", headers={"Authorization": header})
            assert bad.status == 401, header
        # another scheme (a proxy's own password) is not a key: the session decides
        basic = {"Authorization": "Basic Y3JtOnNlY3JldA=="}
        anonymous = await client.get("/api/campaigns", headers=basic)
        assert (anonymous.status, (await anonymous.json())["message"]) == (
            401,
            "Log in first, at /login.",
        )
        await login_as(client, "retention")
        assert (await client.get("/api/campaigns", headers=basic)).status == 200

    run_web(scenario)
    # the revoked key's attempt is on the trail; an unknown key names nobody to record
    assert [(u["route"], u["status"]) for u in _uses(engine)] == [
        ("api-campaigns", 200),
        ("api-campaigns", 401),
    ]


def test_a_key_with_a_session_cookie_is_refused(run_web: RunWeb, engine: Engine) -> None:
    _, token = add_api_key(engine, "crm", Role.MANAGER, CLI)

    async def scenario(client: Client) -> None:
        csrf = await login_as(client, "manager")  # the client now holds a session cookie
        both = await client.get("/api/campaigns", headers=_bearer(token))
        assert both.status == 400
        assert (await both.json())["error"] == "ambiguous_credentials"
        posted = await client.post(
            "/api/campaigns/Spring/launch", headers={**_bearer(token), "X-CSRF-Token": csrf}
        )
        assert posted.status == 400
        # the session alone still works
        assert (await client.get("/api/campaigns")).status == 200

    run_web(scenario)
    assert _uses(engine) == []  # refused before any key was read
