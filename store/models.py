"""Every table telecampaign keeps, in one module: the models refer to each other by name.

One declarative registry with ``relationship(back_populates=...)`` on both sides and
Alembic's ``env.py`` reading one ``Base.metadata``: split across modules, each half would
import the other for its annotations, so the tables stay together (about 600 lines).

The database is the source of truth for all stages. Keys that outside systems know
(customer external id, product code, segment code, Twilio SIDs) are unique; lookups
the dialer and planner make in bulk (phone, campaign + status) are indexed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import Money, StrEnumType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CustomerType(enum.StrEnum):
    B2C = "B2C"
    B2B = "B2B"


class InteractionKind(enum.StrEnum):
    COMPLAINT = "complaint"
    TICKET = "ticket"
    SURVEY = "survey"
    EXIT = "exit"


class Channel(enum.StrEnum):
    CALL = "call"
    SMS = "sms"


class DncChannel(enum.StrEnum):
    CALL = "call"
    SMS = "sms"
    ALL = "all"


class Role(enum.StrEnum):
    MANAGER = "manager"
    AGENT = "agent"
    RETENTION = "retention"


class CampaignKind(enum.StrEnum):
    """What a campaign is for; each kind carries the traits the stages go by."""

    ANTI_CHURN = "anti-churn"
    CROSS_SELL = "cross-sell"
    UP_SELL = "up-sell"
    WIN_BACK = "win-back"
    FOLLOW_UP = "follow-up"

    @property
    def is_sale(self) -> bool:
        """It offers a product the customer does not hold: its dispositions teach the
        propensity model, and its plan expects conversions."""
        return self in (CampaignKind.CROSS_SELL, CampaignKind.UP_SELL)

    @property
    def is_save(self) -> bool:
        """Its goal is keeping (or winning back) a customer: measured in saves, and a
        dropped call to a customer about to leave does harm, so its dialing is stricter."""
        return self in (CampaignKind.ANTI_CHURN, CampaignKind.WIN_BACK)

    @property
    def excludes_open_complaints(self) -> bool:
        """Its call asks the customer to buy (or buy back), which an open complaint
        forbids; retention and follow-up calls are how a complaint gets resolved."""
        return self in (CampaignKind.CROSS_SELL, CampaignKind.UP_SELL, CampaignKind.WIN_BACK)

    @property
    def priority(self) -> int:
        """Rank between active lists: a customer is on the list of the highest."""
        return _KIND_PRIORITY[self]

    @classmethod
    def sales(cls) -> tuple[CampaignKind, ...]:
        return tuple(kind for kind in cls if kind.is_sale)

    @classmethod
    def saves(cls) -> tuple[CampaignKind, ...]:
        return tuple(kind for kind in cls if kind.is_save)


_KIND_PRIORITY = {
    CampaignKind.ANTI_CHURN: 5,
    CampaignKind.FOLLOW_UP: 4,
    CampaignKind.WIN_BACK: 3,
    CampaignKind.UP_SELL: 2,
    CampaignKind.CROSS_SELL: 1,
}


class CampaignStatus(enum.StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class Group(enum.StrEnum):
    TREATMENT = "treatment"
    HOLDOUT = "holdout"


class EntryStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    CALLBACK = "callback"
    DONE = "done"
    EXCLUDED = "excluded"


class AttemptStatus(enum.StrEnum):
    """Attempt states in the order they can be reached; a state only moves forward."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"
    ABANDONED = "abandoned"
    MACHINE = "machine"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


