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
   window rate the proportional one. Until ``warmup_answers`` live answers are in the
   recent window the mode runs progressive, since the answer rate is not known yet.
5. The abandon limit is hard, so the feedback only shapes what a hard cap allows: a line
   beyond the ready agents is dialled only while the measuring window has room for every
   line that could abandon at once (``abandon_room``). Else the mode runs progressive,
   which abandons only when a ready agent leaves with a line ringing for them.

The measuring windows follow one another from the campaign's launch (a day each by
default), and a call counts in the window it was dialled in. Each window is kept at or
below the target at every moment, so any run of whole windows is too: daily windows keep
Ofcom's 24 h and the TCPA's 30 days (from the launch) alike, and the campaign's total. A
sliding window could not be kept: an old answer leaving it raises the rate with no new
abandon.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from campaigns.settings.model import PacingMode

__all__ = [
    "Clock",
    "OutcomeWindow",
    "PacingDecision",
    "PacingMode",
    "PacingSettings",
    "PacingState",
    "WindowStats",
    "abandon_room",
    "decide",
    "lines_at_risk",
    "lines_to_dial",
    "measuring_window_start",
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
    """Recent outcomes (the sliding window) and the measuring window's counts.

    ``measured_answers`` (abandoned calls included) and ``measured_abandons`` are those of
    the calls dialled since the current measuring window began; it ends at
    ``measured_until``.
    """

    dials: int = 0
    human_answers: int = 0
    abandons: int = 0
    answer_ring_seconds: tuple[float, ...] = ()
    mean_talk_seconds: float = 180.0
    mean_wrap_seconds: float = 30.0
    measured_answers: int = 0
    measured_abandons: int = 0
    measured_until: float = math.inf

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


def measuring_window_start(now: float, origin: float, seconds: float) -> float:
    """When the measuring window holding ``now`` began: windows of ``seconds`` follow one
    another from ``origin`` (the campaign's launch), so none overlaps another."""
    return origin + math.floor(max(now - origin, 0.0) / seconds) * seconds


class OutcomeWindow:
    """Keeps the outcomes pacing needs over its windows; one per campaign.

    The live dialer builds ``WindowStats`` from the database instead; this is the
    in-memory form the simulator and tests use. ``origin`` is when the measuring windows
    begin (the campaign's launch).
    """

    def __init__(self, settings: PacingSettings, origin: float = 0.0) -> None:
        self._settings = settings
        self._origin = origin
        self._dials: deque[tuple[float, bool]] = deque()
        self._answers = 0
        self._ring_at: deque[float] = deque()
        self._rings: deque[float] = deque()
        self._abandons: deque[float] = deque()
        self._talks: deque[tuple[float, float]] = deque()
        self._talk_sum = 0.0
        self._wraps: deque[tuple[float, float]] = deque()
        self._wrap_sum = 0.0
        # the current measuring window's start, live answers and abandons
        self._measured = (origin, 0, 0)

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
            self._count(at - ring_seconds, answers=1)

    def record_abandon(self, at: float, *, dialed_at: float | None = None) -> None:
        """An answered call found no agent; it counts in the window it was dialled in."""
        self._abandons.append(at)
        self._count(at if dialed_at is None else dialed_at, abandons=1)

    def _count(self, dialed_at: float, *, answers: int = 0, abandons: int = 0) -> None:
        # a call dialled in a window that has closed counts there, not in the current one
        start, measured, abandoned = self._roll(dialed_at)
        if dialed_at >= start:
            self._measured = (start, measured + answers, abandoned + abandons)

    def _roll(self, now: float) -> tuple[float, int, int]:
        start = measuring_window_start(now, self._origin, self._settings.measuring_window_seconds)
        if start > self._measured[0]:
            self._measured = (start, 0, 0)
        return self._measured

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
        measured_start, measured_answers, measured_abandons = self._roll(now)
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
            measured_answers=measured_answers,
            measured_abandons=measured_abandons,
            measured_until=measured_start + self._settings.measuring_window_seconds,
        )


def progressive_lines(state: PacingState) -> int:
    """One line per ready agent, counting lines already in flight; never negative."""
    return max(0, state.agents_ready - state.lines_in_flight)


def lines_at_risk(state: PacingState) -> int:
    """Lines in flight beyond the ready agents: each may be answered (or is, waiting) with
    no agent free, should every talker and wrap-up run long."""
    return max(0, state.lines_in_flight - state.agents_ready)


def abandon_room(state: PacingState, settings: PacingSettings) -> int:
    """How many lines beyond the ready agents may be dialled now without the measuring
    window's abandon rate ever going above the target, however the calls turn out.

    Every line at risk may abandon at once. With ``a`` abandons of ``n`` live answers in
    the window and ``r`` lines at risk already, ``k`` more lines are allowed while
    ``a + r + k <= target * (n + k)``: each new line that abandons is a live answer of its
    own, and no other answer is counted on, as an abandon may come before any of them
    (the rate must hold at every moment, early in a window too). Lines at risk from before
    add no answer here, as they may count in an earlier window. So the first abandon is
    risked after 33 live answers at a 3% target, 99 at 1%. A window about to close takes
    no risk: no line beyond the agents is still ringing when the next one opens empty.
    """
    stats = state.stats
    if stats.measured_until - state.now < settings.ring_timeout + settings.agent_connect_grace:
        return 0
    # the target as the decimal it was set as (0.03 is 3/100, not the float below it)
    target = Fraction(settings.abandon_target).limit_denominator(1_000_000)
    spare = target * stats.measured_answers - stats.measured_abandons - lines_at_risk(state)
    return max(0, math.floor(spare / (1 - target)))


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
    # An abandon, once made, cannot be taken back: lines beyond the ready agents only
    # while the window has room for every one of them to abandon.
    room = abandon_room(state, settings)
    if room <= 0:
        return PacingDecision(progressive, "no room for an abandon")
    budget = risk_budget(stats, settings)
    predicted = _predictive_lines(state, settings, budget)
    return PacingDecision(
        max(progressive, min(predicted, progressive + room)), "predictive", budget
    )


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
