"""What a valid row of each import kind looks like, as pydantic models.

Each model is the file's view of a record: codes and external ids, not database keys.
The importer resolves those against the store afterwards.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from store.models import CustomerType, DncChannel, InteractionKind

Code = Annotated[str, Field(min_length=1, max_length=32)]
ExternalId = Annotated[str, Field(min_length=1, max_length=64)]
Money = Annotated[float, Field(allow_inf_nan=False), AfterValidator(lambda v: round(v, 2))]


class PhoneError(ValueError):
    pass


class FieldProblem(ValueError):
    """A check across a row's fields that blames one of them: the reject names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def to_e164(text: str, region: str | None) -> str:
    """Parse a phone number as written in an export into E.164; raise PhoneError."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"not a phone number ({exc})") from exc
    # Checking against the expected region first is much cheaper than letting
    # is_valid_number search every region of a shared country code (+1 has 25).
    valid = False
    if region is not None and number.country_code == _COUNTRY_CODES.get(region):
        valid = phonenumbers.is_valid_number_for_region(number, region)
    if not (valid or phonenumbers.is_valid_number(number)):
        where = f" for region {region}" if region and not text.startswith("+") else ""
        raise PhoneError(f"not a valid phone number{where}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def region_of(e164: str) -> str:
    """The ISO country of a valid E.164 number."""
    return str(phonenumbers.region_code_for_number(phonenumbers.parse(e164)))


_COUNTRY_CODES: dict[str, int] = {
    region: code
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
    for region in regions
}


def _default_region(info: ValidationInfo) -> str | None:
    context: dict[str, Any] = info.context or {}
    region = context.get("default_region")
    return str(region) if region else None


class Row(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)


class ProductRow(Row):
    product_code: Code
    name: Annotated[str, Field(min_length=1, max_length=120)]
    family: Annotated[str, Field(min_length=1, max_length=64)]
    tier: Annotated[int, Field(ge=1, le=20)] = 1
    monthly_price: Annotated[Money, Field(ge=0)]
    monthly_margin: Money | None = None


class CustomerRow(Row):
    customer_id: ExternalId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    country: Annotated[str | None, Field(pattern=r"^[A-Za-z]{2}$")] = None
    phone: str | None = None
    region: Annotated[str | None, Field(max_length=64)] = None
    timezone: str | None = None
    language: Annotated[str | None, Field(max_length=16)] = None
    customer_type: CustomerType = CustomerType.B2C
    segment: Code | None = None
    call_consent: bool = False
    sms_consent: bool = False
    signup_date: dt.date | None = None
    contract_end: dt.date | None = None
    churned: bool = False
    churned_on: dt.date | None = None

    @field_validator("customer_type", mode="before")
    @classmethod
    def _type_upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not an IANA time zone such as America/New_York") from exc
        return value

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        country = info.data.get("country")
        return to_e164(value, country.upper() if country else _default_region(info))

    @model_validator(mode="after")
    def _derived(self) -> CustomerRow:
        if self.country is None and self.phone is not None:
            object.__setattr__(self, "country", region_of(self.phone))
        elif self.country is None:
            raise FieldProblem("country", "give the country when there is no phone number")
        else:
            object.__setattr__(self, "country", self.country.upper())
        if self.churned_on is not None and not self.churned:
            object.__setattr__(self, "churned", True)
        return self


class HoldingRow(Row):
    customer_id: ExternalId
    product_code: Code
    start_date: dt.date
    end_date: dt.date | None = None
    monthly_revenue: Money

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value < start:
            raise ValueError(f"is before start_date {start}")
        return value


def _month(value: Any) -> Any:
    """Accept 2026-03 as well as any date within the month."""
    if isinstance(value, str) and len(value) == 7 and value[4] == "-":
        return f"{value}-01"
    return value


class BillingRow(Row):
    customer_id: ExternalId
    month: dt.date
    amount: Money
    days_late: Annotated[int | None, Field(ge=0, le=3650)] = None

    @field_validator("month", mode="before")
    @classmethod
    def _month_text(cls, value: Any) -> Any:
        return _month(value)

    @field_validator("month")
    @classmethod
    def _first_of_month(cls, value: dt.date) -> dt.date:
        return value.replace(day=1)


def _aware(value: dt.datetime) -> dt.datetime:
    # Exports without an offset are taken as UTC, the only reading that is the same
    # whatever machine imports them.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class InteractionRow(Row):
    interaction_id: ExternalId | None = None
    customer_id: ExternalId
    kind: InteractionKind
    occurred_at: Annotated[dt.datetime, AfterValidator(_aware)]
    channel: Annotated[str | None, Field(max_length=32)] = None
    topic: Annotated[str | None, Field(max_length=120)] = None
    scale: int | None = None
    score: Annotated[int | None, Field(ge=1, le=10, validate_default=True)] = None
    closed_at: Annotated[dt.datetime | None, AfterValidator(lambda v: v and _aware(v))] = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("scale")
    @classmethod
    def _known_scale(cls, value: int | None) -> int | None:
        if value is not None and value not in (5, 10):
            raise ValueError("surveys are on a 1-5 or a 1-10 scale: give 5 or 10")
        return value

    @field_validator("score")
    @classmethod
    def _on_scale(cls, value: int | None, info: ValidationInfo) -> int | None:
        scale = info.data.get("scale")
        if info.data.get("kind") is InteractionKind.SURVEY and value is None:
            raise ValueError("a survey needs a score (and its scale, 5 or 10)")
        if value is not None and scale is None and "scale" in info.data:
            raise ValueError("a score needs its scale: fill in scale with 5 or 10")
        if value is not None and scale is not None and value > scale:
            raise ValueError(f"{value} is not on the 1-{scale} scale")
        return value

    @field_validator("closed_at")
    @classmethod
    def _closed_after(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        opened = info.data.get("occurred_at")
        if value is not None and opened is not None and value < opened:
            raise ValueError("is before occurred_at")
        return value


class DncRow(Row):
    phone: str
    channel: DncChannel = DncChannel.ALL
    source: Annotated[str, Field(max_length=32)] = "import"
    reason: Annotated[str | None, Field(max_length=200)] = None

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str, info: ValidationInfo) -> str:
        return to_e164(value, _default_region(info))


class MatrixRow(Row):
    segment: Code
    segment_name: Annotated[str | None, Field(max_length=120)] = None