class AnsweredBy(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"
    UNKNOWN = "unknown"


class ModelKind(enum.StrEnum):
    CHURN = "churn"
    UPLIFT = "uplift"
    PROPENSITY = "propensity"


class DispositionCode(enum.StrEnum):
    """What an agent can record at the end of a call (one click each in the console)."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    CALLBACK = "callback"
    WRONG_PERSON = "wrong_person"
    DO_NOT_CALL = "do_not_call"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"


class ExclusionReason(enum.StrEnum):
    """Why a customer was kept off a list or a contact was not made."""

    NO_PHONE = "no_phone"
    NO_CONSENT = "no_consent"
    DO_NOT_CALL = "do_not_call"
    OPTED_OUT = "opted_out"
    NO_TIMEZONE = "no_timezone"
    OUTSIDE_WINDOW = "outside_window"
    HOLIDAY = "holiday"
    CONTACT_CAP = "contact_cap"
    REFUSAL_COOLDOWN = "refusal_cooldown"
    ABANDON_COOLDOWN = "abandon_cooldown"
    MAX_ATTEMPTS = "max_attempts"
    MAX_ATTEMPTS_TODAY = "max_attempts_today"
    OPT_OUT_COOLDOWN = "opt_out_cooldown"
    OPEN_COMPLAINT = "open_complaint"
    ON_ACTIVE_LIST = "on_active_list"
    HIGHER_PRIORITY_LIST = "higher_priority_list"
    NOT_WORTH_CALLING = "not_worth_calling"
    OVER_CAPACITY = "over_capacity"


class Segment(Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)

    customers: Mapped[list[Customer]] = relationship(back_populates="segment")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    family: Mapped[str] = mapped_column(String(64), index=True)
    tier: Mapped[int] = mapped_column(SmallInteger, default=1)
    monthly_price: Mapped[float] = mapped_column(Money())
    monthly_margin: Mapped[float | None] = mapped_column(Money())

    __table_args__ = (CheckConstraint("tier >= 1", name="tier_positive"),)


class MatrixVersion(Base):
    """One imported state of the segment x product matrix; the newest is in force."""

    __tablename__ = "matrix_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    source: Mapped[str | None] = mapped_column(String(255))

    cells: Mapped[list[MatrixCell]] = relationship(
        back_populates="matrix_version", cascade="all, delete-orphan"
    )


class MatrixCell(Base):
    """A product targeted at a segment in one matrix version."""

    __tablename__ = "matrix_cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    matrix_version_id: Mapped[int] = mapped_column(
        ForeignKey("matrix_versions.id", ondelete="CASCADE")
    )
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))

    matrix_version: Mapped[MatrixVersion] = relationship(back_populates="cells")

    __table_args__ = (UniqueConstraint("matrix_version_id", "segment_id", "product_id"),)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # A customer without a number is kept (billing, churn, reports) but never dialled.
    phone: Mapped[str | None] = mapped_column(String(16), index=True)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    customer_type: Mapped[CustomerType] = mapped_column(StrEnumType(CustomerType, 3))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"), index=True)
    call_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    signup_date: Mapped[dt.date | None] = mapped_column(Date)
    contract_end: Mapped[dt.date | None] = mapped_column(Date)
    churned: Mapped[bool] = mapped_column(Boolean, default=False)
    churned_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=_now)
    # set when the person's identifying data was erased on request (store.erasure); the
    # row stays, anonymous, for the counts, outcomes and money the reports add up
    erased_at: Mapped[dt.datetime | None]

    segment: Mapped[Segment | None] = relationship(back_populates="customers")
    holdings: Mapped[list[Holding]] = relationship(back_populates="customer")


class Holding(Base):
    """A product a customer holds or held, with what it brings in each month."""

    __tablename__ = "holdings"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    monthly_revenue: Mapped[float] = mapped_column(Money())

    customer: Mapped[Customer] = relationship(back_populates="holdings")

    __table_args__ = (
        UniqueConstraint("customer_id", "product_id", "start_date"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
    )


class Billing(Base):
    """One customer's bill for one month and how late it was paid."""

    __tablename__ = "billing"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    month: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[float] = mapped_column(Money())
    days_late: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("customer_id", "month"),
        CheckConstraint("days_late IS NULL OR days_late >= 0", name="days_late_nonnegative"),
    )


class Interaction(Base):
    """A complaint, service ticket, satisfaction survey or exit interview."""

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[InteractionKind] = mapped_column(StrEnumType(InteractionKind, 16))
    occurred_at: Mapped[dt.datetime]
    channel: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(120))
    score: Mapped[int | None] = mapped_column(SmallInteger)
    scale: Mapped[int | None] = mapped_column(SmallInteger)
    closed_at: Mapped[dt.datetime | None]

    __table_args__ = (
        UniqueConstraint("customer_id", "kind", "occurred_at"),
        Index("ix_interactions_customer_kind", "customer_id", "kind"),
        CheckConstraint("scale IS NULL OR scale IN (5, 10)", name="scale_known"),
        CheckConstraint(
            "score IS NULL OR (scale IS NOT NULL AND score >= 1 AND score <= scale)",
            name="score_on_scale",
        ),
    )


