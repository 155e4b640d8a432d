"""The JSON API's bodies, as pydantic models: what a route takes and what it answers.

The handlers validate requests with them and ``runner.web.openapi`` builds the document's
schemas from them, so the description cannot drift from what the code accepts; the API
tests check every real answer against those schemas.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from campaigns.plan_request import PlanAsked, PlanRequest
from store.models import CampaignKind, CampaignStatus

__all__ = [
    "Campaigns",
    "ConversionReport",
    "ErasureBody",
    "ErasureResult",
    "Error",
    "Kpis",
    "Live",
    "MonthlyReport",
    "MoveResult",
    "PlanBody",
    "PlanResult",
    "SavedReport",
    "VoiceSimulated",
    "VoiceToken",
    "WatchListReport",
]

Action = Literal["launch", "pause", "resume", "stop"]
Pair = tuple[float, float] | None  # a 95% interval, low and high


class PlanBody(PlanAsked):
    """Give `size`, or `agents`, `hours` and `contacts_per_hour`, or neither (every
    customer worth a call)."""

    dry_run: bool = False

    @field_validator("dry_run", mode="before")
    @classmethod
    def _true_or_false(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise PydanticCustomError("dry_run", "true to preview only, false to store the plan")
        return value

    def plan_request(self) -> PlanRequest:
        return PlanRequest(**self.model_dump(exclude={"dry_run"}))


class Error(BaseModel):
    """An error; `fields` names what to correct."""

    error: Literal["invalid", "not_found", "conflict", "unauthorized", "forbidden", "csrf"]
    message: str
    field: str | None = Field(default=None, description="The first field at fault.")
    fields: dict[str, str] | None = None


class Campaign(BaseModel):
    name: str
    kind: CampaignKind
    status: CampaignStatus
    treated: int
    holdout: int
    expected_value: float | None = None
    created_at: str | None = None
    launched_at: str | None = None
    ended_at: str | None = None
    actions: list[Action]


class Campaigns(BaseModel):
    campaigns: list[Campaign]


class Expected(BaseModel):
    """The value a list is expected to bring, and the saves or conversions behind it."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, float] = Field(init=False)

    value: float


class Power(BaseModel):
    """Whether the holdout comparison can show the list's effect; rates as fractions."""

    outcome: str = Field(description="What the report measures, within its window.")
    baseline: float = Field(description="The outcome's rate without a call.")
    baseline_source: str
    expected_effect: float | None = Field(
        description="The change per customer called the list expects (None: nobody to call)."
    )
    effect_source: str = Field(description="Where the expected effect comes from.")
    mde: float | None = Field(
        description="The smallest change detected with 80% power at 5% two-sided, for the "
        "list's treated and holdout counts (None: no change could be)."
    )
    power: float = Field(description="The chance of detecting the expected effect.")
    holdout_needed: float | None = Field(
        description="The smallest holdout share that detects the expected effect (None: none)."
    )
    treated_needed: int | None = Field(
        description="Customers to call for the expected effect at the list's holdout share."
    )
    eligible: int = Field(description="Customers worth a call that the policy allows.")
    warning: str | None = Field(description="Why the list is underpowered and what would fix it.")


class Preview(BaseModel):
    name: str
    kind: CampaignKind
    as_of: str | None = None
    model_version: str | None = None
    basis: str | None = None
    seed: int
    target: int | None = None
    size: int
    treated: int
    holdout: int
    holdout_fraction: float
    expected: Expected
    candidates: int | None = None
    not_worth_calling: int | None = None
    over_capacity: int | None = None
    exclusions: dict[str, int] = Field(description="Customers kept off the list, by reason.")
    taken_from_lower_lists: int | None = None
    holdout_balance_points: float | None = None
    candidates_from: Literal["all", "watchlist"] | None = None
    watch_list: dict[str, int] | None = Field(
        default=None,
        description="From the watch list: its customers nobody has spoken with since their "
        "survey (the candidates) and those somebody has (left out).",
    )
    power: Power | None = None


class PlanResult(BaseModel):
    stored: bool
    preview: Preview


