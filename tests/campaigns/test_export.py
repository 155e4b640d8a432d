"""A planned list exported as CSV: every entry with its group, in an owner-only file."""

from __future__ import annotations

import csv
from pathlib import Path

from planner_base import ScoredBase, _request
from sqlalchemy import Engine

from campaigns.export import export_list
from campaigns.planner import plan


def test_export_writes_every_entry_with_its_group(
    engine: Engine, scored_base: ScoredBase, tmp_path: Path
) -> None:
    scored_base(60, p_churn=[0.3] * 60)
    result = plan(engine, _request(name="export-me", size=20))
    path = tmp_path / "out" / "list.csv"
    assert export_list(engine, "export-me", path) == result.preview["size"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["group"] for r in rows} == {"treatment", "holdout"}
    assert rows[0]["reasons"] == "contract ends soon"
    assert rows[0]["phone"].startswith("+1212")
    assert path.stat().st_mode & 0o077 == 0
