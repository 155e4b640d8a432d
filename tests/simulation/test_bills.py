"""The expected bills behind the revenue truth: a stream's billed months when a customer
may leave on a day drawn as the feed draws it, against a direct simulation of the draw."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from simulation.bills import _day_weights, _kept

START = dt.date(2026, 11, 2)
MONTHS = [dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1)]


def test_a_customer_who_stays_is_billed_every_month_whole() -> None:
    offsets, weights = _day_weights(START, MONTHS)
    kept = _kept(np.array([0.0]), np.array([-1e6]), offsets, weights, 90)
    assert kept[0] == pytest.approx(3.0)
    # a product started on 1 December is billed for December and January
    started = (dt.date(2026, 12, 1) - START).days
    assert _kept(np.array([0.0]), np.array([float(started)]), offsets, weights, 90)[
        0
    ] == pytest.approx(2.0)


def test_leavers_are_billed_what_a_simulation_of_the_feed_bills_them() -> None:
    offsets, weights = _day_weights(START, MONTHS)
    rng = np.random.default_rng(7)
    p, begins, draws = 0.4, 12, 40_000
    leaves = rng.random(draws) < p
    day = rng.integers(1, 91, size=draws)  # the feed's leaving day: uniform over 1..90
    stop = np.where(leaves, day, 10**6)
    billed = [weights[(offsets >= begins) & (offsets < s)].sum() for s in stop]
    expected = _kept(np.array([p]), np.array([float(begins)]), offsets, weights, 90)[0]
    assert expected == pytest.approx(np.mean(billed), abs=0.01)
