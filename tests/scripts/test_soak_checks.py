"""The soak's reconciliation counts each broken promise, and nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from campaigns.settings.model import CampaignSettings
from scripts.soak_checks import Clock, StoreFacts, reconcile

# the clock reads what the wall reads: ledger times are clock times here
CLOCK = Clock(origin=0.0, anchor=0.0, scale=1.0)
NY = "+12122000001"
WARSAW = "+48222000002"
# Tuesday 3 November 2026, 15:00 UTC: 10:00 in New York, 16:00 in Warsaw
T0 = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC).timestamp()


def _rest(
    n: int, to: str, at: float, resource: str = "call", attempt: int | None = None
) -> dict[str, Any]:
    return {
        "kind": "rest",
        "resource": resource,
        "status": 201,
        "fault": None,
        "sid": f"CA{n}",
        "to": to,
        "from": "+15005550006",
        "attempt": str(attempt if attempt is not None else n),
        "at": at,
    }


def _final(n: int, status: str, answered_by: str | None = None) -> dict[str, Any]:
    return {"kind": "call", "sid": f"CA{n}", "status": status, "answered_by": answered_by}


def _attempt(n: int, phone: str, status: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": n,
        "campaign_id": 1,
        "channel": "call",
        "phone": phone,
        "sid": f"CA{n}",
        "status": status,
        "answered_by": None,
        "answered_at": None,
        "queued_at": None,
        "started_at": None,
    }
    row.update(extra)
    return row


def _store(attempts: list[dict[str, Any]], **changes: Any) -> StoreFacts:
    facts = StoreFacts(
        attempts=attempts,
        customers={
            NY: {"id": 1, "country": "US", "timezone": "America/New_York", "call_consent": True},
            WARSAW: {"id": 2, "country": "PL", "timezone": "Europe/Warsaw", "call_consent": True},
        },
        dnc={},
        holdout=set(),
        launched={1: dt.datetime(2026, 10, 31, 9, 0, tzinfo=dt.UTC)},
    )
    for name, value in changes.items():
        setattr(facts, name, value)
    return facts


def _counts(ledger: list[dict[str, Any]], store: StoreFacts) -> dict[str, Any]:
    return reconcile(ledger, store, CLOCK)


def test_a_clean_run_counts_nothing() -> None:
    ledger = [_rest(1, NY, T0), _final(1, "busy"), _rest(2, WARSAW, T0), _final(2, "no-answer")]
    verdict = _counts(ledger, _store([_attempt(1, NY, "busy"), _attempt(2, WARSAW, "no-answer")]))
    assert verdict["carrier_calls"] == 2
    nonzero = {
        k: v for k, v in verdict.items() if isinstance(v, int) and v and k != "carrier_calls"
    }
    assert nonzero == {}


def test_two_carrier_calls_for_one_attempt_or_one_number_too_close() -> None:
    ledger = [
        _rest(1, NY, T0),
        _rest(2, NY, T0 + 5, attempt=1),
        _final(1, "busy"),
        _final(2, "busy"),
    ]
    verdict = _counts(ledger, _store([_attempt(1, NY, "busy")]))
    # the second request for attempt 1, and the same number 5 s after the first
    assert verdict["duplicate_dials"] == 2
    assert verdict["lost_outcomes"] == 1  # CA2 is held by no attempt


def test_outside_the_window_on_a_holiday_to_dnc_and_over_the_cap() -> None:
    night = dt.datetime(2026, 11, 3, 3, 0, tzinfo=dt.UTC).timestamp()  # 22:00 in New York
    all_saints = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC).timestamp()  # Warsaw rests
    ledger = [_rest(1, NY, night), _final(1, "busy"), _rest(2, WARSAW, all_saints)]
    ledger += [_final(2, "busy")]
    listed = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    # made 10 s after the call started: an agent's entry during it
    late = dt.datetime(2026, 11, 3, 3, 0, 10, tzinfo=dt.UTC)
    store = _store(
        [_attempt(1, NY, "busy"), _attempt(2, WARSAW, "busy")],
        dnc={WARSAW: [("call", listed)], NY: [("all", late)]},
    )
    verdict = _counts(ledger, store)
    assert verdict["contacts_outside_window"] == 2
    assert verdict["contacts_to_dnc_or_opted_out"] == 1

    hour = 3600.0
    calls = [_rest(n, NY, T0 + n * hour) for n in range(1, 5)]
    finals = [_final(n, "no-answer") for n in range(1, 5)]
    verdict = _counts(calls + finals, _store([_attempt(n, NY, "no-answer") for n in range(1, 5)]))
    assert verdict["over_cap_contacts"] == 1  # the fourth within 30 days


def test_a_text_after_stop_and_a_call_to_the_holdout() -> None:
    ledger = [_rest(1, NY, T0 + 60, resource="message"), _rest(2, WARSAW, T0)]
    ledger += [_final(2, "busy")]
    attempts = [_attempt(1, NY, "sent", channel="sms"), _attempt(2, WARSAW, "busy")]
    store = _store(attempts, stops={NY: T0}, holdout={WARSAW})
    verdict = _counts(ledger, store)
    assert verdict["contacts_to_dnc_or_opted_out"] == 1
    assert verdict["holdout_contacts"] == 1


def test_a_final_status_the_store_does_not_hold_is_lost() -> None:
    ledger = [_rest(1, NY, T0), _final(1, "completed", "human")]
    assert _counts(ledger, _store([_attempt(1, NY, "in-progress")]))["lost_outcomes"] == 1
    assert _counts(ledger, _store([_attempt(1, NY, "abandoned")]))["lost_outcomes"] == 0


def test_forged_callbacks_taken_and_replays_acted_on() -> None:
    def callback(**fields: Any) -> dict[str, Any]:
        base = {"kind": "callback", "event": "status", "sid": "CA1", "attempt": "1"}
        return {**base, "fault": None, "status": 200, "dial": None, "at": T0 + 100, **fields}

    ledger = [
        _rest(1, NY, T0),
        _final(1, "no-answer"),
        callback(signature="forged", status=403),
        callback(signature="forged", status=200),
        callback(signature="replay", event="answer", dial=True),
        callback(signature="replay", at=T0 + 100),
    ]
    changes = {
        1: [
            (T0 + 50, ("no-answer", None, None, None)),
            (T0 + 150, ("abandoned", "human", None, T0)),
        ]
    }
    verdict = _counts(ledger, _store([_attempt(1, NY, "no-answer")], changes=changes))
    assert verdict["forged_accepted"] == 1
    assert verdict["replays_changed_state"] == 2
    assert verdict["state_regressions"] == 1  # a final status replaced by another


def test_abandon_days_over_the_target() -> None:
    at = dt.datetime(2026, 11, 3, 15, 0, tzinfo=dt.UTC)

    def live(n: int) -> dict[str, Any]:
        return _attempt(n, NY, "completed", answered_at=at, queued_at=at, answered_by="human")

    answered = [live(n) for n in range(1, 31)]
    answered[0]["status"] = "abandoned"
    assert _counts([], _store(answered))["abandon_over_cap_days"] == 1  # 1 of 30 > 3%
    answered += [live(n) for n in range(31, 41)]
    assert _counts([], _store(answered))["abandon_over_cap_days"] == 0  # 1 of 40 < 3%
    # held to the campaign's own target: 1 of 40 is over 1%
    strict = CampaignSettings.model_validate({"abandon_target": 0.01})
    assert _counts([], _store(answered, settings={1: strict}))["abandon_over_cap_days"] == 1


def test_a_dial_the_carrier_refused_may_go_back_to_the_queue() -> None:
    refused = {
        1: [
            (T0, ("initiated", None, None, None, False)),
            (T0 + 1, ("queued", None, None, None, False)),
        ],
        2: [
            (T0, ("initiated", None, None, None, True)),
            (T0 + 1, ("queued", None, None, None, True)),
        ],
    }
    # attempt 1 never reached the carrier; attempt 2 had a call and lost it
    assert _counts([], _store([], changes=refused))["state_regressions"] == 1


def test_a_text_the_carrier_refused_may_go_back_to_waiting() -> None:
    refused = {
        1: [
            (T0, ("queued", None, None, None, False)),
            (T0 + 1, ("scheduled", None, None, None, False)),
        ],
        2: [
            (T0, ("sent", None, None, None, True)),
            (T0 + 1, ("scheduled", None, None, None, True)),
        ],
    }
    # text 1 was refused before the carrier took it; text 2 was sent and cannot go back
    assert _counts([], _store([], changes=refused))["state_regressions"] == 1


def test_a_contact_decided_outside_the_window_counts_with_no_tolerance() -> None:
    # the dialer claimed it at 21:00:05 in New York: five seconds too late, on its own clock
    late = dt.datetime(2026, 11, 4, 2, 0, 5, tzinfo=dt.UTC)
    store = _store([_attempt(1, NY, "busy", started_at=late)])
    assert _counts([], store)["decided_outside_window"] == 1


# -- each contact against the settings of the campaign that made it ------------------------

# Tuesday 3 November 2026 in New York (EST): 09:00 is 14:00 UTC
NY_09 = dt.datetime(2026, 11, 3, 14, 0, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0


def _own(**values: Any) -> CampaignSettings:
    return CampaignSettings.model_validate(values)


def _entry_calls(
    times: list[float], outcome: str = "no-answer", entry: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Calls to New York for one list entry at ``times``, each ending 30 s after it rang."""
    ledger: list[dict[str, Any]] = []
    attempts = []
    for n, at in enumerate(times, start=1):
        ledger += [_rest(n, NY, at), {**_final(n, outcome), "at": at + 30}]
        attempts.append(_attempt(n, NY, outcome, list_entry_id=entry))
    return ledger, attempts


