"""An error in one field of what a person or a client sent, to show beside that field."""

from __future__ import annotations

__all__ = ["FieldError"]


class FieldError(ValueError):
    """``field`` names the field; the message says why it is not acceptable."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
