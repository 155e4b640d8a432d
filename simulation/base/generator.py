"""Ground-truth demo data: a simulated telco customer base written as CSV exports.

``generate(out, customers, seed)`` simulates a customer base month by month over the
24 billed months up to ``as_of`` and writes what a real telco's exports would hold
(customers, products, the segment x product matrix, holdings, billing, interactions,
a do-not-call list and one past randomised retention campaign), plus one file no model
may read: ``ground_truth.csv``, the true churn probabilities with and without a
retention call, the true customer value and the true offer-acceptance probabilities
at ``as_of``. Scoring and uplift models are judged against it.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed
order and ``as_of`` is a parameter (never today's date), so the same seed, size and
``as_of`` give byte-identical files. Work is vectorised over customers; Python only
loops over months (and over the few products, families and formats).

Run ``python -m simulation.base.generator --out out/demo --customers 100000 --seed 7``.

The generating model
====================

Population
----------
* ``customers`` rows. About 0.5% are prospects (leads that never bought: no
  signup date, holdings or bills; lifecycle "potential"). The others signed up
  either before the window (60%; tenure at the window start ~ Exponential(mean 22
  months), draws beyond 72 months redrawn uniform in 24-72, so no one signed up more
  than 8 years before ``as_of``) or
  during the 24-month window (40%, uniform; those of the last 3 months are "new").
  Customer ids (``C0000001`` ...) follow signup order.
* Type and segment: 85% B2C households in ``B2C_YOUNG`` 26%, ``B2C_FAMILY`` 36%,
  ``B2C_SENIOR`` 22%, ``B2C_PREMIUM`` 16%; 15% B2B firms in ``B2B_SMALL`` 75%,
  ``B2B_MID`` 25%. Names come from small embedded lists.
* Country: US 80% (area codes of four time zones), CA 10%, GB 10%. Phones are
  numbers libphonenumber accepts as valid (no 555 or N11 exchanges), written in a
  mix of E.164 and national/international layouts; 0.15% are blank and 0.15%
  garbled. Time zone blank for 15% (derive it from the phone), region blank 3%,
  language blank 5%. ``call_consent`` yes 93%, ``sms_consent`` yes 40%.
* Contract: month-to-month 45% (``contract_end`` blank), else 12 (30%) or 24
  months (25%) from signup, renewed automatically; ``contract_end`` is the end of
  the contract in force at ``as_of`` (at the churn date for customers who left).
* Latent traits, one draw per customer, never written out:
  frailty ``f ~ N(0, 0.55)`` (unobserved churn proneness); service experience
  ``s ~ N(0, 1)`` (high = bad: drives complaints, tickets, low survey scores);
  financial stress ``z ~ N(0, 1)`` (+0.3 for young, -0.2 for seniors: drives late
  payments, billing complaints, lower acceptance); receptiveness ``r ~ N(0, 1)``
  (drives only the response to a call); buying propensity ``u ~ N(0, 0.45)``
  (drives up-/cross-sell); a uniform ``v`` for the do-not-disturb draw.

Products and holdings
---------------------
12 products in 5 families (MOBILE 1-3, BROADBAND 1-3, TV 1-2, ADDON 1-2, BUSINESS
1-2); ``tier`` is the up-sell ladder in a family. A customer holds at most one tier
per family (1-4 products). At signup each family the segment targets is taken with
a segment-specific probability (at least one), the tier weighted towards entry
tiers among the targeted ones; 1% of holdings are off-matrix (any tier). Monthly
revenue = list price less a permanent discount (0% 55%, 5%, 10%, 15%, 25%; B2B
5 points more). New customers get, with probability 0.5, a 20% or 30%
introductory promotion for 12 months that shows only in billing. Each month a
surviving customer may add a targeted family (rate 0.55% x exp(u)), move up one
tier (0.40% x exp(u)) or drop one of two or more products (0.35% x exp(0.5 s)); the
old holding ends the day before the new one starts.

Churn hazard (monthly, logistic)
--------------------------------
For a customer active on the first day of month m::

    logit h = -3.2 + seg                            (YOUNG +.35, FAMILY 0, SENIOR -.35,
                                                     PREMIUM -.15, B2B_SMALL +.15, B2B_MID -.45)
            + 1.4 exp(-t / 5) - 0.4 min(t, 72) / 72   t = tenure in months
            + 0.6 if month-to-month; else +0.9 if the contract ends within 2 months,
              else -0.7
            + 0.55 min(complaints in the last 3 months, 3)
            + 0.2 (7 - last survey score on 1-10)    (+0.1 when never surveyed)
            + 0.35 clip(log(bill / segment's median bill), -1.5, 1.5)
            + 0.45 if the introductory promotion ended in the last 3 months
            + 0.45 x (bills paid late in the last 3 months)
            - 0.4 (products held - 1)
            + f + 0.25 s + 0.15 z

The observable terms alone rank the next 90 days' churners with ROC AUC about 0.73,
the full hazard (with the latent terms) about 0.78-0.79, so a good model built from
the files lands in 0.70-0.78 (a gradient-boosting model on simple aggregates of the
files reached 0.73 at 60k customers), not 0.99.

A churner's holdings all end on a uniform day of that month (the last bill is
prorated); 60% leave an exit interview whose reason depends on their state (price
after a promotion ends or for the financially stressed, service_quality/coverage
after complaints, moving for the young, no_longer_needed for B2B and seniors,
competitor_offer otherwise). 12% of churners come back 2-10 months later
("restored") with some of their old products, a new contract and a new tenure
clock. The month of signup or return has no churn draw.

Observed signals from the latent traits
----------------------------------------
* Complaints ~ Poisson(exp(-3.6 + 0.75 s + 0.25 z + 0.5 [t < 3])) a month (pro rata
  for partial months), topic billing/network/service/price/contract/technical
  (billing tilted by ``z``, price after a promotion ends); closed after
  exp(N(3.2 + 0.5 s, 1.1)) hours, blank ``closed_at`` if that is after ``as_of``.
  Closed within 72 hours = "handled well".
* Tickets ~ Poisson(exp(-3.0 + 0.35 s + 0.3 [t < 3])), closed after
  exp(N(2.6 + 0.3 s, 1.2)) hours.
* Surveys with probability 0.035 a month, 0.33 after a complaint or ticket that
  month: score on 1-10 = round(7.7 - 1.1 s - 0.9 [complaint this month]
  - 0.4 min(earlier complaints, 2) + N(0, 1.5)); 15% on a 1-5 scale
  (rescaled with noise).
* Bills: prorated recurring amount x (1 + N(0, 1.5%); B2B 4%) + an overage charge
  (8% of bills, Exp(9); B2B 20%, Exp(25)). Late with probability
  sigmoid(-2.6 + 1.3 z + N(0, 0.5)), by round(exp(N(1.8 + 0.35 z, 0.8))) days
  (1-120); due on the 15th; ``days_late`` blank when a late bill is still unpaid
  at ``as_of``.
* Interaction times fall in local business hours; ``occurred_at`` is written in
  UTC with ``Z`` (60%) or in the customer's local time with its UTC offset (taken
  from ``zoneinfo``, i.e. the IANA time zone database, daylight saving included).

Retention call effect (heterogeneous, on the monthly logit, for 3 months)
-------------------------------------------------------------------------
It depends on other traits than risk (after Ascarza 2018, risk and response are
only loosely related)::

    log m = -1.3 + seg' + band + 0.3 [complaint handled well in the last 180 days]
            + 0.2 (products - 1) - 0.7 [last score <= 4] - 0.8 z + 1.0 r
        seg':  YOUNG -.9, FAMILY +.15, SENIOR +.55, PREMIUM -.1, B2B_SMALL +.3, B2B_MID +.1
        band:  t < 6: -2.0 (new customers barely react), 6-24: +.1, 24-60: +.35, >= 60: +.5
    do-not-disturb if v < sigmoid(-3.1 + seg'' + 1.4 [sleeping dog]
                                  + 1.2 [complaint not handled well in the last 90 days]
                                  + 1.5 [contract ends within 2 months] - 0.5 r)
        seg'': YOUNG +.9, PREMIUM +.5, B2B_MID +.6, others 0;
        sleeping dog = month-to-month, tenure >= 36 months, no complaint or ticket
        in 180 days (a call reminds them they can leave)
    tau = +0.8 m for do-not-disturbs, else -m;   logit h_called = logit h + tau

Responsiveness leans on traits that differ from the risk drivers or pull the other
way (new, young, stressed and very unhappy customers are risky but hard to move;
long-tenure seniors are safe but receptive), and the latent ``r`` carries most of
it, so the correlation of ``p_churn_no_call`` with the effect is about 0.15.
So there are persuadables (large m), sure things (tiny risk), lost causes
(high frailty, small m) and do-not-disturbs (tau > 0).

Past campaign (history.csv)
---------------------------
Six months before ``as_of`` a random 20% of the customers active on that month's
first day were put on a retention list, split 50/50 into ``treated``/``holdout`` and
dated in that month's first week. Treated customers were reached with probability
sigmoid(0.41 + seg_reach + 0.2 r) (about 60%; seniors +.5, the young -.4 and
mid-size firms -.3); ``reached`` is blank for the holdout. For reached treated customers
``tau`` (evaluated on the contact day) is added to the hazard of that month and the
next two; churn draws of list members in the contact month fall after the contact
day. ``churned_90d`` = the customer's last holding ended within 90 days after
``contacted_on`` (a product switch is not churn), recorded for everyone on the list
(intention-to-treat).

Ground truth (ground_truth.csv, customers active at as_of)
-----------------------------------------------------------
* ``p_churn_no_call`` = 1 - prod_k (1 - h_k) over the 3 months after ``as_of``,
  from the state at ``as_of`` (tenure and contract clocks run on, the promotion
  schedule applies; complaints, scores and payments stay as they are).
* ``p_churn_if_called`` = the same with ``tau`` (evaluated at ``as_of``) added.
* ``clv`` = ARPU (sum of held monthly revenue) x expected remaining lifetime in
  months, sum_{k=0}^{59} prod_{j<k} (1 - h_j), i.e. E[min(T, 60)] under the no-call
  hazard.
* ``p_accept_<code>`` for every product the segment targets that the customer does
  not hold (blank otherwise): sigmoid(base_product + segment affinity
  + 0.5 next tier up / -0.6 two tiers up / -1.8 a lower tier of a held family
  + 0.15 (score - 7) - 0.35 min(complaints 3 months, 3) - 0.35 z + u
  + 0.15 (products - 1) - 0.4 [t < 3]); base_product from -3.4 (MOB_S, TV_PREMIUM)
  to -2.7 (ADD_PROTECT), affinities up to +0.3; median about 5%, middle 80% about
  1-14%. The simulation itself does not use them (its organic adoptions follow the
  simpler rates above).

Figures at 1,000,000 customers, seed 11: 90-day churn 8.7%, mean call effect 1.74
points, 8.7% pushed away, correlation of risk and effect about 0.15, list coverage
20%, 13.2M bills, 2.4M holdings, 2.2M interactions; about 30 s and 1.5 GB.

Files (UTF-8, header row, comma-separated, quoted only when needed, blank = missing)
-------------------------------------------------------------------------------------
See ``HEADERS`` for the exact columns. Dates are ``YYYY-MM-DD``, billing months
``YYYY-MM``, money has two decimals, probabilities six (churn) or four (offers),
timestamps ISO 8601 with ``Z`` or an offset, booleans ``yes``/``no`` (consent) or
``0``/``1`` (history), matrix cells ``x``. Billing rows are in month order,
interactions in time order with ids in that order, the rest in customer order.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from store.csv_out import FORMULA_START, PLAIN_NUMBER
from store.private_files import open_private_binary

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]

DEFAULT_AS_OF = date(2026, 10, 31)
HISTORY_MONTHS = 24
CAMPAIGN_MONTHS_BEFORE = 6
MONTH_DAYS = 30.4375
DAY_S = 86_400
CLV_CAP_MONTHS = 60

# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class _Product:
    code: str
    name: str
    family: str
    tier: int
    price: float
    margin: float  # fraction of price


@dataclass(frozen=True)
class _Segment:
    code: str
    name: str
    b2b: bool
    share: float  # within its customer type
    targets: tuple[str, ...]
    family_p: dict[str, float]  # probability of holding the family at signup
    hazard: float
    effect: float  # on log |call effect|
    dnd: float  # on the do-not-disturb logit
    reach: float  # on the logit of being reached by a call
    stress: float  # shift of financial stress


FAMILIES = ("MOBILE", "BROADBAND", "TV", "ADDON", "BUSINESS")
PRODUCTS: tuple[_Product, ...] = (
    _Product("MOB_S", "Mobile S 5 GB", "MOBILE", 1, 19.00, 0.45),
    _Product("MOB_M", "Mobile M 25 GB", "MOBILE", 2, 32.00, 0.50),
    _Product("MOB_L", "Mobile L Unlimited", "MOBILE", 3, 49.00, 0.55),
    _Product("BB_100", "Fiber 100", "BROADBAND", 1, 35.00, 0.35),
    _Product("BB_500", "Fiber 500", "BROADBAND", 2, 52.00, 0.40),
    _Product("BB_1G", "Fiber 1 Gig", "BROADBAND", 3, 75.00, 0.45),
    _Product("TV_BASIC", "TV Essentials", "TV", 1, 22.00, 0.25),
    _Product("TV_PREMIUM", "TV Premium + Sports", "TV", 2, 45.00, 0.30),
    _Product("ADD_PROTECT", "Device Protection", "ADDON", 1, 15.00, 0.70),
    _Product("ADD_SECURE", "Protect Plus (device + home security)", "ADDON", 2, 25.00, 0.65),
    _Product("BIZ_FIBER", "Business Fiber 1 Gig", "BUSINESS", 1, 89.00, 0.50),
    _Product("CLOUD_PBX", "Cloud PBX bundle (fiber + hosted PBX)", "BUSINESS", 2, 119.00, 0.55),
)
SEGMENTS: tuple[_Segment, ...] = (
    _Segment(
        code="B2C_YOUNG",
        name="Young singles and couples",
        b2b=False,
        share=0.26,
        targets=("MOB_S", "MOB_M", "MOB_L", "BB_100", "BB_500", "TV_BASIC", "ADD_PROTECT"),
        family_p={"MOBILE": 0.9, "BROADBAND": 0.45, "TV": 0.15, "ADDON": 0.25},
        hazard=0.35,
        effect=-0.9,
        dnd=0.9,
        reach=-0.4,
        stress=0.3,
    ),
    _Segment(
        code="B2C_FAMILY",
        name="Families",
        b2b=False,
        share=0.36,
        targets=(
            "MOB_M",
            "MOB_L",
            "BB_100",
            "BB_500",
            "BB_1G",
            "TV_BASIC",
            "TV_PREMIUM",
            "ADD_PROTECT",
            "ADD_SECURE",
        ),
        family_p={"MOBILE": 0.75, "BROADBAND": 0.8, "TV": 0.5, "ADDON": 0.3},
        hazard=0.0,
        effect=0.15,
        dnd=0.0,
        reach=0.0,
        stress=0.0,
    ),
    _Segment(
        code="B2C_SENIOR",
        name="Seniors",
        b2b=False,
        share=0.22,
        targets=(
            "MOB_S",
            "MOB_M",
            "BB_100",
            "BB_500",
            "TV_BASIC",
            "TV_PREMIUM",
            "ADD_PROTECT",
            "ADD_SECURE",
        ),
        family_p={"MOBILE": 0.6, "BROADBAND": 0.6, "TV": 0.65, "ADDON": 0.25},
        hazard=-0.35,
        effect=0.55,
        dnd=0.0,
        reach=0.5,
        stress=-0.2,
    ),
    _Segment(
        code="B2C_PREMIUM",
        name="Premium households",
        b2b=False,
        share=0.16,
        targets=("MOB_L", "BB_500", "BB_1G", "TV_PREMIUM", "ADD_SECURE"),
        family_p={"MOBILE": 0.8, "BROADBAND": 0.85, "TV": 0.6, "ADDON": 0.45},
        hazard=-0.15,
        effect=-0.1,
        dnd=0.5,
        reach=0.0,
        stress=-0.3,
    ),
    _Segment(
        code="B2B_SMALL",
        name="Small business",
        b2b=True,
        share=0.75,
        targets=("MOB_S", "MOB_M", "MOB_L", "BB_500", "ADD_PROTECT", "BIZ_FIBER", "CLOUD_PBX"),
        family_p={"MOBILE": 0.8, "BROADBAND": 0.55, "ADDON": 0.2, "BUSINESS": 0.35},
        hazard=0.15,
        effect=0.3,
        dnd=0.0,
        reach=0.0,
        stress=0.1,
    ),
    _Segment(
        code="B2B_MID",
        name="Mid-size business",
        b2b=True,
        share=0.25,
        targets=("MOB_M", "MOB_L", "ADD_SECURE", "BIZ_FIBER", "CLOUD_PBX"),
        family_p={"MOBILE": 0.85, "ADDON": 0.3, "BUSINESS": 0.85},
        hazard=-0.45,
        effect=0.1,
        dnd=0.6,
        reach=-0.3,
        stress=-0.3,
    ),
)
# offer acceptance: base logit per product and segment affinities
_ACCEPT_BASE = {
    "MOB_S": -3.4,
    "MOB_M": -3.1,
    "MOB_L": -3.2,
    "BB_100": -3.3,
    "BB_500": -3.1,
    "BB_1G": -3.3,
    "TV_BASIC": -3.1,
    "TV_PREMIUM": -3.4,
    "ADD_PROTECT": -2.7,
    "ADD_SECURE": -3.0,
    "BIZ_FIBER": -3.2,
    "CLOUD_PBX": -3.2,
}
_ACCEPT_AFFINITY = {
    ("B2C_YOUNG", "MOB_L"): 0.3,
    ("B2C_YOUNG", "ADD_PROTECT"): 0.2,
    ("B2C_FAMILY", "TV_PREMIUM"): 0.3,
    ("B2C_FAMILY", "BB_1G"): 0.2,
    ("B2C_FAMILY", "ADD_SECURE"): 0.2,
    ("B2C_SENIOR", "ADD_SECURE"): 0.3,
    ("B2C_SENIOR", "TV_PREMIUM"): 0.2,
    ("B2C_PREMIUM", "BB_1G"): 0.3,
    ("B2B_SMALL", "BIZ_FIBER"): 0.2,
    ("B2B_MID", "CLOUD_PBX"): 0.3,
}

# hazard coefficients (see the module docstring)
_H_INTERCEPT = -3.2
_H_FRAILTY_SD = 0.55
# call effect
_TAU_INTERCEPT = -1.3
_TAU_RECEPT = 1.0
_TAU_UNHAPPY = 0.7
_TAU_NEW = -2.0
_TAU_STRESS = 0.8
_DND_ENDING = 1.5
_DND_SLEEPING = 1.4
_DND_UNRESOLVED = 1.2
_DND_INTERCEPT = -3.1

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
_TOPICS = _COMPLAINT_TOPICS + _TICKET_TOPICS + _SURVEY_TOPICS + _EXIT_REASONS
_T_COMPLAINT = 0
_T_TICKET = len(_COMPLAINT_TOPICS)
_T_SURVEY = _T_TICKET + len(_TICKET_TOPICS)
_T_EXIT = _T_SURVEY + len(_SURVEY_TOPICS)
_KINDS = ("complaint", "ticket", "survey", "exit")
_CHANNELS = ("phone", "email", "web", "chat", "store", "app", "sms", "ivr")

# --------------------------------------------------------------------------- places
# IANA time zones; their UTC offsets come from zoneinfo (see _UtcOffsets)
_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Vancouver",
    "America/Edmonton",
    "Europe/London",
)
_COUNTRIES = ("US", "CA", "GB")
# NANP area code, country, region, zone index, weight
_AREAS: tuple[tuple[int, int, str, int, float], ...] = (
    (212, 0, "NY", 0, 3.0),
    (718, 0, "NY", 0, 3.0),
    (917, 0, "NY", 0, 2.0),
    (646, 0, "NY", 0, 1.5),
    (617, 0, "MA", 0, 1.5),
    (305, 0, "FL", 0, 2.0),
    (404, 0, "GA", 0, 1.5),
    (215, 0, "PA", 0, 1.5),
    (202, 0, "DC", 0, 1.0),
    (313, 0, "MI", 0, 1.0),
    (312, 0, "IL", 1, 2.0),
    (773, 0, "IL", 1, 1.5),
    (214, 0, "TX", 1, 2.0),
    (713, 0, "TX", 1, 2.0),
    (512, 0, "TX", 1, 1.0),
    (612, 0, "MN", 1, 1.0),
    (615, 0, "TN", 1, 1.0),
    (816, 0, "MO", 1, 0.8),
    (303, 0, "CO", 2, 1.2),
    (720, 0, "CO", 2, 1.0),
    (801, 0, "UT", 2, 1.0),
    (505, 0, "NM", 2, 0.6),
    (406, 0, "MT", 2, 0.4),
    (213, 0, "CA", 3, 2.0),
    (310, 0, "CA", 3, 2.0),
    (415, 0, "CA", 3, 1.5),
    (408, 0, "CA", 3, 1.2),
    (619, 0, "CA", 3, 1.2),
    (206, 0, "WA", 3, 1.2),
    (503, 0, "OR", 3, 1.0),
    (702, 0, "NV", 3, 1.0),
    (416, 1, "ON", 4, 2.0),
    (647, 1, "ON", 4, 1.5),
    (613, 1, "ON", 4, 1.0),
    (514, 1, "QC", 4, 1.5),
    (438, 1, "QC", 4, 0.8),
    (604, 1, "BC", 5, 1.5),
    (778, 1, "BC", 5, 1.0),
    (403, 1, "AB", 6, 1.2),
    (587, 1, "AB", 6, 0.8),
)
# GB number plans: national significant number prefix, digits after it, region, weight
_GB_PLANS: tuple[tuple[int, int, str, float], ...] = (
    (20, 8, "ENG", 0.30),  # London 020 [378]xxx xxxx
    (161, 7, "ENG", 0.08),  # Manchester 0161 [2-9]xx xxxx
    (151, 7, "ENG", 0.06),  # Liverpool
    (191, 7, "ENG", 0.05),  # Newcastle
    (141, 7, "SCT", 0.06),  # Glasgow
    (7, 9, "", 0.45),  # mobile 07[458]xx xxxxxx
)


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Daniel Lisa Matthew Nancy "
    "Anthony Betty Mark Sandra Steven Ashley Paul Emily Andrew Donna Joshua Michelle Kevin "
    "Carol Brian Amanda George Melissa Timothy Deborah Jose Maria Luis Carmen Carlos Ana "
    "Juan Sofia Miguel Lucia Oliver Amelia Harry Isla Jack Ava Noah Mia Liam Olivia Ethan "
    "Chloe Lucas Emma Mohammed Aisha Wei Mei Raj Priya Chen Yuki Sean Siobhan Pierre Chloé "
    "François Mathieu Zoë Renée"
)
_LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Patel Khan Singh Murphy O'Brien O'Connor McDonald MacLeod Evans Hughes Edwards "
    "Wood Roy Tremblay Gagnon Côté Bouchard Wong Chen Kim Park Cohen Schmidt Müller Novak"
)
_COMPANY_A = _words(
    "Northwind Bluebird Summit Harbor Pioneer Redwood Granite Silverline Evergreen Keystone "
    "Lakeside Ironclad Brightpath Crescent Maple Cedar Atlas Beacon Horizon Riverbend "
    "Oakridge Stonebridge Clearwater Westfield Eastgate Highland Golden Meridian Union Apex"
)
_COMPANY_B = _words(
    "Logistics|Dental|Plumbing|Consulting|Bakery|Motors|Realty|Legal Services|Design Studio|"
    "Construction|Accounting|Veterinary Clinic|Fitness|Coffee|Printing|Landscaping|Auto Repair|"
    "Insurance|Pharmacy|Electric|Roofing|Software|Marketing|Catering|Florist|Architects|"
    "Cleaning Services|Hardware|Opticians|Travel",
    "|",
)
_COMPANY_SUFFIX = (
    ("LLC", "Inc.", "Corp.", "Co."),
    ("Inc.", "Ltd.", "Corp."),
    ("Ltd", "LLP", "plc"),
)

# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class DemoDataSummary:
    """What ``generate`` wrote and the headline figures of its ground truth."""

    customers: int
    products: int
    holdings: int
    billing_rows: int
    interactions: int
    history_rows: int
    as_of: date
    churn_rate_90d: float  # mean p_churn_no_call over customers active at as_of
    mean_call_effect: float  # mean of p_churn_no_call - p_churn_if_called (active)
    share_pushed_away: float  # share of active customers with p_if_called > p_no_call
    history_coverage: float  # campaign list size / customers active on the list date
    files: dict[str, Path] = field(default_factory=dict)


FILE_NAMES = (
    "products",
    "matrix",
    "customers",
    "holdings",
    "billing",
    "interactions",
    "dnc",
    "history",
    "ground_truth",
)
HEADERS: dict[str, tuple[str, ...]] = {
    "products": ("product_code", "name", "family", "tier", "monthly_price", "monthly_margin"),
    "matrix": ("segment", "segment_name", *(p.code for p in PRODUCTS)),
    "customers": (
        "customer_id",
        "name",
        "phone",
        "country",
        "region",
        "timezone",
        "language",
        "customer_type",
        "segment",
        "call_consent",
        "sms_consent",
        "signup_date",
        "contract_end",
    ),
    "holdings": ("customer_id", "product_code", "start_date", "end_date", "monthly_revenue"),
    "billing": ("customer_id", "month", "amount", "days_late"),
    "interactions": (
        "interaction_id",
        "customer_id",
        "kind",
        "occurred_at",
        "channel",
        "topic",
        "score",
        "scale",
        "closed_at",
    ),
    "dnc": ("phone", "channel", "source", "reason"),
    "history": ("customer_id", "campaign", "contacted_on", "group", "reached", "churned_90d"),
    "ground_truth": (
        "customer_id",
        "p_churn_no_call",
        "p_churn_if_called",
        "clv",
        *(f"p_accept_{p.code}" for p in PRODUCTS),
    ),
}


def generate(
    out: Path,
    customers: int,
    seed: int,
    as_of: date = DEFAULT_AS_OF,
    progress: Callable[[str, float], None] | None = None,
) -> DemoDataSummary:
    """Simulate ``customers`` customers up to ``as_of`` and write the CSV files into ``out``."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if customers > 9_999_999:
        raise ValueError("customer ids have 7 digits: at most 9,999,999 customers")
    out = Path(out)  # created owner-only by the first file written into it
    report: Callable[[str, float], None] = progress or (lambda _stage, _fraction: None)
    files = {name: out / f"{name}.csv" for name in FILE_NAMES}
    rng = np.random.Generator(np.random.PCG64(seed))
    cal = _Calendar(as_of)

    report("population", 0.0)
    pop = _Population(rng, customers, cal)
    report("population", 1.0)

    with _CsvSink(files["billing"], HEADERS["billing"]) as billing:
        sim = _Simulation(rng, pop, cal, billing)
        sim.run(report)
    report("ground truth", 0.0)
    truth = sim.ground_truth()
    report("ground truth", 1.0)

    _write_products(files["products"])
    _write_matrix(files["matrix"])
    strings = _CustomerStrings(rng, pop)
    _write_customers(files["customers"], pop, sim, strings, cal)
    report("write", 0.2)
    n_holdings = _write_holdings(files["holdings"], sim, strings)
    report("write", 0.4)
    n_interactions = _write_interactions(files["interactions"], rng, sim, strings, cal)
    report("write", 0.7)
    _write_dnc(files["dnc"], rng, pop, strings)
    n_history = _write_history(files["history"], sim, strings, cal)
    _write_ground_truth(files["ground_truth"], truth, strings)
    report("write", 1.0)

    p0, p1 = truth.p_no_call, truth.p_if_called
    n_active = len(p0)
    return DemoDataSummary(
        customers=customers,
        products=len(PRODUCTS),
        holdings=n_holdings,
        billing_rows=billing.rows,
        interactions=n_interactions,
        history_rows=n_history,
        as_of=as_of,
        churn_rate_90d=float(p0.mean()) if n_active else 0.0,
        mean_call_effect=float((p0 - p1).mean()) if n_active else 0.0,
        share_pushed_away=float((p1 > p0).mean()) if n_active else 0.0,
        history_coverage=n_history / max(sim.active_at_campaign, 1),
        files=files,
    )


