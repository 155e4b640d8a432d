"""Pacing: preview, progressive and predictive line counts, the risk feedback, the window,
and the abandon limit held at every moment of every measuring window."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_predictive_risks_no_line_at_the_target() -> None:
    roomy = decide(
        floor(5, stats=observed(measured_answers=1_000, measured_abandons=10)), PREDICTIVE
    )
    full = floor(5, stats=observed(measured_answers=1_000, measured_abandons=30))
    tight = decide(full, PREDICTIVE)
    assert roomy.reason == "predictive"
    assert roomy.lines > progressive_lines(full)
    assert tight.reason == "no room for an abandon"
    assert tight.lines == progressive_lines(full)


@pytest.mark.parametrize("answers", [0, 1, 2, 5, 20, 32])
def test_predictive_dials_like_progressive_at_a_campaigns_first_answers(answers: int) -> None:
    """Rare answers and ready agents: predictive would dial far ahead, but no abandon fits
    under 3% until 33 live answers (1 of 34 is 2.9%)."""
    state = floor(
        5, stats=observed(answer_rate=0.10, measured_answers=answers, measured_abandons=0)
    )
    decision = decide(state, PREDICTIVE)
    assert decision.reason == "no room for an abandon"
    assert decision.lines == progressive_lines(state) == 5


@pytest.mark.parametrize(
    ("target", "answers", "abandons", "extra"),
    [(0.03, 33, 0, 1), (0.03, 66, 0, 2), (0.03, 66, 1, 1), (0.01, 98, 0, 0), (0.01, 99, 0, 1)],
)
def test_a_line_beyond_the_agents_needs_room_for_its_own_abandon(
    target: float, answers: int, abandons: int, extra: int
) -> None:
    """``extra`` lines beyond the ready agents: the most that can all abandon with the
    rate, their own answers counted, still at or below the target."""
    strict = PacingSettings(mode=PacingMode.PREDICTIVE, abandon_target=target)
    state = floor(
        5, stats=observed(answer_rate=0.10, measured_answers=answers, measured_abandons=abandons)
    )
    assert lines_to_dial(state, strict) == progressive_lines(state) + extra
    assert (abandons + extra) / (answers + extra) <= target


@pytest.mark.parametrize(
    ("ready", "ringing", "waiting", "expected"),
    [(2, 5, 0, 0), (2, 4, 0, 1), (2, 2, 0, 3), (0, 0, 3, 0), (0, 0, 2, 1), (4, 0, 0, 7)],
)
def test_lines_already_beyond_the_agents_use_up_the_room(
    ready: int, ringing: int, waiting: int, expected: int
) -> None:
    """3 abandons of room (6 of 200 at 3%, 3 taken): each line in flight beyond the ready
    agents, ringing or answered and waiting, may abandon with the new ones. Six wrap-ups
    about to end make predictive want many more lines than that."""
    state = PacingState(
        now=NOW,
        agents_ready=ready,
        talk_started=(NOW - 60.0,) * 4,
        wrap_started=(NOW - 29.0,) * 6,
        ringing_started=(NOW - 3.0,) * ringing,
        calls_waiting=waiting,
        stats=observed(answer_rate=0.10, measured_answers=200, measured_abandons=3),
    )
    assert lines_to_dial(state, PREDICTIVE) == expected


def test_a_measuring_window_about_to_close_risks_no_line() -> None:
    open_ = floor(5, stats=replace(observed(answer_rate=0.10), measured_until=NOW + 3_600.0))
    closing = floor(5, stats=replace(observed(answer_rate=0.10), measured_until=NOW + 20.0))
    assert lines_to_dial(open_, PREDICTIVE) > progressive_lines(open_)
    assert decide(closing, PREDICTIVE).lines == progressive_lines(closing)


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
    window.record_dial(10.0, answered=True, ring_seconds=10.0)
    window.record_abandon(12.0, dialed_at=0.0)
    window.record_dial(50.0, answered=False, ring_seconds=25.0)
    window.record_dial(150.0, answered=True, ring_seconds=12.0)
    window.record_talk(150.0, 200.0)
    window.record_wrap(150.0, 30.0)

    stats = window.snapshot(160.0)
    assert (stats.dials, stats.human_answers, stats.abandons) == (1, 1, 0)
    assert stats.answer_ring_seconds == (12.0,)
    assert (stats.mean_talk_seconds, stats.mean_wrap_seconds) == (200.0, 30.0)
    assert (stats.measured_answers, stats.measured_abandons) == (2, 1)
    assert stats.measured_until == 1_000.0

    later = window.snapshot(1_100.0)
    assert (later.dials, later.measured_answers, later.measured_abandons) == (0, 0, 0)
    assert later.measured_until == 2_000.0
    assert later.mean_talk_seconds == WindowStats().mean_talk_seconds


def test_measuring_windows_follow_one_another_from_the_launch() -> None:
    """A window is not a sliding day: old answers leaving it would raise its rate with no
    new abandon. A call counts in the window it was dialled in."""
    window = OutcomeWindow(PacingSettings(measuring_window_seconds=1_000.0), origin=500.0)
    window.record_dial(1_495.0, answered=True, ring_seconds=10.0)  # dialled at 1485
    window.record_dial(1_520.0, answered=True, ring_seconds=10.0)  # dialled at 1510
    window.record_abandon(1_522.0, dialed_at=1_490.0)  # the first window's

    stats = window.snapshot(1_530.0)
    assert (stats.measured_answers, stats.measured_abandons) == (1, 0)
    assert stats.measured_until == 2_500.0


@dataclass
class Floor:
    """A floor run on the pacer's word, with the calls' fate left to an adversary.

    Ten agents, no wrap-up; an answered call takes a ready agent or is abandoned at once
    (no grace: the worst case). The recent window says answers are rare, so predictive
    wants to dial far ahead; the measuring window starts from ``answers``/``abandons``.
    """

    settings: PacingSettings
    answers: int
    abandons: int
    ready: int = 3
    talking: list[float] = field(default_factory=lambda: [0.0] * 7)
    ringing: list[float] = field(default_factory=list)
    now: float = 100.0
    recent: WindowStats = field(default_factory=lambda: observed(answer_rate=0.10))

    def pace(self) -> None:
        stats = replace(self.recent, measured_answers=self.answers, measured_abandons=self.abandons)
        state = PacingState(
            now=self.now,
            agents_ready=self.ready,
            talk_started=tuple(self.talking),
            ringing_started=tuple(self.ringing),
            stats=stats,
        )
        self.ringing += [self.now] * lines_to_dial(state, self.settings)

    def answer(self, calls: int) -> None:
        for _ in range(min(calls, len(self.ringing))):
            self.ringing.pop(0)
            self.answers += 1
            if self.ready:
                self.ready -= 1
                self.talking.append(self.now)
            else:
                self.abandons += 1
            assert self.abandons / self.answers <= self.settings.abandon_target, self

    def ring_out(self, calls: int) -> None:
        del self.ringing[: min(calls, len(self.ringing))]

    def free(self, agents: int) -> None:
        done = min(agents, len(self.talking))
        del self.talking[:done]
        self.ready += done


@settings(max_examples=60, deadline=None)
@given(
    target=st.sampled_from([0.01, 0.03]),
    answers=st.integers(0, 400),
    share=st.fractions(0, 1),
    seconds=st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 3)), max_size=150
    ),
)
def test_following_the_pacer_never_takes_the_rate_above_the_target(
    target: float,
    answers: int,
    share: Fraction,
    seconds: list[tuple[int, int, int]],
) -> None:
    """However the calls turn out (all answered at once with no agent free, or none), the
    measuring window's abandon rate stays at or below the target at every moment."""
    abandons = math.floor(share * Fraction(str(target)) * answers)
    floor_ = Floor(
        PacingSettings(mode=PacingMode.PREDICTIVE, abandon_target=target), answers, abandons
    )
    for answered, rung_out, freed in seconds:
        floor_.pace()
        floor_.answer(answered)
        floor_.ring_out(rung_out)
        floor_.free(freed)
        floor_.now += 1.0


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