class DncEntry(Base):
    """A number that must not be contacted on a channel; revoked_at set on opt-in."""

    __tablename__ = "dnc_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    channel: Mapped[DncChannel] = mapped_column(StrEnumType(DncChannel, 8))
    source: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[dt.datetime | None]

    __table_args__ = (UniqueConstraint("phone", "channel"),)


class Suppression(Base):
    """A customer id or number erased on request, kept only as a keyed hash (HMAC-SHA256).

    The key is a site secret (``store.suppression``), so the table alone does not give the
    numbers back; an import or a list checks new rows against it and refuses them.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "phone" or "customer_id": what was hashed
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    __table_args__ = (UniqueConstraint("kind", "digest"),)


class RetentionRun(Base):
    """One pass of the retention purge: when, and how many of each thing it removed."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[dt.datetime] = mapped_column(default=_now, index=True)
    # counts only, by what was removed ("attempt_phones": 12, ...): never the data itself
    removed: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # in every session cookie at login; a cookie holding another is logged out. Bumped at
    # logout, deactivation and a password change, so a copied cookie dies with them
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """A machine client's key (a CRM, a BI tool): a role like a user's, no password.

    Only the key's SHA-256 is kept; ``prefix`` is the key's public part, which finds the
    row before the hash is compared. A name stays taken after its key is revoked, so the
    audit trail's names never point at two keys.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)
    created_by: Mapped[str] = mapped_column(String(120))
    revoked_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Who did what, when and from where: one row per audited action, never changed.

    Append-only: no code updates or deletes a row, and a trigger in the database refuses
    it (migration 0006). Actors are named as they were at the time (a user's username, a
    key's name, ``cli:OSUSER``); user and key ids carry no foreign key, so the trail
    never stands in the way of anything and outlives what it names.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=_now, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(120), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[CampaignKind] = mapped_column(StrEnumType(CampaignKind, 16))
    status: Mapped[CampaignStatus] = mapped_column(
        StrEnumType(CampaignStatus, 16), default=CampaignStatus.PLANNED, index=True
    )
    holdout_fraction: Mapped[float] = mapped_column(Float, default=0.10)
    seed: Mapped[int | None] = mapped_column(Integer)
    # the campaign's own settings in force (campaigns.settings), over the site's, and
    # the number of their version; the history is in settings_versions
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attribution_days: Mapped[int] = mapped_column(Integer, default=30)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the scores the list was built from, and the planning inputs and preview figures
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    launched_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]

    entries: Mapped[list[ListEntry]] = relationship(back_populates="campaign")


class SettingsVersion(Base):
    """One change of a campaign's settings, or of the site-wide ones (no campaign): the
    values it set, who set them and when. Rows are only added."""

    __tablename__ = "settings_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "site", or "campaign:ID": one key for both, since NULL campaign ids are not unique
    scope: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # the changes as given, over what the scope had: a later default change still reaches
    # every key they leave out
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[dt.datetime] = mapped_column(default=_now)

    __table_args__ = (UniqueConstraint("scope", "version"),)


class ListEntry(Base):
    """A customer on a campaign's list, in the treatment group or the holdout."""

    __tablename__ = "list_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    offer: Mapped[str | None] = mapped_column(String(120))
    script_template: Mapped[str | None] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    expected_value: Mapped[float] = mapped_column(Float, default=0.0)
    score_decile: Mapped[int | None] = mapped_column(SmallInteger)
    # why the entry is on the list: the figures its expected value was computed from
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    group: Mapped[Group] = mapped_column(StrEnumType(Group, 16))
    status: Mapped[EntryStatus] = mapped_column(
        StrEnumType(EntryStatus, 16), default=EntryStatus.PENDING
    )
    # not to be dialled before this instant: a retry's delay, a callback, a policy block
    due_at: Mapped[dt.datetime | None]
    # a personal callback goes to this agent only
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    campaign: Mapped[Campaign] = relationship(back_populates="entries")

    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        Index("ix_list_entries_campaign_status", "campaign_id", "status", "due_at"),
    )


