"""The demo's holdout choice follows the preview's power figures."""

from __future__ import annotations

from typing import Any

from runner.demo.call_lists import holdout_for


def _power(needed: float | None, warning: str | None) -> dict[str, Any]:
    return {"holdout_needed": needed, "warning": warning}


def test_a_list_powered_at_the_default_keeps_it() -> None:
    share, why = holdout_for(_power(0.04, None))
    assert share == 0.10
    assert "shows the expected effect" in why


def test_the_share_the_preview_asks_for_is_taken() -> None:
    for needed in (0.22, 0.57):
        share, why = holdout_for(_power(needed, "underpowered: ..."))
        assert share == needed
        assert f"asked for {needed:.0%}" in why


def test_no_share_enough_means_equal_groups() -> None:
    share, why = holdout_for(_power(None, "underpowered: ..."))
    assert share == 0.5
    assert "no holdout share lets these calls show" in why
