"""The demo-data generator: file formats, determinism and the ground truth's figures."""

from __future__ import annotations

import csv
import math
import stat
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import timezone as pn_timezone
from sqlalchemy import Engine, select

from simulation.base.generator import DEFAULT_AS_OF, DemoDataSummary, generate
from store.csv_out import guard, unguard
from store.importer import import_file
from store.models import Customer
from store.schemas import to_e164

N_CUSTOMERS = 20_000
SEED = 20_260_131

EXPECTED_HEADERS = {
    "products": "product_code,name,family,tier,monthly_price,monthly_margin",
    "customers": (
        "customer_id,name,phone,country,region,timezone,language,customer_type,segment,"
        "call_consent,sms_consent,signup_date,contract_end"
    ),
    "holdings": "customer_id,product_code,start_date,end_date,monthly_revenue",
    "billing": "customer_id,month,amount,days_late",
    "interactions": (
        "interaction_id,customer_id,kind,occurred_at,channel,topic,score,scale,closed_at"
    ),
    "dnc": "phone,channel,source,reason",
    "history": "customer_id,campaign,contacted_on,group,reached,churned_90d",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoDataSummary]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate(out, N_CUSTOMERS, SEED)


def read(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def header(out: Path, name: str) -> str:
    with (out / f"{name}.csv").open(encoding="utf-8") as fh:
        return fh.readline().rstrip("\n")


def product_codes(out: Path) -> list[str]:
    return [r["product_code"] for r in read(out, "products")]


def as_date(text: str) -> date:
    return date.fromisoformat(text)


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


# --------------------------------------------------------------------------- formats


def test_files_and_headers(demo: tuple[Path, DemoDataSummary]) -> None:
    out, summary = demo
    assert set(summary.files) == {
        "products",
        "matrix",
        "customers",
        "holdings",
        "billing",
        "interactions",
        "dnc",
        "history",
        "ground_truth",
    }
    for name, path in summary.files.items():
        assert path == out / f"{name}.csv"
        assert path.stat().st_size > 0
    for name, expected in EXPECTED_HEADERS.items():
        assert header(out, name) == expected
    codes = product_codes(out)
    assert header(out, "matrix") == ",".join(["segment", "segment_name", *codes])
    assert header(out, "ground_truth") == ",".join(
        ["customer_id", "p_churn_no_call", "p_churn_if_called", "clv"]
        + [f"p_accept_{c}" for c in codes]
    )


def test_files_are_private(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == dict.fromkeys(modes, 0o600), "the files hold names and phone numbers"


def test_files_are_safe_in_a_spreadsheet_and_import_as_written(
    demo: tuple[Path, DemoDataSummary], engine: Engine, tmp_path: Path
) -> None:
    out, summary = demo
    guarded = 0
    for path in summary.files.values():
        with path.open(newline="", encoding="utf-8") as fh:
            for cell in (c for row in csv.reader(fh) for c in row):
                assert guard(unguard(cell)) == cell, f"{path.name}: {cell!r} runs in a spreadsheet"
                guarded += cell != unguard(cell)
    assert guarded > 0, "phones in the +1 415-555-0134 layout are guarded"
    for kind in ("products", "matrix", "customers"):
        result = import_file(engine, kind, out / f"{kind}.csv", rejects_dir=tmp_path)
        assert result.rejected == 0, "a garbled phone is left out, not its customer"
    with engine.connect() as conn:
        stored = {c.external_id: (c.name, c.phone) for c in conn.execute(select(Customer))}
    for c in read(out, "customers"):
        name, phone = stored[c["customer_id"]]
        assert name == unguard(c["name"])
        if phone is not None:
            assert phone == to_e164(unguard(c["phone"]), c["country"])


def test_summary_counts_match_files(demo: tuple[Path, DemoDataSummary]) -> None:
    out, summary = demo
    assert summary.customers == N_CUSTOMERS == len(read(out, "customers"))
    assert summary.products == len(read(out, "products"))
    assert summary.holdings == len(read(out, "holdings"))
    assert summary.interactions == len(read(out, "interactions"))
    assert summary.history_rows == len(read(out, "history"))
    with (out / "billing.csv").open() as fh:
        assert summary.billing_rows == sum(1 for _ in fh) - 1
    assert summary.as_of == DEFAULT_AS_OF


def test_products_and_matrix(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    products = read(out, "products")
    assert 10 <= len(products) <= 14
    assert 3 <= len({p["family"] for p in products}) <= 5
    for p in products:
        price, margin = float(p["monthly_price"]), float(p["monthly_margin"])
        assert 10 <= price <= 150
        assert 0 < margin < price
        assert int(p["tier"]) >= 1
    # every family's tiers form a ladder 1..k
    tiers: dict[str, list[int]] = defaultdict(list)
    for p in products:
        tiers[p["family"]].append(int(p["tier"]))
    assert all(sorted(t) == list(range(1, len(t) + 1)) for t in tiers.values())
    matrix = read(out, "matrix")
    assert 5 <= len(matrix) <= 7
    assert {r["segment"][:3] for r in matrix} == {"B2C", "B2B"}
    for row in matrix:
        marks = [row[c] for c in product_codes(out)]
        assert set(marks) <= {"x", ""}
        assert marks.count("x") >= 3


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 3_000, 42)
    b = generate(tmp_path / "b", 3_000, 42)
    c = generate(tmp_path / "c", 3_000, 43)
    for name in a.files:
        assert a.files[name].read_bytes() == b.files[name].read_bytes(), name
    for name in ("customers", "holdings", "billing", "interactions", "ground_truth"):
        assert a.files[name].read_bytes() != c.files[name].read_bytes(), name
    assert a.churn_rate_90d == b.churn_rate_90d


def test_rejects_an_empty_base(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(tmp_path, 0, 1)


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    generate(tmp_path, 500, 3, progress=lambda stage, f: seen.append((stage, f)))
    assert {s for s, _ in seen} >= {"simulate", "write"}
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    assert seen[-1][1] == 1.0


# --------------------------------------------------------------------------- keys


def test_keys_are_unique(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    checks = {
        "customers": ("customer_id",),
        "products": ("product_code",),
        "matrix": ("segment",),
        "holdings": ("customer_id", "product_code", "start_date"),
        "billing": ("customer_id", "month"),
        "interactions": ("customer_id", "kind", "occurred_at"),
        "dnc": ("phone", "channel"),
        "history": ("customer_id",),
        "ground_truth": ("customer_id",),
    }
    for name, key in checks.items():
        rows = read(out, name)
        keys = [tuple(r[k] for k in key) for r in rows]
        assert len(set(keys)) == len(keys), name
    interactions = read(out, "interactions")
    ids = [r["interaction_id"] for r in interactions]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("I") and len(i) == 9 for i in ids)
    customers = read(out, "customers")
    assert customers[0]["customer_id"] == "C0000001"
    assert all(len(c["customer_id"]) == 8 for c in customers)
    # instants are unique too, not only the written text
    instants = {
        (r["customer_id"], r["kind"], datetime.fromisoformat(r["occurred_at"]))
        for r in interactions
    }
    assert len(instants) == len(interactions)


def test_references_resolve(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    codes = set(product_codes(out))
    segments = {r["segment"] for r in read(out, "matrix")}
    customers = read(out, "customers")
    ids = {c["customer_id"] for c in customers}
    assert {c["segment"] for c in customers} <= segments
    holdings = read(out, "holdings")
    assert {h["product_code"] for h in holdings} <= codes
    for name in ("holdings", "interactions", "history", "ground_truth"):
        assert {r["customer_id"] for r in read(out, name)} <= ids, name
    with (out / "billing.csv").open(newline="") as fh:
        assert {r["customer_id"] for r in csv.DictReader(fh)} <= ids


def test_holdings_follow_the_matrix(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    targeted = {
        (r["segment"], c) for r in read(out, "matrix") for c in product_codes(out) if r[c] == "x"
    }
    segment = {c["customer_id"]: c["segment"] for c in read(out, "customers")}
    holdings = read(out, "holdings")
    on_matrix = sum((segment[h["customer_id"]], h["product_code"]) in targeted for h in holdings)
    assert on_matrix / len(holdings) > 0.97
    assert on_matrix < len(holdings)  # a few off-matrix holdings, as in real data
    open_count = Counter(h["customer_id"] for h in holdings if not h["end_date"])
    assert set(open_count.values()) <= {1, 2, 3, 4}
    assert max(open_count.values()) >= 3
    price = {r["product_code"]: float(r["monthly_price"]) for r in read(out, "products")}
    for h in holdings:
        assert h["end_date"] == "" or as_date(h["end_date"]) >= as_date(h["start_date"])
        assert as_date(h["start_date"]) <= DEFAULT_AS_OF
        assert 0.6 * price[h["product_code"]] <= float(h["monthly_revenue"])
        assert float(h["monthly_revenue"]) <= price[h["product_code"]]


# --------------------------------------------------------------------------- customers


def test_phones_are_valid_and_formatted_like_exports(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    customers = read(out, "customers")
    valid = 0
    styles: Counter[str] = Counter()
    tz_checked = 0
    for c in customers:
        phone = c["phone"]
        try:
            number = phonenumbers.parse(phone, c["country"])
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        valid += 1
        styles["e164" if phone.startswith("+") and phone[1:].isdigit() else "other"] += 1
        if phone.startswith("("):
            styles["parens"] += 1
        if c["country"] == "GB" and phone.startswith("0"):
            styles["gb_national"] += 1
        if c["timezone"]:
            assert c["timezone"] in pn_timezone.time_zones_for_number(number)
            tz_checked += 1
    assert valid / len(customers) >= 0.99
    assert valid < len(customers)  # some blank or garbled numbers, as in real exports
    assert min(styles["e164"], styles["other"], styles["parens"], styles["gb_national"]) > 100
    assert tz_checked > 0.8 * valid


def test_customer_columns_and_noise(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    customers = read(out, "customers")
    n = len(customers)
    count = Counter()
    for c in customers:
        assert c["country"] in {"US", "CA", "GB"}
        assert c["customer_type"] in {"B2C", "B2B"}
        assert c["segment"].startswith(c["customer_type"])
        assert c["call_consent"] in {"yes", "no"}
        assert c["sms_consent"] in {"yes", "no"}
        assert c["name"]
        count["us"] += c["country"] == "US"
        count["b2b"] += c["customer_type"] == "B2B"
        count["no_tz"] += c["timezone"] == ""
        count["no_region"] += c["region"] == ""
        count["no_lang"] += c["language"] == ""
        count["no_phone"] += c["phone"] == ""
        count["sms"] += c["sms_consent"] == "yes"
        count["mtm"] += c["contract_end"] == ""
        count["comma"] += "," in c["name"]
        if c["signup_date"]:
            signup = as_date(c["signup_date"])
            assert DEFAULT_AS_OF - timedelta(days=8 * 366) <= signup <= DEFAULT_AS_OF
            if c["contract_end"]:
                assert as_date(c["contract_end"]) > signup
    assert 0.70 < count["us"] / n < 0.90
    assert 0.10 < count["b2b"] / n < 0.20
    assert 0.10 < count["no_tz"] / n < 0.20
    assert 0 < count["no_region"] / n < 0.06
    assert 0 < count["no_lang"] / n < 0.10
    assert 0 < count["no_phone"] / n < 0.01
    assert 0.35 < count["sms"] / n < 0.45
    assert 0.35 < count["mtm"] / n < 0.60
    assert count["comma"] > 0  # names that need quoting in CSV


def test_lifecycle_states_are_present(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    months: dict[str, set[str]] = defaultdict(set)
    with (out / "billing.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            months[r["customer_id"]].add(r["month"])
    all_months = sorted({m for ms in months.values() for m in ms})
    assert len(all_months) == 24
    assert all_months[-1] == DEFAULT_AS_OF.strftime("%Y-%m")
    index = {m: i for i, m in enumerate(all_months)}
    state = Counter()
    for ms in months.values():
        got = sorted(index[m] for m in ms)
        if got[0] >= 21:
            state["new"] += 1
        elif got[-1] < 21:
            state["lost"] += 1
        elif got[-1] == 23 and any(b - a > 1 for a, b in pairwise(got)):
            state["restored"] += 1
        elif got[-1] == 23:
            state["regular"] += 1
    customers = read(out, "customers")
    state["potential"] = sum(c["customer_id"] not in months for c in customers)
    assert all(state[s] > 20 for s in ("new", "lost", "restored", "regular", "potential"))


# --------------------------------------------------------------------------- activity


def test_billing_matches_holdings(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    spans: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for h in read(out, "holdings"):
        end = as_date(h["end_date"]) if h["end_date"] else DEFAULT_AS_OF
        spans[h["customer_id"]].append((as_date(h["start_date"]), end))
    rows = 0
    blanks_by_month: Counter[str] = Counter()
    late = 0
    with (out / "billing.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            rows += 1
            first = as_date(r["month"] + "-01")
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            assert any(s <= last and e >= first for s, e in spans[r["customer_id"]]), r
            assert float(r["amount"]) >= 0
            if r["days_late"] == "":
                blanks_by_month[r["month"]] += 1
            else:
                assert int(r["days_late"]) >= 0
                late += int(r["days_late"]) > 0
    assert 0.03 < late / rows < 0.25
    # blank = a late bill still unpaid at as_of: only recent bills, most of them the last
    recent = sorted(blanks_by_month)
    assert recent[0] >= (DEFAULT_AS_OF - timedelta(days=130)).strftime("%Y-%m")
    assert blanks_by_month.most_common(1)[0][0] == DEFAULT_AS_OF.strftime("%Y-%m")
    assert 0 < sum(blanks_by_month.values()) < 0.01 * rows


def test_interactions(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    interactions = read(out, "interactions")
    end_of_as_of = datetime.combine(DEFAULT_AS_OF + timedelta(days=1), datetime.min.time())
    kinds: Counter[str] = Counter()
    scales: Counter[str] = Counter()
    open_complaints = 0
    offsets = 0
    exit_topics = {
        "price",
        "competitor_offer",
        "moving",
        "service_quality",
        "coverage",
        "no_longer_needed",
    }
    for r in interactions:
        kinds[r["kind"]] += 1
        occurred = datetime.fromisoformat(r["occurred_at"])
        assert occurred.tzinfo is not None
        offsets += not r["occurred_at"].endswith("Z")
        assert occurred.astimezone(UTC).replace(tzinfo=None) < end_of_as_of
        if r["closed_at"]:
            assert datetime.fromisoformat(r["closed_at"]) >= occurred
        if r["kind"] == "survey":
            scales[r["scale"]] += 1
            assert 1 <= int(r["score"]) <= int(r["scale"])
        else:
            assert r["score"] == r["scale"] == ""
        if r["kind"] == "complaint":
            assert r["topic"]
            open_complaints += r["closed_at"] == ""
        if r["kind"] == "exit":
            assert r["topic"] in exit_topics
    assert set(kinds) == {"complaint", "ticket", "survey", "exit"}
    assert set(scales) == {"5", "10"}
    assert scales["10"] > 3 * scales["5"]
    assert 0 < open_complaints < kinds["complaint"] / 4
    assert 0.2 < offsets / len(interactions) < 0.6


def test_interaction_offsets_follow_zoneinfo(demo: tuple[Path, DemoDataSummary]) -> None:
    """A timestamp written with an offset carries the offset zoneinfo gives for the
    customer's zone at that instant, in summer and in winter, and falls in local
    business hours (except on as_of, where late times are pulled back before the cut)."""
    out, _ = demo
    zones = {c["customer_id"]: c["timezone"] for c in read(out, "customers") if c["timezone"]}
    checked = 0
    seasons: set[tuple[str, bool]] = set()  # (zone, daylight-saving time in force)
    for r in read(out, "interactions"):
        name = zones.get(r["customer_id"])
        if name is None:
            continue
        zone = ZoneInfo(name)
        for text in (r["occurred_at"], r["closed_at"]):
            if not text or text.endswith("Z"):
                continue
            stamp = datetime.fromisoformat(text)
            local = stamp.astimezone(zone)
            assert stamp.utcoffset() == local.utcoffset(), (r, name)
            seasons.add((name, bool(local.dst())))
            checked += 1
        occurred = datetime.fromisoformat(r["occurred_at"]).astimezone(zone)
        if occurred.date() < DEFAULT_AS_OF:
            assert 7 <= occurred.hour < 21, (r, name)
    assert checked > 1000
    # every zone shows up both under daylight-saving time and under standard time
    assert {name for name, _ in seasons} == set(zones.values())
    assert all((name, dst) in seasons for name in zones.values() for dst in (True, False))


def test_dnc(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    dnc = read(out, "dnc")
    phones = set()
    for c in read(out, "customers"):
        try:
            number = phonenumbers.parse(c["phone"], c["country"])
        except phonenumbers.NumberParseException:
            continue
        phones.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    assert 0.005 * N_CUSTOMERS < len(dnc) < 0.02 * N_CUSTOMERS
    assert {r["channel"] for r in dnc} == {"call", "sms", "all"}
    assert all(r["phone"] in phones and r["source"] for r in dnc)


def test_history_is_a_consistent_randomised_campaign(demo: tuple[Path, DemoDataSummary]) -> None:
    out, summary = demo
    history = read(out, "history")
    assert 0 < summary.history_coverage <= 0.30
    assert len(history) <= 0.30 * N_CUSTOMERS
    assert len({r["campaign"] for r in history}) == 1
    contacted = {as_date(r["contacted_on"]) for r in history}
    assert all(150 <= (DEFAULT_AS_OF - d).days <= 215 for d in contacted)
    groups = Counter(r["group"] for r in history)
    assert set(groups) == {"treated", "holdout"}
    assert 0.4 < groups["treated"] / len(history) < 0.6
    treated = [r for r in history if r["group"] == "treated"]
    assert all(r["reached"] == "" for r in history if r["group"] == "holdout")
    assert {r["reached"] for r in treated} == {"0", "1"}
    assert 0.45 < sum(r["reached"] == "1" for r in treated) / len(treated) < 0.75
    # churned_90d agrees with the holdings: on some day of the 90 after the contact the
    # customer's last holding ended and nothing held went on the next day
    spans: dict[str, list[tuple[date, date]]] = defaultdict(list)
    for h in read(out, "holdings"):
        end = as_date(h["end_date"]) if h["end_date"] else date.max
        spans[h["customer_id"]].append((as_date(h["start_date"]), end))
    churned = 0
    for r in history:
        day = as_date(r["contacted_on"])
        held = spans[r["customer_id"]]
        assert any(s <= day <= e for s, e in held), r
        left = any(
            day < e <= day + timedelta(days=90)
            and not any(s2 <= e + timedelta(days=1) <= e2 for s2, e2 in held)
            for _s, e in held
        )
        assert left == (r["churned_90d"] == "1"), r
        churned += left
    assert 0.03 < churned / len(history) < 0.25


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_rows_are_the_active_customers(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    active = {h["customer_id"] for h in read(out, "holdings") if not h["end_date"]}
    truth = read(out, "ground_truth")
    assert [r["customer_id"] for r in truth] == sorted(active)
    for r in truth:
        assert 0.0 <= float(r["p_churn_no_call"]) <= 1.0
        assert 0.0 <= float(r["p_churn_if_called"]) <= 1.0
        assert float(r["clv"]) > 0


def test_churn_and_call_effect_figures(demo: tuple[Path, DemoDataSummary]) -> None:
    out, summary = demo
    truth = read(out, "ground_truth")
    p0 = [float(r["p_churn_no_call"]) for r in truth]
    p1 = [float(r["p_churn_if_called"]) for r in truth]
    effect = [a - b for a, b in zip(p0, p1, strict=True)]
    n = len(truth)
    assert 0.06 <= summary.churn_rate_90d <= 0.15
    assert 0.01 <= summary.mean_call_effect <= 0.03
    assert 0.05 <= summary.share_pushed_away <= 0.15
    # the file says the same as the summary (up to the 6 decimals written)
    assert sum(p0) / n == pytest.approx(summary.churn_rate_90d, abs=1e-5)
    assert sum(effect) / n == pytest.approx(summary.mean_call_effect, abs=1e-5)
    assert sum(b > a for a, b in zip(p0, p1, strict=True)) / n == pytest.approx(
        summary.share_pushed_away, abs=0.005
    )
    # risk and response only loosely related
    assert abs(pearson(p0, effect)) < 0.3
    # all four uplift types
    persuadable = sum(e >= 0.05 for e in effect)
    sure_thing = sum(a < 0.03 and abs(e) < 0.005 for a, e in zip(p0, effect, strict=True))
    lost_cause = sum(a >= 0.4 and abs(e) < 0.02 for a, e in zip(p0, effect, strict=True))
    do_not_disturb = sum(e < -0.01 for e in effect)
    assert min(persuadable, sure_thing, lost_cause, do_not_disturb) >= 0.003 * n


def test_offer_acceptance(demo: tuple[Path, DemoDataSummary]) -> None:
    out, _ = demo
    codes = product_codes(out)
    targeted = {r["segment"]: {c for c in codes if r[c] == "x"} for r in read(out, "matrix")}
    segment = {c["customer_id"]: c["segment"] for c in read(out, "customers")}
    held: dict[str, set[str]] = defaultdict(set)
    for h in read(out, "holdings"):
        if not h["end_date"]:
            held[h["customer_id"]].add(h["product_code"])
    values = []
    for r in read(out, "ground_truth"):
        cid = r["customer_id"]
        for c in codes:
            cell = r[f"p_accept_{c}"]
            offerable = c in targeted[segment[cid]] and c not in held[cid]
            assert (cell != "") == offerable, (cid, c)
            if cell:
                values.append(float(cell))
    values.sort()
    assert all(0.0 <= v <= 1.0 for v in values)
    assert 0.02 <= values[len(values) // 2] <= 0.15
    assert values[len(values) // 10] < values[9 * len(values) // 10] / 2  # heterogeneous
