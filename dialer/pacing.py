"""Pacing: how many new lines a campaign should dial right now.

Pure logic over plain data, with time taken from an injected ``Clock``, so the live dialer
(its snapshot read from Redis and the database) and the discrete-event simulator in
``scripts/bench_pacing.py`` run the same code. Nothing here touches Redis, the database or
asyncio.

Modes:

    preview       never dials on its own; the agent asks for the next call
    progressive   one line per ready agent: ready agents minus lines in flight
    predictive    lines from the live answer rate and forecast agent availability, keeping
                  the abandoned share of live answers at or below the campaign's target

An answered call with no agent free within ``agent_connect_grace`` (2 s) gets the abandon
message and counts as abandoned; the rule (DESIGN.md) caps abandons at ``abandon_target``
(3% by default, 1% for retention lists) of live answers over the measuring window.

Predictive method, after Samuelson (1999), "Predictive dialing for outbound telephone
call centers", Interfaces 29(5): pick the number of new dials so that the risk that a
call is answered while no agent is free stays within a budget.

1. Forecast agents free by each future second ``h`` (plus the 2 s grace): ready now,
   wrap-ups due to end by then (the windowed mean wrap-up), and talkers expected to have finished
   talk and wrap-up (talk taken as memoryless with the windowed mean).
2. Forecast answers by ``h``: calls waiting for an agent, each ringing call with its
   conditional chance of still being answered within ``h`` given it has rung ``s``
   seconds (live answer rate and the empirical ring-time distribution of answered calls,
   both windowed), and ``n`` new dials.
3. Expected overflow ``E[(answers(h) - agents(h))+]`` under a normal approximation of that
   sum of Bernoullis. The ``n``-th new dial is placed while its marginal overflow, per live
   answer, stays at or below the risk budget at every ``h``.
4. The risk budget is set by feedback (PI-style) on the measured abandon rate against a
   set point below the target: the measuring-window rate is the integral term, the recent
   window rate the proportional one; with less than one abandon of room left under the
   target the budget shrinks with the room. Above the target the mode falls back to
   progressive, which cannot abandon; so it does until ``warmup_answers`` live answers
   are in the window, since the answer rate is not known yet.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Clock",
    "OutcomeWindow",
    "PacingDecision",
    "PacingMode",
    "PacingSettings",
    "PacingState",
    "WindowStats",
    "decide",
    "lines_to_dial",
    "progressive_lines",
    "risk_budget",
]

FloatArray = NDArray[np.float64]
_SEARCH_BLOCK = 16


class Clock(Protocol):
    """Where pacing reads the time: wall clock live, the event clock in simulation."""

    def now(self) -> float:
        """Seconds, on any fixed origin."""
        ...


class PacingMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


@dataclass(frozen=True)
class PacingSettings:
    """A campaign's pacing; ``abandon_target`` is a campaign setting (1% on retention lists)."""

    mode: PacingMode = PacingMode.PROGRESSIVE
    abandon_target: float = 0.03
    agent_connect_grace: float = 2.0
    ring_timeout: float = 25.0
    window_seconds: float = 900.0
    window_max_answers: int = 400
    measuring_window_seconds: float = 86_400.0
    max_dial_ratio: float = 4.0
    warmup_answers: int = 30
    # The controller aims below the target so that noise does not carry it over.
    set_point: float = 0.7
    risk_gain: float = 0.3
    integral_gain: float = 4.0
    proportional_gain: float = 1.0


@dataclass(frozen=True)
class WindowStats:
    """Recent outcomes (the sliding window) and the measuring window's abandon count."""

    dials: int = 0
    human_answers: int = 0
    abandons: int = 0
    answer_ring_seconds: tuple[float, ...] = ()
    mean_talk_seconds: float = 180.0
    mean_wrap_seconds: float = 30.0
    measured_answers: int = 0
    measured_abandons: int = 0

    @property
    def answer_rate(self) -> float:
        return self.human_answers / self.dials if self.dials else 0.0

    @property
    def measured_abandon_rate(self) -> float:
        return self.measured_abandons / self.measured_answers if self.measured_answers else 0.0


@dataclass(frozen=True)
class PacingState:
    """A campaign's snapshot at ``now`` (from the ``Clock``); times are in the clock's seconds."""

    now: float
    agents_ready: int
    talk_started: tuple[float, ...] = ()
    wrap_started: tuple[float, ...] = ()
    ringing_started: tuple[float, ...] = ()
    calls_waiting: int = 0
    stats: WindowStats = WindowStats()

    @property
    def agents_logged_in(self) -> int:
        return self.agents_ready + len(self.talk_started) + len(self.wrap_started)

    @property
    def lines_in_flight(self) -> int:
        return len(self.ringing_started) + self.calls_waiting


