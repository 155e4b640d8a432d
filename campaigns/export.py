"""A campaign's list as a CSV file, for people and for other dialers.

Holdout rows are included and marked: whoever works the file must see that they are
not to be called. The file holds names and numbers, so it is written with owner-only
permissions, also when it replaces an older export, and a name a spreadsheet would run
as a formula is written as text (``store.csv_out``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from campaigns.lifecycle import get_campaign
from store.csv_out import csv_file
from store.models import Customer, ListEntry, Product, Score, Segment

__all__ = ["COLUMNS", "export_list"]

COLUMNS = (
    "customer_id",
    "name",
    "phone",
    "country",
    "timezone",
    "segment",
    "group",
    "status",
    "offer",
    "product",
    "script",
    "expected_value",
    "score_decile",
    "p_churn",
    "clv",
    "reasons",
)


def export_list(engine: Engine, name: str, path: Path) -> int:
    """Write the list of campaign ``name`` to ``path``; returns the number of rows."""
    campaign = get_campaign(engine, name)
    stmt = (
        select(
            Customer.external_id,
            Customer.name,
            Customer.phone,
            Customer.country,
            Customer.timezone,
            Segment.code,
            ListEntry.group,
            ListEntry.status,
            ListEntry.offer,
            Product.code,
            ListEntry.script_template,
            ListEntry.expected_value,
            ListEntry.score_decile,
            Score.p_churn,
            Score.clv,
            Score.reasons,
        )
        .join(Customer, Customer.id == ListEntry.customer_id)
        .outerjoin(Segment, Segment.id == Customer.segment_id)
        .outerjoin(Product, Product.id == ListEntry.product_id)
        .outerjoin(
            Score,
            (Score.customer_id == ListEntry.customer_id)
            & (Score.model_version_id == campaign.model_version_id),
        )
        .where(ListEntry.campaign_id == campaign.id)
        .order_by(ListEntry.group.desc(), ListEntry.expected_value.desc(), ListEntry.id)
    )
    rows = 0
    with csv_file(path) as writer, engine.connect() as conn:
        writer.writerow(COLUMNS)
        for row in conn.execute(stmt):
            *fields, p_churn, clv, reasons = row
            said = "; ".join(r.get("text", "") for r in (reasons or {}).get("top", []))
            writer.writerow(
                [
                    *(getattr(v, "value", v) for v in fields),
                    None if p_churn is None else round(p_churn, 4),
                    clv,
                    said,
                ]
            )
            rows += 1
    return rows
