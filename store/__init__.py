"""The store: models, engine and sessions, migrations, and the CSV importer.

Every other stage reads and writes through these models; nothing here imports a later
stage.
"""

from store.db import make_engine, session_factory, transaction
from store.errors import ImportFileError, MappingError, SchemaNotReadyError, StoreError
from store.importer import KINDS, ImportResult, ensure_schema, import_file
from store.migrate import upgrade

__all__ = [
    "KINDS",
    "ImportFileError",
    "ImportResult",
    "MappingError",
    "SchemaNotReadyError",
    "StoreError",
    "ensure_schema",
    "import_file",
    "make_engine",
    "session_factory",
    "transaction",
    "upgrade",
]
