"""The soak's reconciliation: the store against the carrier's ledger, rule by rule.

Every count here should be 0. The ledger (``simulation.carrier.ledger``) is the carrier's own
account, so each check reads what the carrier saw and asks whether the dialer's promise
held: one carrier call per attempt and none to one number closer than the retry spacing;
every final status the carrier gave held by the store; no contact outside the settings of
the campaign that made it (``soak_settings_checks``: its calling window per weekday in the
customer's local time, its contact cap, its tries per entry a day and in all, its retry
delays), to a do-not-call or opted-out number, to a customer without consent or held out;
no campaign's abandon rate above its target over its measuring window; no forged callback
taken; no replayed one acted on.

Times in the ledger are wall-clock; the dialer's clock ran ``scale`` times faster from
``origin`` at ``anchor`` (``dialer.clock``), so each is turned into clock time first.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaigns.settings.model import CampaignSettings
from scripts.soak_abandon_checks import abandon_days, late_connects, list_figures, utc_days_over
from scripts.soak_settings_checks import (
    DEFAULT,
    SETTINGS_RULES,
    Contact,
    breaches,
    inside_window,
)

__all__ = ["VERDICT_COUNTS", "Clock", "Rules", "StoreFacts", "reconcile"]

_ANSWERS = ("answer", "fallback")  # the ledger's requests for a call's TwiML
# the store's status for each final word of the carrier: an answered call the carrier
# calls completed is ours to tell apart (talked, abandoned, a machine)
_EXPECTED = {
    "completed": {"completed", "abandoned", "machine"},
    "busy": {"busy"},
    "no-answer": {"no-answer"},
    "failed": {"failed"},
    "canceled": {"canceled"},
    "delivered": {"delivered"},
    "undelivered": {"undelivered"},
}
_RANK = {
    "scheduled": 0,
    "queued": 1,
    "initiated": 2,
    "sent": 2,
    "ringing": 3,
    "in-progress": 4,
    "completed": 5,
    "busy": 5,
    "no-answer": 5,
    "failed": 5,
    "canceled": 5,
    "delivered": 5,
    "undelivered": 5,
    "abandoned": 6,
    "machine": 6,
}
FINAL = frozenset(status for status, rank in _RANK.items() if rank >= 5)
# the counts ``reconcile`` gives, each of which must be 0
VERDICT_COUNTS = (
    "duplicate_dials",
    "wrong_number_contacts",
    "lost_outcomes",
    "state_regressions",
    "contacts_outside_window",
    "contacts_outside_settings",
    "contacts_to_dnc_or_opted_out",
    "holdout_contacts",
    "over_cap_contacts",
    "abandon_over_cap_days",
    "decided_outside_window",
    "forged_accepted",
    "replays_changed_state",
)


@dataclass(frozen=True)
class Clock:
    origin: float
    anchor: float
    scale: float

    def at(self, wall: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.origin + (wall - self.anchor) * self.scale, dt.UTC)


@dataclass
class StoreFacts:
    """What the store holds at the end, read by the soak."""

    attempts: list[dict[str, Any]]  # id, campaign_id, customer_id, channel, phone, sid, ...
    customers: dict[str, dict[str, Any]]  # by phone: id, country, timezone, call_consent
    dnc: dict[str, list[tuple[str, dt.datetime]]]  # phone -> (channel, since), clock time
    holdout: set[str]  # phones of customers in a holdout
    # campaign -> the settings it ran under (one without: the product's defaults)
    settings: dict[int, CampaignSettings] = field(default_factory=dict)
    launched: dict[int, dt.datetime] = field(default_factory=dict)  # campaign -> launch
    stops: dict[str, float] = field(default_factory=dict)  # phone -> wall time STOP answered
    # attempt -> [(wall time seen, status, answered_by, agent_id, answered_at)] as it changed
    changes: dict[int, list[tuple[float, tuple[Any, ...]]]] = field(default_factory=dict)

    def settings_of(self, campaign: int | None) -> CampaignSettings:
        return DEFAULT if campaign is None else self.settings.get(campaign, DEFAULT)


@dataclass(frozen=True)
class Rules:
    """What the soak holds every campaign to; each campaign's own settings come with the
    store's facts."""

    # no two calls to one number closer than this, whatever the campaign: the soak draws
    # no retry delay shorter
    spacing: dt.timedelta = dt.timedelta(minutes=20)
    # the sliding day over which the UTC days' abandon rates are given, for information
    # (each campaign's own windows are its abandon_window_hours)
    measuring_window: dt.timedelta = dt.timedelta(hours=24)
    # from the dialer's decision to the carrier, in clock time: a second of real time at the
    # clock's speed (at 180x, a busy machine's half second is 90 clock seconds)
    tolerance: dt.timedelta = dt.timedelta(seconds=30)
    # real seconds from a person's answer to an agent's line: later, the call counts as
    # abandoned whatever the store says. Real, not clock, seconds: the dialer's own steps
    # take the real time they take in production however fast the simulated clock runs
    connect_grace: float = 2.0


