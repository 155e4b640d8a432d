"""The dispatch benchmark, run tiny: every attempt ends final and the figures are complete."""

from __future__ import annotations

import json

import pytest

from scripts.bench_dispatch import main, percentile

pytestmark = pytest.mark.slow


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0], 0.95) == 3.0


def test_a_tiny_run_ends_every_attempt(
    embedded_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--attempts", "40", "--workers", "1", "--redis", embedded_redis, "--json"])
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert figures["attempts"] == 40
    assert figures["all_final"] is True
    assert figures["database"] == "sqlite"
    assert figures["workers"] == 1
    assert isinstance(figures["redis"], str)
    for key in ("seconds", "attempts_per_second", "latency_p50_s", "latency_p95_s"):
        assert isinstance(figures[key], float)
        assert figures[key] >= 0.0
    assert figures["latency_p50_s"] <= figures["latency_p95_s"]
    assert sum(figures["statuses"].values()) == 40
    assert set(figures["statuses"]) <= {"busy", "no-answer", "failed"}
    assert figures["callbacks_failed"] == 0