# --------------------------------------------------------------------------- calendar


def _day(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _add_months(days: I64, months: I64 | int) -> I64:
    """Same day of month ``months`` later (clipped to the month's length)."""
    d = days.astype("datetime64[D]")
    first = d.astype("datetime64[M]")
    dom = (d - first.astype("datetime64[D]")).astype(np.int64)
    target = first + np.asarray(months, dtype=np.int64)
    t_first = target.astype("datetime64[D]")
    t_len = ((target + 1).astype("datetime64[D]") - t_first).astype(np.int64)
    out: I64 = (t_first.astype(np.int64) + np.minimum(dom, t_len - 1)).astype(np.int64)
    return out


def _month_index(days: I64) -> I64:
    """Months since 1970-01 of each day."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


class _Calendar:
    """Month m = 0 .. 23 are the billed months; m = 23 contains as_of."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self.as_of_day = _day(as_of)
        self.as_of_end_s = (self.as_of_day + 1) * DAY_S - 1
        last = int(np.datetime64(as_of, "M").astype(np.int64))
        self.m0 = last - (HISTORY_MONTHS - 1)  # months since 1970-01 of month 0
        ms = np.arange(self.m0 - 100, self.m0 + HISTORY_MONTHS + 100, dtype=np.int64)
        self._first = ms.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        self._offset = 100
        self.w0 = self.first_day(0)
        self.labels = [str(np.datetime64(int(self.m0 + m), "M")) for m in range(HISTORY_MONTHS)]
        # every interaction falls within a day of the window
        self.offsets = _UtcOffsets((self.w0 - 2) * DAY_S, self.as_of_end_s + 2 * DAY_S)

    def first_day(self, m: int) -> int:
        return int(self._first[m + self._offset])

    def last_day(self, m: int) -> int:
        """Last day of month m, never after as_of."""
        return min(int(self._first[m + self._offset + 1]) - 1, self.as_of_day)

    def month_length(self, m: int) -> int:
        return int(self._first[m + self._offset + 1] - self._first[m + self._offset])

    def month_of(self, days: I64) -> I64:
        return _month_index(days) - self.m0


_EPOCH = datetime(1970, 1, 1)


def _offset_s(moment: datetime) -> int:
    off = moment.utcoffset()
    assert off is not None
    return int(off.total_seconds())


def _offset_at_utc(zone: ZoneInfo, utc_s: int) -> int:
    """zoneinfo's UTC offset of ``zone`` at a UTC instant (seconds since the epoch)."""
    return _offset_s(datetime.fromtimestamp(utc_s, zone))


def _offset_at_wall(zone: ZoneInfo, local_s: int) -> int:
    """zoneinfo's UTC offset of ``zone`` at a local wall-clock time (seconds since
    1970-01-01 00:00 local; a skipped or repeated time resolves as zoneinfo's fold=0)."""
    return _offset_s((_EPOCH + timedelta(seconds=local_s)).replace(tzinfo=zone))


class _UtcOffsets:
    """UTC offsets of the ``_ZONES`` from zoneinfo (the IANA time zone database).

    zoneinfo is asked once per zone and hour of [start_s, end_s], for the offset at each
    UTC hour and at each local wall-clock hour; lookups then index these tables with
    numpy. These zones change offset on whole hours, so an entry holds for its whole hour;
    an hour in which the offset changes at another moment (zoneinfo is asked about the
    second before each change) and any time outside the span are asked of zoneinfo
    directly, so lookups always agree with zoneinfo.
    """

    def __init__(self, start_s: int, end_s: int) -> None:
        self._zones = [ZoneInfo(name) for name in _ZONES]
        self._h0 = start_s // 3600
        hours = np.arange(self._h0, end_s // 3600 + 2, dtype=np.int64) * 3600
        self._at_utc = self._tabulate(_offset_at_utc, hours)
        self._at_wall = self._tabulate(_offset_at_wall, hours)

    def _tabulate(self, ask: Callable[[ZoneInfo, int], int], hours: I64) -> tuple[I64, Bool]:
        table = np.array([[ask(z, int(t)) for t in hours] for z in self._zones], dtype=np.int64)
        # an hour is "mixed" when the offset changes inside it rather than at its end
        mixed = np.zeros(table.shape, dtype=np.bool_)
        for zi, h in zip(*np.nonzero(table[:, 1:] != table[:, :-1]), strict=True):
            mixed[zi, h] = ask(self._zones[zi], int(hours[h + 1]) - 1) != table[zi, h]
        mixed[:, -1] = True  # its end is not checked
        return table, mixed

    def _lookup(
        self,
        tables: tuple[I64, Bool],
        ask: Callable[[ZoneInfo, int], int],
        zone: I64,
        seconds: I64,
    ) -> I64:
        table, mixed = tables
        h = seconds // 3600 - self._h0
        inside = (h >= 0) & (h < table.shape[1])
        hc = np.where(inside, h, 0)
        out: I64 = table[zone, hc]
        for i in np.flatnonzero(~inside | mixed[zone, hc]):
            out[i] = ask(self._zones[int(zone[i])], int(seconds[i]))
        return out

    def at_utc(self, zone: I64, utc_s: I64) -> I64:
        """UTC offset in seconds of each zone (index into _ZONES) at each UTC instant."""
        return self._lookup(self._at_utc, _offset_at_utc, zone, utc_s)

    def at_wall(self, zone: I64, local_s: I64) -> I64:
        """UTC offset in seconds of each zone at each local wall-clock time."""
        return self._lookup(self._at_wall, _offset_at_wall, zone, local_s)


# --------------------------------------------------------------------------- population


def _choice(rng: np.random.Generator, weights: F64, size: int) -> I64:
    """Categorical draws with fixed weights."""
    cum = np.cumsum(weights / weights.sum())
    idx = np.searchsorted(cum, rng.random(size), side="right")
    return np.minimum(idx, len(weights) - 1).astype(np.int64)


def _row_choice(rng: np.random.Generator, weights: F64) -> I64:
    """One categorical draw per row of a (rows, options) weight matrix."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    idx = (u[:, None] >= cum).sum(axis=1)
    out: I64 = np.minimum(idx, weights.shape[1] - 1).astype(np.int64)
    return out


def _sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


_N_FAM = len(FAMILIES)
_MAX_TIER = 3
_P_CODES = [p.code for p in PRODUCTS]
_PRICE_CENTS = np.array([round(p.price * 100) for p in PRODUCTS], dtype=np.int64)
# product index of (family, tier); -1 where no such product
_PROD_OF = np.full((_N_FAM, _MAX_TIER + 2), -1, dtype=np.int64)
for _i, _p in enumerate(PRODUCTS):
    _PROD_OF[FAMILIES.index(_p.family), _p.tier] = _i
_P_FAMILY = np.array([FAMILIES.index(p.family) for p in PRODUCTS], dtype=np.int64)
_P_TIER = np.array([p.tier for p in PRODUCTS], dtype=np.int64)
_N_SEG = len(SEGMENTS)
# targeted[s, p]
_TARGETED = np.array([[p.code in s.targets for p in PRODUCTS] for s in SEGMENTS], dtype=bool)
# targeted tier in family: [s, f, tier]
_TIER_TARGETED: Bool = np.zeros((_N_SEG, _N_FAM, _MAX_TIER + 2), dtype=bool)
for _s in range(_N_SEG):
    for _i in range(len(PRODUCTS)):
        if _TARGETED[_s, _i]:
            _TIER_TARGETED[_s, _P_FAMILY[_i], _P_TIER[_i]] = True
_FAM_TARGETED: Bool = np.any(_TIER_TARGETED, axis=2)
_ENTRY_TIER: I64 = np.where(_FAM_TARGETED, _TIER_TARGETED.argmax(axis=2), 0)
_FAMILY_P = np.array([[s.family_p.get(f, 0.0) for f in FAMILIES] for s in SEGMENTS])
_SEG_HAZARD = np.array([s.hazard for s in SEGMENTS])
_SEG_EFFECT = np.array([s.effect for s in SEGMENTS])
_SEG_DND = np.array([s.dnd for s in SEGMENTS])
_SEG_REACH = np.array([s.reach for s in SEGMENTS])
_SEG_STRESS = np.array([s.stress for s in SEGMENTS])
_SEG_B2B = np.array([s.b2b for s in SEGMENTS])
_SEG_IDX = {s.code: i for i, s in enumerate(SEGMENTS)}
_ACCEPT = np.array(
    [
        [_ACCEPT_BASE[p.code] + _ACCEPT_AFFINITY.get((s.code, p.code), 0.0) for p in PRODUCTS]
        for s in SEGMENTS
    ]
)
_DISCOUNTS = np.array([0.0, 0.05, 0.10, 0.15, 0.25])
_DISCOUNT_W = np.array([0.55, 0.15, 0.15, 0.10, 0.05])


def _revenue_cents(rng: np.random.Generator, prod: I64, b2b: Bool) -> I64:
    disc = _DISCOUNTS[_choice(rng, _DISCOUNT_W, len(prod))] + np.where(b2b, 0.05, 0.0)
    return np.round(_PRICE_CENTS[prod] * (1.0 - disc)).astype(np.int64)


class _Population:
    """Everything drawn once per customer before the months are simulated."""

    def __init__(self, rng: np.random.Generator, n: int, cal: _Calendar) -> None:
        self.n = n
        w0 = cal.w0
        # signup order = id order
        pre = rng.random(n) < 0.60
        tenure_m = rng.exponential(22.0, n)
        tenure_m = np.where(tenure_m < 72.0, tenure_m, rng.uniform(24.0, 72.0, n))
        pre_day = w0 - 1 - np.floor(tenure_m * MONTH_DAYS).astype(np.int64)
        in_day = w0 + np.floor(rng.random(n) * (cal.as_of_day - w0 + 1)).astype(np.int64)
        signup = np.sort(np.where(pre, pre_day, in_day))
        self.prospect: Bool = rng.random(n) < 0.005
        self.signup: I64 = signup
        self.join_month: I64 = cal.month_of(signup)  # < 0 before the window

        b2b = rng.random(n) < 0.15
        seg = np.empty(n, dtype=np.int64)
        b2c_idx = [i for i, s in enumerate(SEGMENTS) if not s.b2b]
        b2b_idx = [i for i, s in enumerate(SEGMENTS) if s.b2b]
        for sel, members in ((~b2b, b2c_idx), (b2b, b2b_idx)):
            w = np.array([SEGMENTS[i].share for i in members])
            seg[sel] = np.array(members)[_choice(rng, w, int(sel.sum()))]
        self.seg: I64 = seg
        self.b2b: Bool = b2b

        # latent traits
        self.frailty: F64 = rng.normal(0.0, _H_FRAILTY_SD, n)
        self.service: F64 = rng.normal(0.0, 1.0, n)
        self.stress: F64 = rng.normal(0.0, 1.0, n) + _SEG_STRESS[seg]
        self.recept: F64 = rng.normal(0.0, 1.0, n)
        self.buy: F64 = rng.normal(0.0, 0.45, n)
        self.dnd_u: F64 = rng.random(n)

        # contract: 0 = month-to-month, else term in months
        self.term: I64 = np.array([0, 12, 24], dtype=np.int64)[
            _choice(rng, np.array([0.45, 0.30, 0.25]), n)
        ]
        # introductory promotion (month index when it ends)
        promo = (rng.random(n) < 0.5) & (self.join_month >= -12)
        self.promo_rate: F64 = np.where(promo, np.where(rng.random(n) < 0.5, 0.2, 0.3), 0.0)
        self.promo_end: I64 = np.where(promo, self.join_month + 12, -10_000).astype(np.int64)

        # holdings at signup
        take = rng.random((n, _N_FAM)) < _FAMILY_P[seg]
        none = ~take.any(axis=1)
        take[np.flatnonzero(none), _FAMILY_P[seg[none]].argmax(axis=1)] = True
        tiers = np.zeros((n, _N_FAM), dtype=np.int8)
        for f in range(_N_FAM):
            rows = np.flatnonzero(take[:, f])
            allowed = _TIER_TARGETED[seg[rows], f, 1 : _MAX_TIER + 1].astype(np.float64)
            exists = (_PROD_OF[f, 1 : _MAX_TIER + 1] >= 0).astype(np.float64)
            w = allowed * np.array([0.5, 0.33, 0.17])
            off = (rng.random(len(rows)) < 0.01) | (w.sum(axis=1) == 0)
            w[off] = exists * np.array([0.5, 0.33, 0.17])
            tiers[rows, f] = (_row_choice(rng, w) + 1).astype(np.int8)
        self.held0: I8 = tiers
        prod = _PROD_OF[np.arange(_N_FAM)[None, :], tiers.astype(np.int64)]
        rev = np.zeros((n, _N_FAM), dtype=np.int64)
        held = tiers > 0
        rev[held] = _revenue_cents(rng, prod[held], np.repeat(b2b[:, None], _N_FAM, 1)[held])
        self.rev0: I64 = rev
        # start dates: first family at signup; others between signup and the window start
        hstart = np.repeat(signup[:, None], _N_FAM, axis=1)
        later = rng.random((n, _N_FAM)) < 0.5
        gap = np.maximum(w0 - signup, 0)
        extra = np.floor(rng.random((n, _N_FAM)) * gap[:, None]).astype(np.int64)
        first_f = held.argmax(axis=1)
        later[np.arange(n), first_f] = False
        self.hstart0: I64 = np.where(later, signup[:, None] + extra, hstart).astype(np.int64)

        # segment typical bill (median recurring bill at signup)
        bill = rev.sum(axis=1)
        self.typical_bill: F64 = np.array(
            [
                float(np.median(bill[seg == s])) if np.any(seg == s) else 5000.0
                for s in range(_N_SEG)
            ]
        )

        # place and phone
        self.country: I64 = _choice(rng, np.array([0.80, 0.10, 0.10]), n)
        self.zone: I64 = np.zeros(n, dtype=np.int64)
        region_code = np.zeros(n, dtype=np.int64)
        regions: list[str] = []
        e164 = np.zeros(n, dtype=np.int64)
        plan = np.full(n, -1, dtype=np.int64)  # -1 NANP; else index into _GB_PLANS
        for c in (0, 1):
            rows = np.flatnonzero(self.country == c)
            areas = [a for a in _AREAS if a[1] == c]
            pick = _choice(rng, np.array([a[4] for a in areas]), len(rows))
            area = np.array([a[0] for a in areas])[pick]
            self.zone[rows] = np.array([a[3] for a in areas])[pick]
            names = sorted({a[2] for a in areas})
            base = len(regions)
            regions.extend(names)
            region_code[rows] = base + np.array([names.index(a[2]) for a in areas])[pick]
            e164[rows] = 10_000_000_000 + area * 10_000_000 + self._nanp_local(rng, len(rows))
        rows = np.flatnonzero(self.country == 2)
        self.zone[rows] = 7
        gp = _choice(rng, np.array([g[3] for g in _GB_PLANS]), len(rows))
        plan[rows] = gp
        gb_regions = ["ENG", "SCT", "WLS", "NIR"]
        base = len(regions)
        regions.extend(gb_regions)
        region_code[rows] = base + _choice(rng, np.array([0.85, 0.09, 0.04, 0.02]), len(rows))
        for gi, (prefix, digits, region, _w) in enumerate(_GB_PLANS):
            sel = rows[gp == gi]
            if region:
                region_code[sel] = base + gb_regions.index(region)
            e164[sel] = self._gb_number(rng, prefix, digits, len(sel))
        # numbers must be unique: redraw collisions
        for _ in range(50):
            _, first = np.unique(e164, return_index=True)
            dup = np.ones(n, dtype=bool)
            dup[first] = False
            dup_rows = np.flatnonzero(dup)
            if len(dup_rows) == 0:
                break
            for r in dup_rows:
                if plan[r] < 0:
                    area = (e164[r] // 10_000_000) % 1000
                    e164[r] = 10_000_000_000 + area * 10_000_000 + self._nanp_local(rng, 1)[0]
                else:
                    prefix, digits, _region, _w = _GB_PLANS[int(plan[r])]
                    e164[r] = self._gb_number(rng, prefix, digits, 1)[0]
        self.e164: I64 = e164
        self.plan: I64 = plan
        self.region_code: I64 = region_code
        self.region: list[str] = regions
        self.ids: pa.Array = _ids("C", n, 7)

    @staticmethod
    def _nanp_local(rng: np.random.Generator, k: int) -> I64:
        exch = rng.integers(200, 1000, k)
        bad = (exch % 100 == 11) | (exch == 555) | (exch == 950) | (exch == 958) | (exch == 959)
        exch = np.where(bad, exch + 1, exch)
        return (exch * 10_000 + rng.integers(0, 10_000, k)).astype(np.int64)

    @staticmethod
    def _gb_number(rng: np.random.Generator, prefix: int, digits: int, k: int) -> I64:
        if prefix == 20:  # 020 [378]xxx xxxx
            lead = np.array([3, 7, 8])[rng.integers(0, 3, k)]
        elif prefix == 7:  # 07[458]xx xxxxxx
            lead = np.array([4, 5, 8])[rng.integers(0, 3, k)]
        else:  # 0161 [2-9]xx xxxx
            lead = rng.integers(2, 10, k)
        rest = rng.integers(0, 10 ** (digits - 1), k)
        nsn = (prefix * 10**digits + lead * 10 ** (digits - 1) + rest).astype(np.int64)
        out: I64 = (440_000_000_000 + nsn).astype(np.int64)
        return out


# --------------------------------------------------------------------------- simulation

_PENDING, _ACTIVE, _GONE, _PROSPECT = 0, 1, 2, 3
_NEVER = -1_000_000


@dataclass
class _Truth:
    idx: I64
    p_no_call: F64
    p_if_called: F64
    clv_cents: I64
    p_accept: F64  # (active, products), NaN = blank


class _Simulation:
    def __init__(
        self, rng: np.random.Generator, pop: _Population, cal: _Calendar, billing: _CsvSink
    ) -> None:
        n = pop.n
        self.rng = rng
        self.pop = pop
        self.cal = cal
        self.billing = billing
        self.status: I8 = np.where(
            pop.prospect, _PROSPECT, np.where(pop.join_month < 0, _ACTIVE, _PENDING)
        ).astype(np.int8)
        self.held: I8 = pop.held0.copy()
        self.hstart: I64 = pop.hstart0.copy()
        self.rev: I64 = pop.rev0.copy()
        self.anchor: I64 = pop.signup.copy()  # tenure clock
        self.c_anchor: I64 = pop.signup.copy()  # contract clock
        self.term: I64 = pop.term.copy()
        self.promo_end: I64 = pop.promo_end.copy()
        self.comp = np.zeros((3, n), dtype=np.int8)
        self.late = np.zeros((3, n), dtype=np.int8)
        self.score: F64 = np.full(n, np.nan)
        self.good_day: I64 = np.full(n, _NEVER, dtype=np.int64)
        self.bad_day: I64 = np.full(n, _NEVER, dtype=np.int64)
        self.contact_day: I64 = np.full(n, _NEVER, dtype=np.int64)
        self.churn_day: I64 = np.full(n, -1, dtype=np.int64)
        self.return_month: I64 = np.full(n, -1, dtype=np.int64)
        self.hold_rec: list[tuple[I64, I64, I64, I64, I64]] = []
        self.inter_rec: list[dict[str, npt.NDArray[Any]]] = []
        # past campaign
        self.campaign_month = HISTORY_MONTHS - 1 - CAMPAIGN_MONTHS_BEFORE
        self.hist_idx: I64 = np.zeros(0, dtype=np.int64)
        self.hist_treated: Bool = np.zeros(0, dtype=bool)
        self.hist_reached: Bool = np.zeros(0, dtype=bool)
        self.hist_day: I64 = np.zeros(0, dtype=np.int64)
        self.hist_churn: I64 = np.full(n, -1, dtype=np.int64)
        self.camp_tau: F64 = np.zeros(n)
        self.camp_day: I64 = np.full(n, _NEVER, dtype=np.int64)
        self.active_at_campaign = 0

    # ------------------------------------------------------------------ model parts
    def recurring(self, idx: I64, m: int) -> F64:
        """Monthly recurring bill in cents, with the introductory promotion when it applies."""
        base = self.rev[idx].sum(axis=1).astype(np.float64)
        promo = m < self.promo_end[idx]
        return np.asarray(base * np.where(promo, 1.0 - self.pop.promo_rate[idx], 1.0))

    def months_to_contract_end(self, idx: I64, day: int) -> F64:
        term = self.term[idx]
        anchor = self.c_anchor[idx]
        safe = np.maximum(term, 1)
        elapsed = _month_index(np.full(len(idx), day, dtype=np.int64)) - _month_index(anchor)
        k = (elapsed // safe) * safe
        end = _add_months(anchor, k)
        end = np.where(end <= day, _add_months(anchor, k + safe), end)
        return np.where(term > 0, (end - day) / MONTH_DAYS, np.inf)

    def contract_end(self, idx: I64, ref: I64) -> I64:
        term = self.term[idx]
        anchor = self.c_anchor[idx]
        safe = np.maximum(term, 1)
        elapsed = _month_index(ref) - _month_index(anchor)
        k = (np.maximum(elapsed, 0) // safe) * safe
        end = _add_months(anchor, k)
        end = np.where(end <= ref, _add_months(anchor, k + safe), end)
        return np.where(term > 0, end, -1).astype(np.int64)

    def tenure(self, idx: I64, day: int) -> F64:
        return np.asarray((day - self.anchor[idx]) / MONTH_DAYS, dtype=np.float64)

    def logit_hazard(self, idx: I64, m: int) -> F64:
        pop = self.pop
        day = self.cal.first_day(m)
        seg = pop.seg[idx]
        t = self.tenure(idx, day)
        eta = _H_INTERCEPT + _SEG_HAZARD[seg]
        eta = eta + 1.4 * np.exp(-t / 5.0) - 0.4 * np.minimum(t, 72.0) / 72.0
        mte = self.months_to_contract_end(idx, day)
        eta += np.where(self.term[idx] == 0, 0.6, np.where(mte <= 2.0, 0.9, -0.7))
        c90 = self.comp[:, idx].sum(axis=0)
        eta += 0.55 * np.minimum(c90, 3)
        sc = self.score[idx]
        eta += np.where(np.isnan(sc), 0.1, 0.2 * (7.0 - np.nan_to_num(sc, nan=7.0)))
        bill = np.maximum(self.recurring(idx, m), 100.0)
        eta += 0.35 * np.clip(np.log(bill / pop.typical_bill[seg]), -1.5, 1.5)
        pe = self.promo_end[idx]
        eta += 0.45 * ((m >= pe) & (m - pe < 3))
        eta += 0.45 * self.late[:, idx].sum(axis=0)
        nprod = (self.held[idx] > 0).sum(axis=1)
        eta -= 0.4 * (nprod - 1)
        eta += pop.frailty[idx] + 0.25 * pop.service[idx] + 0.15 * pop.stress[idx]
        return np.asarray(eta, dtype=np.float64)

    def call_tau(self, idx: I64, day: int) -> F64:
        """Effect of a retention call on the monthly churn logit (negative = helps)."""
        pop = self.pop
        seg = pop.seg[idx]
        t = self.tenure(idx, day)
        band = np.select([t < 6, t < 24, t < 60], [_TAU_NEW, 0.1, 0.35], 0.5)
        handled = self.good_day[idx] >= day - 180
        recept = pop.recept[idx]
        nprod = (self.held[idx] > 0).sum(axis=1)
        unhappy = self.score[idx] <= 4.0  # NaN compares False
        log_m = (
            _TAU_INTERCEPT
            + _SEG_EFFECT[seg]
            + band
            + 0.3 * handled
            + 0.2 * (nprod - 1)
            - _TAU_UNHAPPY * unhappy
            - _TAU_STRESS * pop.stress[idx]
            + _TAU_RECEPT * recept
        )
        mag = np.exp(log_m)
        sleeping = (self.term[idx] == 0) & (t >= 36) & (self.contact_day[idx] < day - 180)
        unresolved = self.bad_day[idx] >= day - 90
        dnd_logit = _DND_INTERCEPT + _SEG_DND[seg] + _DND_SLEEPING * sleeping - 0.5 * recept
        ending = self.months_to_contract_end(idx, day) <= 2.0
        p_dnd = _sigmoid(dnd_logit + _DND_UNRESOLVED * unresolved + _DND_ENDING * ending)
        dnd = pop.dnd_u[idx] < p_dnd
        return np.asarray(np.where(dnd, 0.8 * mag, -mag), dtype=np.float64)

    def accept_logit(self, idx: I64, m: int) -> F64:
        """Logit of accepting an offer of each product, (len(idx), products)."""
        pop = self.pop
        day = self.cal.first_day(m)
        seg = pop.seg[idx]
        held = self.held[idx].astype(np.int64)[:, _P_FAMILY]  # tier held in each product's family
        ptier = _P_TIER[None, :]
        step = np.where(
            held == 0,
            0.0,
            np.select([ptier == held + 1, ptier > held + 1, ptier < held], [0.5, -0.6, -1.8], 0),
        )
        sc = self.score[idx]
        mood = np.where(np.isnan(sc), 0.0, 0.15 * (np.nan_to_num(sc, nan=7.0) - 7.0))
        c90 = np.minimum(self.comp[:, idx].sum(axis=0), 3)
        nprod = (self.held[idx] > 0).sum(axis=1)
        t = self.tenure(idx, day)
        person = (
            mood
            - 0.35 * c90
            - 0.35 * pop.stress[idx]
            + pop.buy[idx]
            + 0.15 * (nprod - 1)
            - 0.4 * (t < 3)
        )
        return np.asarray(_ACCEPT[seg] + step + person[:, None], dtype=np.float64)

    # ------------------------------------------------------------------ the months
    def run(self, report: Callable[[str, float], None]) -> None:
        for m in range(HISTORY_MONTHS):
            self.month(m)
            report("simulate", (m + 1) / HISTORY_MONTHS)

    def month(self, m: int) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        ms, me = cal.first_day(m), cal.last_day(m)
        span = me - ms + 1
        active = np.flatnonzero(self.status == _ACTIVE)
        joiners = np.flatnonzero((self.status == _PENDING) & (pop.join_month == m))
        self.status[joiners] = _ACTIVE
        returners = np.flatnonzero((self.status == _GONE) & (self.return_month == m))
        ret_day = ms + np.floor(rng.random(len(returners)) * span).astype(np.int64)
        self._restore(returners, ret_day)

        # the past campaign: list drawn from the customers active on the first day
        if m == self.campaign_month:
            self._draw_campaign(active, ms)

        # churn
        eta = self.logit_hazard(active, m)
        if self.campaign_month <= m < self.campaign_month + 3:
            eta += self.camp_tau[active]
        churn = rng.random(len(active)) < _sigmoid(eta)
        churners = active[churn]
        cday = ms + np.floor(rng.random(len(churners)) * span).astype(np.int64)
        if m == self.campaign_month:  # list members leave after being contacted
            after = self.camp_day[churners]
            listed = after > _NEVER
            lo = np.maximum(after + 1, ms)
            late_day = lo + np.floor(rng.random(len(churners)) * (me - lo + 1)).astype(np.int64)
            cday = np.where(listed, np.minimum(late_day, me), cday)

        # everyone billed this month and the part of the month they were customers
        group = np.concatenate([active, joiners, returners])
        lo = np.concatenate(
            [np.full(len(active), ms, dtype=np.int64), pop.signup[joiners], ret_day]
        )
        hi = np.full(len(group), me, dtype=np.int64)
        hi[: len(active)][churn] = cday
        order = np.argsort(group, kind="stable")
        group, lo, hi = group[order], lo[order], hi[order]
        self._bill(m, group, lo, hi)
        new_comp = self._interactions(m, group, lo, hi)
        self._exits(m, churners, cday)
        self.comp[m % 3] = new_comp

        # product changes for those who stay
        stay = active[~churn]
        self._product_events(m, stay)

    def _draw_campaign(self, active: I64, ms: int) -> None:
        rng, pop = self.rng, self.pop
        self.active_at_campaign = len(active)
        k = round(0.20 * len(active))
        members = np.sort(rng.permutation(active)[:k])
        treated = rng.random(k) < 0.5
        day = ms + rng.integers(0, 7, k)
        seg = pop.seg[members]
        p_reach = _sigmoid(0.41 + _SEG_REACH[seg] + 0.2 * pop.recept[members])
        reached = treated & (rng.random(k) < p_reach)
        tau = np.zeros(k)
        for d in np.unique(day):
            sel = day == d
            tau[sel] = self.call_tau(members[sel], int(d))
        self.camp_tau[members[reached]] = tau[reached]
        self.camp_day[members] = day
        self.hist_idx, self.hist_treated, self.hist_reached = members, treated, reached
        self.hist_day = day.astype(np.int64)

    def _restore(self, idx: I64, day: I64) -> None:
        if len(idx) == 0:
            return
        rng, pop = self.rng, self.pop
        held = self.held[idx]
        keep = (held > 0) & (rng.random(held.shape) < 0.7)
        best = np.where(held > 0, self.rev[idx], -1).argmax(axis=1)
        keep[np.arange(len(idx)), best] = True
        new_held = np.where(keep, held, 0).astype(np.int8)
        prod = _PROD_OF[np.arange(_N_FAM)[None, :], new_held.astype(np.int64)]
        rev = np.zeros_like(self.rev[idx])
        b2b = np.repeat(pop.b2b[idx][:, None], _N_FAM, 1)
        rev[keep] = _revenue_cents(rng, prod[keep], b2b[keep])
        self.held[idx] = new_held
        self.rev[idx] = rev
        self.hstart[idx] = day[:, None]
        self.anchor[idx] = day
        self.c_anchor[idx] = day
        self.term[idx] = np.array([0, 12, 24], dtype=np.int64)[
            _choice(rng, np.array([0.55, 0.30, 0.15]), len(idx))
        ]
        self.promo_end[idx] = -10_000
        self.comp[:, idx] = 0
        self.late[:, idx] = 0
        self.status[idx] = _ACTIVE

    def _bill(self, m: int, group: I64, lo: I64, hi: I64) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        k = len(group)
        frac = (hi - lo + 1) / cal.month_length(m)
        b2b = pop.b2b[group]
        noise = 1.0 + rng.normal(0.0, 1.0, k) * np.where(b2b, 0.04, 0.015)
        over = (rng.random(k) < np.where(b2b, 0.20, 0.08)) * rng.exponential(1.0, k)
        over *= np.where(b2b, 2500.0, 900.0)
        amount = np.round(self.recurring(group, m) * frac * noise + over)
        cents: I64 = np.maximum(amount, 0).astype(np.int64)
        z = pop.stress[group]
        is_late = rng.random(k) < _sigmoid(-2.6 + 1.3 * z + rng.normal(0.0, 0.5, k))
        days = np.clip(np.round(np.exp(rng.normal(1.8 + 0.35 * z, 0.8))), 1, 120)
        days_late = np.where(is_late, days, 0).astype(np.int64)
        due = cal.first_day(m) + 14
        unpaid = is_late & (due + days_late > cal.as_of_day)
        late_flags = np.zeros(pop.n, dtype=np.int8)
        late_flags[group] = is_late
        self.late[m % 3] = late_flags
        self.billing.write(
            [
                pop.ids.take(group),
                pa.array([cal.labels[m]] * 1).take(pa.array(np.zeros(k, dtype=np.int32))),
                _decimal(cents, 2),
                pa.array(days_late, mask=unpaid),
            ]
        )

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
        topic = _T_COMPLAINT + _row_choice(rng, w)
        channel = _choice(rng, np.array([0.45, 0.20, 0.15, 0.12, 0.08]), len(rep))
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
        chan_t = np.array([0, 2, 3, 5])[_choice(rng, np.array([0.4, 0.25, 0.2, 0.15]), len(rep_t))]
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
        chan_s = np.array([6, 1, 7])[_choice(rng, np.array([0.5, 0.35, 0.15]), k)]
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

    def _exits(self, m: int, churners: I64, cday: I64) -> None:
        rng, pop = self.rng, self.pop
        k = len(churners)
        if k == 0:
            return
        # holdings end on the churn day
        held = self.held[churners]
        rows, fams = np.nonzero(held > 0)
        cust = churners[rows]
        self.hold_rec.append(
            (
                cust,
                _PROD_OF[fams, held[rows, fams].astype(np.int64)],
                self.hstart[cust, fams],
                cday[rows],
                self.rev[cust, fams],
            )
        )
        self.status[churners] = _GONE
        self.churn_day[churners] = cday
        first = (self.hist_churn[churners] < 0) & (self.camp_day[churners] > _NEVER)
        self.hist_churn[churners[first]] = cday[first]
        comes_back = rng.random(k) < 0.12
        self.return_month[churners] = np.where(comes_back, m + rng.integers(2, 11, k), -1)

        # exit interviews
        said = np.flatnonzero(rng.random(k) < 0.6)
        c = churners[said]
        s, z = pop.service[c], pop.stress[c]
        c90 = self.comp[:, c].sum(axis=0)
        pe = self.promo_end[c]
        shock = (m >= pe) & (m - pe < 3)
        seg = pop.seg[c]
        young = seg == _SEG_IDX["B2C_YOUNG"]
        quiet = _SEG_B2B[seg] | (seg == _SEG_IDX["B2C_SENIOR"])
        w = np.stack(
            [
                1.0 * np.exp(0.5 * z) * (1.0 + 2.0 * shock),
                np.ones(len(c)),
                0.5 * np.where(young, 2.0, 1.0),
                0.6 * np.exp(0.6 * s) * (1.0 + 0.5 * c90),
                0.4 * np.exp(0.4 * s),
                0.4 * np.where(quiet, 2.0, 1.0),
            ],
            axis=1,
        )
        topic = _T_EXIT + _row_choice(rng, w)
        when = self._when(c, cday[said], cday[said], 9.0, 19.0)
        channel = np.array([0, 4, 2])[_choice(rng, np.array([0.6, 0.2, 0.2]), len(c))]
        self._record(c, 3, when, channel, topic, 0, 0, -1)

    def _product_events(self, m: int, stay: I64) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        ms, me = cal.first_day(m), cal.last_day(m)
        if me <= ms or len(stay) == 0:
            return
        held = self.held[stay]
        nprod = (held > 0).sum(axis=1)
        p_add = 0.0055 * np.exp(pop.buy[stay])
        p_up = 0.0040 * np.exp(pop.buy[stay])
        p_drop = np.where(nprod >= 2, 0.0035 * np.exp(0.5 * pop.service[stay]), 0.0)
        u = rng.random(len(stay))
        kind = np.select([u < p_add, u < p_add + p_up, u < p_add + p_up + p_drop], [1, 2, 3], 0)
        ev = np.flatnonzero(kind > 0)
        if len(ev) == 0:
            return
        cust = stay[ev]
        kind = kind[ev]
        day = ms + 1 + np.floor(rng.random(len(ev)) * (me - ms)).astype(np.int64)
        seg = pop.seg[cust]
        h = self.held[cust].astype(np.int64)
        up_ok = _TIER_TARGETED[seg[:, None], np.arange(_N_FAM)[None, :], np.minimum(h + 1, 4)]
        masks = {
            1: _FAM_TARGETED[seg] & (h == 0),
            2: (h > 0) & up_ok & (_PROD_OF[np.arange(_N_FAM)[None, :], np.minimum(h + 1, 4)] >= 0),
            3: h > 0,
        }
        keys = rng.random((len(ev), _N_FAM))
        mask = np.where(
            (kind == 1)[:, None], masks[1], np.where((kind == 2)[:, None], masks[2], masks[3])
        )
        ok = mask.any(axis=1)
        fam = np.where(mask, keys, -1.0).argmax(axis=1)
        cust, kind, day, fam, seg, h = cust[ok], kind[ok], day[ok], fam[ok], seg[ok], h[ok]
        cur_tier = h[np.arange(len(cust)), fam]
        # close the holdings that end (upgrade: the day before; drop: that day)
        ends = kind >= 2
        ce = cust[ends]
        fe = fam[ends]
        self.hold_rec.append(
            (
                ce,
                _PROD_OF[fe, cur_tier[ends]],
                self.hstart[ce, fe],
                np.where(kind[ends] == 2, day[ends] - 1, day[ends]),
                self.rev[ce, fe],
            )
        )
        new_tier = np.select([kind == 1, kind == 2], [_ENTRY_TIER[seg, fam], cur_tier + 1], 0)
        self.held[cust, fam] = new_tier.astype(np.int8)
        starts = kind <= 2
        cs, fs = cust[starts], fam[starts]
        self.hstart[cs, fs] = day[starts]
        self.rev[cs, fs] = _revenue_cents(rng, _PROD_OF[fs, new_tier[starts]], pop.b2b[cs])
        self.rev[cust[~starts], fam[~starts]] = 0

    # ------------------------------------------------------------------ at as_of
    def open_holdings(self) -> tuple[I64, I64, I64, I64, I64]:
        active = np.flatnonzero(self.status == _ACTIVE)
        held = self.held[active]
        rows, fams = np.nonzero(held > 0)
        cust = active[rows]
        return (
            cust,
            _PROD_OF[fams, held[rows, fams].astype(np.int64)],
            self.hstart[cust, fams],
            np.full(len(cust), -1, dtype=np.int64),
            self.rev[cust, fams],
        )

    def ground_truth(self) -> _Truth:
        idx = np.flatnonzero(self.status == _ACTIVE)
        k = len(idx)
        tau = self.call_tau(idx, self.cal.as_of_day)
        surv0 = np.ones(k)
        surv1 = np.ones(k)
        life = np.zeros(k)
        for j in range(CLV_CAP_MONTHS):
            eta = self.logit_hazard(idx, HISTORY_MONTHS + j)
            life += surv0
            surv0 = surv0 * (1.0 - _sigmoid(eta))
            if j < 3:
                surv1 = surv1 * (1.0 - _sigmoid(eta + tau))
            if j == 2:
                p0, p1 = 1.0 - surv0, 1.0 - surv1
        arpu = self.rev[idx].sum(axis=1).astype(np.float64)
        clv = np.round(arpu * life).astype(np.int64)
        acc = _sigmoid(self.accept_logit(idx, HISTORY_MONTHS))
        held_prod = np.zeros((k, len(PRODUCTS)), dtype=bool)
        h = self.held[idx].astype(np.int64)
        for f in range(_N_FAM):
            p = _PROD_OF[f, h[:, f]]
            rows = np.flatnonzero(h[:, f] > 0)
            held_prod[rows, p[rows]] = True
        offerable = _TARGETED[self.pop.seg[idx]] & ~held_prod
        acc = np.where(offerable, acc, np.nan)
        return _Truth(idx, p0, p1, clv, acc)


# --------------------------------------------------------------------------- CSV output


def _decimal(values: I64, scale: int, mask: Bool | None = None) -> pa.Array:
    """Integers in units of 10**-scale as a decimal column (written as e.g. 12.30)."""
    v = np.ascontiguousarray(values, dtype=np.int64)
    raw = np.empty((len(v), 2), dtype=np.int64)
    raw[:, 0] = v
    raw[:, 1] = v >> 63
    arr = pa.Array.from_buffers(pa.decimal128(18, scale), len(v), [None, pa.py_buffer(raw)])
    if mask is not None and mask.any():
        arr = pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)
    return arr


def _dates(days: I64, mask: Bool | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())


def _labels(labels: Sequence[str], codes: I64, mask: Bool | None = None) -> pa.Array:
    return pa.array(list(labels), type=pa.string()).take(
        pa.array(codes.astype(np.int32), type=pa.int32(), mask=mask)
    )


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    num = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(num, width, "0"), "")


class _CsvSink:
    """Appends rows to a CSV file; values are quoted only when they need it."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.rows = 0
        self._fh: BinaryIO = open_private_binary(path)  # names and numbers: owner-only
        self._fh.write((",".join(header) + "\n").encode())

    def __enter__(self) -> _CsvSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    def write(self, columns: Sequence[pa.Array]) -> None:
        n = len(columns[0])
        if n == 0:
            return
        self.rows += n
        columns = [_guarded(col) for col in columns]
        needs_quotes = False
        for col in columns:
            if (
                pa.types.is_string(col.type)
                and pc.any(pc.match_substring_regex(col, '[",\r\n]')).as_py()
            ):
                needs_quotes = True
        if not needs_quotes:
            table = pa.table({f"c{i}": c for i, c in enumerate(columns)})
            sink = pa.BufferOutputStream()
            pacsv.write_csv(
                table,
                sink,
                pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16),
            )
            self._fh.write(sink.getvalue().to_pybytes())
            return
        # slow path: quote by hand and join
        cells = []
        for col in columns:
            s = pc.cast(col, pa.string())
            if pa.types.is_string(col.type):
                quote = pc.match_substring_regex(s, '[",\r\n]')
                quoted = pc.binary_join_element_wise(
                    '"', pc.replace_substring(s, '"', '""'), '"', ""
                )
                s = pc.if_else(quote, quoted, s)
            cells.append(pc.fill_null(s, ""))
        joined = pc.binary_join_element_wise(*cells, ",")
        body = pc.binary_join_element_wise(joined, "\n", "")
        offsets = np.frombuffer(body.buffers()[1], dtype=np.int32)[
            body.offset : body.offset + len(body) + 1
        ]
        data = body.buffers()[2]
        self._fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


_FORMULA = f"^(?:{FORMULA_START})"
_NUMBER = f"^(?:{PLAIN_NUMBER})$"


def _guarded(col: pa.Array) -> pa.Array:
    """The product's CSV writer's guard (``store.csv_out``), vectorised with its own rule.

    A phone in an international layout (``+1 415-555-0134``) reads as a formula to a
    spreadsheet and gets the apostrophe; the importer reads it off again.
    """
    if not pa.types.is_string(col.type):
        return col
    needs = pc.and_(
        pc.match_substring_regex(col, _FORMULA),
        pc.invert(pc.match_substring_regex(col, _NUMBER)),
    )
    if not pc.any(needs).as_py():
        return col
    return pc.if_else(needs, _join("'", col), col)


def _write(path: Path, name: str, columns: Sequence[pa.Array], chunk: int = 500_000) -> int:
    with _CsvSink(path, HEADERS[name]) as sink:
        n = len(columns[0]) if columns else 0
        for start in range(0, n, chunk):
            sink.write([c.slice(start, chunk) for c in columns])
        return sink.rows


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


class _CustomerStrings:
    """Names, phones and other text columns of customers.csv (drawn after the simulation)."""

    def __init__(self, rng: np.random.Generator, pop: _Population) -> None:
        n = pop.n
        self.ids = pop.ids
        digits = pc.cast(pa.array(pop.e164), pa.string())
        self.e164 = _join("+", digits)

        def sl(a: int, b: int) -> pa.Array:
            return pc.utf8_slice_codeunits(digits, a, b)

        area, exch, sub = sl(1, 4), sl(4, 7), sl(7, 11)
        # GB groups by number plan: London 20 xxxx xxxx, 161 xxx xxxx, mobile 7xxx xxxxxx
        gb_kind = np.where(pop.plan == 0, 0, np.where(pop.plan == len(_GB_PLANS) - 1, 2, 1))
        kind = pa.array(np.where(pop.plan < 0, 0, gb_kind).astype(np.int8))
        g0 = pc.choose(kind, sl(2, 4), sl(2, 5), sl(2, 6))
        g1 = pc.choose(kind, sl(4, 8), sl(5, 8), sl(6, 12))
        g2 = pc.choose(kind, _join(" ", sl(8, 12)), _join(" ", sl(8, 12)), sl(12, 12))
        variants = [
            self.e164,
            _join("(", area, ") ", exch, "-", sub),
            _join(area, "-", exch, "-", sub),
            _join(area, ".", exch, ".", sub),
            _join(area, exch, sub),
            _join("+1 ", area, "-", exch, "-", sub),
            self.e164,
            _join("0", g0, " ", g1, g2),
            _join("+44 ", g0, " ", g1, g2),
            _join("0", sl(2, 12)),
        ]
        nanp_style = _choice(rng, np.array([0.35, 0.25, 0.20, 0.08, 0.07, 0.05]), n)
        gb_style = 6 + _choice(rng, np.array([0.35, 0.45, 0.15, 0.05]), n)
        style = np.where(pop.country == 2, gb_style, nanp_style).astype(np.int8)
        phone = pc.choose(pa.array(style), *variants)
        u = rng.random(n)
        blank = u < 0.0015
        garbled = (u >= 0.0015) & (u < 0.003)
        junk = pc.choose(
            pa.array(rng.integers(0, 3, n).astype(np.int8)),
            pc.utf8_slice_codeunits(phone, 0, 6),
            pa.array(["000-000-0000"] * 1).take(pa.array(np.zeros(n, dtype=np.int32))),
            pa.array(["n/a"] * 1).take(pa.array(np.zeros(n, dtype=np.int32))),
        )
        phone = pc.if_else(pa.array(garbled), junk, phone)
        self.phone = pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), phone)
        self.phone_ok: Bool = ~(blank | garbled)

        # names
        first = _labels(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), n))
        last = _labels(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
        person = _join(first, " ", last)
        ca = _labels(_COMPANY_A, rng.integers(0, len(_COMPANY_A), n))
        cb = _labels(_COMPANY_B, rng.integers(0, len(_COMPANY_B), n))
        flat = [s for group in _COMPANY_SUFFIX for s in group]
        start = np.cumsum([0] + [len(g) for g in _COMPANY_SUFFIX])[:-1]
        size = np.array([len(g) for g in _COMPANY_SUFFIX])
        pick = start[pop.country] + np.floor(rng.random(n) * size[pop.country]).astype(np.int64)
        suffix = _labels(flat, pick)
        firm_style = _choice(rng, np.array([0.55, 0.25, 0.20]), n).astype(np.int8)
        firm = pc.choose(
            pa.array(firm_style),
            _join(ca, " ", cb, " ", suffix),
            _join(ca, " ", cb, ", ", suffix),
            _join(last, " & Partners ", cb),
        )
        self.name = pc.if_else(pa.array(pop.b2b), firm, person)


def _write_products(path: Path) -> None:
    _write(
        path,
        "products",
        [
            pa.array([p.code for p in PRODUCTS]),
            pa.array([p.name for p in PRODUCTS]),
            pa.array([p.family for p in PRODUCTS]),
            pa.array([p.tier for p in PRODUCTS], type=pa.int64()),
            _decimal(_PRICE_CENTS, 2),
            _decimal(
                np.round(_PRICE_CENTS * np.array([p.margin for p in PRODUCTS])).astype(np.int64), 2
            ),
        ],
    )


def _write_matrix(path: Path) -> None:
    cols = [pa.array([s.code for s in SEGMENTS]), pa.array([s.name for s in SEGMENTS])]
    for i in range(len(PRODUCTS)):
        cols.append(
            pa.array(["x" if _TARGETED[s, i] else None for s in range(_N_SEG)], pa.string())
        )
    _write(path, "matrix", cols)


def _write_customers(
    path: Path, pop: _Population, sim: _Simulation, strings: _CustomerStrings, cal: _Calendar
) -> None:
    rng = sim.rng
    n = pop.n
    idx = np.arange(n, dtype=np.int64)
    gone = sim.status == _GONE
    ref = np.where(gone, sim.churn_day, cal.as_of_day).astype(np.int64)
    end = sim.contract_end(idx, ref)
    end_blank = (end < 0) | pop.prospect
    # language: Quebec mostly French, some Spanish in the US
    qc = pop.region.index("QC")
    u = rng.random(n)
    lang = np.where(
        pop.country == 1,
        np.where(pop.region_code == qc, np.where(u < 0.8, 1, 0), np.where(u < 0.05, 1, 0)),
        np.where((pop.country == 0) & (u < 0.10), 2, 0),
    )
    _write(
        path,
        "customers",
        [
            strings.ids,
            strings.name,
            strings.phone,
            _labels(_COUNTRIES, pop.country),
            _labels(pop.region, pop.region_code, mask=rng.random(n) < 0.03),
            _labels(_ZONES, pop.zone, mask=rng.random(n) < 0.15),
            _labels(("en", "fr", "es"), lang, mask=rng.random(n) < 0.05),
            _labels(("B2C", "B2B"), pop.b2b.astype(np.int64)),
            _labels([s.code for s in SEGMENTS], pop.seg),
            _labels(("no", "yes"), (rng.random(n) < 0.93).astype(np.int64)),
            _labels(("no", "yes"), (rng.random(n) < 0.40).astype(np.int64)),
            _dates(pop.signup, mask=pop.prospect),
            _dates(np.where(end_blank, 0, end), mask=end_blank),
        ],
    )


def _write_holdings(path: Path, sim: _Simulation, strings: _CustomerStrings) -> int:
    recs = [*sim.hold_rec, sim.open_holdings()]
    cust, prod, start, end, rev = (np.concatenate([r[i] for r in recs]) for i in range(5))
    order = np.lexsort((prod, start, cust))
    cust, prod, start, end, rev = cust[order], prod[order], start[order], end[order], rev[order]
    return _write(
        path,
        "holdings",
        [
            strings.ids.take(pa.array(cust)),
            _labels(_P_CODES, prod),
            _dates(start),
            _dates(np.where(end < 0, 0, end), mask=end < 0),
            _decimal(rev, 2),
        ],
    )


def _iso(
    utc: I64, zone: I64, z_style: Bool, offsets: _UtcOffsets, mask: Bool | None = None
) -> pa.Array:
    """ISO 8601 timestamps: UTC with Z, or local time with the zone's UTC offset."""
    local_style = ~z_style if mask is None else ~z_style & ~mask
    off = np.zeros(len(utc), dtype=np.int64)
    off[local_style] = offsets.at_utc(zone[local_style], utc[local_style])
    local = pa.array(utc + off, type=pa.timestamp("s"), mask=mask)
    text = pc.replace_substring(pc.cast(local, pa.string()), " ", "T", max_replacements=1)
    values, code = np.unique(off, return_inverse=True)
    labels = [
        f"{'+' if v >= 0 else '-'}{abs(int(v)) // 3600:02d}:{abs(int(v)) % 3600 // 60:02d}"
        for v in values
    ]
    suffix = _labels(labels, code.astype(np.int64))
    suffix = pc.if_else(pa.array(z_style), "Z", suffix)
    return _join(text, suffix)


def _write_interactions(
    path: Path,
    rng: np.random.Generator,
    sim: _Simulation,
    strings: _CustomerStrings,
    cal: _Calendar,
) -> int:
    if not sim.inter_rec:
        return _write(path, "interactions", [pa.array([], pa.string())] * 9)
    cols = {k: np.concatenate([r[k] for r in sim.inter_rec]) for k in sim.inter_rec[0]}
    cust, kind, when = cols["cust"], cols["kind"], cols["when"]
    # (customer, kind, occurred_at) is unique: move exact clashes on by a second
    for _ in range(100):
        order = np.lexsort((when, kind, cust))
        c, k, w = cust[order], kind[order], when[order]
        clash = np.flatnonzero((c[1:] == c[:-1]) & (k[1:] == k[:-1]) & (w[1:] == w[:-1])) + 1
        if len(clash) == 0:
            break
        when[order[clash]] += 1
    order = np.lexsort((kind, cust, when))
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    zone = sim.pop.zone[cols["cust"]]
    z_style = rng.random(n) < 0.6
    closed = cols["closed"]
    topic = cols["topic"]
    score = cols["score"]
    scale = cols["scale"]
    return _write(
        path,
        "interactions",
        [
            _ids("I", n, 8),
            strings.ids.take(pa.array(cols["cust"])),
            _labels(_KINDS, cols["kind"].astype(np.int64)),
            _iso(cols["when"], zone, z_style, cal.offsets),
            _labels(_CHANNELS, cols["channel"]),
            _labels(_TOPICS, np.maximum(topic, 0), mask=topic < 0),
            pa.array(score, mask=scale == 0),
            pa.array(scale, mask=scale == 0),
            _iso(np.maximum(closed, 0), zone, z_style, cal.offsets, mask=closed < 0),
        ],
    )


def _write_dnc(
    path: Path, rng: np.random.Generator, pop: _Population, strings: _CustomerStrings
) -> None:
    rows = np.flatnonzero((rng.random(pop.n) < 0.01) & strings.phone_ok)
    k = len(rows)
    channel = _choice(rng, np.array([0.45, 0.25, 0.30]), k)
    request = rng.random(k) < 0.35
    registry = ("national_dnc_registry", "national_dncl", "tps")
    source_labels = [*registry, "customer_request"]
    source = np.where(request, 3, pop.country[rows])
    reason_labels = [
        "registered on the national do-not-call list",
        "asked not to be called",
        "replied STOP",
        "asked not to be contacted",
    ]
    reason = np.where(request, np.array([1, 2, 3])[channel], 0)
    _write(
        path,
        "dnc",
        [
            strings.e164.take(pa.array(rows)),
            _labels(("call", "sms", "all"), channel),
            _labels(source_labels, source),
            _labels(reason_labels, reason),
        ],
    )


def _write_history(path: Path, sim: _Simulation, strings: _CustomerStrings, cal: _Calendar) -> int:
    idx = sim.hist_idx
    day = sim.hist_day
    churn = sim.hist_churn[idx]
    churned = (churn > day) & (churn <= day + 90)
    label = cal.labels[sim.campaign_month] if len(idx) else ""
    return _write(
        path,
        "history",
        [
            strings.ids.take(pa.array(idx)),
            pa.array([f"retention_{label}"]).take(pa.array(np.zeros(len(idx), dtype=np.int32))),
            _dates(day),
            _labels(("holdout", "treated"), sim.hist_treated.astype(np.int64)),
            pa.array(sim.hist_reached.astype(np.int64), mask=~sim.hist_treated),
            pa.array(churned.astype(np.int64)),
        ],
    )


def _write_ground_truth(path: Path, truth: _Truth, strings: _CustomerStrings) -> None:
    def prob(p: F64, scale: int) -> pa.Array:
        blank = np.isnan(p)
        return _decimal(np.round(np.nan_to_num(p) * 10**scale).astype(np.int64), scale, blank)

    _write(
        path,
        "ground_truth",
        [
            strings.ids.take(pa.array(truth.idx)),
            prob(truth.p_no_call, 6),
            prob(truth.p_if_called, 6),
            _decimal(truth.clv_cents, 2),
            *(prob(truth.p_accept[:, j], 4) for j in range(len(PRODUCTS))),
        ],
    )


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> None:
    from rich.console import Console
    from rich.progress import Progress

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--as-of", type=date.fromisoformat, default=DEFAULT_AS_OF)
    args = parser.parse_args(argv)
    console = Console()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("demo data", total=1.0)

        def progress(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        summary = generate(args.out, args.customers, args.seed, args.as_of, progress)
    for key, value in vars(summary).items():
        if key != "files":
            console.print(f"{key:>18}: {value}")
    console.print(f"{'files':>18}: {args.out}")


if __name__ == "__main__":
    main()
