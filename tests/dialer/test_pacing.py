"""Pacing: preview, progressive and predictive line counts, the risk feedback, the window."""

from __future__ import annotations

import pytest

from dialer.pacing import (
    Clock,
    OutcomeWindow,
    PacingMode,
    PacingSettings,
    PacingState,
    WindowStats,
    decide,
    lines_to_dial,
    progressive_lines,
    risk_budget,
)
from scripts.bench_pacing import Scenario, SimClock, simulate

PREDICTIVE = PacingSettings(mode=PacingMode.PREDICTIVE)
NOW = 10_000.0


def observed(
    *,
    answer_rate: float = 0.25,
    answers: int = 200,
    abandons: int = 0,
    measured_answers: int = 1_000,
    measured_abandons: int = 10,
) -> WindowStats:
    """A window with enough live answers to leave warm-up."""
    return WindowStats(
        dials=round(answers / answer_rate),
        human_answers=answers,
        abandons=abandons,
        answer_ring_seconds=tuple(8.0 + (i % 9) for i in range(answers)),
        measured_answers=measured_answers,
        measured_abandons=measured_abandons,
    )


def floor(
    ready: int, ringing: int = 0, waiting: int = 0, stats: WindowStats | None = None
) -> PacingState:
    """Ten agents talking, ``ready`` ready, ``ringing`` calls rung for 3 s."""
    return PacingState(
        now=NOW,
        agents_ready=ready,
        talk_started=(NOW - 60.0,) * 10,
        ringing_started=(NOW - 3.0,) * ringing,
        calls_waiting=waiting,
        stats=observed() if stats is None else stats,
    )


@pytest.mark.parametrize(
    ("ready", "ringing", "waiting", "expected"),
    [(5, 0, 0, 5), (5, 2, 0, 3), (5, 2, 1, 2), (2, 4, 0, 0), (0, 0, 3, 0)],
)
def test_progressive_is_ready_agents_minus_lines_in_flight(
    ready: int, ringing: int, waiting: int, expected: int
) -> None:
    state = floor(ready, ringing, waiting)
    assert progressive_lines(state) == expected
    assert lines_to_dial(state, PacingSettings(mode=PacingMode.PROGRESSIVE)) == expected


@pytest.mark.parametrize("ready", [0, 1, 30])
def test_preview_never_dials_on_its_own(ready: int) -> None:
    state = floor(ready, stats=observed(answer_rate=0.05))
    assert lines_to_dial(state, PacingSettings(mode=PacingMode.PREVIEW)) == 0


def test_predictive_overdials_when_answers_are_rare_and_agents_ready() -> None:
    state = floor(5, stats=observed(answer_rate=0.10))
    assert lines_to_dial(state, PREDICTIVE) > progressive_lines(state) + 5


def test_predictive_dials_ahead_of_wrap_ups_about_to_end() -> None:
    state = PacingState(
        now=NOW,
        agents_ready=0,
        wrap_started=(NOW - 29.0,) * 4,
        stats=observed(),
    )
    assert progressive_lines(state) == 0
    assert lines_to_dial(state, PREDICTIVE) > 0


def test_predictive_counts_calls_already_ringing() -> None:
    idle = floor(5)
    covered = floor(5, ringing=40)
    assert lines_to_dial(covered, PREDICTIVE) < lines_to_dial(idle, PREDICTIVE)


def test_predictive_backs_off_over_the_abandon_target() -> None:
    over = floor(5, stats=observed(answer_rate=0.10, measured_answers=1_000, measured_abandons=35))
    decision = decide(over, PREDICTIVE)
    assert decision.lines <= progressive_lines(over)
    assert decision.reason == "over abandon target"


def test_predictive_shrinks_the_budget_near_the_target() -> None:
    roomy = decide(
        floor(5, stats=observed(measured_answers=1_000, measured_abandons=10)), PREDICTIVE
    )
    tight = decide(
        floor(5, stats=observed(measured_answers=1_000, measured_abandons=30)), PREDICTIVE
    )
    assert tight.reason == "predictive"
    assert tight.risk_budget < roomy.risk_budget / 2
    assert tight.lines <= roomy.lines


def test_a_stricter_target_dials_fewer_lines() -> None:
    state = floor(5, stats=observed(answer_rate=0.10, measured_abandons=5))
    strict = PacingSettings(mode=PacingMode.PREDICTIVE, abandon_target=0.01)
    assert lines_to_dial(state, strict) < lines_to_dial(state, PREDICTIVE)


def test_risk_budget_shrinks_as_measured_abandons_rise() -> None:
    budgets = [
        risk_budget(observed(measured_abandons=abandons, abandons=abandons // 5), PREDICTIVE)
        for abandons in (0, 10, 20, 28)
    ]
    assert budgets == sorted(budgets, reverse=True)
    assert budgets[0] > budgets[-1]


def test_predictive_runs_progressive_during_warm_up() -> None:
    state = PacingState(
        now=NOW,
        agents_ready=5,
        stats=observed(answer_rate=0.10, answers=PREDICTIVE.warmup_answers - 1),
    )
    decision = decide(state, PREDICTIVE)
    assert decision.reason == "warm-up"
    assert decision.lines == progressive_lines(state) == 5


def test_outcome_window_forgets_old_outcomes() -> None:
    settings = PacingSettings(window_seconds=100.0, measuring_window_seconds=1_000.0)
    window = OutcomeWindow(settings)
    window.record_dial(0.0, answered=True, ring_seconds=10.0)
    window.record_abandon(0.0)
    window.record_dial(50.0, answered=False, ring_seconds=25.0)
    window.record_dial(150.0, answered=True, ring_seconds=12.0)
    window.record_talk(150.0, 200.0)
    window.record_wrap(150.0, 30.0)

    stats = window.snapshot(160.0)
    assert (stats.dials, stats.human_answers, stats.abandons) == (1, 1, 0)
    assert stats.answer_ring_seconds == (12.0,)
    assert (stats.mean_talk_seconds, stats.mean_wrap_seconds) == (200.0, 30.0)
    assert (stats.measured_answers, stats.measured_abandons) == (2, 1)

    later = window.snapshot(1_100.0)
    assert (later.dials, later.measured_answers, later.measured_abandons) == (0, 1, 0)
    assert later.mean_talk_seconds == WindowStats().mean_talk_seconds


def test_the_simulator_clock_is_a_pacing_clock() -> None:
    clock: Clock = SimClock()
    assert clock.now() == 0.0


def test_short_simulation_keeps_abandons_under_target() -> None:
    scenario = Scenario(pacer="predictive", agents=10, hours=0.5, seed=7)
    result = simulate(scenario)
    assert result.answers > 30
    assert result.abandons <= 0.03 * result.answers
    assert simulate(scenario) == result


def test_predictive_keeps_agents_busier_than_progressive() -> None:
    predictive = simulate(Scenario(pacer="predictive", agents=30, hours=2.0, seed=3))
    progressive = simulate(Scenario(pacer="progressive", agents=30, hours=2.0, seed=3))
    assert progressive.abandons == 0
    assert predictive.abandons <= 0.03 * predictive.answers
    assert predictive.occupancy > progressive.occupancy + 0.1
