"""Logging in and out, sessions, CSRF and the session key, through the app's test client."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from aiohttp import web
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select, update
from twilio.request_validator import RequestValidator

from runner.settings import Settings
from runner.web.access import ALL_ROLES
from runner.web.auth import SESSION_COOKIE
from runner.web.login import safe_next
from runner.web.session_key import (
    KEY_FILE,
    SecretKeyError,
    derive_session_key,
    session_fernet,
)
from runner.web.users import (
    UserError,
    add_user,
    hash_password,
    needs_rehash,
    set_active,
    set_password,
    verify_password,
)
from store.audit import Actor
from store.db import transaction
from store.models import Role, User
from tests.runner.web_harness import (
    PASSWORD,
    SECRET,
    Client,
    RunWeb,
    form_token,
    login,
    login_as,
    login_token,
)

# --- passwords ---------------------------------------------------------------------


def test_hashes_are_argon2_salted_and_verify_only_the_password() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second, "each hash has its own salt"
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD + "!")
    assert not verify_password("!", PASSWORD), "a locked account matches nothing"
    assert not needs_rehash(first)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak)


@pytest.mark.usefixtures("users")
def test_add_user_names_the_field_at_fault(engine: Engine) -> None:
    cases = [
        (("Bad Name!", "X Y", "agent", PASSWORD), "username"),
        (("ann", "Other Ann", "agent", PASSWORD), "username"),  # taken
        (("Ann", "Other Ann", "agent", PASSWORD), "username"),  # taken, whatever the case
        (("newbie", "   ", "agent", PASSWORD), "full_name"),
        (("newbie", "New Bie", "boss", PASSWORD), "role"),
        (("newbie", "New Bie", "agent", "short"), "password"),
    ]
    for args, field in cases:
        with pytest.raises(UserError) as caught:
            add_user(engine, *args, actor=Actor.cli())
        assert caught.value.field == field, args
        assert str(caught.value).startswith(f"{field}: ")
    user = add_user(engine, " NewBie ", " New Bie ", Role.RETENTION, PASSWORD, actor=Actor.cli())
    assert (user.username, user.full_name, user.role, user.active) == (
        "newbie",
        "New Bie",
        Role.RETENTION,
        True,
    )


# --- logging in ----------------------------------------------------------------------


def test_login_sets_a_safe_cookie_and_lands_on_the_role_home(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        response = await client.get("/login")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        for attribute in ("HttpOnly", "SameSite=Lax", "Max-Age=43200", "Path=/"):
            assert attribute in cookie
        assert "Secure" not in cookie, "PUBLIC_BASE_URL is http here"
        for role, home in (("agent", "/agent"), ("manager", "/manager")):
            client.session.cookie_jar.clear()
            response = await login(client, {"agent": "ann", "manager": "max"}[role])
            assert (response.status, response.headers["Location"]) == (303, home)
            page = await client.get(home)
            assert page.status == 200
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["X-Frame-Options"] == "DENY"
            root = await client.get("/", allow_redirects=False)
            assert root.headers["Location"] == home

    run_web(scenario)


def test_the_cookie_is_secure_behind_https(run_web: RunWeb, web_settings: Settings) -> None:
    async def scenario(client: Client) -> None:
        response = await client.get("/login")
        assert "Secure" in response.headers["Set-Cookie"]

    https = web_settings.model_copy(update={"public_base_url": "https://campaigns.example.com"})
    run_web(scenario, settings=https)


def test_a_failed_login_says_the_same_for_every_reason(
    run_web: RunWeb, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(client: Client) -> None:
        bodies = []
        for username, password in (
            ("ann", "not the password"),
            ("nobody", PASSWORD),
            ("ina", PASSWORD),  # inactive
        ):
            response = await login(client, username, password)
            assert response.status == 200
            body = await response.text()
            assert "The username or password is not right." in body
            bodies.append(body.replace(f'value="{username}"', 'value=""'))
            me = await client.get("/api/me")
            assert me.status == 401
        assert bodies[0] == bodies[1] == bodies[2], "nothing tells which part was wrong"

    with caplog.at_level(logging.DEBUG):
        run_web(scenario)
    for secret in ("not the password", PASSWORD, "nobody", "ina"):
        assert secret not in caplog.text


def test_missing_fields_are_named_next_to_the_field(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        token = await login_token(client)
        response = await client.post("/login", data={"username": "", "csrf_token": token})
        body = await response.text()
        assert '<p class="field-error" id="username-error">Enter your username.</p>' in body
        assert '<p class="field-error" id="password-error">Enter your password.</p>' in body
        assert 'aria-describedby="username-error"' in body

    run_web(scenario)


def test_logout_needs_the_token_and_ends_the_session(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        page = await (await client.get("/agent")).text()
        refused = await client.post("/logout", allow_redirects=False)
        assert refused.status == 403
        assert (await client.get("/agent", allow_redirects=False)).status == 200
        assert (await client.get("/logout")).status == 405
        response = await client.post(
            "/logout", data={"csrf_token": form_token(page)}, allow_redirects=False
        )
        assert (response.status, response.headers["Location"]) == (303, "/login")
        after = await client.get("/agent", allow_redirects=False)
        assert (after.status, after.headers["Location"]) == (302, "/login?next=/agent")

    run_web(scenario)


def test_a_logged_out_cookie_is_no_session(
    run_web: RunWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logging out ends the session for whoever kept a copy of the cookie, too."""
    from runner.web import access

    monkeypatch.setitem(access.ROUTE_ROLES, "api-echo", ALL_ROLES)

    async def scenario(client: Client) -> None:
        token = await login_as(client, "agent")
        kept = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]
        logged_out = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
        assert logged_out.status == 303
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: kept.value})
        assert (await client.get("/api/me")).status == 401
        echo = await client.post("/api/echo", json={}, headers={"X-CSRF-Token": token})
        assert echo.status == 401
        page = await client.get("/agent", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (302, "/login?next=/agent")
        # logging in again works, with a new cookie
        assert (await login_as(client, "agent")) != token

    run_web(scenario, extend=_with_echo)


def test_next_brings_you_back_but_never_off_site(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        refused = await client.get("/manager?tab=agents", allow_redirects=False)
        assert refused.status == 302
        location = refused.headers["Location"]
        assert location == "/login?next=/manager?tab%3Dagents"
        form = await (await client.get(location)).text()
        assert 'name="next" value="/manager?tab=agents"' in form
        response = await login(client, "max", next_url="/manager?tab=agents")
        assert response.headers["Location"] == "/manager?tab=agents"
        for evil in ("//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com"):
            client.session.cookie_jar.clear()
            response = await login(client, "max", next_url=evil)
            assert response.headers["Location"] == "/manager", evil
        # already logged in: the form sends you on
        again = await client.get("/login?next=/manager", allow_redirects=False)
        assert (again.status, again.headers["Location"]) == (302, "/manager")

    run_web(scenario)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/agent", "/agent"),
        ("/manager?tab=1#x", "/manager?tab=1#x"),
        ("", None),
        (None, None),
        ("agent", None),
        ("//evil.example.com", None),
        ("/\\evil.example.com", None),
        ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
        ("/\r\nSet-Cookie: x", None),
        ("https://evil.example.com/agent", None),
        ("javascript:alert(1)", None),
    ],
)
def test_safe_next_keeps_only_paths_on_this_site(value: str | None, safe: str | None) -> None:
    assert safe_next(value) == safe


