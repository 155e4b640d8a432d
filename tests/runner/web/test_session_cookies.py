"""The session cookie is decrypted once per web process and still expires on time."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.fernet import Fernet

from runner.web.cookies import SessionCookies

COOKIE = "TC_TEST"


def storage(fernet: Fernet, max_age: int = 3600) -> SessionCookies:
    return SessionCookies(fernet, cookie_name=COOKIE, max_age=max_age)


def cookie_for(fernet: Fernet, data: dict[str, Any], at: int) -> str:
    plain = json.dumps({"created": at, "session": data}).encode()
    return fernet.encrypt_at_time(plain, at).decode()


def load(store: SessionCookies, cookie: str) -> Any:
    request = make_mocked_request("GET", "/", headers={"Cookie": f"{COOKIE}={cookie}"})
    return asyncio.run(store.load_session(request))


def test_a_cookie_is_decrypted_once_and_reads_the_same_each_time() -> None:
    fernet = Fernet(Fernet.generate_key())
    store = storage(fernet)
    cookie = cookie_for(fernet, {"user_id": 7}, at=int(1e9))
    with (
        mock.patch("time.time", return_value=1e9 + 10),
        mock.patch.object(fernet, "decrypt", wraps=fernet.decrypt) as decrypt,
    ):
        first, second = load(store, cookie), load(store, cookie)
    assert decrypt.call_count == 1
    assert first["user_id"] == second["user_id"] == 7
    assert not first.new
    assert not second.new
    second["user_id"] = 8  # a change to one request's session is not the next one's
    with mock.patch("time.time", return_value=1e9 + 20):
        assert load(store, cookie)["user_id"] == 7


def test_a_kept_cookie_expires_when_its_token_does() -> None:
    fernet = Fernet(Fernet.generate_key())
    store = storage(fernet, max_age=60)
    cookie = cookie_for(fernet, {"user_id": 7}, at=int(1e9))
    with mock.patch("time.time", return_value=1e9 + 30):
        assert load(store, cookie)["user_id"] == 7
    with mock.patch("time.time", return_value=1e9 + 61):
        late = load(store, cookie)
    assert late.new
    assert "user_id" not in late


@pytest.mark.parametrize("forged", ["not-a-token", "x" * 120])
def test_a_forged_cookie_gets_a_new_empty_session(forged: str) -> None:
    store = storage(Fernet(Fernet.generate_key()))
    for _ in range(2):
        session = load(store, forged)
        assert session.new
        assert "user_id" not in session
