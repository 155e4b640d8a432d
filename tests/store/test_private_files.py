"""Files with customer data are readable by their owner only, also when they replace one."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.db import make_engine
from store.migrate import upgrade
from store.private_files import (
    open_private,
    open_private_binary,
    private_folder,
    write_private_text,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The common umask 022, which is what made these files 0644 and folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_file_and_its_new_folders_are_private(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)
    path = mine / "a" / "b" / "list.csv"
    write_private_text(path, "customer_id,name\n")
    assert mode(path) == 0o600
    assert mode(mine / "a") == mode(mine / "a" / "b") == 0o700
    assert mode(mine) == 0o755, "a folder that was there is the user's own"


@pytest.mark.parametrize("opener", ["text", "binary"])
def test_overwriting_a_readable_file_makes_it_private(tmp_path: Path, opener: str) -> None:
    path = tmp_path / "export.csv"
    path.write_text("old contents, longer than the new ones\n", encoding="utf-8")
    path.chmod(0o644)
    if opener == "text":
        with open_private(path, newline="") as handle:
            handle.write("new\n")
    else:
        with open_private_binary(path) as raw:
            raw.write(b"new\n")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "new\n"


def test_a_folder_is_made_private_or_narrowed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert private_folder(home) == home
    assert mode(home) == 0o700
    home.chmod(0o755)
    private_folder(home)
    assert mode(home) == 0o700


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "telecampaign.db"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM alembic_version").all()
        assert mode(tmp_path / "telecampaign.db-wal") == 0o600
    engine.dispose()


def test_an_existing_readable_database_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    upgrade(f"sqlite:///{path}")
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600
