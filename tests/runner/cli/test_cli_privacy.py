"""`telecampaign customer erase`, `customer export` and `retention purge`, as a data
protection officer runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli.main import app
from tests.store.import_files import CUSTOMERS, MATRIX, PRODUCTS


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}
    for kind, text in (("products", PRODUCTS), ("matrix", MATRIX), ("customers", CUSTOMERS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        code, _, err = invoke(env, "import", kind, str(path))
        assert code == 0, err
    return env


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_export_prints_everything_stored_about_the_person(env: dict[str, str]) -> None:
    code, out, err = invoke(env, "customer", "export", "C1")
    assert code == 0, err
    record = json.loads(out)
    customer = record["customer"]
    assert (customer["name"], customer["phone"], customer["region"]) == (
        "Ann Lee",
        "+14155550134",
        "CA",
    )
    assert record["segment"] == "B2C_YOUNG"
    # every table that refers to a customer answers, even with nothing in it
    assert {"holdings", "billing", "interactions", "attempts", "dispositions"} <= set(record)
    assert {"inbound_messages", "dnc_entries", "list_entries", "scores"} <= set(record)


def test_export_to_a_file_is_owner_only(env: dict[str, str], tmp_path: Path) -> None:
    out_file = tmp_path / "ann.json"
    code, out, err = invoke(env, "customer", "export", "C1", "--out", str(out_file))
    assert code == 0, err
    assert "C1" in out
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert json.loads(out_file.read_text(encoding="utf-8"))["customer"]["name"] == "Ann Lee"


def test_erase_from_a_file_lists_unknown_ids(env: dict[str, str], tmp_path: Path) -> None:
    ids = tmp_path / "requests.csv"
    ids.write_text("customer_id,received\nC2,2026-11-30\nC404,2026-12-01\n", encoding="utf-8")
    code, out, err = invoke(env, "customer", "erase", "C1", "--file", str(ids))
    assert code == 0, err
    assert "erased (2): C1, C2" in out
    assert "not found, nothing done (1): C404" in out
    code, out, err = invoke(env, "customer", "erase", "C1", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "erased": [],
        "already_erased": ["C1"],
        "unknown": [],
        "removed": {},
    }
    code, _, err = invoke(env, "customer", "export", "C1")
    assert code == 1
    assert "no customer with id 'C1'" in err
    key = Path(env["TELECAMPAIGN_HOME"]) / "erasure.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_an_erased_customer_is_not_imported_again(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "customer", "erase", "C1")
    again = tmp_path / "again.csv"
    again.write_text(CUSTOMERS, encoding="utf-8")
    code, out, err = invoke(env, "import", "customers", str(again), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["rejected"], result["unchanged"]) == (1, 2)
    rejects = Path(result["rejects_file"]).read_text(encoding="utf-8")
    assert "erased on request" in rejects
    assert "Ann Lee" not in rejects


def test_erase_without_ids_says_what_to_give(env: dict[str, str]) -> None:
    code, _, err = invoke(env, "customer", "erase")
    assert code == 1
    assert "no customer ids given" in err


def test_retention_purge_prints_the_counts(env: dict[str, str]) -> None:
    code, out, err = invoke(env, "retention", "purge", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "attempt_phones": 0,
        "notes": 0,
        "message_bodies": 0,
        "reject_files": 0,
        "exports": 0,
    }
    code, out, err = invoke(env, "retention", "purge")
    assert code == 0, err
    assert "message_bodies: 0 removed (kept 90 days)" in out
