"""Files with customer data are readable by their owner only, also when they replace one.

A file is written whole to a new 0600 file beside its target, which then takes the
target's name: a handle another user opened on the old file never sees the new data, a
planted symlink is replaced rather than followed, and a failed write leaves the old file.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.csv_out import csv_file
from store.db import make_engine
from store.migrate import upgrade
from store.private_files import (
    open_private,
    open_private_binary,
    private_database_file,
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


OLD = "customer_id,name\n1,Old Customer\n"
NEW = "customer_id,name\n2,New Customer\n"


def old_readable_file(path: Path) -> Path:
    """A file an earlier version or another tool left readable by every local user."""
    path.write_text(OLD, encoding="utf-8")
    path.chmod(0o644)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_handle_opened_on_the_old_file_never_sees_the_new_data(tmp_path: Path) -> None:
    path = old_readable_file(tmp_path / "export.csv")
    with path.open(encoding="utf-8") as theirs:  # another user's, while it was 0644
        write_private_text(path, NEW)
        assert theirs.read() == OLD
    assert path.read_text(encoding="utf-8") == NEW
    assert mode(path) == 0o600


def test_a_symlink_at_the_path_is_replaced_and_its_target_left_alone(tmp_path: Path) -> None:
    target = old_readable_file(tmp_path / "someone-elses.txt")
    link = tmp_path / "export.csv"
    link.symlink_to(target)
    write_private_text(link, NEW)
    assert not link.is_symlink()
    assert link.read_text(encoding="utf-8") == NEW
    assert mode(link) == 0o600
    assert target.read_text(encoding="utf-8") == OLD
    assert mode(target) == 0o644


def write_then_fail(opener: str, path: Path) -> None:
    if opener == "text":
        with open_private(path) as handle:
            handle.write(NEW)
            raise RuntimeError("the export failed")
    elif opener == "binary":
        with open_private_binary(path) as raw:
            raw.write(NEW.encode())
            raise RuntimeError("the export failed")
    else:  # the CSV writer exports stream through
        with csv_file(path) as out:
            out.writerow(["2", "New Customer"])
            raise RuntimeError("the export failed")


@pytest.mark.parametrize("opener", ["text", "binary", "csv"])
def test_an_exception_while_writing_leaves_the_old_file(tmp_path: Path, opener: str) -> None:
    path = old_readable_file(tmp_path / "export.csv")
    with pytest.raises(RuntimeError, match="the export failed"):
        write_then_fail(opener, path)
    assert path.read_text(encoding="utf-8") == OLD
    assert files_in(tmp_path) == ["export.csv"], "no new file is left behind"


def test_the_old_file_stays_until_the_new_one_is_closed(tmp_path: Path) -> None:
    """A streaming writer (the reject file, the demo data) closes the handle when done."""
    path = old_readable_file(tmp_path / "rejects.csv")
    handle = open_private(path, newline="")
    handle.write(NEW)
    handle.flush()
    assert path.read_text(encoding="utf-8") == OLD
    handle.close()
    assert path.read_text(encoding="utf-8") == NEW
    assert mode(path) == 0o600
    assert files_in(tmp_path) == ["rejects.csv"]


def test_a_handle_dropped_unclosed_leaves_the_old_file(tmp_path: Path) -> None:
    path = old_readable_file(tmp_path / "export.csv")
    handle = open_private_binary(path)
    handle.write(NEW.encode())
    del handle
    gc.collect()
    assert path.read_text(encoding="utf-8") == OLD
    assert files_in(tmp_path) == ["export.csv"]


def test_a_file_that_cannot_take_the_name_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.mkdir()
    with pytest.raises(IsADirectoryError), open_private(path) as handle:
        handle.write(NEW)
    assert files_in(tmp_path) == ["export.csv"]
    assert path.is_dir()


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


def test_narrowing_an_open_database_leaves_its_sqlite_locks_alone(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops the process's POSIX locks on it; if making a
    second engine did that, another process closing its last connection would think itself
    alone, check the write-ahead log in and delete it under this process's feet."""
    path = tmp_path / "store.db"
    mine = sqlite3.connect(path, isolation_level=None)
    mine.execute("PRAGMA journal_mode=WAL")
    mine.execute("CREATE TABLE t (x)")
    mine.execute("INSERT INTO t VALUES (1)")
    os.chmod(path, 0o644)  # so that there is something to narrow
    private_database_file(path)  # as a second engine of this process does
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('SELECT * FROM t').fetchall(); c.close()"
    )
    subprocess.run([sys.executable, "-c", other, str(path)], check=True)
    # the other process saw this one still connected: the log is still there
    assert Path(f"{path}-wal").exists()
    mine.close()
