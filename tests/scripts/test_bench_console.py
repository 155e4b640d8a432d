"""The console benchmark, run tiny: agents log in to two web processes, take calls, and
the figures are complete."""

from __future__ import annotations

import json

import pytest

from scripts.bench_console import main

pytestmark = pytest.mark.slow

ENDPOINT_KEYS = {"count", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


def test_a_tiny_run_reports_both_endpoints(
    embedded_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--agents",
            "4",
            "--seconds",
            "12",
            "--poll-seconds",
            "4",
            "--ramp",
            "1",
            "--settle",
            "2",
            "--workers",
            "1",
            "--web",
            "2",  # the agents shared out between two web processes
            "--time-scale",
            "20",  # calls of three real seconds: several within the run
            "--redis",
            embedded_redis,
            "--json",
        ]
    )
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert figures["agents"] == 4
    assert figures["database"] == "sqlite"
    assert figures["workers"] == 1
    assert figures["web"] == 2
    assert len(set(figures["web_pids"])) == 2
    assert set(figures["phases"]) == {"live", "polling"}
    live, polling = figures["phases"]["live"], figures["phases"]["polling"]
    for phase in (live, polling):
        assert set(phase) >= {
            "seconds",
            "endpoints",
            "calls_seen",
            "errors",
            "dialer",
            "cpu_seconds",
            "cpu_cores",
            "machine_cpu_busy",
        }
        assert {"web0", "web1"} <= set(phase["cpu_seconds"])
        assert "bench" in phase["cpu_seconds"]
        for summary in phase["endpoints"].values():
            assert set(summary) == ENDPOINT_KEYS
            assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    # four agents get calls within seconds: both endpoints were measured while live
    assert live["endpoints"]["call"]["count"] >= 1
    assert figures["steady_after_seconds"] == 3
    for endpoint, summary in live["steady_endpoints"].items():
        assert summary["count"] <= live["endpoints"][endpoint]["count"]
    assert live["endpoints"]["disposition"]["count"] >= 1
    assert live["errors"] == {}
    assert polling["endpoints"]["poll"]["count"] >= 4
    assert figures["target_p99_ms"] == 100.0
    assert "client" in figures["note"]
