"""`telecampaign apikey` and `telecampaign audit` through typer's CliRunner; the CLI's own
changes and imports are on the trail as cli:OSUSER."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from runner.cli.main import app
from runner.web.api_keys import check_key
from store.audit import Actor
from store.db import make_engine
from store.models import ApiKey

CLI = Actor.cli().label


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_apikey_add_prints_the_key_once_then_list_and_revoke(
    env: dict[str, str], db_url: str
) -> None:
    code, out, err = invoke(env, "apikey", "add", "crm-sync", "--role", "retention")
    assert code == 0, err
    token = next(line for line in out.splitlines() if line.startswith("tck_"))
    engine = make_engine(db_url)
    with Session(engine) as session:
        assert check_key(session, token).key is not None
        assert session.scalars(select(ApiKey.token_hash)).one() != token
    engine.dispose()

    code, out, _ = invoke(env, "apikey", "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["name"], listed["role"], listed["revoked_at"]) == ("crm-sync", "retention", None)
    assert listed["created_by"] == CLI
    assert token not in out
    code, out, err = invoke(env, "apikey", "add", "crm-sync", "--role", "manager")
    assert code == 1
    assert "is taken" in err
    code, out, err = invoke(env, "apikey", "revoke", "crm-sync")
    assert (code, "revoked crm-sync" in out) == (0, True), err
    code, out, _ = invoke(env, "apikey", "list")
    assert "crm-sync" in out
    code, _, err = invoke(env, "apikey", "revoke", "nobody")
    assert code == 1
    assert "no API key is named 'nobody'" in err


def test_audit_lists_filters_and_prints_json(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "apikey", "add", "crm", "--role", "manager")
    invoke(env, "apikey", "revoke", "crm")
    csv = tmp_path / "products.csv"
    csv.write_text("product_code,name,family,tier,monthly_price,monthly_margin\n", encoding="utf-8")
    invoke(env, "import", "products", str(csv))

    code, out, err = invoke(env, "audit", "--json", "--user", CLI)
    assert code == 0, err
    events = json.loads(out)
    assert [e["action"] for e in events] == ["import", "apikey.revoke", "apikey.add"]
    assert events[0]["detail"]["kind"] == "products"
    assert {e["actor"] for e in events} == {CLI}
    code, out, _ = invoke(env, "audit", "--json", "--action", "apikey.add")
    assert [e["action"] for e in json.loads(out)] == ["apikey.add"]
    code, out, _ = invoke(env, "audit", "--json", "--since", "2999-01-01")
    assert json.loads(out) == []
    code, out, _ = invoke(env, "audit", "--user", "nobody")
    assert "no audit events match" in out
    code, out, _ = invoke(env, "audit")
    assert "apikey.revoke" in out
    code, _, err = invoke(env, "audit", "--since", "last week")
    assert code == 1
    assert "not a date" in err
    code, _, err = invoke(env, "audit", "--action", "everything")
    assert code == 1
    assert "no action 'everything'" in err
