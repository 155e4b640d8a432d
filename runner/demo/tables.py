"""The demo's tables: the imports, the base, the riskiest customers, the models' metrics
and the dialing run's figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, func, select

from runner.progress import progress_bar
from runner.settings import Settings
from store.importer import KINDS, import_file
from store.models import (
    Customer,
    DncEntry,
    Holding,
    Interaction,
    MatrixVersion,
    Score,
    Segment,
)

__all__ = ["base_table", "dialing_table", "import_all", "metrics_table", "top_risks"]


def dialing_table(worked: list[Any], engine: Engine) -> Table:
    from campaigns.settings.versions import in_force
    from store.db import transaction
    from store.models import Campaign

    table = Table(title="Dialing, by list")
    for column in ("list", "dials", "answered", "connected", "abandoned", "machine", "texts"):
        table.add_column(column, justify="left" if column == "list" else "right")
    table.add_column("accepted", justify="right")
    for f in worked:
        with transaction(engine) as session:
            campaign = session.get(Campaign, f.campaign_id)
            assert campaign is not None
            target = in_force(campaign).abandon_target
        table.add_row(
            f.kind,
            f"{f.dials:,}",
            f"{f.human_answers:,}",
            f"{f.connects:,}",
            f"{f.abandoned:,} = {f.abandon_rate:.1%} (max {target:.0%})",
            f"{f.machines:,}",
            f"{f.texts:,}",
            f"{f.conversions:,} of {f.dispositions:,}",
        )
    return table


def metrics_table(metrics: dict[str, dict[str, float]]) -> Table:
    validation = metrics["validation"]
    table = Table(
        title=f"out-of-time validation: {validation['rows']:,} customers, "
        f"{validation['churn_rate']:.1%} churned"
    )
    for column in ("metric", "model", "logistic baseline"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in ("roc_auc", "pr_auc", "brier", "top_decile_lift"):
        table.add_row(key, f"{metrics['model'][key]:.3f}", f"{metrics['baseline'][key]:.3f}")
    return table


def top_risks(engine: Engine, limit: int = 5) -> Table:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Customer.external_id, Score.p_churn, Score.clv, Score.abc_class, Score.reasons)
            .join(Score, Score.customer_id == Customer.id)
            .where(Score.p_churn.is_not(None))
            .order_by(Score.p_churn.desc(), Score.clv.desc())
            .limit(limit)
        ).all()
    table = Table(title="highest churn risk")
    for column in ("customer", "risk", "CLV", "ABC", "why"):
        table.add_column(column, justify="right" if column in ("risk", "CLV") else "left")
    for external_id, p, value, abc, reasons in rows:
        why = "; ".join(r["text"] for r in reasons.get("top", []))
        table.add_row(external_id, f"{p:.0%}", f"{value:,.0f}", abc or "", why)
    return table


def import_all(engine: Engine, settings: Settings, folder: Path) -> Table:
    table = Table(title="imports")
    for column in ("file", "read", "imported", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column == "file" else "right", no_wrap=True)
    for kind in KINDS:  # in the order rows refer to each other
        with progress_bar(f"importing {kind}") as advance:
            result = import_file(
                engine,
                kind,
                folder / f"{kind}.csv",
                rejects_dir=settings.home / "rejects",
                default_region=settings.default_region,
                progress=advance,
            )
        table.add_row(
            f"{kind}.csv",
            f"{result.read:,}",
            f"{result.imported:,}",
            f"{result.updated:,}",
            f"{result.unchanged:,}",
            f"{result.rejected:,}",
        )
    return table


def base_table(engine: Engine) -> Table:
    with engine.connect() as conn:
        by_segment = conn.execute(
            select(Segment.code, Customer.customer_type, func.count(Customer.id))
            .join(Customer, Customer.segment_id == Segment.id)
            .group_by(Segment.code, Customer.customer_type)
            .order_by(Segment.code)
        ).all()
        active = conn.execute(
            select(func.count(func.distinct(Holding.customer_id))).where(Holding.end_date.is_(None))
        ).scalar_one()
        complaints = conn.execute(
            select(func.count()).where(Interaction.kind == "complaint")
        ).scalar_one()
        dnc = conn.execute(select(func.count(DncEntry.id))).scalar_one()
        matrix = conn.execute(select(func.max(MatrixVersion.version))).scalar()
    table = Table(title=f"customers by segment (matrix version {matrix})")
    table.add_column("segment")
    table.add_column("type")
    table.add_column("customers", justify="right")
    for code, kind, count in by_segment:
        table.add_row(code, str(kind), f"{count:,}")
    table.caption = (
        f"{active:,} customers with an active product, {complaints:,} complaints on record, "
        f"{dnc:,} do-not-call entries"
    )
    return table
