"""The session cookie's storage: aiohttp-session's encrypted cookie, each cookie decrypted once.

A console sends the same session cookie with every request (a polling console once a
second), and a Fernet decryption is the largest single cost of an authenticated request
after its store read. ``SessionCookies`` keeps the plaintext of the cookies it has
decrypted, keyed by the whole cookie value, until the token's own expiry
(``max_age`` after it was issued), so each cookie is decrypted once per web process.

Nothing changes in what is accepted: a key is a cookie value that decrypted and verified
before (the same value always decrypts to the same plaintext), an expired token is
dropped at its expiry exactly as Fernet's ``ttl`` check would refuse it, and anything
not in the cache takes aiohttp-session's own path.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cachetools import LRUCache
from cryptography.fernet import InvalidToken

__all__ = ["SessionCookies"]

KEPT = 20_000  # cookies kept per web process: a few per agent (one per login)


class SessionCookies(EncryptedCookieStorage):
    """``EncryptedCookieStorage`` that decrypts each cookie value once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # cookie value -> (plaintext, expiry as time.time())
        self._plain: LRUCache[str, tuple[str, float]] = LRUCache(KEPT)

    async def load_session(self, request: web.Request) -> Session:
        cookie = self.load_cookie(request)
        if cookie is None or self.max_age is None:
            return await super().load_session(request)
        kept = self._plain.get(cookie)
        if kept is not None:
            plain, expires = kept
            if time.time() < expires:
                return Session(None, data=self._decoder(plain), new=False, max_age=self.max_age)
            del self._plain[cookie]
        token = cookie.encode("utf-8")
        try:
            plain = self._fernet.decrypt(token, ttl=self.max_age).decode("utf-8")
            issued = self._fernet.extract_timestamp(token)
        except InvalidToken:
            return await super().load_session(request)  # a fresh session, logged as before
        self._plain[cookie] = (plain, issued + self.max_age)
        return Session(None, data=self._decoder(plain), new=False, max_age=self.max_age)
