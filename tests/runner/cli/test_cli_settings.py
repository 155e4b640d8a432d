"""`telecampaign settings show|set|history` and `dialing` through typer's CliRunner: the
settings in force, a file taken as written, a bad file refused naming each field with
nothing changed, versions by who and when, and the carrier asked about caller IDs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from dialer.provider import TwilioProvider
from runner.cli.main import app
from store.audit import Actor
from tests.dialer.dial_base import build_running_campaign

CLI = Actor.cli().label
EXAMPLE = """\
calling_window:
  mon-fri: "09:30-19:45"
  sat: "10:00-13:00"
  sun: null
contact_cap: {contacts: 2, days: 21}
max_attempts: {per_day: 2, total: 5}
abandon_target: 0.02
costs: {contact: 1.25, offer: 35}
"""


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def written(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return str(path)


def test_a_campaigns_settings_set_from_the_documented_file(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    build_running_campaign(engine, 2, name="spring")
    code, out, err = invoke(env, "settings", "set", "spring", "--file", written(tmp_path, EXAMPLE))
    assert code == 0, err
    assert "version 1 in force from the next pacing tick" in out
    code, out, _ = invoke(env, "settings", "show", "spring", "--json")
    shown = json.loads(out)
    assert shown["version"] == 1
    assert shown["settings"]["calling_window"] == {
        "mon-fri": "09:30-19:45",
        "sat": "10:00-13:00",
        "sun": None,
    }
    assert shown["settings"]["max_attempts"] == {"per_day": 2, "total": 5}
    assert shown["settings"]["costs"] == {"contact": 1.25, "offer": 35.0}
    code, out, _ = invoke(env, "settings", "history", "spring", "--json")
    (version,) = json.loads(out)
    assert (version["version"], version["changed_by"]) == (1, CLI)
    # the dialing command changes the same settings, as a version of its own
    code, out, err = invoke(env, "dialing", "spring", "--pacing", "predictive", "--json")
    assert code == 0, err
    assert json.loads(out)["pacing"] == "predictive"
    code, out, _ = invoke(env, "settings", "history", "spring", "--json")
    assert [v["version"] for v in json.loads(out)] == [1, 2]
    code, out, _ = invoke(env, "audit", "--action", "settings.change", "--json")
    assert [event["detail"]["version"] for event in json.loads(out)] == [2, 1]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('calling_window: {mon: "19:00-09:00"}', "calling_window: mon: the window ends (09:00)"),
        ("contact_cap: {contacts: 0}", "contact_cap.contacts: Input should be greater than 0"),
        ('calling_window: {mo: "09:00-17:00"}', 'unknown weekday "mo"'),
        ("abandon_target: 0.04", "abandon_target: 0.04 is above the limit of 0.03 (TCPA"),
        ("calling_window: [", "not valid YAML at line 1"),
        ("- a list", "a mapping of settings"),
    ],
)
def test_a_bad_file_changes_nothing_and_names_the_field(
    env: dict[str, str], engine: Engine, tmp_path: Path, text: str, said: str
) -> None:
    build_running_campaign(engine, 2, name="spring")  # New York customers: the US profile
    code, _, err = invoke(env, "settings", "set", "spring", "--file", written(tmp_path, text))
    assert code == 1
    assert said in " ".join(err.split())
    code, out, _ = invoke(env, "settings", "show", "spring", "--json")
    assert json.loads(out)["version"] == 0


def test_site_wide_settings_and_a_caller_id_the_account_does_not_own(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def owned_numbers(self: TwilioProvider) -> list[str]:
        return ["+12125550100"]

    monkeypatch.setattr(TwilioProvider, "owned_numbers", owned_numbers)
    pool = 'caller_id: {numbers: ["+12125550100", "+13125550100"], local_presence: true}'
    code, _, err = invoke(env, "settings", "set", "--file", written(tmp_path, pool))
    assert code == 1
    assert "+13125550100: not a number the account owns" in err
    own = 'caller_id: {numbers: ["+1 212 555 0100"]}\nregulatory_profiles: {LT: uk}'
    code, out, err = invoke(env, "settings", "set", "--file", written(tmp_path, own))
    assert code == 0, err
    code, out, _ = invoke(env, "settings", "show", "--json")
    shown = json.loads(out)["settings"]
    assert shown["caller_id"]["numbers"] == ["+12125550100"]
    assert shown["regulatory_profiles"] == {"US": "us", "GB": "uk", "PL": "pl", "LT": "uk"}


def test_plan_takes_the_campaigns_own_settings_file(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = invoke(
        env,
        "plan",
        "--kind",
        "anti-churn",
        "--name",
        "x",
        "--settings",
        written(tmp_path, "contact_cap: {contacts: 0}"),
    )
    assert code == 1
    # nothing is scored yet either; whichever is said first, nothing is planned
    assert "contact_cap.contacts" in err or "no scores yet" in err
