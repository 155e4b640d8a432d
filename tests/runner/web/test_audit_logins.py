"""Logins, failed logins, logouts and user changes on the audit trail, with the client's
address as the login throttle resolves it behind a trusted proxy; no password, and no
name nobody has, is written to it."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from runner.settings import Settings
from runner.web.login_throttle import digest
from runner.web.users import set_active, set_password
from store.audit import Actor, AuditFilter, list_events
from store.models import AuditEvent
from tests.runner.web_harness import PASSWORD, Client, RunWeb, login, login_as


def _events(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
    with Session(engine) as session:
        rows = reversed(list_events(session, AuditFilter()))
        return [(e.action, e.actor, e.address, e.target) for e in rows]


def test_logins_failed_logins_and_logouts_name_the_user_and_the_client_address(
    run_web: RunWeb, web_settings: Settings, engine: Engine, users: dict[str, int]
) -> None:
    behind = web_settings.model_copy(update={"trusted_proxies": ("127.0.0.0/8", "::1/128")})
    max_id = users["max"]

    async def scenario(client: Client) -> None:
        client.session.headers["X-Forwarded-For"] = "203.0.113.7"
        assert (await login(client, "max", "not the password")).status == 200
        assert (await login(client, "hunter2-typed-as-a-name", PASSWORD)).status == 200
        assert (await login(client, "ina")).status == 200  # disabled: a failure too
        token = await login_as(client, "manager")
        logout = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
        assert logout.status == 303

    run_web(scenario, settings=behind)
    unknown = f"unknown:{digest('hunter2-typed-as-a-name')}"
    assert _events(engine) == [
        ("login.failed", "max", "203.0.113.7", f"user:{max_id}"),
        ("login.failed", unknown, "203.0.113.7", None),
        ("login.failed", "ina", "203.0.113.7", f"user:{users['ina']}"),
        ("login", "max", "203.0.113.7", f"user:{max_id}"),
        ("logout", "max", "203.0.113.7", f"user:{max_id}"),
    ]
    with Session(engine) as session:
        stored = " ".join(str(row) for row in session.execute(select(AuditEvent)).all())
    assert "hunter2" not in stored
    assert PASSWORD not in stored


def test_user_changes_are_recorded_with_whoever_made_them(
    engine: Engine, users: dict[str, int]
) -> None:
    cli = Actor.cli()
    set_password(engine, "ann", "another horse battery", actor=cli)
    set_active(engine, "ann", active=False, actor=cli)
    set_active(engine, "ann", active=True, actor=cli)
    with Session(engine) as session:
        events = list(reversed(list_events(session, AuditFilter(actor=cli.label))))
    assert [(e.action, e.target, e.detail) for e in events] == [
        (action, f"user:{users['ann']}", {"username": "ann"})
        for action in ("user.password", "user.disable", "user.enable")
    ]
    assert events[0].address == cli.address
