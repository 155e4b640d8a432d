"""What a plan is asked for: the plan request, checked field by field.

The CLI, the manager's form and the JSON API all build this one model. Each problem is
pinned to the field it concerns (``size``, ``holdout``...) and a message may name other
fields as ``{field}``; every front end says a field's name its own way when it shows the
problem (the CLI as its option, ``--size``), so a person reads what they typed.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from campaigns.errors import CampaignError
from campaigns.settings.model import Costs
from store.models import CampaignKind

__all__ = [
    "PLAN_FIELDS",
    "CandidateSource",
    "Economics",
    "PlanAsked",
    "PlanRequest",
    "PlanRequestError",
]

NAME_LENGTH = 120
SEED_LIMIT = 2**31
_KINDS = ", ".join(k.value for k in CampaignKind)
_CAPACITY = ("agents", "hours", "contacts_per_hour")
_NUMBERS = ("size", *_CAPACITY, "holdout", "seed", "expected_effect")
# what is wrong with a field whose value is there but out of bounds
_OUT_OF_BOUNDS = {
    "size": "at least 1",
    "agents": "must be above 0",
    "hours": "must be above 0",
    "contacts_per_hour": "must be above 0",
    "holdout": "a share from 0 up to (not including) 1, e.g. 0.10",
    "seed": f"a whole number from 0 to {SEED_LIMIT - 1}",
    "expected_effect": "a change per customer called above 0 and below 1, e.g. 0.02 for 2 points",
}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
_EITHER = "give either {size} or {agents}, {hours} and {contacts_per_hour}"
_ALL_OF = "capacity needs all of {agents}, {hours} and {contacts_per_hour}"


class CandidateSource(enum.StrEnum):
    """Whom a list chooses from: everyone its kind takes, or the satisfaction watch list
    (``campaigns.watchlist``), screened by the contact policy like any list."""

    ALL = "all"
    WATCHLIST = "watchlist"

    @property
    def kinds(self) -> tuple[CampaignKind, ...]:
        """The kinds of list that may choose from it."""
        if self is CandidateSource.WATCHLIST:
            return (CampaignKind.ANTI_CHURN, CampaignKind.FOLLOW_UP)
        return tuple(CampaignKind)


_SOURCES = ", ".join(s.value for s in CandidateSource)


class PlanRequestError(CampaignError):
    """A plan request that cannot be used: ``problems`` maps each field at fault to what
    is wrong with it, naming other fields as ``{field}``; ``fields`` says them in words."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        self.fields = self.described(lambda name: name.replace("_", " "))
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.fields.items()))

    def described(self, say: Callable[[str], str]) -> dict[str, str]:
        """Each problem with the fields it names said by ``say`` (the keys stay fields)."""
        names = {name: say(name) for name in PLAN_FIELDS}
        return {k: v.format_map(names) for k, v in self.problems.items()}


