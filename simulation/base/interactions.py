"""The customers' interactions: complaints, tickets and surveys drawn each month from the
latent traits, at local business hours, and the topics, kinds and channels they carry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulation.base.model import CustomerModel
from simulation.base.numeric import I64, choice, row_choice
from simulation.base.timeline import DAY_S

__all__ = ["CHANNELS", "KINDS", "TOPICS", "T_EXIT", "InteractionRecords"]

_COMPLAINT_TOPICS = ("billing", "network", "service", "price", "contract", "technical")
_TICKET_TOPICS = (
    "router",
    "installation",
    "sim_card",
    "outage",
    "roaming",
    "account_access",
    "billing_question",
)
_SURVEY_TOPICS = ("post_contact", "periodic")
_EXIT_REASONS = (
    "price",
    "competitor_offer",
    "moving",
    "service_quality",
    "coverage",
    "no_longer_needed",
)
TOPICS = _COMPLAINT_TOPICS + _TICKET_TOPICS + _SURVEY_TOPICS + _EXIT_REASONS
_T_COMPLAINT = 0
_T_TICKET = len(_COMPLAINT_TOPICS)
_T_SURVEY = _T_TICKET + len(_TICKET_TOPICS)
T_EXIT = _T_SURVEY + len(_SURVEY_TOPICS)
KINDS = ("complaint", "ticket", "survey", "exit")
CHANNELS = ("phone", "email", "web", "chat", "store", "app", "sms", "ivr")


class InteractionRecords(CustomerModel):
    """Complaints, tickets and surveys drawn each month, and the records of all interactions."""

    def _when(self, idx: I64, lo: I64, hi: I64, h0: float, h1: float) -> I64:
        """A UTC instant on a day in [lo, hi], at a local time between h0 and h1 hours."""
        rng = self.rng
        k = len(idx)
        day = lo + np.floor(rng.random(k) * (hi - lo + 1)).astype(np.int64)
        local = day * DAY_S + np.floor((h0 + rng.random(k) * (h1 - h0)) * 3600).astype(np.int64)
        utc = local - self.cal.offsets.at_wall(self.pop.zone[idx], local)
        # late on as_of in the Americas is already the next day in UTC: keep before the cut
        cap = self.cal.as_of_end_s
        early = cap - np.floor(rng.random(k) * 3 * 3600).astype(np.int64)
        out: I64 = np.where(utc > cap, early, utc).astype(np.int64)
        return out

    def _interactions(self, m: int, group: I64, lo: I64, hi: I64) -> npt.NDArray[np.int8]:
        rng, pop, cal = self.rng, self.pop, self.cal
        n = pop.n
        frac = (hi - lo + 1) / cal.month_length(m)
        s, z = pop.service[group], pop.stress[group]
        t = self.tenure(group, cal.first_day(m))
        new = t < 3
        c90 = self.comp[:, group].sum(axis=0)
        pe = self.promo_end[group]
        shock = (m >= pe) & (m - pe < 3)
        as_end = cal.as_of_end_s

        # complaints
        n_c = rng.poisson(np.exp(-3.6 + 0.75 * s + 0.25 * z + 0.5 * new) * frac)
        rep = np.repeat(np.arange(len(group)), n_c)
        cust = group[rep]
        when = self._when(cust, lo[rep], hi[rep], 7.0, 21.0)
        w = np.stack(
            [
                1.0 * np.exp(0.5 * z[rep]),
                0.8 * np.exp(0.3 * s[rep]),
                0.8 * np.exp(0.3 * s[rep]),
                0.6 * (1.0 + 2.0 * shock[rep]),
                0.4 * np.where(self.term[cust] > 0, 1.5, 0.7),
                0.6 * np.ones(len(rep)),
            ],
            axis=1,
        )
        topic = _T_COMPLAINT + row_choice(rng, w)
        channel = choice(rng, np.array([0.45, 0.20, 0.15, 0.12, 0.08]), len(rep))
        hours = np.exp(rng.normal(3.2 + 0.5 * s[rep], 1.1))
        closed = when + np.round(hours * 3600).astype(np.int64)
        good = hours <= 72.0
        np.maximum.at(self.good_day, cust[good], when[good] // DAY_S)
        np.maximum.at(self.bad_day, cust[~good], when[~good] // DAY_S)
        closed = np.where(closed > as_end, -1, closed)
        self._record(cust, 0, when, channel, topic, 0, 0, closed)
        np.maximum.at(self.contact_day, cust, when // DAY_S)
        new_comp = np.zeros(n, dtype=np.int8)
        new_comp[group] = np.minimum(n_c, 100)

        # tickets
        n_t = rng.poisson(np.exp(-3.0 + 0.35 * s + 0.3 * new) * frac)
        rep_t = np.repeat(np.arange(len(group)), n_t)
        cust_t = group[rep_t]
        when_t = self._when(cust_t, lo[rep_t], hi[rep_t], 7.0, 21.0)
        topic_t = _T_TICKET + rng.integers(0, len(_TICKET_TOPICS), len(rep_t))
        chan_t = np.array([0, 2, 3, 5])[choice(rng, np.array([0.4, 0.25, 0.2, 0.15]), len(rep_t))]
        hours_t = np.exp(rng.normal(2.6 + 0.3 * s[rep_t], 1.2))
        closed_t = when_t + np.round(hours_t * 3600).astype(np.int64)
        closed_t = np.where(closed_t > as_end, -1, closed_t)
        self._record(cust_t, 1, when_t, chan_t, topic_t, 0, 0, closed_t)
        np.maximum.at(self.contact_day, cust_t, when_t // DAY_S)

        # surveys
        touched = (n_c > 0) | (n_t > 0)
        surveyed = rng.random(len(group)) < np.where(touched, 0.33, 0.035)
        sv = np.flatnonzero(surveyed)
        k = len(sv)
        cust_s = group[sv]
        when_s = self._when(cust_s, lo[sv], hi[sv], 9.0, 20.0)
        sat = 7.7 - 1.1 * s[sv] - 0.9 * (n_c[sv] > 0) - 0.4 * np.minimum(c90[sv], 2)
        sat10 = np.clip(np.round(sat + rng.normal(0.0, 1.5, k)), 1, 10)
        five = rng.random(k) < 0.15
        sat5 = np.clip(np.round(1.0 + (sat10 - 1.0) * 4.0 / 9.0 + rng.normal(0.0, 0.35, k)), 1, 5)
        score = np.where(five, sat5, sat10).astype(np.int64)
        scale = np.where(five, 5, 10).astype(np.int64)
        self.score[cust_s] = np.where(five, 1.0 + (sat5 - 1.0) * 9.0 / 4.0, sat10)
        topic_s = _T_SURVEY + np.where(touched[sv], 0, 1)
        chan_s = np.array([6, 1, 7])[choice(rng, np.array([0.5, 0.35, 0.15]), k)]
        self._record(cust_s, 2, when_s, chan_s, topic_s, score, scale, -1)
        return new_comp

    def _record(
        self,
        cust: I64,
        kind: int,
        when: I64,
        channel: I64,
        topic: I64,
        score: I64 | int,
        scale: I64 | int,
        closed: I64 | int,
    ) -> None:
        k = len(cust)
        if k == 0:
            return
        self.inter_rec.append(
            {
                "cust": cust.astype(np.int64),
                "kind": np.full(k, kind, dtype=np.int8),
                "when": when.astype(np.int64),
                "channel": np.asarray(channel, dtype=np.int64),
                "topic": np.asarray(topic, dtype=np.int64),
                "score": np.broadcast_to(np.asarray(score, dtype=np.int64), (k,)).copy(),
                "scale": np.broadcast_to(np.asarray(scale, dtype=np.int64), (k,)).copy(),
                "closed": np.broadcast_to(np.asarray(closed, dtype=np.int64), (k,)).copy(),
            }
        )
