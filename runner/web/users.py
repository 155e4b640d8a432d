"""People who log in to the web app: argon2 password hashes and the users table.

``add_user`` is the one way a user is created (the CLI and the tests use it); it checks
every field and raises ``UserError`` naming the field at fault. ``set_password`` and
``set_active`` are the ways one changes: each also ends the user's sessions
(``end_sessions``), so a cookie copied before the change opens nothing after it. Each
takes the ``actor`` who made the change, recorded on the audit trail with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner.web.field_error import FieldError
from store.audit import Actor, AuditAction, record
from store.db import transaction
from store.models import Role, User

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "UserError",
    "UserInfo",
    "add_user",
    "check_fields",
    "check_password",
    "check_user_exists",
    "check_username_free",
    "end_sessions",
    "hash_password",
    "list_users",
    "needs_rehash",
    "normalize_username",
    "set_active",
    "set_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10
# argon2 hashes whatever it is given: a cap keeps one login from costing a core for seconds
MAX_PASSWORD_LENGTH = 1024
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")

_hasher = PasswordHasher()


class UserError(FieldError):
    """A user's field is not acceptable; ``field`` names it, the message says why."""


@dataclass(frozen=True)
class UserInfo:
    """A user as the web app and the CLI show it (no password hash)."""

    id: int
    username: str
    full_name: str
    role: Role
    active: bool

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(user.id, user.username, user.full_name, user.role, user.active)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; a locked or malformed hash matches nothing."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehash at login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def normalize_username(username: str) -> str:
    return username.strip().lower()


def check_fields(username: str, full_name: str, role: Role | str) -> Role:
    """The role, once username (normalised), full name and role are acceptable."""
    if not USERNAME.fullmatch(username):
        raise UserError(
            "username",
            "use 2 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    if not full_name.strip():
        raise UserError("full_name", "give the person's full name")
    if len(full_name.strip()) > 200:
        raise UserError("full_name", "at most 200 characters")
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UserError("role", f"{role!r} is not a role; use one of: {roles}") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError("password", f"too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError("password", f"too long: use at most {MAX_PASSWORD_LENGTH} characters")


def check_username_free(engine: Engine, username: str) -> None:
    with Session(engine) as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise _taken(username)


def _taken(username: str) -> UserError:
    return UserError("username", f"{username!r} is taken; choose another username")


def check_user_exists(engine: Engine, username: str) -> None:
    with Session(engine) as session:
        if session.scalar(select(User.id).where(User.username == username)) is None:
            raise _unknown(username)


def _unknown(username: str) -> UserError:
    return UserError("username", f"no user is named {username!r}; `user list` lists them")


def add_user(
    engine: Engine,
    username: str,
    full_name: str,
    role: Role | str,
    password: str,
    *,
    actor: Actor,
) -> UserInfo:
    """Create an active user, on the audit trail as ``actor``'s doing; ``UserError`` names
    the field that is wrong or taken."""
    username = normalize_username(username)
    checked = check_fields(username, full_name, role)
    check_password(password)
    check_username_free(engine, username)
    user = User(
        username=username,
        full_name=full_name.strip(),
        role=checked,
        password_hash=hash_password(password),
        active=True,
    )
    try:
        with transaction(engine) as session:
            session.add(user)
            session.flush()
            detail = {"username": user.username, "role": checked.value}
            record(session, actor, AuditAction.USER_ADD, target=("user", user.id), detail=detail)
            return UserInfo.of(user)
    except IntegrityError:  # created by someone else since the check above
        raise _taken(username) from None


def list_users(engine: Engine) -> list[UserInfo]:
    with Session(engine) as session:
        users = session.scalars(select(User).order_by(User.role, User.username)).all()
        return [UserInfo.of(user) for user in users]


def end_sessions(session: Session, user_id: int) -> None:
    """Every session cookie of the user is logged out: the web app compares the session
    generation a cookie carries with the user's on every request."""
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
    )


def _change(
    engine: Engine, username: str, actor: Actor, action: AuditAction, **values: object
) -> UserInfo:
    """Set ``values`` on the user named ``username``, end their sessions, and record
    ``action`` by ``actor`` on the audit trail in the same transaction."""
    with transaction(engine) as session:
        user = session.scalars(
            select(User).where(User.username == normalize_username(username))
        ).first()
        if user is None:
            raise _unknown(username)
        for name, value in values.items():
            setattr(user, name, value)
        end_sessions(session, user.id)
        detail = {"username": user.username}
        record(session, actor, action, target=("user", user.id), detail=detail)
        return UserInfo.of(user)


def set_password(engine: Engine, username: str, password: str, *, actor: Actor) -> UserInfo:
    """A new password; whoever was logged in as the user (with the old one) is no longer."""
    check_password(password)
    hashed = hash_password(password)
    return _change(engine, username, actor, AuditAction.USER_PASSWORD, password_hash=hashed)


def set_active(engine: Engine, username: str, active: bool, *, actor: Actor) -> UserInfo:
    """Let the user log in, or not; either way their sessions end (a user let in again
    does not get back the sessions they had before)."""
    action = AuditAction.USER_ENABLE if active else AuditAction.USER_DISABLE
    return _change(engine, username, actor, action, active=active)
