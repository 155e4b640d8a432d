"""A scored SQLite store from a folder of demo data, for evaluation scripts and benchmarks.

Imports every kind in the importer's order, trains the churn model, the uplift model
(from the folder's history.csv) and scores the base: what `telecampaign demo` does,
without the printing. An existing store file is reused as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from scoring.churn import score, train
from scoring.errors import NotEnoughDataError
from scoring.retention_uplift import train_uplift
from store.db import make_engine
from store.importer import KINDS, import_file
from store.migrate import upgrade

__all__ = ["prepare"]


def prepare(
    data: Path,
    db: Path,
    models: Path,
    *,
    log: Callable[[str], None] = print,
) -> Engine:
    """An engine on a scored store at ``db`` built from the CSV files in ``data``."""
    url = f"sqlite:///{db}"
    if db.exists():
        return make_engine(url)
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    for kind in KINDS:
        import_file(engine, kind, data / f"{kind}.csv", rejects_dir=db.parent / "rejects")
    log(f"imported {data} in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    trained = train(engine, models)
    log(f"churn model {trained.version} in {time.perf_counter() - started:.1f} s")
    history = data / "history.csv"
    if history.exists():
        started = time.perf_counter()
        try:
            uplift = train_uplift(engine, history, models)
            state = "active" if uplift.metrics["activated"] else "not activated"
            log(f"uplift model {uplift.version} ({state}) in {time.perf_counter() - started:.1f} s")
        except NotEnoughDataError as exc:
            log(f"no uplift model: {exc}")
    started = time.perf_counter()
    summary = score(engine)
    log(f"scored {summary.scored:,} customers in {time.perf_counter() - started:.1f} s")
    return engine
