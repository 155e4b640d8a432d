"""`telecampaign user add`, `list`, `password`, `disable` and `enable`, through typer's
CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from runner.cli.main import app
from runner.web.users import verify_password
from store.db import make_engine
from store.models import Role, User

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _user(db_url: str, username: str) -> User | None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return session.scalars(select(User).where(User.username == username)).first()
    finally:
        engine.dispose()


def test_add_with_password_stdin_then_list(env: dict[str, str], db_url: str) -> None:
    code, out, err = invoke(
        env,
        "user",
        "add",
        "Ann",
        "--role",
        "agent",
        "--name",
        "Ann Agent",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert "added ann (Ann Agent), role agent" in out
    assert PASSWORD not in out + err
    user = _user(db_url, "ann")
    assert user is not None
    assert (user.full_name, user.role, user.active) == ("Ann Agent", Role.AGENT, True)
    assert verify_password(user.password_hash, PASSWORD)

    code, out, _ = invoke(env, "user", "list")
    assert code == 0
    assert "ann" in out
    assert "Ann Agent" in out
    code, out, _ = invoke(env, "user", "list", "--json")
    assert json.loads(out) == [
        {"username": "ann", "full_name": "Ann Agent", "role": "agent", "active": True}
    ]


def test_add_asks_twice_at_a_hidden_prompt(env: dict[str, str], db_url: str) -> None:
    code, out, err = invoke(
        env,
        "user",
        "add",
        "max",
        "--role",
        "MANAGER",
        "--name",
        "Max Manager",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 0, err
    assert PASSWORD not in out, "the prompt does not echo"
    user = _user(db_url, "max")
    assert user is not None
    assert user.role is Role.MANAGER
    assert verify_password(user.password_hash, PASSWORD)


def test_no_password_ends_plainly(env: dict[str, str], db_url: str) -> None:
    add = ("user", "add", "max", "--role", "manager", "--name", "Max Manager")
    code, _, err = invoke(env, *add, stdin=f"{PASSWORD}\nsomething else\n")
    assert code == 1
    assert "no password given" in err
    code, _, err = invoke(env, *add, "--password-stdin", stdin="")
    assert code == 1
    assert "--password-stdin: no password on standard input" in err
    assert _user(db_url, "max") is None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("bad name", "--role", "agent", "--name", "X Y"), PASSWORD, "username: use 2 to 64"),
        (("newbie", "--role", "agent", "--name", "  "), PASSWORD, "full_name: give"),
        (("newbie", "--role", "agent", "--name", "New Bie"), "short", "password: too short"),
    ],
)
def test_mistakes_name_the_field(
    env: dict[str, str], args: tuple[str, ...], stdin: str, message: str
) -> None:
    code, out, err = invoke(env, "user", "add", *args, "--password-stdin", stdin=stdin + "\n")
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err


def test_a_taken_username_is_refused_before_the_password_is_asked(env: dict[str, str]) -> None:
    add = ("user", "add", "ann", "--role", "agent", "--name", "Ann Agent", "--password-stdin")
    assert invoke(env, *add, stdin=PASSWORD + "\n")[0] == 0
    code, _, err = invoke(env, "user", "add", "ANN", "--role", "retention", "--name", "Ann B")
    assert code == 1
    assert "username: 'ann' is taken" in err
    assert "Password" not in err


def test_an_unknown_role_lists_the_roles(env: dict[str, str]) -> None:
    code, _, err = invoke(
        env, "user", "add", "ann", "--role", "boss", "--name", "A B", "--password-stdin"
    )
    assert code == 2
    for role in Role:
        assert role.value in err


def test_list_without_users(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "user", "list")
    assert code == 0
    assert "no users yet" in out


def test_password_and_disable_end_the_users_sessions(env: dict[str, str], db_url: str) -> None:
    add = ("user", "add", "ann", "--role", "agent", "--name", "Ann Agent", "--password-stdin")
    assert invoke(env, *add, stdin=PASSWORD + "\n")[0] == 0
    generations = []

    def generation() -> int:
        user = _user(db_url, "ann")
        assert user is not None
        generations.append(user.session_generation)
        return user.session_generation

    generation()
    new = "another horse battery"
    code, out, err = invoke(env, "user", "password", "ANN", stdin=f"{new}\n{new}\n")
    assert code == 0, err
    assert "new password for ann; their sessions have ended" in out
    assert new not in out + err
    user = _user(db_url, "ann")
    assert user is not None
    assert verify_password(user.password_hash, new)
    generation()

    code, out, _ = invoke(env, "user", "disable", "ann")
    assert (code, "ann may no longer log in" in out) == (0, True)
    assert json.loads(invoke(env, "user", "list", "--json")[1])[0]["active"] is False
    generation()
    code, out, _ = invoke(env, "user", "enable", "ann")
    assert (code, "ann may log in again" in out) == (0, True)
    assert json.loads(invoke(env, "user", "list", "--json")[1])[0]["active"] is True
    assert generation() == generations[0] + 3, generations


@pytest.mark.parametrize("command", ["password", "disable", "enable"])
def test_an_unknown_user_is_named(env: dict[str, str], command: str) -> None:
    code, out, err = invoke(env, "user", command, "nobody")
    assert code == 1
    assert "username: no user is named 'nobody'" in err
    assert "Password" not in out + err, "said before a password is typed"
    assert "Traceback" not in out + err
