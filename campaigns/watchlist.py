"""The satisfaction watch list: customers whose latest survey says they may leave.

A customer's latest survey decides, so an old bad answer followed by a good one is no
longer a worry. The bands are the playbook's (``scoring.value.SATISFACTION_BANDS``): on a
1-10 scale 6 or less is at risk; on a 1-5 scale 1-2 is open and 3 hidden
dissatisfaction. Promoters (9-10 of 10, 5 of 5) are listed apart, for referral and
up-sell lists.

Each customer comes with the churn risk and CLV of their latest churn score, their open
complaints, and the contacts since the survey: how many, the last one (when, by which
campaign, on which channel, how it ended) and whether an agent spoke with them. A contact
is an attempt that reached the carrier (``policy.rules.CONTACTED``); speaking is a
conversation an agent recorded. Customers who hold nothing any more (their latest score
has no churn risk) are left out and counted: they are for a win-back list.

At risk first by value at risk (churn risk x CLV), the largest first, customers not
scored yet last; promoters by CLV. The planner takes the at-risk customers nobody has
spoken with since their survey as the candidates of an anti-churn or follow-up list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from campaigns.watchlist_reads import surveyed_customers
from scoring.value import DISSATISFIED, PROMOTER

__all__ = ["READINGS", "WatchList", "at_risk_by_survey", "rows_json", "watch_list"]

# what each reading of a survey means, said for the retention team
READINGS = {
    "watch": "at risk: 6 or less of 10",
    "open_dissatisfaction": "open dissatisfaction: 1-2 of 5",
    "hidden_dissatisfaction": "hidden dissatisfaction: 3 of 5",
    "promoter": "promoter: 9-10 of 10 or 5 of 5",
}


@dataclass(frozen=True)
class WatchList:
    """The customers at risk by their latest survey and the promoters, each sorted."""

    at_risk: pd.DataFrame
    promoters: pd.DataFrame
    left: int  # dissatisfied by their latest survey, but holding nothing any more

    def counts(self) -> dict[str, int]:
        readings = self.at_risk["reading"].value_counts()
        return {
            "at_risk": len(self.at_risk),
            **{reading: int(readings.get(reading, 0)) for reading in DISSATISFIED},
            "not_contacted_since_survey": int((self.at_risk["contacts_since_survey"] == 0).sum()),
            "with_open_complaints": int((self.at_risk["open_complaints"] > 0).sum()),
            "promoters": len(self.promoters),
            "left": self.left,
        }

    def to_json(self, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """The counts and the rows of both lists from ``offset``, ``limit`` of each."""
        end = None if limit is None else offset + limit
        return {
            "counts": self.counts(),
            "offset": offset,
            "limit": limit,
            "at_risk": rows_json(self.at_risk.iloc[offset:end]),
            "promoters": rows_json(self.promoters.iloc[offset:end]),
            "notes": self.notes(),
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """Both lists in one table, each row saying its list: at_risk or promoter."""
        return [
            *({"list": "at_risk", **row} for row in rows_json(self.at_risk)),
            *({"list": "promoter", **row} for row in rows_json(self.promoters)),
        ]

    def notes(self) -> list[str]:
        notes = []
        if self.left:
            notes.append(
                f"{self.left:,} customers dissatisfied by their latest survey hold nothing any "
                "more and are left out: a win-back list is for them"
            )
        unscored = int((~self.at_risk["scored"]).sum()) if len(self.at_risk) else 0
        if unscored:
            notes.append(
                f"{unscored:,} customers at risk have no churn score yet and come last: "
                "run `telecampaign score`"
            )
        return notes


_COLUMNS = (
    "customer",
    "name",
    "segment",
    "survey_at",
    "score",
    "scale",
    "reading",
    "churn_risk",
    "clv",
    "value_at_risk",
    "open_complaints",
    "contacts_since_survey",
    "last_contact_at",
    "last_contact_campaign",
    "last_contact_channel",
    "last_contact_outcome",
    "spoken_since_survey",
)


def rows_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for JSON and CSV: instants as ISO text, figures rounded, gaps as None."""
    return [
        {str(key): _plain(str(key), value) for key, value in record.items()}
        for record in frame[list(_COLUMNS)].to_dict("records")
    ]


_ROUNDED = {"churn_risk": 4, "clv": 2, "value_at_risk": 2}
_COUNTS = ("score", "scale", "open_complaints", "contacts_since_survey")


def _plain(key: str, value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat()
    if key in _ROUNDED:
        return round(float(value), _ROUNDED[key])
    if key in _COUNTS:
        return int(value)
    if key == "spoken_since_survey":
        return bool(value)
    return str(value)


def _read(conn: Connection) -> WatchList:
    frame = surveyed_customers(conn, (*DISSATISFIED, PROMOTER))
    gone = frame["scored"] & frame["churn_risk"].isna()  # holds nothing: cannot churn
    current = frame[~gone]
    at_risk = current[current["reading"].isin(DISSATISFIED)].sort_values(
        ["value_at_risk", "survey_at", "customer_id"],
        ascending=[False, False, True],
        na_position="last",
    )
    promoters = current[current["reading"] == PROMOTER].sort_values(
        ["clv", "survey_at", "customer_id"], ascending=[False, False, True], na_position="last"
    )
    left = int((gone & frame["reading"].isin(DISSATISFIED)).sum())
    return WatchList(at_risk=at_risk, promoters=promoters, left=left)


def watch_list(engine: Engine) -> WatchList:
    """The watch list and the promoters as the store holds them now."""
    with engine.connect() as conn:
        return _read(conn)


def at_risk_by_survey(conn: Connection) -> tuple[pd.Index, int]:
    """For the planner: the customers at risk whom nobody has spoken with since their
    survey (already followed up otherwise), and how many were spoken with."""
    at_risk = _read(conn).at_risk
    spoken = at_risk["spoken_since_survey"].astype(bool)
    return at_risk.index[~spoken.to_numpy()], int(spoken.sum())