def _decided_outside(store: StoreFacts, note: Any) -> int:
    """Contacts the dialer decided on (its claim, right after the policy check, under the
    customer's lock) outside its campaign's window for the customer or on a holiday there:
    no tolerance."""
    outside = 0
    for a in store.attempts:
        customer = store.customers.get(a["phone"])
        if a["sid"] is None or a["started_at"] is None or customer is None:
            continue
        settings = store.settings_of(a["campaign_id"])
        if not inside_window(settings, customer, a["started_at"], dt.timedelta(0)):
            outside += 1
            note(
                "decided_outside_window", {"attempt": a["id"], "clock": a["started_at"].isoformat()}
            )
    return outside


def reconcile(
    ledger: Sequence[Mapping[str, Any]],
    store: StoreFacts,
    clock: Clock,
    rules: Rules = Rules(),
) -> dict[str, Any]:
    """Every count of the soak's verdict, with up to five examples of each that is not 0."""
    examples: dict[str, list[Any]] = defaultdict(list)

    def note(name: str, example: Any) -> None:
        if len(examples[name]) < 5:
            examples[name].append(example)

    # what the carrier made, also when its answer was lost (a 500 after the call was placed)
    created = [r for r in ledger if r["kind"] == "rest" and r["sid"]]
    finals = {r["sid"]: r for r in ledger if r["kind"] in ("call", "message")}
    counts: Counter[str] = Counter()

    _check_dials(created, store, counts, note)
    contacts = _check_contacts(created, store, clock, rules, counts, note)
    _check_spacing(contacts, rules, counts, note)
    broken = breaches(contacts, store.customers, finals, clock.at, rules.tolerance, note)
    counts["contacts_outside_settings"] = broken.contacts
    counts["contacts_outside_window"] = broken.by_rule["window"]
    counts["over_cap_contacts"] = broken.by_rule["contact_cap"]
    mismatch = _check_outcomes(finals, store, counts, note)
    # the abandon rate over the measuring window at the end of each clock day
    late = late_connects(finals, rules, note)
    counts["abandon_over_cap_days"] = abandon_days(store, note, late)
    counts["decided_outside_window"] = _decided_outside(store, note)
    _check_callbacks(ledger, store, counts, note)
    counts["state_regressions"] = _regressions(store.changes, note)

    out: dict[str, Any] = {name: counts[name] for name in VERDICT_COUNTS}
    out["carrier_calls"] = sum(1 for r in created if r["resource"] == "call")
    out["carrier_messages"] = sum(1 for r in created if r["resource"] == "message")
    out["settings_breaches"] = {rule: broken.by_rule[rule] for rule in SETTINGS_RULES}
    out["outcome_mismatches"] = dict(mismatch)
    out["late_connects"] = len(late)
    out["abandon_over_target_utc_days"] = utc_days_over(store, rules, late)
    out["lists"] = list_figures(store)
    out["examples"] = dict(examples)
    return out


def _check_dials(
    created: Sequence[Mapping[str, Any]], store: StoreFacts, counts: Counter[str], note: Any
) -> None:
    """One carrier call per attempt; the number the attempt names."""
    by_id = {a["id"]: a for a in store.attempts}
    per_attempt = Counter(r["attempt"] for r in created if r["attempt"])
    for attempt, n in per_attempt.items():
        if n > 1:
            counts["duplicate_dials"] += n - 1
            note("duplicate_dials", {"attempt": attempt, "carrier_requests": n})
    for r in created:
        attempt = by_id.get(int(r["attempt"])) if r["attempt"] else None
        if attempt is None or attempt["phone"] != r["to"]:
            counts["wrong_number_contacts"] += 1
            note("wrong_number_contacts", {"sid": r["sid"], "attempt": r["attempt"]})


def _check_contacts(
    created: Sequence[Mapping[str, Any]],
    store: StoreFacts,
    clock: Clock,
    rules: Rules,
    counts: Counter[str],
    note: Any,
) -> list[Contact]:
    """Each contact, in clock time, against do-not-call, consent and holdout; each with
    the attempt it was made for and that attempt's campaign's settings."""
    by_id = {a["id"]: a for a in store.attempts}
    contacts = []
    for r in created:
        moment = clock.at(r["at"])
        attempt = by_id.get(int(r["attempt"])) if r["attempt"] else None
        campaign = None if attempt is None else attempt["campaign_id"]
        contacts.append(Contact(moment, r, attempt, store.settings_of(campaign)))
        customer = store.customers.get(r["to"])
        if customer is None:
            continue
        if _opted_out(r, customer, moment, store, rules):
            counts["contacts_to_dnc_or_opted_out"] += 1
            note("contacts_to_dnc_or_opted_out", {"sid": r["sid"], "resource": r["resource"]})
        if r["to"] in store.holdout:
            counts["holdout_contacts"] += 1
            note("holdout_contacts", {"sid": r["sid"]})
    return contacts


