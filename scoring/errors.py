"""Errors the scoring stage raises for people to read.

    ScoringError
    ├── DataFileError        the file cannot be read as a flat table (missing, binary,
    │                        not text, empty, ragged rows, header without names)
    ├── ColumnNotFoundError  a column named on the command line is not in the file
    ├── NotEnoughDataError   the store lacks the history a churn model needs
    ├── ModelNotFoundError   no trained model, or its artifact is missing or untrusted
    └── TargetError          the target or outcome cannot be learned as given: the positive
        │                    value never occurs, one class only, too few rows for the folds
        └── TreatmentError   the treated or control value never occurs in the treatment
                             column, or an arm is too small to split

Each message names the file, column or value at fault and says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "DataFileError",
    "ModelNotFoundError",
    "NotEnoughDataError",
    "ScoringError",
    "TargetError",
    "TreatmentError",
]


class ScoringError(Exception):
    """Base class for errors a user can act on."""


class DataFileError(ScoringError):
    """The file cannot be used as a flat table; the message says why."""


class ColumnNotFoundError(ScoringError):
    """A column given by name (target, id, drop, treatment, outcome) is not in the file."""


class TargetError(ScoringError):
    """The target column and positive value do not make a two-class problem."""


class TreatmentError(TargetError):
    """The treatment column does not hold the treated and control values as given."""


class NotEnoughDataError(ScoringError):
    """Too little history in the store to train or validate a model."""


class ModelNotFoundError(ScoringError):
    """No usable model artifact: never trained, file missing, or untrusted content."""