def _settings_counts(
    ledger: list[dict[str, Any]], attempts: list[dict[str, Any]], settings: CampaignSettings
) -> dict[str, Any]:
    return _counts(ledger, _store(attempts, settings={1: settings}))


def test_a_contact_outside_its_campaigns_own_window_counts_inside_the_old_fixed_one() -> None:
    ledger, attempts = _entry_calls([NY_09])
    late_opener = _own(calling_window={"mon-fri": "10:00-17:00", "sat-sun": None})
    verdict = _settings_counts(ledger, attempts, late_opener)
    assert verdict["contacts_outside_window"] == 1
    assert verdict["contacts_outside_settings"] == 1
    assert verdict["settings_breaches"]["window"] == 1
    # the same call is inside the product's default 08:00-21:00
    assert _counts(ledger, _store(attempts))["contacts_outside_settings"] == 0
    # and a day without calls in the campaign's week: Tuesday
    no_tuesday = _own(calling_window={"mon": "08:00-21:00", "wed-sun": "08:00-21:00"})
    assert _settings_counts(ledger, attempts, no_tuesday)["contacts_outside_window"] == 1


def test_a_third_try_on_one_local_day_counts_with_two_a_day() -> None:
    ledger, attempts = _entry_calls([NY_09, NY_09 + HOUR, NY_09 + 2 * HOUR])
    soon = {"no-answer": 30}  # an hour between tries is no retry too soon
    two_a_day = _own(max_attempts={"per_day": 2, "total": 6}, retry_minutes=soon)
    verdict = _settings_counts(ledger, attempts, two_a_day)
    assert verdict["settings_breaches"]["tries_per_day"] == 1
    assert verdict["contacts_outside_settings"] == 1
    assert verdict["examples"]["contacts_outside_settings"][0]["sid"] == "CA3"
    # the third on the next local day is within the limit, and within a total of 3
    ledger, attempts = _entry_calls([NY_09, NY_09 + HOUR, NY_09 + 24 * HOUR])
    three_in_all = _own(max_attempts={"per_day": 2, "total": 3}, retry_minutes=soon)
    assert _settings_counts(ledger, attempts, three_in_all)["contacts_outside_settings"] == 0
    two_in_all = _own(max_attempts={"per_day": 2, "total": 2}, retry_minutes=soon)
    verdict = _settings_counts(ledger, attempts, two_in_all)
    assert verdict["settings_breaches"]["tries_total"] == 1


