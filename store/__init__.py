"""The store: models, engine and sessions, migrations, and the CSV importer.

Every other stage reads and writes through these models; nothing here imports a later
stage. The names below load on first use (PEP 562), so that importing the models does
not load the importer's CSV machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "KINDS": "store.importer",
    "ImportFileError": "store.errors",
    "ImportResult": "store.importer",
    "MappingError": "store.errors",
    "SchemaNotReadyError": "store.errors",
    "StoreError": "store.errors",
    "ensure_schema": "store.importer",
    "import_file": "store.importer",
    "make_engine": "store.db",
    "session_factory": "store.db",
    "transaction": "store.db",
    "upgrade": "store.migrate",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
