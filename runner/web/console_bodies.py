"""The agent console's JSON bodies, as pydantic models: login, pause, preview and the
disposition of a call. The console validates what it is sent with them and the API's
OpenAPI document describes them; a problem names its field, as the console answers it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dialer.agents import AgentState
from dialer.dispositions import PAUSE_CODES
from store.models import DispositionCode

__all__ = [
    "MAX_NOTES",
    "MAX_REASON",
    "BodyError",
    "DispositionBody",
    "LoginBody",
    "PauseBody",
    "PreviewBody",
    "PreviewNextBody",
    "parse_body",
]

MAX_NOTES = 2000
MAX_REASON = 120
MAX_STAGE = 32
_AFTER_CALL = (AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE)
_PAUSE = f"choose a pause reason: {', '.join(PAUSE_CODES)}"
_ENTRY = "give the list entry's id as a whole number"
# what the disposition's checks compare against, made once rather than per request
_OUTCOMES = frozenset(c.value for c in DispositionCode)
_OUTCOME = "choose an outcome: " + ", ".join(c.value for c in DispositionCode)
_TEXT_LIMITS = {"refusal_reason": MAX_REASON, "funnel_stage": MAX_STAGE, "notes": MAX_NOTES}
Body = TypeVar("Body", bound=BaseModel)


class BodyError(Exception):
    """A body that cannot be used: ``field`` is the first field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_body(model: type[Body], body: dict[str, Any]) -> Body:
    """``body`` as ``model``; BodyError names the first field at fault."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BodyError(str(first["loc"][0]) if first["loc"] else "body", first["msg"]) from None


def _refused(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(field, message)


def _whole_number(value: Any) -> int | None:
    """An id as a JSON number or a string of digits; None when it is neither."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value


def _text(value: Any, field: str, limit: int) -> str | None:
    """Text, trimmed; blank is none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refused(field, "give it as text")
    value = value.strip()
    if len(value) > limit:
        raise _refused(field, f"at most {limit} characters, not {len(value)}")
    return value or None


class _Asked(BaseModel):
    """A body whose required fields, when missing, are refused in the words of their own
    checks (each runs on None) rather than pydantic's "field required"."""

    @model_validator(mode="before")
    @classmethod
    def _missing_as_none(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {**_unset_required(cls), **data}


@cache
def _unset_required(model: type[BaseModel]) -> dict[str, None]:
    """The model's required fields, each None: worked out once per model, not per body."""
    return dict.fromkeys(name for name, field in model.model_fields.items() if field.is_required())


class LoginBody(_Asked):
    campaign_id: int

    @field_validator("campaign_id", mode="before")
    @classmethod
    def _a_campaign(cls, value: Any) -> int:
        chosen = _whole_number(value)
        if chosen is None:
            raise _refused("campaign_id", "choose a campaign to work on")
        return chosen


class PauseBody(_Asked):
    code: str = Field(description="A pause reason.")

    @field_validator("code", mode="before")
    @classmethod
    def _a_reason(cls, value: Any) -> str:
        if value not in PAUSE_CODES:
            raise _refused("code", _PAUSE)
        return str(value)


class PreviewNextBody(_Asked):
    """Optionally, one of the agent's own call-backs to preview."""

    entry_id: int | None = None

    @field_validator("entry_id", mode="before")
    @classmethod
    def _an_entry(cls, value: Any) -> int | None:
        if value is None:
            return None
        entry = _whole_number(value)
        if entry is None or entry <= 0:
            raise _refused("entry_id", _ENTRY)
        return entry


class PreviewBody(PreviewNextBody):
    """The entry being previewed."""

    entry_id: int  # required here

    @field_validator("entry_id", mode="before")
    @classmethod
    def _an_entry(cls, value: Any) -> int | None:
        if value is None:
            raise _refused("entry_id", _ENTRY)
        return super()._an_entry(value)


class DispositionBody(_Asked):
    """The outcome of a call, in its shapes: a known code, texts within their limits, a
    state to go to after the call. A call-back says when: ``callback_at`` with its offset,
    or ``callback_local`` in the customer's zone. What each outcome needs (a refusal's
    reason and stage, a call-back's time, a pause's reason) is the recording service's
    rule (``dialer.dispositions.checked`` and ``after_wrap``), one for every caller."""

    code: DispositionCode
    refusal_reason: str | None = None
    funnel_stage: str | None = None
    notes: str | None = None
    callback_at: str | None = None
    callback_local: str | None = None
    callback_shared: bool = False
    then: AgentState = Field(default=AgentState.READY, description="ready, paused or offline")
    pause_code: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _an_outcome(cls, value: Any) -> Any:
        if value not in _OUTCOMES:
            raise _refused("code", _OUTCOME)
        return value

    @field_validator("refusal_reason", "funnel_stage", "notes", mode="before")
    @classmethod
    def _texts(cls, value: Any, info: Any) -> str | None:
        return _text(value, info.field_name, _TEXT_LIMITS[info.field_name])

    @field_validator("callback_at", "callback_local", mode="before")
    @classmethod
    def _as_given(cls, value: Any) -> str | None:
        return str(value) if value else None  # read as a time once the zone is known

    @field_validator("callback_shared", mode="before")
    @classmethod
    def _truth(cls, value: Any) -> bool:
        return bool(value)

    @field_validator("then", mode="before")
    @classmethod
    def _after_the_call(cls, value: Any) -> Any:
        if value not in _AFTER_CALL:
            raise _refused("then", "after the call: ready, paused or offline")
        return value
