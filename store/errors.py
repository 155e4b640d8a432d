"""Errors the store raises for people to read.

    StoreError
    ├── ImportFileError      the file cannot be used at all; nothing was written
    │   └── MappingError     the mapping file is malformed or names unknown fields
    └── SchemaNotReadyError  the database was never migrated, or is behind the code

Row-level problems are not exceptions: they become rows of the reject file.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class for errors a user can act on."""


class ImportFileError(StoreError):
    """The input file cannot be imported; the message says why and what to do."""


class MappingError(ImportFileError):
    """The mapping file is malformed."""


class SchemaNotReadyError(StoreError):
    """The database schema is missing or older than this version of telecampaign."""
