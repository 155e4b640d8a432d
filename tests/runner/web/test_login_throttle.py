"""Login attempts are counted per username and per address before the password is
checked; the sixth for a username in 15 minutes is refused unchecked (an address, which a
call centre shares, is locked after more), however many arrive at once, and a successful
login clears the username's count."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from runner.settings import Settings
from runner.web.login_throttle import (
    ADDRESS_LIMIT,
    LOGIN_LIMIT,
    LOGIN_WINDOW,
    LoginAttempt,
    LoginLocked,
    LoginThrottle,
)
from runner.web.users import verify_password
from tests.runner.web_harness import PASSWORD, USERS, Client, RunWeb, login, login_token

WRONG = "not the password at all"
MAX = USERS["manager"][0]
RITA = USERS["retention"][0]


async def _fail(client: Client, username: str, times: int) -> None:
    for n in range(times):
        response = await login(client, username, WRONG)
        assert response.status == 200, n
        assert "The username or password is not right." in await response.text()


def _checking(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked from now on."""
    checked: list[str] = []

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password)
        return verify_password(password_hash, password)

    monkeypatch.setattr("runner.web.login.verify_password", counting)
    return checked


def test_the_sixth_failed_login_is_refused_even_with_the_right_password(
    run_web: RunWeb, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telecampaign.auth")

    async def scenario(client: Client) -> None:
        await _fail(client, MAX, LOGIN_LIMIT)
        refused = await login(client, MAX, PASSWORD)
        html = await refused.text()
        assert refused.status == 429
        assert 900 - 60 < int(refused.headers["Retry-After"]) <= LOGIN_WINDOW
        assert 'role="alert">Too many failed logins for this username: try again in 15 minutes' in (
            html
        )
        assert (await client.get("/api/me")).status == 401  # not logged in
        # a colleague at the same address still logs in: five failures do not lock it
        assert (await login(client, RITA, PASSWORD)).status == 303

    run_web(scenario)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "locked" in text
    assert PASSWORD not in text
    assert WRONG not in text
    for username in (MAX, RITA):  # a username only as a hash
        assert re.search(rf"\b{username}\b", text) is None, text


def test_a_successful_login_clears_the_count(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        await _fail(client, MAX, LOGIN_LIMIT - 1)
        assert (await login(client, MAX, PASSWORD)).status == 303
        client.session.cookie_jar.clear()
        # four more failures would make nine: still allowed, since the success cleared them
        await _fail(client, MAX, LOGIN_LIMIT - 1)
        assert (await login(client, MAX, PASSWORD)).status == 303
        client.session.cookie_jar.clear()
        await _fail(client, MAX, LOGIN_LIMIT)
        assert (await login(client, MAX, PASSWORD)).status == 429

    run_web(scenario)


def test_parallel_guesses_check_no_more_passwords_than_the_limit(
    run_web: RunWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt is counted before its password is checked, so 40 guesses sent at once
    cannot all be checked while the failures before them are still being counted."""
    checked = _checking(monkeypatch)
    # counting, not Redis's speed, is under test: on a loaded machine 40 logins at once
    # can keep the event loop from the throttle's answer for longer than its 2 s
    monkeypatch.setattr("runner.web.login_throttle.THROTTLE_TIMEOUT", 60.0)

    async def scenario(client: Client) -> None:
        form = {"username": MAX, "password": WRONG, "csrf_token": await login_token(client)}
        responses = await asyncio.gather(
            *(client.post("/login", data=form, allow_redirects=False) for _ in range(40))
        )
        statuses = sorted(response.status for response in responses)
        assert statuses == [200] * len(checked) + [429] * (40 - len(checked))
        for response in responses:
            if response.status == 429:
                assert "Too many failed logins for this username" in await response.text()
        assert (await login(client, MAX, PASSWORD)).status == 429

    run_web(scenario)
    assert 0 < len(checked) <= LOGIN_LIMIT


async def _refused_unavailable(client: Client) -> None:
    """Even the right password is refused, unchecked, while nothing can count attempts."""
    for password in (WRONG, PASSWORD):
        refused = await login(client, MAX, password)
        assert refused.status == 503
        assert "Sign-in is unavailable for a moment: try again shortly." in await refused.text()
    assert (await client.get("/api/me")).status == 401  # not logged in


def test_without_redis_logins_are_refused_unchecked(
    run_web: RunWeb, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing open would give anyone who can degrade Redis unlimited guesses."""

    async def unreachable(*args: object, **kwargs: object) -> LoginAttempt:
        raise RedisConnectionError("no Redis")

    monkeypatch.setattr(LoginThrottle, "reserve", unreachable)
    checked = _checking(monkeypatch)
    run_web(_refused_unavailable)
    assert checked == []
    assert "the login throttle cannot reach Redis (ConnectionError)" in caplog.text
    assert PASSWORD not in caplog.text


def test_a_redis_that_does_not_answer_refuses_logins_without_waiting_for_it(
    run_web: RunWeb, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Redis client retries a lost connection for about 25 s: the throttle does not wait
    that long (its own timeout, shortened here so the test does not wait either)."""

    async def hanging(*args: object, **kwargs: object) -> LoginAttempt:
        await asyncio.Event().wait()
        raise AssertionError("never set")

    monkeypatch.setattr(LoginThrottle, "reserve", hanging)
    monkeypatch.setattr("runner.web.login_throttle.THROTTLE_TIMEOUT", 0.05)
    checked = _checking(monkeypatch)
    run_web(_refused_unavailable)
    assert checked == []
    assert "the login throttle cannot reach Redis (TimeoutError)" in caplog.text


def test_username_and_address_are_counted_apart_and_forgotten_after_the_window(
    redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        redis = Redis.from_url(redis_url)
        throttle = LoginThrottle(redis, f"{redis_prefix}:throttle")

        async def attempt(username: str, address: str, now: float) -> LoginAttempt:
            reserved = await throttle.reserve(username, address, now)
            assert isinstance(reserved, LoginAttempt), (username, address, now)
            return reserved

        try:
            # five attempts for one name from five addresses: the fifth locks the name ...
            locks: list[str] = []
            for n in range(LOGIN_LIMIT):
                locks += (await attempt("max", f"10.0.0.{n}", now=1000.0 + n)).locks
            assert locks == ["username"]
            assert await throttle.reserve("max", "10.0.0.99", now=1010.0) == LoginLocked(
                "username", pytest.approx(LOGIN_WINDOW - 10)
            )
            # ... not the addresses, nor another name from them
            await attempt("rita", "10.0.0.1", now=1010.0)
            # once the first attempt is older than the window, the name is open again
            assert isinstance(
                await throttle.reserve("max", "10.0.0.99", 999.5 + LOGIN_WINDOW), LoginLocked
            )
            await attempt("max", "10.0.0.99", now=1000.0 + LOGIN_WINDOW)
            # many names failing from one address lock the address ...
            first = await attempt("someone", "10.9.9.9", now=5000.0)
            for n in range(ADDRESS_LIMIT - 1):
                last = await attempt(f"user{n}", "10.9.9.9", now=5000.0)
            assert last.locks == ("address",)
            locked = await throttle.reserve("anyone", "10.9.9.9", now=5001.0)
            assert isinstance(locked, LoginLocked)
            assert locked.which == "address"
            await attempt("anyone", "10.9.9.8", now=5001.0)
            # ... and a success among them takes back its own attempt, not the others
            await throttle.succeeded("someone", "10.9.9.9", first)
            await attempt("anyone", "10.9.9.9", now=5001.0)
            assert isinstance(await throttle.reserve("anyone", "10.9.9.9", 5001.0), LoginLocked)
            # attempts at once are counted one by one: no more than the limit get through
            at_once = await asyncio.gather(
                *(throttle.reserve("ann", f"10.5.5.{n}", now=6000.0) for n in range(40))
            )
            assert sum(isinstance(a, LoginAttempt) for a in at_once) == LOGIN_LIMIT
            # nothing readable is kept: the keys carry hashes
            keys = [k.decode() async for k in redis.scan_iter(f"{redis_prefix}:throttle:*")]
            assert keys
            assert not any("max" in k or "10.0.0" in k for k in keys)
        finally:
            await redis.aclose()

    asyncio.run(main())


# -- behind a reverse proxy --------------------------------------------------------------


def test_behind_the_trusted_proxy_each_client_address_is_counted_apart(
    run_web: RunWeb, web_settings: Settings
) -> None:
    """The test client is the proxy (127.0.0.1); the address it forwards is the client's."""
    behind = web_settings.model_copy(update={"trusted_proxies": ("127.0.0.0/8", "::1/128")})

    async def scenario(client: Client) -> None:
        forwarded = client.session.headers
        forwarded["X-Forwarded-For"] = "203.0.113.7"
        for n in range(ADDRESS_LIMIT):  # a different name each time: only the address locks
            await _fail(client, f"nobody-{n}", 1)
        refused = await login(client, MAX, PASSWORD)
        assert refused.status == 429
        assert "from this computer" in await refused.text()
        # another office behind the same proxy is not locked out with it
        forwarded["X-Forwarded-For"] = "198.51.100.20"
        assert (await login(client, MAX, PASSWORD)).status == 303
        # a request that did not come through the proxy is refused; its health check is not
        del forwarded["X-Forwarded-For"]
        assert (await client.get("/login")).status == 400
        assert (await client.get("/healthz")).status == 200

    run_web(scenario, settings=behind)


def test_forwarded_addresses_from_anyone_but_the_proxy_are_refused(
    run_web: RunWeb, web_settings: Settings
) -> None:
    behind = web_settings.model_copy(update={"trusted_proxies": ("10.0.0.0/8",)})

    async def scenario(client: Client) -> None:
        spoofed = await client.get("/login", headers={"X-Forwarded-For": "203.0.113.7"})
        assert spoofed.status == 400

    run_web(scenario, settings=behind)


def test_trusted_proxies_are_read_as_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECAMPAIGN_TRUSTED_PROXIES", " 10.0.0.5, 10.1.0.0/16,,::1 ")
    assert Settings().trusted_proxies == ("10.0.0.5/32", "10.1.0.0/16", "::1/128")
    monkeypatch.delenv("TELECAMPAIGN_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == ()
