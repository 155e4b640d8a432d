"""What the manager's and retention pages and the JSON API read and ask of the store.

Both front ends share these, so a page and its API route never disagree: the campaign
table, a campaign's live figures, the import runs, the model versions and the matrix.

Everything here is synchronous store work; callers run it off the event loop, through
the store gateway's ``write`` (one short transaction) or its ``batch`` (the planner and
the reports open their own connections).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.errors import CampaignNotFoundError
from campaigns.figures import campaign_figures
from campaigns.kpis import SERVICE_SECONDS
from campaigns.lifecycle import MOVES
from campaigns.matrix import Matrix, customers_by_segment, load_matrix
from campaigns.outcomes import REACHED
from campaigns.settings.versions import in_force
from dialer.agents import AgentState, AgentStatus
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Disposition,
    Group,
    ImportRun,
    ListEntry,
    ModelKind,
    ModelVersion,
    Score,
    User,
)

__all__ = [
    "ACTIONS",
    "FieldErrors",
    "actions_for",
    "campaign_rows",
    "import_runs",
    "matrix_view",
    "model_versions",
]

ACTIONS = ("launch", "pause", "resume", "stop")
SERVICE_WINDOW = dt.timedelta(hours=1)  # the live service level looks at the last hour
_IN_FLIGHT = (AttemptStatus.QUEUED, AttemptStatus.INITIATED, AttemptStatus.RINGING)


class FieldErrors(ValueError):
    """Input that cannot be used; ``fields`` maps each field to what is wrong with it."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


# --- campaigns ----------------------------------------------------------------------


def actions_for(status: str) -> list[str]:
    """The moves a campaign in ``status`` allows, in the order the buttons show them."""
    return [a for a in ACTIONS if status in {s.value for s in MOVES[a][0]}]


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were stored in UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def campaign_rows(session: Session) -> list[dict[str, Any]]:
    """Every campaign, newest first, with its list sizes and the moves it allows."""
    sizes = {
        (cid, str(group)): int(n)
        for cid, group, n in session.execute(
            select(ListEntry.campaign_id, ListEntry.group, func.count()).group_by(
                ListEntry.campaign_id, ListEntry.group
            )
        )
    }
    rows = []
    for c in session.scalars(select(Campaign).order_by(Campaign.id.desc())):
        expected = (c.plan or {}).get("expected") or {}
        rows.append(
            {
                "name": c.name,
                "kind": c.kind.value,
                "status": c.status.value,
                "treated": sizes.get((c.id, Group.TREATMENT.value), 0),
                "holdout": sizes.get((c.id, Group.HOLDOUT.value), 0),
                "expected_value": expected.get("value"),
                "created_at": _iso(c.created_at),
                "launched_at": _iso(c.launched_at),
                "ended_at": _iso(c.ended_at),
                "actions": actions_for(c.status.value),
            }
        )
    return rows


def _campaign(session: Session, name: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if campaign is None:
        raise CampaignNotFoundError(name)
    return campaign


@dataclass(frozen=True)
class LiveCounts:
    """The store's half of the live view; the agent board's half is added by the caller."""

    campaign_id: int
    body: dict[str, Any]


def live_counts(session: Session, name: str, now: dt.datetime) -> LiveCounts:
    """Dials, connects, right-party contacts, conversions, abandons and service level."""
    campaign = _campaign(session, name)
    (fig,) = campaign_figures(session, [campaign.id])
    limit = in_force(campaign).abandon_target
    contacts = session.scalar(
        select(func.count())
        .select_from(Disposition)
        .join(Attempt, Attempt.id == Disposition.attempt_id)
        .where(Attempt.campaign_id == campaign.id, Disposition.code.in_([c.value for c in REACHED]))
    )
    in_flight = session.scalar(
        select(func.count()).where(
            Attempt.campaign_id == campaign.id,
            Attempt.channel == Channel.CALL,
            Attempt.status.in_(_IN_FLIGHT),
        )
    )
    return LiveCounts(
        campaign.id,
        {
            "campaign": campaign.name,
            "kind": campaign.kind.value,
            "status": campaign.status.value,
            "pacing": in_force(campaign).pacing.value,
            "actions": actions_for(campaign.status.value),
            "dials": fig.dials,
            "human_answers": fig.human_answers,
            "connected": fig.connects,
            "right_party_contacts": int(contacts or 0),
            "conversions": fig.conversions,
            "abandoned": fig.abandoned,
            "abandon_rate": round(fig.abandon_rate, 4) if fig.human_answers else None,
            "abandon_limit": limit,
            "over_abandon_limit": bool(fig.human_answers and fig.abandon_rate > limit),
            "service_level": _service_level(session, campaign.id, now),
            "service_seconds": SERVICE_SECONDS,
            "lines_in_flight": int(in_flight or 0),
            "as_of": now.isoformat(),
        },
    )


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _service_level(session: Session, campaign_id: int, now: dt.datetime) -> float | None:
    """Live answers of the last hour an agent took within SERVICE_SECONDS (as in KPIs)."""
    since = now - SERVICE_WINDOW
    first_talk = (
        select(AgentEvent.attempt_id, func.min(AgentEvent.at).label("talk_at"))
        .where(AgentEvent.campaign_id == campaign_id, AgentEvent.state == AgentState.TALK.value)
        .group_by(AgentEvent.attempt_id)
        .subquery()
    )
    rows = session.execute(
        select(Attempt.answered_at, Attempt.status, first_talk.c.talk_at)
        .outerjoin(first_talk, first_talk.c.attempt_id == Attempt.id)
        .where(
            Attempt.campaign_id == campaign_id,
            Attempt.channel == Channel.CALL,
            Attempt.answered_at.is_not(None),
            Attempt.answered_at >= since,
            Attempt.status.in_(
                (AttemptStatus.IN_PROGRESS, AttemptStatus.COMPLETED, AttemptStatus.ABANDONED)
            ),
        )
    ).all()
    if not rows:
        return None
    in_time = sum(
        1
        for answered, status, talk in rows
        if status != AttemptStatus.ABANDONED
        and (talk is None or (_aware(talk) - _aware(answered)).total_seconds() <= SERVICE_SECONDS)
    )
    return round(in_time / len(rows), 4)


def agents_by_state(
    statuses: list[AgentStatus], names: Mapping[int, str], now: float
) -> dict[str, Any]:
    """The agents on a campaign, counted by state and listed longest in state first."""
    counts = {state.value: 0 for state in AgentState if state is not AgentState.OFFLINE}
    listed = []
    for s in sorted(statuses, key=lambda s: s.since):
        if s.state is AgentState.OFFLINE:
            continue
        counts[s.state.value] += 1
        listed.append(
            {
                "agent": names.get(s.agent_id, f"agent {s.agent_id}"),
                "state": s.state.value,
                "seconds_in_state": max(0, round(now - s.since)),
                "pause_code": s.pause_code,
            }
        )
    return {"by_state": counts, "list": listed, "logged_in": len(listed)}


def agent_names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))
    return {int(i): str(n) for i, n in rows}


