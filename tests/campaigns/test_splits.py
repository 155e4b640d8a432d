"""Split rows do not mislead: a row too small shows no interval and says why, the others
are tested and Holm-adjusted across the report, and only a surviving row survives."""

from __future__ import annotations

import pytest

from campaigns.effects import effect
from campaigns.splits import (
    ADJUSTMENT,
    MIN_GROUP,
    Split,
    adjust_splits,
    adjusted_p_values,
    adjustment_json,
    difference_p_value,
    split_json,
)

SAVES = ("lost", "kept")


def rows() -> list[Split]:
    """One row clear on its own (p 0.021) among five that show nothing, and one strong."""
    clear_alone = Split("offer", "Add Fiber 1 Gig", effect(10, 100, 22, 100, gain=-1))
    strong = Split("segment", "MASS", effect(5, 100, 40, 100, gain=-1))
    flat = [
        Split("abc", label, effect(20, 100, 21, 100, gain=-1)) for label in ("A", "B", "C", "D")
    ]
    return [clear_alone, strong, *flat]


def test_holm_matches_the_hand_computed_adjustment() -> None:
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (Holm's step-down keeps the adjusted values from falling)
    adjusted = adjusted_p_values([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjusted_p_values([]) == []
    assert ADJUSTMENT == "holm"


def test_the_test_agrees_with_the_interval_on_a_clear_and_a_flat_difference() -> None:
    clear = effect(5, 100, 40, 100, gain=-1)
    flat = effect(20, 100, 21, 100, gain=-1)
    assert clear.ci95 is not None
    assert clear.ci95[0] > 0
    assert difference_p_value(clear) < 0.001
    assert flat.ci95 is not None
    assert flat.ci95[0] < 0 < flat.ci95[1]
    assert difference_p_value(flat) > 0.5
    # no difference to see: every customer lost in both groups
    assert difference_p_value(effect(40, 40, 40, 40, gain=-1)) == 1.0


def test_a_row_with_a_small_holdout_shows_no_interval_and_says_why() -> None:
    small = Split("offer", "Add Fiber 1 Gig", effect(30, 200, 3, 4, gain=-1))
    assert small.effect.ci95 is not None  # an interval could be computed: it is not shown
    [row] = adjust_splits([small], SAVES)
    assert not row.interval_shown
    assert row.why_no_interval == f"too few held out (4; a row needs at least {MIN_GROUP})"
    assert (row.p_value, row.p_adjusted, row.survives) == (None, None, False)
    data = split_json(row)
    assert data["ci95"] is None
    assert data["interval_shown"] is False
    assert data["why_no_interval"].startswith("too few held out")


def test_a_row_with_too_few_outcomes_shows_no_interval() -> None:
    [row] = adjust_splits([Split("abc", "A", effect(1, 60, 2, 60, gain=-1))], SAVES)
    assert row.why_no_interval == "too few customers lost (3; a row needs at least 5)"


def test_a_row_clear_alone_does_not_survive_the_adjustment() -> None:
    adjusted = adjust_splits(rows(), SAVES)
    clear_alone, strong, *flat = adjusted
    assert clear_alone.p_value == pytest.approx(0.021, abs=0.001)
    assert clear_alone.effect.ci95 is not None
    assert clear_alone.effect.ci95[0] > 0
    assert clear_alone.p_adjusted == pytest.approx(min(1.0, 5 * clear_alone.p_value))
    assert not clear_alone.survives
    assert strong.survives
    assert not any(r.survives for r in flat)
    assert all(r.interval_shown for r in adjusted)
    summary = adjustment_json(adjusted)
    assert (summary["method"], summary["rows_tested"], summary["surviving"]) == ("holm", 6, 1)


def test_rows_too_small_are_left_out_of_the_family() -> None:
    tiny = Split("offer", "tiny", effect(1, 10, 3, 4, gain=-1))
    adjusted = adjust_splits([tiny, *rows()], SAVES)
    assert adjusted[0].p_value is None
    assert adjustment_json(adjusted)["rows_tested"] == 6


def test_a_row_without_a_holdout_says_so_in_a_few_words() -> None:
    [row] = adjust_splits([Split("agent", "Anna Agent", effect(3, 40, 0, 0, gain=-1))], SAVES)
    assert row.why_no_interval == f"too few held out (0; a row needs at least {MIN_GROUP})"
