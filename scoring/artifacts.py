"""Versioned model artifacts: the types a stored model may hold, loading one, and the
``ModelVersion`` records that name and activate them, for every kind of model."""

from __future__ import annotations

import datetime as dt
import platform
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from scoring.errors import ModelNotFoundError
from store.db import transaction
from store.models import ModelKind, ModelVersion

__all__ = [
    "TRUSTED",
    "active_version",
    "library_versions",
    "load_artifact",
    "next_version",
    "record_version",
]

# What our pipelines are made of beyond skops' defaults; a test keeps it in step with
# scoring.pipeline.
TRUSTED = [
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._isotonic._make_unique",
    "sklearn.isotonic.IsotonicRegression",
]


def load_artifact(path: Path, trusted: list[str]) -> Any:
    """Load a skops artifact, refusing any type beyond those our models are made of."""
    if not path.exists():
        raise ModelNotFoundError(f"model file {path} is missing: train again")
    try:
        # one pass over the file: loading checks the types it meets against ``trusted``
        return sio.load(path, trusted=trusted)
    except UntrustedTypesFoundException:
        unknown = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
        raise ModelNotFoundError(
            f"{path} holds types this version does not trust: {unknown}"
        ) from None


def active_version(engine: Engine, kind: ModelKind) -> ModelVersion | None:
    """The newest active model version of a kind, if any."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(
            select(ModelVersion)
            .where(ModelVersion.kind == kind, ModelVersion.active.is_(True))
            .order_by(ModelVersion.id.desc())
        ).first()


def record_version(engine: Engine, version: ModelVersion) -> None:
    """Store a model version; an active one switches off the kind's others."""
    with transaction(engine) as session:
        if version.active:
            session.execute(
                update(ModelVersion).where(ModelVersion.kind == version.kind).values(active=False)
            )
        session.add(version)


def next_version(engine: Engine, kind: ModelKind, end: dt.date) -> str:
    """The name of a kind's next model version: kind, data end, running number."""
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).where(ModelVersion.kind == kind)).scalar_one()
    return f"{kind.value}-{end:%Y%m%d}-v{count + 1}"


def library_versions() -> dict[str, str]:
    names = ("scikit-learn", "numpy", "pandas", "skops", "telecampaign")
    return {"python": platform.python_version(), **{n: package_version(n) for n in names}}
