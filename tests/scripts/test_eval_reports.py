"""`scripts/eval_reports.py` runs one seed end to end: plan, launch, dial against the
simulator, the drawn feed, the saved-customer report, set against the ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.eval_reports import main


@pytest.mark.slow
def test_one_seed_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "--seeds", "1", "--first-seed", "3", "--customers", "1500", "--size", "120",
            "--agents", "10", "--work", str(tmp_path), "--json",
        ]
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {
        "seeds", "covered", "mean_estimate", "mean_truth", "saves", "revenue", "runs"
    }  # fmt: skip
    assert result["seeds"] == 1
    (run,) = result["runs"]
    assert run["treated"] == 120
    assert run["holdout"] == 120
    assert 0 < run["reached"] <= run["treated"]
    assert run["truth"] > 0, "the calls lower churn in the demo data's ground truth"
    low, high = run["ci95"]
    assert low < run["estimate"] < high
    assert result["covered"] == int(low <= run["truth"] <= high)
    assert (tmp_path / "seed-3" / "feed.csv").exists()
    assert (tmp_path / "seed-3" / "bills.csv").exists()
    for outcome in ("saves", "revenue"):
        for label in ("unadjusted", "adjusted"):
            summary = result[outcome][label]
            assert summary["seeds"] == 1
            assert summary["covered"] == int(run[outcome][label]["covered"])
            assert summary["mean_width"] == run[outcome][label]["width"]
    assert run["saves"]["unadjusted"]["ci95"] == run["ci95"]
    assert run["revenue"]["truth"] > 0, "a call that keeps customers keeps their bills"
    # the bills before the launch predict the bills after it far better than a score
    # predicts a churn
    assert result["revenue"]["narrower"] > result["saves"]["narrower"]
