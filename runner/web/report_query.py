"""The query strings of the monthly report and the watch list, as pydantic models: the
retention pages and the API read them with ``monthly_query`` and ``watch_list_query``, and
the OpenAPI document describes them from the models, so the three never disagree on a
parameter."""

from __future__ import annotations

import datetime as dt
from typing import Any

from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from campaigns.monthly import Filters
from runner.web.desk import FieldErrors

__all__ = ["MonthlyQuery", "WatchListQuery", "monthly_query", "watch_list_query"]

# what to write instead, per parameter: pydantic's own wording speaks of types
_HELP = {
    "months": "a whole number of months from 1 to 60",
    "as_of": "a date as YYYY-MM-DD",
    "offset": "a whole number of rows to skip, 0 or more",
    "limit": "a whole number of rows from 1 to 500",
}


class MonthlyQuery(BaseModel):
    """``months``, ``as_of`` and the filters of the monthly churn report."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    months: int = Field(12, ge=1, le=60, description="Months the report covers, the latest last.")
    as_of: dt.date | None = Field(
        None, description="The report's last day (YYYY-MM-DD); by default the last day with data."
    )
    campaign: list[str] = Field(
        default_factory=list,
        description="Count the saves of these launched anti-churn or win-back lists only "
        "(repeat the parameter for several).",
    )
    segment: str | None = Field(
        None, description="A segment code: churn, complaints and saves among its customers."
    )
    offer: str | None = Field(
        None, description="Count the saves of list entries with this offer only."
    )
    agent: str | None = Field(
        None,
        description="A username: count the saves among the customers this agent spoke with, "
        "against the whole holdout.",
    )

    @property
    def filters(self) -> Filters:
        """The filters as given (blanks dropped); whether the store knows each value is for
        ``monthly_report`` to say (``FilterError``)."""
        return Filters.of(self.campaign, self.segment, self.offer, self.agent)


def monthly_query(query: MultiMapping[str]) -> MonthlyQuery:
    """The query string as a ``MonthlyQuery``; ``FieldErrors`` names each parameter written
    badly and what to write instead."""
    # a blank parameter is an unset one, as a form sends an empty field
    fields = MonthlyQuery.model_fields
    given: dict[str, Any] = {n: query[n] for n in fields if query.get(n, "").strip()}
    given["campaign"] = query.getall("campaign", [])
    try:
        return MonthlyQuery.model_validate(given)
    except ValidationError as exc:
        raise FieldErrors(_problems(exc)) from None


class WatchListQuery(BaseModel):
    """Which rows of the watch list (and of the promoters) a page or an answer holds."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    offset: int = Field(0, ge=0, description="Rows of each list to skip.")
    limit: int = Field(100, ge=1, le=500, description="Rows of each list to give at most.")


def watch_list_query(query: MultiMapping[str], limit: int | None = None) -> WatchListQuery:
    """The query string as a ``WatchListQuery`` (``limit`` fixed by a page, when given);
    ``FieldErrors`` names each parameter written badly."""
    given: dict[str, Any] = {
        n: query[n] for n in WatchListQuery.model_fields if query.get(n, "").strip()
    }
    if limit is not None:
        given["limit"] = limit
    try:
        return WatchListQuery.model_validate(given)
    except ValidationError as exc:
        raise FieldErrors(_problems(exc)) from None


def _problems(exc: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "query"
        problems.setdefault(name, _HELP.get(name, error["msg"]))
    return problems