@dataclass(frozen=True)
class PacingDecision:
    lines: int
    reason: str
    risk_budget: float = 0.0


class OutcomeWindow:
    """Keeps the outcomes pacing needs over its windows; one per campaign.

    The live dialer may build ``WindowStats`` from the database instead; this is the
    in-memory form the simulator and tests use.
    """

    def __init__(self, settings: PacingSettings) -> None:
        self._settings = settings
        self._dials: deque[tuple[float, bool]] = deque()
        self._answers = 0
        self._ring_at: deque[float] = deque()
        self._rings: deque[float] = deque()
        self._abandons: deque[float] = deque()
        self._talks: deque[tuple[float, float]] = deque()
        self._talk_sum = 0.0
        self._wraps: deque[tuple[float, float]] = deque()
        self._wrap_sum = 0.0
        self._measured: deque[tuple[float, bool]] = deque()
        self._measured_abandons = 0

    def record_dial(self, at: float, *, answered: bool, ring_seconds: float) -> None:
        """A dial ended ringing: answered by a person, or not (no answer, busy, machine)."""
        self._dials.append((at, answered))
        if answered:
            self._answers += 1
            self._ring_at.append(at)
            self._rings.append(ring_seconds)
            if len(self._rings) > self._settings.window_max_answers:
                self._ring_at.popleft()
                self._rings.popleft()
            self._measured.append((at, False))

    def record_abandon(self, at: float) -> None:
        self._abandons.append(at)
        self._measured.append((at, True))
        self._measured_abandons += 1

    def record_talk(self, at: float, seconds: float) -> None:
        self._talks.append((at, seconds))
        self._talk_sum += seconds

    def record_wrap(self, at: float, seconds: float) -> None:
        self._wraps.append((at, seconds))
        self._wrap_sum += seconds

    def snapshot(self, now: float, defaults: WindowStats = WindowStats()) -> WindowStats:
        start = now - self._settings.window_seconds
        while self._dials and self._dials[0][0] < start:
            if self._dials.popleft()[1]:
                self._answers -= 1
        while self._ring_at and self._ring_at[0] < start:
            self._ring_at.popleft()
            self._rings.popleft()
        while self._abandons and self._abandons[0] < start:
            self._abandons.popleft()
        while self._talks and self._talks[0][0] < start:
            self._talk_sum -= self._talks.popleft()[1]
        while self._wraps and self._wraps[0][0] < start:
            self._wrap_sum -= self._wraps.popleft()[1]
        measured_start = now - self._settings.measuring_window_seconds
        while self._measured and self._measured[0][0] < measured_start:
            if self._measured.popleft()[1]:
                self._measured_abandons -= 1
        measured_abandons = self._measured_abandons
        return WindowStats(
            dials=len(self._dials),
            human_answers=self._answers,
            abandons=len(self._abandons),
            answer_ring_seconds=tuple(self._rings),
            mean_talk_seconds=(
                self._talk_sum / len(self._talks) if self._talks else defaults.mean_talk_seconds
            ),
            mean_wrap_seconds=(
                self._wrap_sum / len(self._wraps) if self._wraps else defaults.mean_wrap_seconds
            ),
            measured_answers=len(self._measured) - measured_abandons,
            measured_abandons=measured_abandons,
        )


def progressive_lines(state: PacingState) -> int:
    """One line per ready agent, counting lines already in flight; never negative."""
    return max(0, state.agents_ready - state.lines_in_flight)


def lines_to_dial(state: PacingState, settings: PacingSettings) -> int:
    """How many new calls the campaign should place now."""
    return decide(state, settings).lines


def decide(state: PacingState, settings: PacingSettings) -> PacingDecision:
    """``lines_to_dial`` with the reason, for logs and the manager's page."""
    if settings.mode is PacingMode.PREVIEW:
        return PacingDecision(0, "preview")
    progressive = progressive_lines(state)
    if settings.mode is PacingMode.PROGRESSIVE:
        return PacingDecision(progressive, "progressive")
    stats = state.stats
    if stats.human_answers < settings.warmup_answers or not stats.answer_ring_seconds:
        return PacingDecision(progressive, "warm-up")
    if stats.measured_abandon_rate > settings.abandon_target:
        return PacingDecision(progressive, "over abandon target")
    budget = risk_budget(stats, settings)
    # An abandon, once made, cannot be taken back: with less than one abandon of room left
    # under the target in the measuring window, the budget shrinks with the room.
    headroom = settings.abandon_target * (stats.measured_answers + 1) - stats.measured_abandons
    if headroom < 1.0:
        budget *= max(headroom, 0.1)
    predicted = _predictive_lines(state, settings, budget)
    return PacingDecision(max(predicted, progressive), "predictive", budget)