class MoveResult(BaseModel):
    campaign: str
    status: CampaignStatus


class AgentOnCampaign(BaseModel):
    agent: str
    state: Literal["ready", "talk", "wrap", "paused"]
    seconds_in_state: int
    pause_code: str | None = None


class AgentsByState(BaseModel):
    by_state: dict[str, int]
    logged_in: int
    list: list[AgentOnCampaign]


class Live(BaseModel):
    campaign: str
    kind: CampaignKind | None = None
    status: CampaignStatus
    pacing: str | None = None
    actions: list[Action] | None = None
    dials: int
    human_answers: int | None = None
    connected: int
    right_party_contacts: int
    conversions: int
    abandoned: int | None = None
    abandon_rate: float | None
    abandon_limit: float
    over_abandon_limit: bool | None = None
    service_level: float | None = Field(
        description="Share of the last hour's live answers an agent took within `service_seconds`."
    )
    service_seconds: int | None = None
    lines_in_flight: int | None = None
    dial_level: float | None = Field(
        description="Lines in flight per agent logged in and not paused."
    )
    as_of: str | None = None
    agents: AgentsByState


class Split(BaseModel):
    by: Literal["segment", "abc", "offer", "agent"]
    value: str
    treated: int
    holdout: int
    reached: int
    rate_treated: float | None = None
    rate_holdout: float | None = None
    effect: float | None
    ci95: Pair = Field(description="Null when the row is too small to show one.")
    interval_shown: bool
    why_no_interval: str | None = Field(
        default=None, description="Why the row shows no interval, e.g. too few held out."
    )
    p_value: float | None = Field(
        default=None, description="Two-sided score test of the row's difference of rates."
    )
    p_adjusted: float | None = Field(
        default=None, description="The p-value adjusted across the report's tested rows."
    )
    survives: bool = Field(description="The adjusted p-value is below `alpha`.")
    value_kept: float | None = None


class SplitAdjustment(BaseModel):
    """How the report's split rows are read: exploratory, adjusted for their number."""

    method: Literal["holm"] = Field(description="statsmodels' multipletests method.")
    alpha: float
    rows_tested: int
    surviving: int
    min_group: int = Field(description="Customers a row needs in each group for an interval.")
    min_outcomes: int = Field(description="Customers a row needs with its rarer outcome.")
    note: str


class Estimated(BaseModel):
    estimate: float | None
    ci95: Pair


class AdjustedEffect(BaseModel):
    """One outcome's effect for the treated group: the plain difference with the holdout and
    the covariate-adjusted one (Lin 2013, HC2 interval), side by side."""

    covariates: list[str] = Field(description="The pre-launch figures it is adjusted on.")
    unadjusted: Estimated
    adjusted: Estimated
    narrower: float | None = Field(
        description="1 - adjusted interval width / plain width (0.3: 30% narrower)."
    )
    basis: str | None = Field(default=None, description="What is compared, over which months.")
    note: str | None = Field(description="Why a figure is missing.")


class SavedReport(BaseModel):
    campaign: str
    kind: CampaignKind | None = None
    treated: int
    holdout: int
    churn_treated: float | None = None
    churn_holdout: float | None = None
    incremental_saves: float | None
    ci95: Pair
    revenue_kept: float | None = None
    cost_per_save: float | None = None
    window_complete: bool | None = None
    splits: list[Split]
    split_adjustment: SplitAdjustment
    adjusted: dict[Literal["saves", "revenue"], AdjustedEffect]
    notes: list[str]


class ConversionReport(BaseModel):
    campaign: str
    treated: int
    holdout: int
    conversion_treated: float | None = None
    conversion_holdout: float | None = None
    incremental_conversions: float | None
    ci95: Pair = None
    claimed: int | None = None
    confirmed: int | None = None
    splits: list[Split]
    split_adjustment: SplitAdjustment
    adjusted: dict[Literal["conversions", "revenue"], AdjustedEffect]
    notes: list[str] | None = None


