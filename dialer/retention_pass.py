"""The daily retention purge as a worker cron job: contact data past its period removed,
the counts recorded in ``retention_runs`` and logged (counts only, never the data)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dialer.context import Dialer, DialerConfig
from store.db import transaction
from store.retention import purge_expired

__all__ = ["purge_retention"]

log = logging.getLogger("telecampaign.retention")


async def purge_retention(ctx: dict[str, Any]) -> dict[str, int]:
    """Remove what has outlived its retention period (daily).

    Periods are in real days, whatever the dialer's clock says: they are the site's
    promise about stored data, not campaign time.
    """
    dialer: Dialer = ctx["dialer"]
    # a thread and transaction apart: a large purge must not hold the dialer's writes
    removed = await dialer.gateway.batch(_purge, dialer.config)
    log.info("retention purge removed %s", removed)
    return removed


def _purge(engine: Engine, config: DialerConfig) -> dict[str, int]:
    with transaction(engine) as session:
        return purge_expired(
            session,
            config.retention,
            now=dt.datetime.now(dt.UTC),
            reject_dirs=[Path(d) for d in config.reject_dirs],
            export_dirs=[Path(d) for d in config.export_dirs],
        )