def risk_budget(stats: WindowStats, settings: PacingSettings) -> float:
    """The marginal abandon risk allowed per new dial, from feedback on measured abandons.

    Both rates are shrunk toward the set point, as if 3, resp. 1.5, abandons' worth of
    answers (100 and 50 at a 3% target) had been seen at it, so that a few early calls do
    not swing the budget.
    """
    target = settings.abandon_target
    aim = target * settings.set_point
    prior = 3.0 / target
    measured = (stats.measured_abandons + aim * prior) / (stats.measured_answers + prior)
    recent = (stats.abandons + aim * prior / 2) / (stats.human_answers + prior / 2)
    error = settings.integral_gain * (aim - measured) + settings.proportional_gain * (aim - recent)
    budget = target * settings.risk_gain * math.exp(error / target)
    return min(max(budget, target * 0.05), target * 6.0)


def _normal_cdf(z: FloatArray) -> FloatArray:
    # Abramowitz and Stegun 7.1.26 (error < 1.5e-7); numpy has no erf.
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf), dtype=np.float64)


def _expected_excess(mean: FloatArray, var: FloatArray, capacity: FloatArray) -> FloatArray:
    """E[(X - c)+] for X normal(mean, var)."""
    sd = np.sqrt(np.maximum(var, 1e-12))
    gap = mean - capacity
    z = gap / sd
    density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.asarray(gap * _normal_cdf(z) + sd * density, dtype=np.float64)


def _predictive_lines(state: PacingState, settings: PacingSettings, budget: float) -> int:
    stats = state.stats
    cap = int(settings.max_dial_ratio * state.agents_logged_in) - state.lines_in_flight
    rate = stats.answer_rate
    if cap <= 0 or rate <= 0.0:
        return 0
    horizon = math.ceil(settings.ring_timeout)
    steps = np.arange(horizon + 1, dtype=np.float64)

    # Empirical ring-time CDF of answered calls on whole seconds, up to twice the horizon.
    rings = np.sort(np.asarray(stats.answer_ring_seconds, dtype=np.float64))
    grid = np.arange(2 * horizon + 2, dtype=np.float64)
    cdf = np.searchsorted(rings, grid, side="right") / len(rings)

    # Ringing calls by whole seconds rung; chance each is answered within h from now.
    elapsed = np.clip(
        (state.now - np.asarray(state.ringing_started, dtype=np.float64)).astype(np.int64),
        0,
        horizon,
    )
    counts = np.bincount(elapsed, minlength=horizon + 1).astype(np.float64)
    rung = np.arange(horizon + 1)
    later = cdf[rung[:, None] + rung[None, :]] - cdf[rung][:, None]
    still_possible = np.maximum(1.0 - rate * cdf[rung], 1e-9)[:, None]
    answer_by = rate * later / still_possible
    mean_in = state.calls_waiting + counts @ answer_by
    var_in = counts @ (answer_by * (1.0 - answer_by))

    # Agents free by h plus the grace.
    deadline = steps + settings.agent_connect_grace
    wrap_left = np.sort(
        np.maximum(
            stats.mean_wrap_seconds
            - (state.now - np.asarray(state.wrap_started, dtype=np.float64)),
            0.0,
        )
    )
    wrap_done = np.searchsorted(wrap_left, deadline, side="right").astype(np.float64)
    talk_done = len(state.talk_started) * (
        1.0
        - np.exp(
            -np.maximum(deadline - stats.mean_wrap_seconds, 0.0) / max(stats.mean_talk_seconds, 1.0)
        )
    )
    agents = state.agents_ready + wrap_done + talk_done

    # Overflow for n = 0..cap new dials at every h; the marginal one per live answer.
    # Searched in blocks: the marginal risk grows with n, and n is mostly small.
    new = rate * cdf[: horizon + 1]
    new_var = new * (1.0 - new)
    low = 0
    while low < cap:
        high = min(cap, low + _SEARCH_BLOCK)
        n = np.arange(low, high + 1, dtype=np.float64)[:, None]
        excess = _expected_excess(
            mean_in[None, :] + n * new[None, :],
            var_in[None, :] + n * new_var[None, :],
            agents[None, :],
        )
        marginal = (excess[1:] - excess[:-1]).max(axis=1) / rate
        over = np.nonzero(marginal > budget)[0]
        if len(over):
            return low + int(over[0])
        low = high
    return cap