class Kpis(BaseModel):
    campaign: str
    dials: int
    live_answers: int | None = None
    connects: int
    abandoned: int | None = None
    abandon_rate: float | None
    abandon_limit: float
    right_party_contacts: int | None = None
    conversions: int | None = None
    conversion_rate: float | None = None
    service_level: float | None = None
    agents: list[dict[str, Any]]


class Period(BaseModel):
    period: str
    complete: bool | None = Field(
        default=None,
        description="Ended by the as-of day, the data reaching back to its start; an "
        "incomplete period is not judged against the target.",
    )
    active_at_start: int
    lost: int
    churn_rate: float | None
    target: float
    on_target: bool | None = None
    complaints: int | None = None
    customers_saved: float
    saved_ci95: Pair = None
    campaign_cost: float | None = None
    acquisition_cost_avoided: float | None = None
    money_saved: float | None = None


class MonthlyFilters(BaseModel):
    campaigns: list[str]
    segment: str | None
    offer: str | None
    agent: str | None


class MonthlyReport(BaseModel):
    as_of: dt.date
    data_from: dt.date | None = None
    data_until: dt.date | None = None
    annual_target: float
    acquisition_cost: float | None = None
    filters: MonthlyFilters
    scope: list[str] = Field(description="What the churn and the saves figures cover, in words.")
    months: list[Period]
    quarters: list[Period]
    years: list[Period]
    notes: list[str]


class WatchRow(BaseModel):
    """A customer on the watch list or a promoter, by their latest survey."""

    customer: str = Field(description="The customer's external id.")
    name: str
    segment: str | None
    survey_at: str
    score: int
    scale: Literal[5, 10]
    reading: Literal["watch", "open_dissatisfaction", "hidden_dissatisfaction", "promoter"]
    churn_risk: float | None = Field(description="Of the latest churn score; null: not scored.")
    clv: float | None
    value_at_risk: float | None = Field(description="churn_risk x clv: the order at risk.")
    open_complaints: int
    contacts_since_survey: int = Field(description="Calls and texts that reached the carrier.")
    last_contact_at: str | None
    last_contact_campaign: str | None
    last_contact_channel: Literal["call", "sms"] | None
    last_contact_outcome: str | None
    spoken_since_survey: bool = Field(description="An agent spoke with the customer since.")


class WatchListCounts(BaseModel):
    at_risk: int
    watch: int
    open_dissatisfaction: int
    hidden_dissatisfaction: int
    not_contacted_since_survey: int
    with_open_complaints: int
    promoters: int
    left: int = Field(description="Dissatisfied, but holding nothing any more: left out.")


class WatchListReport(BaseModel):
    counts: WatchListCounts
    offset: int
    limit: int | None
    at_risk: list[WatchRow] = Field(description="By value at risk, the largest first.")
    promoters: list[WatchRow] = Field(description="By CLV, the largest first.")
    notes: list[str]


class VoiceToken(BaseModel):
    mode: Literal["twilio"]
    identity: str = Field(description="The Twilio Client identity, agent-{user id}.")
    token: str = Field(description="The access token, a signed JWT.")
    ttl: int = Field(description="Seconds the token lasts.")
    sdk_url: str = Field(description="The Voice JS SDK bundle.")
    sound_url: str = Field(description="The SDK's sounds: silence.")


class VoiceSimulated(BaseModel):
    mode: Literal["simulated"]


MAX_ERASE_IDS = 10_000


class ErasureBody(BaseModel):
    """Customers to erase on request, by the ids the import files had."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=MAX_ERASE_IDS)

    @field_validator("ids")
    @classmethod
    def _plain_ids(cls, value: list[str]) -> list[str]:
        ids = [i.strip() for i in value]
        if any(not i or len(i) > 64 for i in ids):
            raise PydanticCustomError("ids", "each id is 1 to 64 characters of text")
        return ids


class ErasureResult(BaseModel):
    erased: list[str]
    already_erased: list[str] = Field(description="Erased before: nothing more was done.")
    unknown: list[str] = Field(description="No customer has this id: nothing was done.")
    removed: dict[str, int] = Field(
        description="How many of each thing were removed or replaced; counts only."
    )