# --- imports, models, the matrix ----------------------------------------------------


def import_runs(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    runs = session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "source": Path(r.source).name,  # the file's name; where it lay is not needed
            "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at),
            "read": r.read,
            "imported": r.imported,
            "updated": r.updated,
            "rejected": r.rejected,
            "status": r.status,
            "has_rejects": bool(r.rejects_file) and Path(str(r.rejects_file)).is_file(),
        }
        for r in runs
    ]


def rejects_file(session: Session, run_id: int) -> Path | None:
    run = session.get(ImportRun, run_id)
    if run is None or not run.rejects_file:
        return None
    path = Path(run.rejects_file)
    return path if path.is_file() else None


def artifact_folder(version: ModelVersion) -> Path:
    return Path(version.artifact_path).parent


def calibration_plot(session: Session, version: str) -> Path | None:
    mv = session.scalars(select(ModelVersion).where(ModelVersion.version == version)).first()
    if mv is None:
        return None
    for name in ("calibration.svg", "calibration.png"):
        path = artifact_folder(mv) / name
        if path.is_file():
            return path
    return None


def model_versions(session: Session) -> list[dict[str, Any]]:
    """Every model version, newest first, with what its artifact folder holds."""
    out = []
    for mv in session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())):
        folder = artifact_folder(mv)
        meta: dict[str, Any] = {}
        meta_file = folder / "metadata.json"
        if meta_file.is_file():
            try:
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
        card = folder / "model_card.md"
        out.append(
            {
                "version": mv.version,
                "kind": mv.kind.value,
                "active": mv.active,
                "created_at": _iso(mv.created_at),
                "trained_from": mv.trained_from.isoformat() if mv.trained_from else None,
                "trained_to": mv.trained_to.isoformat() if mv.trained_to else None,
                "rows": mv.rows,
                "metrics": mv.metrics or {},
                "features": meta.get("features") or {},
                "has_calibration": any(
                    (folder / n).is_file() for n in ("calibration.svg", "calibration.png")
                ),
                "model_card": card.read_text(encoding="utf-8") if card.is_file() else None,
            }
        )
    return out


def top_reasons(session: Session, version: str, limit: int = 10) -> list[dict[str, Any]]:
    """How often each reason heads a customer's list under ``version``: the model's
    strongest drivers as agents hear them (the reasons come from the model itself)."""
    mv = session.scalars(select(ModelVersion).where(ModelVersion.version == version)).first()
    if mv is None or mv.kind is not ModelKind.CHURN:
        return []
    counts: dict[str, int] = {}
    scored = 0
    for (reasons,) in session.execute(
        select(Score.reasons).where(Score.model_version_id == mv.id).limit(50_000)
    ):
        top = (reasons or {}).get("top") or []
        scored += 1
        for reason in top:
            code = str(reason.get("code", "?"))
            counts[code] = counts.get(code, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [
        {"reason": code, "customers": n, "share": round(n / scored, 4) if scored else None}
        for code, n in ranked
    ]


def matrix_view(session: Session) -> tuple[Matrix, dict[str, int]]:
    """The matrix in force and how many customers each segment holds."""
    conn = session.connection()
    return load_matrix(conn), customers_by_segment(conn)
