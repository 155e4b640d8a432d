"""API keys for machine clients (a CRM, a BI tool): made and revoked by a manager, sent as
``Authorization: Bearer tck_<id>_<secret>``.

A key is 32 random bytes (``secrets.token_urlsafe``) behind a public prefix,
``tck_<12 hex>``, which finds its row; only the SHA-256 of the whole key is stored and it
is compared in constant time. A fast hash is right here where it would be wrong for a
password: a password is guessable, so its hash must be slow (argon2) to make an offline
guess costly; a key is 256 random bits, which no guessing reaches at any speed, and a
fast hash keeps every API request cheap. The key is shown once, when it is made.

A key has a role, like a user's, and ``runner.web.access`` decides what it may open. It is
read from the store on every request, so a revoked key is refused at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner.web.field_error import FieldError
from runner.web.users import USERNAME
from store.audit import Actor, AuditAction, record
from store.db import transaction
from store.models import ApiKey, AuditEvent, Role

__all__ = [
    "KEY_PREFIX",
    "ApiKeyError",
    "ApiKeyInfo",
    "KeyCheck",
    "add_api_key",
    "check_key",
    "list_api_keys",
    "revoke_api_key",
]

KEY_PREFIX = "tck_"
_PREFIX_BYTES = 6  # the public part: 12 hex digits after KEY_PREFIX


class ApiKeyError(FieldError):
    """A key's field is not acceptable, or no such key; ``field`` names the field."""


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as the CLI, the pages and the middleware see it (never its secret)."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None = None

    @classmethod
    def of(cls, key: ApiKey, last_used_at: dt.datetime | None = None) -> ApiKeyInfo:
        return cls(
            key.id,
            key.name,
            key.role,
            key.prefix,
            key.created_at,
            key.created_by,
            key.revoked_at,
            last_used_at,
        )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict[str, object]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "name": self.name,
            "role": self.role.value,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    """(prefix, key): the prefix is the key's public part, stored in clear."""
    prefix = f"{KEY_PREFIX}{secrets.token_hex(_PREFIX_BYTES)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def _checked(name: str, role: Role | str) -> tuple[str, Role]:
    name = name.strip().lower()
    if not USERNAME.fullmatch(name):
        raise ApiKeyError(
            "name",
            "use 2 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. crm-sync)",
        )
    try:
        return name, Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ApiKeyError("role", f"{role!r} is not a role; use one of: {roles}") from None


def add_api_key(
    engine: Engine, name: str, role: Role | str, actor: Actor
) -> tuple[ApiKeyInfo, str]:
    """Make a key; returns it with the key itself, which is never shown again."""
    name, checked = _checked(name, role)
    prefix, token = _new_token()
    key = ApiKey(
        name=name,
        role=checked,
        prefix=prefix,
        token_hash=_digest(token),
        created_by=actor.label[:120],
    )
    try:
        with transaction(engine) as session:
            if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
                raise _taken(name)
            session.add(key)
            session.flush()
            record(
                session,
                actor,
                AuditAction.APIKEY_ADD,
                target=("apikey", key.id),
                detail={"name": name, "role": checked.value},
            )
            return ApiKeyInfo.of(key), token
    except IntegrityError:  # made by someone else since the check
        raise _taken(name) from None


def _taken(name: str) -> ApiKeyError:
    return ApiKeyError(
        "name", f"{name!r} is taken (names of revoked keys stay taken); choose another name"
    )


def list_api_keys(engine: Engine) -> list[ApiKeyInfo]:
    """Every key, active ones first, each with when it was last used (from the trail)."""
    last_used = (
        select(AuditEvent.api_key_id, func.max(AuditEvent.at).label("at"))
        .where(AuditEvent.action == AuditAction.APIKEY_USE.value)
        .group_by(AuditEvent.api_key_id)
        .subquery()
    )
    statement = (
        select(ApiKey, last_used.c.at)
        .outerjoin(last_used, last_used.c.api_key_id == ApiKey.id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.name)
    )
    with Session(engine) as session:
        return [ApiKeyInfo.of(key, at) for key, at in session.execute(statement)]


def revoke_api_key(engine: Engine, name: str, actor: Actor) -> ApiKeyInfo:
    """Revoke the key named ``name``: its next request gets 401."""
    name = name.strip().lower()
    with transaction(engine) as session:
        key = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
        if key is None:
            raise ApiKeyError("name", f"no API key is named {name!r}; `apikey list` lists them")
        if key.revoked_at is not None:
            raise ApiKeyError(
                "name", f"{name!r} was revoked already, at {key.revoked_at:%Y-%m-%d %H:%M} UTC"
            )
        key.revoked_at = dt.datetime.now(dt.UTC)
        record(
            session,
            actor,
            AuditAction.APIKEY_REVOKE,
            target=("apikey", key.id),
            detail={"name": name},
        )
        return ApiKeyInfo.of(key)


@dataclass(frozen=True)
class KeyCheck:
    """What a bearer token turned out to be: a key, revoked or not, or nothing known."""

    key: ApiKeyInfo | None
    revoked: bool = False


def check_key(session: Session, token: str) -> KeyCheck:
    """The key ``token`` is, found by its prefix and compared by hash in constant time."""
    cut = len(KEY_PREFIX) + 2 * _PREFIX_BYTES
    prefix, secret = token[:cut], token[cut + 1 :]
    if not prefix.startswith(KEY_PREFIX) or token[cut : cut + 1] != "_" or not secret:
        return KeyCheck(None)
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or not hmac.compare_digest(key.token_hash, _digest(token)):
        return KeyCheck(None)
    return KeyCheck(ApiKeyInfo.of(key), revoked=key.revoked_at is not None)
