"""The soak's reconciliation of abandoned calls: each campaign's abandon rate over its
measuring windows against its target, calls connected late counted as abandoned, and the
figures per list."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scripts.soak_checks import Rules, StoreFacts

__all__ = ["abandon_days", "late_connects", "list_figures", "utc_days_over"]


def _live(attempt: Mapping[str, Any]) -> bool:
    """Answered by a person: the abandon rate's denominator."""
    return (
        attempt["channel"] == "call"
        and attempt["answered_at"] is not None
        and attempt["answered_by"] != "machine"
        and attempt["status"] != "machine"
    )


def list_figures(store: StoreFacts) -> dict[int, dict[str, Any]]:
    """Per campaign: calls placed, live answers, abandoned calls, the rate and its target."""
    figures: dict[int, Counter[str]] = defaultdict(Counter)
    for a in store.attempts:
        if a["channel"] != "call" or a["sid"] is None:
            continue
        seen = figures[a["campaign_id"]]
        seen["calls"] += 1
        seen["live_answers"] += _live(a)
        seen["abandoned"] += _live(a) and a["status"] == "abandoned"
    return {
        campaign: {
            **seen,
            "abandon_rate": round(seen["abandoned"] / seen["live_answers"], 4)
            if seen["live_answers"]
            else 0.0,
            "target": store.settings_of(campaign).abandon_target,
        }
        for campaign, seen in sorted(figures.items())
    }


def late_connects(finals: Mapping[str, Mapping[str, Any]], rules: Rules, note: Any) -> set[str]:
    """Calls a person answered whose agent's line came after the grace, by the carrier's
    clock: abandoned in all but name. The example says how late, in real seconds."""
    late = set()
    for sid, r in finals.items():
        if r["kind"] != "call" or r.get("answered_by") != "human" or r.get("bridged") is None:
            continue
        waited = r["bridged"] - r["answered"]
        if waited > rules.connect_grace:
            late.add(sid)
            note(
                "late_connects", {"sid": sid, "attempt": r["attempt"], "seconds": round(waited, 2)}
            )
    return late


def abandon_days(store: StoreFacts, note: Any, late: set[str]) -> int:
    """Campaign-days over the target: the campaign's own measuring windows, one after the
    other from its launch, each call counted in the window it was queued in (as the pacer
    counts it)."""
    over = 0
    for campaign, seen in _live_calls(store, "queued_at", late).items():
        settings = store.settings_of(campaign)
        launched, target = store.launched[campaign], settings.abandon_target
        measuring = dt.timedelta(hours=settings.abandon_window_hours)
        windows: dict[int, list[bool]] = defaultdict(list)
        for moment, abandoned in seen:
            windows[int((moment - launched) / measuring)].append(abandoned)
        for n, calls in sorted(windows.items()):
            if sum(calls) > target * len(calls) + 1e-9:
                over += 1
                start = launched + n * measuring
                note(
                    "abandon_over_cap_days",
                    {
                        "campaign": campaign,
                        "window_from": start.isoformat(),
                        "abandoned": sum(calls),
                        "live_answers": len(calls),
                        "target": target,
                    },
                )
    return over


def utc_days_over(store: StoreFacts, rules: Rules, late: set[str]) -> int:
    """For information: the same rate over the 24 hours before each UTC midnight, by answer
    time. A sliding day can exceed the target across two of the campaign's windows, each
    within it: the pacer cannot hold a sliding window (answers leaving it raise the rate
    with no new abandon)."""
    over = 0
    for campaign, seen in _live_calls(store, "answered_at", late).items():
        target = store.settings_of(campaign).abandon_target
        for day in sorted({moment.date() for moment, _ in seen}):
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
            calls = [ab for moment, ab in seen if end - rules.measuring_window < moment <= end]
            over += sum(calls) > target * len(calls) + 1e-9
    return over


def _live_calls(
    store: StoreFacts, when: str, late: set[str]
) -> dict[int, list[tuple[dt.datetime, bool]]]:
    """Per campaign, (``when``, abandoned) of each call a person answered; one connected
    late (``late``, by SID) counts as abandoned."""
    calls: dict[int, list[tuple[dt.datetime, bool]]] = defaultdict(list)
    for a in store.attempts:
        if _live(a) and a[when] is not None:
            abandoned = a["status"] == "abandoned" or a["sid"] in late
            calls[a["campaign_id"]].append((a[when], abandoned))
    return calls
