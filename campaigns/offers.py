"""What each list entry offers, and which call script the agent reads it from.

A retention offer answers the customer's main reason to leave (the first of the three
reasons the churn model gives), because an offer that meets no concern buys nothing.
Sales lists offer the product the entry was chosen for. Scripts live in
``templates/calls/`` and are rendered with the customer's fields in the agent console.
"""

from __future__ import annotations

from store.models import CampaignKind

SCRIPTS: dict[CampaignKind, str] = {
    CampaignKind.ANTI_CHURN: "calls/anti-churn.md.j2",
    CampaignKind.CROSS_SELL: "calls/cross-sell.md.j2",
    CampaignKind.UP_SELL: "calls/up-sell.md.j2",
    CampaignKind.WIN_BACK: "calls/win-back.md.j2",
    CampaignKind.FOLLOW_UP: "calls/follow-up.md.j2",
}

# reason code (scoring.reasons) -> retention offer
RETENTION_OFFERS: dict[str, str] = {
    "contract": "Early renewal at a loyalty price, 12 months",
    "complaints": "Service recovery: priority support and one month's credit",
    "tickets": "Technical check-up visit and one month's credit",
    "satisfaction": "Service review with a senior advisor and one month's credit",
    "payments": "Flexible payment date and instalment plan",
    "spend": "Plan review: a plan that fits current use",
    "products": "Bundle discount on a second product",
    "tenure": "Welcome check: setup help and first-year discount",
}
DEFAULT_RETENTION_OFFER = "Loyalty discount: 15% for 6 months"

# exit reason (interactions of kind exit, topic) -> win-back offer; the keys are the
# reasons a call can answer, so they also decide who is worth a win-back call
WIN_BACK_OFFERS: dict[str, str] = {
    "price": "Come-back price: 25% off for 12 months",
    "competitor_offer": "Match of the competitor's offer for 12 months",
    "service_quality": "Fresh start: priority support and three months at half price",
    "coverage": "Coverage check at the new address and a free booster",
}

FOLLOW_UP_OFFERS = {
    "new_customer": "Three-month service check: is everything working?",
    "complaint_closed": "After-complaint check: was it solved to your satisfaction?",
    # the watch list's (campaigns.plan_follow_up.WATCH_LIST_FOLLOW_UP)
    "dissatisfied_survey": "Satisfaction follow-up: what would put things right for you?",
}


def retention_offer(top_reason: str | None) -> str:
    return RETENTION_OFFERS.get(top_reason or "", DEFAULT_RETENTION_OFFER)


def sales_offer(kind: CampaignKind, product_name: str) -> str:
    if kind is CampaignKind.UP_SELL:
        return f"Upgrade to {product_name}, first month free"
    return f"Add {product_name}, first month free"