def test_a_contact_over_its_campaigns_cap_of_two_counts_across_campaigns() -> None:
    # two campaigns call one number on consecutive days; the second's cap is 2 in 7 days
    ledger, attempts = _entry_calls([NY_09 + n * 24 * HOUR for n in range(3)])
    attempts[2]["campaign_id"] = 2
    tight = _own(contact_cap={"contacts": 2, "days": 7})
    store = _store(attempts, settings={1: CampaignSettings(), 2: tight})
    verdict = _counts(ledger, store)
    assert verdict["over_cap_contacts"] == 1
    assert verdict["settings_breaches"]["contact_cap"] == 1
    assert verdict["contacts_outside_settings"] == 1
    # the product's default cap (3 in 30 days) lets the same three calls through
    assert _counts(ledger, _store(attempts))["over_cap_contacts"] == 0
    # a call that never rang is no contact for the cap
    ledger[-1]["status"] = "failed"
    attempts[2]["status"] = "failed"
    assert _counts(ledger, store)["over_cap_contacts"] == 0


def test_a_retry_sooner_than_its_outcomes_delay_counts() -> None:
    patient = _own(retry_minutes={"busy": 45})
    ledger, attempts = _entry_calls([NY_09, NY_09 + 40 * 60], outcome="busy")
    verdict = _settings_counts(ledger, attempts, patient)
    assert verdict["settings_breaches"]["retry_spacing"] == 1
    assert verdict["duplicate_dials"] == 0  # 40 minutes apart: no duplicate
    ledger, attempts = _entry_calls([NY_09, NY_09 + 46 * 60], outcome="busy")
    assert _settings_counts(ledger, attempts, patient)["contacts_outside_settings"] == 0


def test_contacts_within_their_campaigns_settings_count_nothing() -> None:
    settings = _own(
        calling_window={"mon-fri": "09:00-17:00", "sat": "10:00-13:00", "sun": None},
        contact_cap={"contacts": 2, "days": 7},
        max_attempts={"per_day": 1, "total": 2},
        retry_minutes={"no-answer": 120},
    )
    ledger, attempts = _entry_calls([NY_09, NY_09 + 24 * HOUR])
    verdict = _settings_counts(ledger, attempts, settings)
    assert verdict["contacts_outside_settings"] == 0
    assert set(verdict["settings_breaches"].values()) == {0}
    assert verdict["examples"] == {}
