"""Each campaign kind's call script, as the offers name it, renders with a customer's
fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from campaigns.offers import SCRIPTS
from store.models import CampaignKind

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("kind", list(CampaignKind))
def test_every_kind_has_a_script_that_renders(kind: CampaignKind) -> None:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=True
    )
    text = env.get_template(SCRIPTS[kind]).render(
        part_of_day="morning",
        agent={"first_name": "Ana"},
        company={"name": "Telco", "phone": "+1 800 555 0100"},
        customer={
            "name": "Jo Bloggs",
            "first_name": "Jo",
            "timezone": "America/New_York",
            "tenure_text": "4 years",
            "products_text": "Mobile S",
            "product_count": 1,
        },
        reasons=[{"text": "contract ends in 3 weeks"}],
        offer="An offer",
        product={"name": "Fiber 100", "family": "BROADBAND", "monthly_price": 35.0},
        exit_reason="price",
    )
    assert "Jo Bloggs" in text
    assert "An offer" in text