@dataclass(frozen=True)
class Economics:
    """The money and planning assumptions of a list; stored with the campaign."""

    # what an entry costs is the campaign's contact and offer costs (its settings'
    # ``costs``, as the reports count them) times how many of each it is expected to take:
    contacts_per_entry: float = 1.5  # calls that ring or texts sent, retries included
    offer_take_rate: float = 0.125  # one in eight called takes the offer
    save_rate: float = 0.20  # share of the risk a call removes, when no uplift model exists
    min_value_at_risk: float = 50.0  # risk-based lists: p_churn x CLV must reach this
    win_back_rate: float = 0.10  # lost customers who come back after a call
    win_back_months: float = 12.0  # and how long they stay
    win_back_days: int = 365  # exits older than this are not called
    follow_up_after_days: tuple[int, int] = (90, 120)  # the three-month service call
    complaint_closed_days: int = 30  # the after-complaint call

    def __post_init__(self) -> None:
        for name in ("contacts_per_entry", "win_back_months", "min_value_at_risk"):
            if getattr(self, name) < 0:
                raise CampaignError(f"{name} must not be negative")
        for name in ("save_rate", "win_back_rate", "offer_take_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise CampaignError(f"{name} must be between 0 and 1")

    def contact_cost(self, costs: Costs) -> float:
        """Expected contact cost of one treated entry."""
        return self.contacts_per_entry * costs.contact

    def offer_cost(self, costs: Costs) -> float:
        """Expected offer cost of one treated entry: the offer's cost times its take-up."""
        return self.offer_take_rate * costs.offer


def _capacity_problems(given: set[str]) -> dict[str, str]:
    """A size, or all three of agents, hours and contacts per hour, or none of them."""
    capacity = given & set(_CAPACITY)
    if "size" in given:
        return dict.fromkeys(sorted(capacity), _EITHER)
    if capacity and len(capacity) < len(_CAPACITY):
        return dict.fromkeys(sorted(set(_CAPACITY) - capacity), _ALL_OF)
    return {}


def _problem(error: ErrorDetails) -> tuple[str, str]:
    """One of pydantic's errors said for a person: the field and what to do about it."""
    name = str(error["loc"][0]) if error["loc"] else "form"
    kind = error["type"]
    said = error["msg"].replace("{", "{{").replace("}", "}}")  # names no field
    if name == "kind":
        chosen = kind != "missing" and error["input"]
        return name, f"choose one of {_KINDS}" if chosen else f"choose the kind: {_KINDS}"
    if name == "candidates":
        return name, f"choose one of {_SOURCES}"
    if name == "name":
        too_long = kind == "string_too_long"
        return name, f"at most {NAME_LENGTH} characters" if too_long else "give the campaign a name"
    if kind in _BOUNDS:
        return name, _OUT_OF_BOUNDS.get(name, said)
    if name in ("size", "agents", "seed") and not isinstance(error["input"], bool):
        return name, "give a whole number"
    return name, "give a number" if name in _NUMBERS else said


class PlanAsked(BaseModel):
    """The fields a person fills in: the form's, the API body's and the CLI's options."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    kind: CampaignKind
    name: str = Field(min_length=1, max_length=NAME_LENGTH)
    size: int | None = Field(default=None, ge=1)
    agents: int | None = Field(default=None, gt=0)
    hours: float | None = Field(default=None, gt=0)
    contacts_per_hour: float | None = Field(default=None, gt=0)
    holdout: float = Field(default=0.10, ge=0, lt=1)
    seed: int | None = Field(default=None, ge=0, lt=SEED_LIMIT)
    candidates: CandidateSource = CandidateSource.ALL
    # the change per customer called the manager expects (0.02: churn 2 points lower,
    # or take-up 2 points higher); without it the planner's own expectation is used
    expected_effect: float | None = Field(default=None, gt=0, lt=1)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            errors = exc.errors()
            problems = dict(_problem(e) for e in errors)
            # a value out of bounds was given all the same; one that is not a number was not
            unread = {str(e["loc"][0]) for e in errors if e["loc"] and e["type"] not in _BOUNDS}
            given = {n for n in _NUMBERS if _given(data.get(n)) and n not in unread}
            for key, message in _capacity_problems(given).items():
                problems.setdefault(key, message)
            raise PlanRequestError(problems) from None

    @model_validator(mode="before")
    @classmethod
    def _blanks_left_out(cls, data: Any) -> Any:
        """A form sends every field: a blank one is one not given (its default holds)."""
        if not isinstance(data, Mapping):
            return data
        kept = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        for name in (*_NUMBERS, "candidates"):
            if not _given(kept.get(name)):
                kept.pop(name, None)
        return kept

    @field_validator(*_NUMBERS, mode="before")
    @classmethod
    def _not_a_truth_value(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("true or false is not a number")
        return value

    @model_validator(mode="after")
    def _size_or_capacity(self) -> PlanAsked:
        given = {n for n in ("size", *_CAPACITY) if getattr(self, n) is not None}
        problems = _capacity_problems(given)
        if self.kind not in self.candidates.kinds:
            feeds = " or ".join(k.value for k in self.candidates.kinds)
            problems["candidates"] = f"{self.candidates.value} feeds {feeds} lists only"
        if problems:
            raise PlanRequestError(problems)
        return self

    def treated_target(self) -> int | None:
        """How many customers the agents should call: ``size`` or the capacity."""
        if self.size is not None:
            return self.size
        if self.agents is None or self.hours is None or self.contacts_per_hour is None:
            return None
        return int(self.agents * self.hours * self.contacts_per_hour)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


class PlanRequest(PlanAsked):
    """A plan as the planner takes it: what was asked, with what only code sets."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    # the campaign's own settings (campaigns.settings), its first version
    policy: Mapping[str, Any] = Field(default_factory=dict)
    economics: Economics = Field(default_factory=Economics)
    now: dt.datetime | None = None
    actor: str = "planner"  # who planned it, for the settings' first version


PLAN_FIELDS = tuple(PlanAsked.model_fields)
