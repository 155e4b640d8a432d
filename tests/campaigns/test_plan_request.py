"""The plan request: one model for the CLI, the form and the API, its problems by field."""

from __future__ import annotations

import pytest

from campaigns.errors import CampaignError
from campaigns.plan_request import PlanRequest, PlanRequestError
from store.models import CampaignKind


def test_a_form_of_strings_with_blanks_is_read_as_typed() -> None:
    request = PlanRequest(
        kind="win-back", name=" autumn ", size=" 40 ", agents="", holdout="", seed=None
    )
    assert (request.kind, request.name, request.size) == (CampaignKind.WIN_BACK, "autumn", 40)
    assert (request.agents, request.holdout, request.seed) == (None, 0.10, None)
    assert request.treated_target() == 40


def test_capacity_makes_the_target() -> None:
    request = PlanRequest(kind="anti-churn", name="x", agents=2, hours=4, contacts_per_hour=5)
    assert request.treated_target() == 40
    assert PlanRequest(kind="anti-churn", name="x").treated_target() is None


def test_every_problem_is_pinned_to_its_field() -> None:
    with pytest.raises(PlanRequestError) as caught:
        PlanRequest(kind="", name="", size="lots", holdout="2", seed=True)
    assert caught.value.fields == {
        "kind": "choose the kind: anti-churn, cross-sell, up-sell, win-back, follow-up",
        "name": "give the campaign a name",
        "size": "give a whole number",
        "holdout": "a share from 0 up to (not including) 1, e.g. 0.10",
        "seed": "give a number",
    }
    assert isinstance(caught.value, CampaignError)


@pytest.mark.parametrize(
    ("asked", "fields"),
    [
        ({"size": 0, "agents": 2}, {"size": "at least 1", "agents": "give either size or"}),
        ({"agents": 2, "hours": 3}, {"contacts_per_hour": "capacity needs all of agents"}),
        ({"agents": -1, "hours": 1, "contacts_per_hour": 1}, {"agents": "must be above 0"}),
        ({"seed": 2**31}, {"seed": "a whole number from 0 to 2147483647"}),
    ],
)
def test_size_or_capacity(asked: dict[str, object], fields: dict[str, str]) -> None:
    with pytest.raises(PlanRequestError) as caught:
        PlanRequest(kind="anti-churn", name="x", **asked)
    assert set(caught.value.fields) == set(fields)
    for field, message in fields.items():
        assert caught.value.fields[field].startswith(message)


def test_each_front_end_names_the_fields_its_own_way() -> None:
    with pytest.raises(PlanRequestError) as caught:
        PlanRequest(kind="anti-churn", name="x", size=5, agents=2)
    flags = caught.value.described(lambda name: "--" + name.replace("_", "-"))
    assert flags == {"agents": "give either --size or --agents, --hours and --contacts-per-hour"}
    assert str(caught.value) == "agents: give either size or agents, hours and contacts per hour"


def test_the_candidates_source() -> None:
    assert PlanRequest(kind="follow-up", name="x", candidates="").candidates == "all"
    watched = PlanRequest(kind="anti-churn", name="x", candidates=" watchlist ")
    assert watched.candidates == "watchlist"
    with pytest.raises(PlanRequestError) as caught:
        PlanRequest(kind="anti-churn", name="x", candidates="survey")
    assert caught.value.fields == {"candidates": "choose one of all, watchlist"}
    with pytest.raises(PlanRequestError) as caught:
        PlanRequest(kind="up-sell", name="x", candidates="watchlist")
    assert caught.value.fields == {
        "candidates": "watchlist feeds anti-churn or follow-up lists only"
    }
