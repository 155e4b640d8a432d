"""The monthly churn report narrowed by campaign, segment, offer and agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monthly_filter_base import (
    AS_OF,
    AUTUMN,
    CHURN,
    EXPECTED,
    FREE_MONTH,
    SPRING,
    build_two_lists,
)
from sqlalchemy import Engine
from typer.testing import CliRunner

from campaigns.monthly import FilterError, Filters, filter_choices, monthly_report
from runner.cli.main import app

CASES = {
    "none": Filters(),
    "campaign=spring": Filters.of([SPRING]),
    "campaign=autumn": Filters.of([AUTUMN]),
    "segment=MASS": Filters.of(segment="MASS"),
    "segment=PREM": Filters.of(segment="PREM"),
    "offer=free month": Filters.of(offer=FREE_MONTH),
    "offer=discount": Filters.of(offer="10% off for a year"),
    "agent=anna": Filters.of(agent="agent-anna"),
    "agent=bob": Filters.of(agent="agent-bob"),
    "segment=MASS,agent=anna": Filters.of(segment="MASS", agent="agent-anna"),
}


def test_each_filter_gives_its_own_saves_and_costs(engine: Engine) -> None:
    build_two_lists(engine)
    for case, filters in CASES.items():
        report = monthly_report(
            engine, months=4, as_of=AS_OF, acquisition_cost=300, filters=filters
        )
        march = report.months[0]
        assert march.label == "2026-03"
        saved, cost = EXPECTED[case]
        assert march.saved == pytest.approx(saved), case
        assert march.campaign_cost == pytest.approx(cost), case
        assert march.to_json(300)["money_saved"] == pytest.approx(saved * 300 - cost), case
        assert all(p.saved == 0 for p in report.months[1:]), case  # both launched in March
        assert report.filters == filters


def test_segment_narrows_churn_and_complaints_the_others_do_not(engine: Engine) -> None:
    build_two_lists(engine)
    for segment, (active, lost, complaints) in CHURN.items():
        filters = Filters.of(segment=None if segment == "all" else segment)
        march = monthly_report(engine, months=4, as_of=AS_OF, filters=filters).months[0]
        assert (march.active, march.lost, march.complaints) == (active, lost, complaints)
    # a list, an offer or an agent is a property of list entries: the base stays whole
    for filters in (
        Filters.of([AUTUMN]),
        Filters.of(offer=FREE_MONTH),
        Filters.of(agent="agent-bob"),
    ):
        march = monthly_report(engine, months=4, as_of=AS_OF, filters=filters).months[0]
        assert (march.active, march.lost, march.complaints) == CHURN["all"]


def test_the_report_says_what_it_was_narrowed_to(engine: Engine) -> None:
    build_two_lists(engine)
    plain = monthly_report(engine, months=4, as_of=AS_OF).to_json()
    assert plain["filters"] == {"campaigns": [], "segment": None, "offer": None, "agent": None}
    assert plain["scope"][0] == "churn and complaints: all customers"
    narrowed = monthly_report(
        engine,
        months=4,
        as_of=AS_OF,
        filters=Filters.of([SPRING, " ", SPRING], segment="MASS", agent=" agent-anna "),
    ).to_json()
    assert narrowed["filters"] == {
        "campaigns": [SPRING],
        "segment": "MASS",
        "offer": None,
        "agent": "agent-anna",
    }
    churn, saves = narrowed["scope"]
    assert churn == "churn and complaints: customers of segment MASS"
    assert f"the lists {SPRING}" in saves
    assert "entries of segment MASS" in saves
    assert "Anna Agent (agent-anna) spoke with" in saves
    # Anna reached nobody on autumn's list: said, not silently counted as zero
    both = monthly_report(engine, months=4, as_of=AS_OF, filters=Filters.of(agent="agent-anna"))
    assert any(note.startswith(f"{AUTUMN}: no saves counted") for note in both.notes)


def test_unknown_values_name_their_filter(engine: Engine) -> None:
    build_two_lists(engine)
    choices = filter_choices(engine)
    assert choices.campaigns == [AUTUMN, SPRING]  # launched together: by name
    assert choices.segments == ["MASS", "PREM"]
    assert choices.offers == ["10% off for a year", FREE_MONTH]
    assert [a.username for a in choices.agents] == ["agent-anna", "agent-bob"]
    with pytest.raises(FilterError) as raised:
        monthly_report(
            engine,
            as_of=AS_OF,
            filters=Filters.of(["winter"], segment="GOLD", offer="nothing", agent="zed"),
        )
    assert set(raised.value.fields) == {"campaign", "segment", "offer", "agent"}
    assert "'winter'" in raised.value.fields["campaign"]
    assert "MASS, PREM" in raised.value.fields["segment"]


def test_cli_options(engine: Engine, db_url: str, tmp_path: Path) -> None:
    build_two_lists(engine)
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}
    base = ["report", "monthly", "--months", "4", "--as-of", AS_OF.isoformat()]

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*base, *args], env=env)
        return result.exit_code, result.output

    code, out = run("--json", "--segment", "MASS", "--agent", "agent-anna")
    assert code == 0, out
    data = json.loads(out)
    assert data["months"][0]["customers_saved"] == pytest.approx(
        EXPECTED["segment=MASS,agent=anna"][0]
    )
    assert data["filters"]["agent"] == "agent-anna"
    code, out = run("--json", "--campaign", SPRING, "--campaign", AUTUMN)
    assert json.loads(out)["filters"]["campaigns"] == [SPRING, AUTUMN]
    assert json.loads(out)["months"][0]["customers_saved"] == pytest.approx(EXPECTED["none"][0])
    code, out = run("--offer", FREE_MONTH)
    assert code == 0, out
    assert "only entries offered 'A free month'" in " ".join(out.split())
    page = tmp_path / "monthly.html"
    code, out = run("--segment", "PREM", "--html", str(page))
    assert code == 0, out
    assert "churn and complaints: customers of segment PREM" in page.read_text()
    code, out = run("--segment", "GOLD", "--campaign", "winter")
    assert code == 1
    assert "--segment no segment 'GOLD'" in out
    assert "--campaign no launched anti-churn or win-back list named 'winter'" in out
