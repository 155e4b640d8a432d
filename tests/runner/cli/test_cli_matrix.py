"""`telecampaign matrix show` and `matrix states` through typer's CliRunner."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from runner.cli.main import app
from store.db import make_engine, transaction
from store.models import (
    Campaign,
    CampaignKind,
    Customer,
    Disposition,
    Group,
    ListEntry,
    Product,
)

PRODUCTS = """product_code,name,family,tier,monthly_price
MOB_S,Mobile S,MOBILE,1,15
MOB_L,Mobile L,MOBILE,2,35
BB_100,Fiber 100,BROADBAND,1,30
"""
MATRIX = """segment,segment_name,MOB_S,MOB_L,BB_100
YOUNG,Young adults,x,,x
FAMILY,Families,,x,x
"""
MATRIX_YAML = """segments:
  YOUNG: {name: Young adults, products: [MOB_S, MOB_L, BB_100]}
  FAMILY: {name: Families, products: [MOB_L, BB_100]}
"""
CUSTOMERS = """customer_id,name,country,segment
C1,Ann Lee,US,YOUNG
C2,Bob Ray,US,YOUNG
C3,Cy Fox,US,FAMILY
C4,Di Hu,US,
"""
HOLDINGS = """customer_id,product_code,start_date,end_date,monthly_revenue
C1,MOB_S,2025-03-01,,15
C1,MOB_L,2025-03-01,,35
"""


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def load(env: dict[str, str], tmp_path: Path, kind: str, text: str, suffix: str = "csv") -> None:
    path = tmp_path / f"{kind}.{suffix}"
    path.write_text(text, encoding="utf-8")
    code, out, err = invoke(env, "import", kind, str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["rejected"] == 0


@pytest.fixture
def store(env: dict[str, str], tmp_path: Path, db_url: str) -> dict[str, str]:
    """Three products, the matrix, four customers (one without a segment), C1's holdings,
    and C1's refusal of broadband."""
    for kind, text in [
        ("products", PRODUCTS),
        ("matrix", MATRIX),
        ("customers", CUSTOMERS),
        ("holdings", HOLDINGS),
    ]:
        load(env, tmp_path, kind, text)
    engine = make_engine(db_url)
    with transaction(engine) as session:
        customer = session.scalars(select(Customer.id).where(Customer.external_id == "C1")).one()
        product = session.scalars(select(Product.id).where(Product.code == "BB_100")).one()
        campaign = Campaign(name="broadband", kind=CampaignKind.CROSS_SELL)
        session.add(campaign)
        session.flush()
        entry = ListEntry(
            campaign_id=campaign.id, customer_id=customer, product_id=product, group=Group.TREATMENT
        )
        session.add(entry)
        session.flush()
        session.add(
            Disposition(
                list_entry_id=entry.id,
                customer_id=customer,
                code="refused",
                refusal_reason="has [cable] already",
                created_at=dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC),
            )
        )
    engine.dispose()
    return env


def test_without_a_matrix_says_how_to_import_one(env: dict[str, str]) -> None:
    for args in (("matrix", "show"), ("matrix", "states", "C1")):
        code, out, err = invoke(env, *args)
        assert code == 1
        assert "import one with `telecampaign import matrix FILE`" in err
        assert "Traceback" not in out + err


def test_show_prints_the_matrix_as_a_table(store: dict[str, str]) -> None:
    code, out, _ = invoke(store, "matrix", "show")
    assert code == 0
    lines = out.splitlines()
    assert "segment x product matrix, version 1, imported" in lines[0]
    assert "from matrix.csv" in lines[0]
    header = next(line for line in lines if "segment" in line and "MOB_S" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "segment",
        "name",
        "MOB_S",
        "MOB_L",
        "BB_100",
        "customers",
    ]

    def cells(first: str) -> list[str]:
        row = next(line for line in lines if line.startswith(f"│ {first} "))
        return [c.strip() for c in row.split("│")[1:-1]]

    assert cells("YOUNG") == ["YOUNG", "Young adults", "x", "", "x", "2"]
    assert cells("FAMILY") == ["FAMILY", "Families", "", "x", "x", "1"]
    assert cells("segments") == ["segments", "", "1", "1", "2", "3"]


def test_show_json_and_older_versions(store: dict[str, str], tmp_path: Path) -> None:
    load(store, tmp_path, "matrix", MATRIX_YAML, suffix="yaml")
    code, out, _ = invoke(store, "matrix", "show", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["version"], shown["source"]) == (2, "matrix.yaml")
    assert dt.datetime.fromisoformat(shown["imported_at"]).tzinfo is not None
    assert shown["segments"] == [
        {"code": "YOUNG", "name": "Young adults", "customers": 2},
        {"code": "FAMILY", "name": "Families", "customers": 1},
    ]
    assert shown["products"][1] == {
        "code": "MOB_L",
        "name": "Mobile L",
        "family": "MOBILE",
        "tier": 2,
        "segments": 2,
    }
    assert shown["cells"] == {"YOUNG": ["MOB_S", "MOB_L", "BB_100"], "FAMILY": ["MOB_L", "BB_100"]}
    code, out, _ = invoke(store, "matrix", "show", "--version", "1", "--json")
    assert json.loads(out)["cells"]["YOUNG"] == ["MOB_S", "BB_100"]
    code, _, err = invoke(store, "matrix", "show", "--version", "9")
    assert code == 1
    assert "no matrix version 9: the versions are 1 to 2" in err


def test_states_of_one_customer(store: dict[str, str]) -> None:
    code, out, err = invoke(store, "matrix", "states", "C1", "--as-of", "2026-06-30")
    assert code == 0, err
    assert "C1 Ann Lee, segment YOUNG (Young adults), matrix version 1, as of 2026-06-30" in out
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if line.startswith("│")
        for cells in [[c.strip() for c in line.split("│")[1:-1]]]
    }
    assert rows == {
        "MOB_S": ["Mobile S", "signed", "2025-03-01", ""],
        "BB_100": ["Fiber 100", "refused", "2026-05-04", "has [cable] already"],
    }, "MOB_L is held but not targeted at YOUNG"
    assert "maturity 50%: holds 1 of the 2 products targeted at the segment" in out


def test_states_json(store: dict[str, str]) -> None:
    code, out, _ = invoke(store, "matrix", "states", "C1", "--as-of", "2025-01-01", "--json")
    assert code == 0
    assert json.loads(out) == {
        "customer": "C1",
        "name": "Ann Lee",
        "segment": "YOUNG",
        "version": 1,
        "as_of": "2025-01-01",
        "products": [
            {
                "code": "MOB_S",
                "name": "Mobile S",
                "state": "not_offered",
                "date": None,
                "refusal_reason": None,
            },
            {
                "code": "BB_100",
                "name": "Fiber 100",
                "state": "not_offered",
                "date": None,
                "refusal_reason": None,
            },
        ],
        "maturity": 0.0,
    }
    code, out, _ = invoke(store, "matrix", "states", "C4", "--json")
    assert (json.loads(out)["segment"], json.loads(out)["maturity"]) == (None, None)


def test_states_mistakes_are_plain_errors(store: dict[str, str]) -> None:
    code, out, _ = invoke(store, "matrix", "states", "C4")
    assert code == 0
    assert "the matrix targets nothing at a customer without a segment" in out
    code, _, err = invoke(store, "matrix", "states", "C404")
    assert code == 1
    assert "no customer with id 'C404'" in err
    code, _, err = invoke(store, "matrix", "states", "C1", "--as-of", "June")
    assert code == 1
    assert "--as-of 'June' is not a date" in err
