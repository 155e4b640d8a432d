"""Scoring: churn propensity, reasons, customer value and classes, uplift.

The names below load on first use (PEP 562), so that importing one light submodule,
e.g. ``scoring.errors``, does not pull in scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "FeatureBuilder": "scoring.features",
    "ModelNotFoundError": "scoring.errors",
    "NotEnoughDataError": "scoring.errors",
    "ScoringError": "scoring.errors",
    "Window": "scoring.features",
    "data_end": "scoring.features",
    "evaluate_model": "scoring.evaluate",
    "evaluate_uplift": "scoring.uplift",
    "load_active": "scoring.churn",
    "score": "scoring.churn",
    "train": "scoring.churn",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