def _opted_out(
    record: Mapping[str, Any],
    customer: Mapping[str, Any],
    moment: dt.datetime,
    store: StoreFacts,
    rules: Rules,
) -> bool:
    """Whether the number was not to be contacted this way at ``moment``: on a do-not-call
    list, opted out by STOP, or without call consent."""
    is_call = record["resource"] == "call"
    # entries made before the contact (an agent's do-not-call during the call is not)
    channels = {
        channel
        for channel, since in store.dnc.get(record["to"], [])
        if since < moment - rules.tolerance
    }
    stopped = store.stops.get(record["to"])
    return (
        "all" in channels
        or ("call" in channels and is_call)
        or (not is_call and ("sms" in channels or (stopped is not None and record["at"] > stopped)))
        or (is_call and not customer["call_consent"])
    )


def _check_spacing(
    contacts: Sequence[Contact], rules: Rules, counts: Counter[str], note: Any
) -> None:
    """Per number: calls closer than the spacing any retry keeps."""
    calls: dict[str, list[dt.datetime]] = defaultdict(list)
    for contact in contacts:
        if contact.is_call:
            calls[contact.record["to"]].append(contact.moment)
    for phone, seen in calls.items():
        seen.sort()
        for before, after in itertools.pairwise(seen):
            if after - before < rules.spacing:
                counts["duplicate_dials"] += 1
                note(
                    "duplicate_dials", {"to_suffix": phone[-4:], "gap_s": (after - before).seconds}
                )


def _check_outcomes(
    finals: Mapping[str, Mapping[str, Any]], store: StoreFacts, counts: Counter[str], note: Any
) -> Counter[str]:
    """Every final word of the carrier held by the store; the mismatches by kind."""
    by_sid = {a["sid"]: a for a in store.attempts if a["sid"]}
    mismatch: Counter[str] = Counter()
    for sid, final in finals.items():
        attempt = by_sid.get(sid)
        answered = final.get("answered_by") if final["kind"] == "call" else None
        expected = _EXPECTED.get(final["status"], {final["status"]})
        if attempt is None or attempt["status"] not in expected:
            counts["lost_outcomes"] += 1
            held = None if attempt is None else attempt["status"]
            mismatch[f"{final['status']}/{answered} -> {held}"] += 1
            note("lost_outcomes", {"sid": sid, "carrier": final["status"], "store": held})
    return mismatch


def _check_callbacks(
    ledger: Sequence[Mapping[str, Any]], store: StoreFacts, counts: Counter[str], note: Any
) -> None:
    """Callbacks: forged ones refused, replayed ones acted on nowhere."""
    for r in ledger:
        if r["kind"] != "callback":
            continue
        if r["signature"] == "forged" and r["status"] is not None and r["status"] != 403:
            counts["forged_accepted"] += 1
            note("forged_accepted", {"event": r["event"], "status": r["status"]})
        if r["signature"] == "replay" and _replay_changed(r, store):
            counts["replays_changed_state"] += 1
            note("replays_changed_state", {"event": r["event"], "attempt": r["attempt"]})


def _replay_changed(record: Mapping[str, Any], store: StoreFacts) -> bool:
    """A replay changed state when the attempt, already final before it came, changed
    after it (status, answered by, agent, answer time), or an answer replay got TwiML that
    dials an agent."""
    if record["event"] in _ANSWERS and record.get("dial"):
        return True
    if not record["attempt"]:
        return False
    history = store.changes.get(int(record["attempt"]), [])
    before = [state for seen, state in history if seen <= record["at"]]
    if not before or before[-1][0] not in FINAL:
        return False
    return any(seen > record["at"] and state != before[-1] for seen, state in history)


def _regressions(changes: Mapping[int, Iterable[tuple[float, tuple[Any, ...]]]], note: Any) -> int:
    """Attempts whose status moved back, whose final status changed, or whose answer time
    or agent, once set, changed."""
    count = 0
    for attempt, history in changes.items():
        previous: tuple[Any, ...] | None = None
        for _, state in history:
            if previous is not None and _regressed(previous, state):
                count += 1
                note("state_regressions", {"attempt": attempt, "from": previous, "to": state})
            previous = state
    return count


_REFUSED_UNDO = {("initiated", "queued"), ("queued", "scheduled")}


def _regressed(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    status0, by0, agent0, answered0, *sid0 = before
    status1, by1, agent1, answered1, *sid1 = after
    if (status0, status1) in _REFUSED_UNDO and not any(sid0 + sid1):
        # the carrier refused the dial or the text (429, 5xx): waiting again, never placed;
        # a call waits as queued and a text as scheduled, and no call is ever scheduled
        return False
    if _RANK.get(status1, 0) < _RANK.get(status0, 0):
        return True
    if status0 in FINAL and status1 != status0:
        return True
    return any(
        old is not None and new != old
        for old, new in ((by0, by1), (agent0, agent1), (answered0, answered1))
    )