def test_an_outdated_hash_is_upgraded_at_login(run_web: RunWeb, engine: Engine) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with transaction(engine) as session:
        session.execute(update(User).where(User.username == "ann").values(password_hash=weak))

    async def scenario(client: Client) -> None:
        assert (await login(client, "ann")).status == 303

    run_web(scenario)
    with transaction(engine) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
    assert stored is not None
    assert stored != weak
    assert not needs_rehash(stored)
    assert verify_password(stored, PASSWORD)


def test_a_deactivated_user_is_logged_out_at_the_next_request(
    run_web: RunWeb, engine: Engine
) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        with transaction(engine) as session:
            session.execute(update(User).where(User.username == "ann").values(active=False))
        response = await client.get("/agent", allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (302, "/login?next=/agent")
        assert (await client.get("/api/me")).status == 401

    run_web(scenario)


def test_a_new_password_or_a_disabled_user_ends_their_sessions(
    run_web: RunWeb, engine: Engine
) -> None:
    new_password = "another horse battery"

    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        set_password(engine, "ann", new_password, actor=Actor.cli())
        assert (await client.get("/api/me")).status == 401
        assert (await login(client, "ann", new_password)).status == 303
        assert (await client.get("/api/me")).status == 200
        kept = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]
        # let in again, the user does not get back the sessions they had before
        set_active(engine, "ann", active=False, actor=Actor.cli())
        set_active(engine, "ann", active=True, actor=Actor.cli())
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: kept.value})
        assert (await client.get("/api/me")).status == 401
        assert (await login(client, "ann", new_password)).status == 303

    run_web(scenario)
    with pytest.raises(UserError, match="no user is named 'nobody'"):
        set_active(engine, "nobody", active=False, actor=Actor.cli())


