"""Step 10 of the demo: the anti-churn list judged by the ground truth, then the two lists
planned the way a manager reads the preview: the holdout share is the one the preview's
power says would show the expected effect, or, when no share would, equal groups (more
holdout on top of the same calls narrows the interval ever less), and the preview says
so before the launch. The holdout is drawn from the best-ranked candidates like the
treated, so a larger share trades some of the list's expected value for the measurement.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

__all__ = ["AGENTS", "CONTACTS_PER_HOUR", "HOURS", "call_lists", "holdout_for"]

# One working day of a small team: 4 agents, 6 hours on the phone, 8 contacts an hour.
AGENTS, HOURS, CONTACTS_PER_HOUR = 4, 6.0, 8.0
DEFAULT_HOLDOUT = 0.10
# equal groups when no share is enough: more holdout narrows the interval ever less
EQUAL_GROUPS = 0.50


def holdout_for(power: dict[str, Any]) -> tuple[float, str]:
    """The holdout share to plan with after a preview at the default share, and why."""
    needed = power["holdout_needed"]
    if power["warning"] is None:
        return DEFAULT_HOLDOUT, f"{DEFAULT_HOLDOUT:.0%} held out shows the expected effect"
    if needed is not None:
        return needed, f"the preview at {DEFAULT_HOLDOUT:.0%} asked for {needed:.0%}"
    return EQUAL_GROUPS, (
        f"no holdout share lets these calls show the expected effect: equal groups "
        f"({EQUAL_GROUPS:.0%} held out) give nearly the narrowest interval these calls can have"
    )


def call_lists(engine: Engine, console: Console, truth_file: Path) -> list[str]:
    """Judge an anti-churn list against the ground truth, then plan the demo's two lists."""
    from campaigns.lifecycle import move
    from campaigns.plan_request import PlanRequest
    from campaigns.planner import plan
    from runner.reports.tables import plan_preview
    from store.models import Campaign, CampaignKind, CampaignStatus

    size = int(AGENTS * HOURS * CONTACTS_PER_HOUR)
    console.print(_judged(engine, truth_file, size))
    # a demo run starts over: lists an earlier run planned give their customers back
    with engine.connect() as conn:
        earlier = (
            conn.execute(
                select(Campaign.name).where(
                    Campaign.name.like("demo %"), Campaign.status == CampaignStatus.PLANNED
                )
            )
            .scalars()
            .all()
        )
    for name in earlier:
        move(engine, name, "stop")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    names = []
    for kind in (CampaignKind.ANTI_CHURN, CampaignKind.CROSS_SELL):
        asked: dict[str, Any] = {
            "kind": kind,
            "name": f"demo {kind.value} {stamp}",
            "agents": AGENTS,
            "hours": HOURS,
            "contacts_per_hour": CONTACTS_PER_HOUR,
            "seed": 1,
        }
        first = plan(engine, PlanRequest(**asked, holdout=DEFAULT_HOLDOUT), dry_run=True)
        share, why = holdout_for(first.preview["power"])
        console.print(f"[bold]{asked['name']}[/]: holdout {share:.0%} ({why})")
        request = PlanRequest(**asked, holdout=share)
        for part in plan_preview(plan(engine, request).preview, stored=True):
            console.print(part)
        names.append(request.name)
    return names


def _judged(engine: Engine, truth_file: Path, size: int) -> Table:
    from simulation.targeting import evaluate

    checked = evaluate(engine, truth_file, size)
    table = Table(title=f"Anti-churn lists of {size} customers, judged by the ground truth")
    for column in ("built by", "true saves", "true value kept", "of the oracle"):
        table.add_column(column, justify="left" if column == "built by" else "right")
    best = checked["oracle"]["incremental_value"]
    for rule, label in (
        ("planner", f"planner ({checked['basis'].replace('_', ' x ')})"),
        ("risk_only", "highest risk only"),
        ("risk_value", "risk x value"),
        ("random", "at random"),
        ("feature_ceiling", "a model fitted on the true effects"),
        ("oracle", "oracle (true effects)"),
    ):
        row = checked[rule]
        table.add_row(
            label,
            f"{row['incremental_saves']:,.1f}",
            f"{row['incremental_value']:,.0f}",
            f"{row['incremental_value'] / best:.0%}" if best > 0 else "-",
        )
    return table
