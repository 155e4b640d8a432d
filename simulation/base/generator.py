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
The package holds one concern per module: ``catalogue``, ``places``, ``timeline``,
``customers``, ``model``, ``holdings``, ``interactions``, ``months``, ``truth``,
``names``, ``csv_sink`` and ``files``.

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
from datetime import date
from pathlib import Path

import numpy as np

from simulation.base.catalogue import PRODUCTS
from simulation.base.csv_sink import CsvSink
from simulation.base.customers import Population
from simulation.base.files import (
    FILE_NAMES,
    HEADERS,
    write_customers,
    write_dnc,
    write_ground_truth,
    write_history,
    write_holdings,
    write_interactions,
    write_matrix,
    write_products,
)
from simulation.base.months import Simulation
from simulation.base.names import CustomerStrings
from simulation.base.timeline import Calendar
from simulation.base.truth import ground_truth

__all__ = ["DEFAULT_AS_OF", "DemoDataSummary", "generate"]

DEFAULT_AS_OF = date(2026, 10, 31)


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
    cal = Calendar(as_of)

    report("population", 0.0)
    pop = Population(rng, customers, cal)
    report("population", 1.0)

    with CsvSink(files["billing"], HEADERS["billing"]) as billing:
        sim = Simulation(rng, pop, cal, billing)
        sim.run(report)
    report("ground truth", 0.0)
    truth = ground_truth(sim)
    report("ground truth", 1.0)

    write_products(files["products"])
    write_matrix(files["matrix"])
    strings = CustomerStrings(rng, pop)
    write_customers(files["customers"], pop, sim, strings, cal)
    report("write", 0.2)
    n_holdings = write_holdings(files["holdings"], sim, strings)
    report("write", 0.4)
    n_interactions = write_interactions(files["interactions"], rng, sim, strings, cal)
    report("write", 0.7)
    write_dnc(files["dnc"], rng, pop, strings)
    n_history = write_history(files["history"], sim, strings, cal)
    write_ground_truth(files["ground_truth"], truth, strings)
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
