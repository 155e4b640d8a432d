"""The site's erasure and retention: the store's functions with this site's key, folders
and periods, for the CLI and the web app alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from runner.settings import Settings
from runner.site_secrets import suppression_key
from store.db import transaction
from store.erasure import ErasureResult, erase_customers
from store.erasure_files import stored_files
from store.retention import purge_expired

__all__ = ["erase_in_store", "erase_on_request", "purge_now"]


def erase_on_request(session: Session, settings: Settings, ids: Iterable[str]) -> ErasureResult:
    """Erase these customers from the store and from the reject files and exports."""
    files = stored_files(session, (settings.rejects_dir, settings.exports_dir))
    return erase_customers(session, ids, key=suppression_key(settings), files=files)


def erase_in_store(engine: Engine, settings: Settings, ids: Iterable[str]) -> ErasureResult:
    """``erase_on_request`` in a transaction of its own: every id erased, or none."""
    with transaction(engine) as session:
        return erase_on_request(session, settings, ids)


def purge_now(session: Session, settings: Settings) -> dict[str, int]:
    """The retention purge the worker runs daily, run at once."""
    return purge_expired(
        session,
        settings.retention,
        now=dt.datetime.now(dt.UTC),
        reject_dirs=(settings.rejects_dir,),
        export_dirs=(settings.exports_dir,),
    )
