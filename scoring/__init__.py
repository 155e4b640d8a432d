"""Scoring: churn propensity, reasons, customer value and classes, uplift."""

from scoring.churn import load_active, score, train
from scoring.errors import ModelNotFoundError, NotEnoughDataError, ScoringError
from scoring.evaluate import evaluate_model
from scoring.features import FeatureBuilder, Window, data_end
from scoring.uplift import evaluate_uplift

__all__ = [
    "FeatureBuilder",
    "ModelNotFoundError",
    "NotEnoughDataError",
    "ScoringError",
    "Window",
    "data_end",
    "evaluate_model",
    "evaluate_uplift",
    "load_active",
    "score",
    "train",
]