class Exclusion(Base):
    """A customer kept off a campaign's list, or a contact the policy stopped, and why."""

    __tablename__ = "exclusions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("list_entries.id"))
    # "plan" when the list was built, "contact" when the dialer checked before a contact
    stage: Mapped[str] = mapped_column(String(8))
    reason: Mapped[ExclusionReason] = mapped_column(StrEnumType(ExclusionReason, 32))
    detail: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=_now)

    __table_args__ = (Index("ix_exclusions_campaign_reason", "campaign_id", "reason"),)


class Attempt(Base):
    """One call or SMS; the row exists before any job for it is queued."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("list_entries.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 8))
    phone: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[AttemptStatus] = mapped_column(
        StrEnumType(AttemptStatus, 16), default=AttemptStatus.SCHEDULED
    )
    answered_by: Mapped[AnsweredBy | None] = mapped_column(StrEnumType(AnsweredBy, 16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    due_at: Mapped[dt.datetime] = mapped_column(default=_now)
    queued_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    duration_s: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32))
    # the caller ID shown, and the version of the campaign's settings it was made under
    from_number: Mapped[str | None] = mapped_column(String(16))
    settings_version: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_attempts_campaign_status", "campaign_id", "status"),
        Index("ix_attempts_customer_created", "customer_id", "created_at"),
        Index("ix_attempts_status_due", "status", "due_at"),
        Index("ix_attempts_entry_channel", "list_entry_id", "channel"),
    )


class Disposition(Base):
    """What an agent recorded at the end of a conversation."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"), unique=True)
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("list_entries.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(String(32))
    refusal_reason: Mapped[str | None] = mapped_column(String(120))
    funnel_stage: Mapped[str | None] = mapped_column(String(32))
    callback_at: Mapped[dt.datetime | None]
    callback_shared: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class InboundMessage(Base):
    """A text a customer sent us, with the keyword it was and what we answered."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    body: Mapped[str] = mapped_column(Text)
    keyword: Mapped[str | None] = mapped_column(String(16))
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime]


class AgentEvent(Base):
    """An agent's state change (ready, talk, wrap, paused, offline), kept for the KPIs.

    The live states are in Redis; this is their history, written as they change.
    """

    __tablename__ = "agent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    state: Mapped[str] = mapped_column(String(16))
    pause_code: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_agent_events_agent_at", "agent_id", "at"),)


class Conversion(Base):
    """A product taken up, from a disposition or confirmed by the billing feed."""

    __tablename__ = "conversions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    list_entry_id: Mapped[int | None] = mapped_column(ForeignKey("list_entries.id"))
    revenue: Mapped[float] = mapped_column(Money())
    occurred_at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(String(32))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("customer_id", "product_id", "campaign_id"),)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ModelKind] = mapped_column(StrEnumType(ModelKind, 16))
    version: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    trained_from: Mapped[dt.date | None] = mapped_column(Date)
    trained_to: Mapped[dt.date | None] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_path: Mapped[str] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class Score(Base):
    """A customer's churn risk, reasons, value and classes from one model version."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    scored_at: Mapped[dt.datetime] = mapped_column(default=_now)
    # None for customers who hold nothing at the scoring date: they cannot churn.
    p_churn: Mapped[float | None] = mapped_column(Float)
    uplift: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    arpu: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float)
    abc_class: Mapped[str | None] = mapped_column(String(1))
    xyz_class: Mapped[str | None] = mapped_column(String(1))
    lifecycle: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("customer_id", "model_version_id"),)


class ImportRun(Base):
    """One run of the importer, with its counts and where its rejects went."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime] = mapped_column(default=_now)
    finished_at: Mapped[dt.datetime | None]
    read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejects_file: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="running")


__all__ = [
    "AnsweredBy",
    "ApiKey",
    "Attempt",
    "AttemptStatus",
    "AuditEvent",
    "Base",
    "Billing",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Channel",
    "Conversion",
    "Customer",
    "CustomerType",
    "Disposition",
    "DispositionCode",
    "DncChannel",
    "DncEntry",
    "EntryStatus",
    "Exclusion",
    "ExclusionReason",
    "Group",
    "Holding",
    "ImportRun",
    "Interaction",
    "InteractionKind",
    "ListEntry",
    "MatrixCell",
    "MatrixVersion",
    "ModelKind",
    "ModelVersion",
    "Product",
    "RetentionRun",
    "Role",
    "Score",
    "Segment",
    "Suppression",
    "User",
]