def test_a_forged_cookie_is_no_session(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        forged = Fernet(Fernet.generate_key()).encrypt(b'{"session": {"uid": 1}}').decode()
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: forged})
        assert (await client.get("/api/me")).status == 401

    run_web(scenario)


# --- CSRF ----------------------------------------------------------------------------


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _with_echo(app: web.Application) -> None:
    app.router.add_post("/api/echo", _echo, name="api-echo")


def test_login_needs_the_form_token(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        await login_token(client)
        form = {"username": "ann", "password": PASSWORD}
        for extra in ({}, {"csrf_token": "wrong"}):
            response = await client.post("/login", data={**form, **extra})
            assert response.status == 403
            assert "CSRF token" in await response.text()
        assert (await client.get("/api/me")).status == 401

    run_web(scenario)


def test_unsafe_api_calls_need_the_token(run_web: RunWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.web import access

    monkeypatch.setitem(access.ROUTE_ROLES, "api-echo", ALL_ROLES)

    async def scenario(client: Client) -> None:
        token = await login_as(client, "agent")
        missing = await client.post("/api/echo", json={})
        assert missing.status == 403
        body = await missing.json()
        assert body["error"] == "csrf"
        assert "X-CSRF-Token" in body["message"]
        wrong = await client.post("/api/echo", json={}, headers={"X-CSRF-Token": "x" + token})
        assert wrong.status == 403
        ok = await client.post("/api/echo", json={}, headers={"X-CSRF-Token": token})
        assert (ok.status, await ok.json()) == (200, {"ok": True})
        # the form field does as well as the header
        ok = await client.post("/api/echo", data={"csrf_token": token})
        assert ok.status == 200
        # another session's token is no good
        other = await login_as(client, "manager")
        assert other != token
        stale = await client.post("/api/echo", json={}, headers={"X-CSRF-Token": token})
        assert stale.status == 403

    run_web(scenario, extend=_with_echo)


def test_twilio_webhooks_and_the_probe_need_no_session_or_token(
    run_web: RunWeb, web_settings: Settings
) -> None:
    async def scenario(client: Client) -> None:
        health = await client.get("/healthz")
        assert health.status == 200
        assert "Set-Cookie" not in health.headers
        path = "/twilio/sms/status?attempt=999999"
        params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
        signature = RequestValidator(
            web_settings.twilio_auth_token.get_secret_value()
        ).compute_signature(web_settings.public_base_url + path, params)
        response = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        # past the middleware and Twilio's check, the handler looked for the attempt
        assert (response.status, await response.text()) == (404, "no attempt 999999")
        assert "Set-Cookie" not in response.headers
        unsigned = await client.post(path, data=params)  # no session, no token either
        assert unsigned.status == 403
        assert "X-Twilio-Signature" in await unsigned.text(), "refused by Twilio's check only"

    run_web(scenario)


# --- the session key -----------------------------------------------------------------


def test_the_session_key_is_derived_from_the_secret(tmp_path: Path) -> None:
    key = derive_session_key(SECRET)
    assert key == derive_session_key(SECRET)
    assert key != derive_session_key(SECRET + "x")
    assert len(key) == 44  # urlsafe base64 of 32 bytes
    settings = Settings(  # type: ignore[call-arg]
        TELECAMPAIGN_HOME=tmp_path, TELECAMPAIGN_SECRET_KEY=SECRET
    )
    token = session_fernet(settings).encrypt(b"cookie")
    assert session_fernet(settings).decrypt(token) == b"cookie", "every process reads it"
    assert not (tmp_path / KEY_FILE).exists()
    short = Settings(TELECAMPAIGN_HOME=tmp_path, TELECAMPAIGN_SECRET_KEY="short")  # type: ignore[call-arg]
    with pytest.raises(SecretKeyError, match="TELECAMPAIGN_SECRET_KEY is too short"):
        session_fernet(short)


def test_without_a_secret_a_private_key_file_is_made_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(TELECAMPAIGN_HOME=tmp_path / "home")  # type: ignore[call-arg]
    with caplog.at_level(logging.WARNING, logger="telecampaign.auth"):
        token = session_fernet(settings).encrypt(b"cookie")
    path = tmp_path / "home" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32
    assert "production must set TELECAMPAIGN_SECRET_KEY" in caplog.text
    assert secret not in caplog.text
    assert session_fernet(settings).decrypt(token) == b"cookie", "the same key next start"
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE], "no temporary left"
    path.write_text("\n")
    with pytest.raises(SecretKeyError, match="delete it"):
        session_fernet(settings)
