"""A small demo store, built once per test run: 800 generated customers, imported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts.demo_data import generate
from store.db import make_engine
from store.importer import KINDS, import_file


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """Path of a SQLite database holding an imported demo base (treat as read-only)."""
    folder = tmp_path_factory.mktemp("demo-store")
    generate(folder / "data", 800, 4)
    path = folder / "store.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    for kind in KINDS:
        import_file(engine, kind, folder / "data" / f"{kind}.csv", rejects_dir=folder)
    engine.dispose()
    return path


@pytest.fixture
def demo_copy(demo_store: Path, tmp_path: Path) -> Path:
    """A copy of the demo store that a test may change."""
    path = tmp_path / "store.db"
    shutil.copy(demo_store, path)
    return path
