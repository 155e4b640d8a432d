"""Self-contained HTML reports: one file, charts inlined as SVG, no outside assets.

The retention team mails these around and opens them offline, and the retention pages
show the same charts, so everything is drawn here with matplotlib and rendered from
``templates/reports/``.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from campaigns.kpis import SERVICE_SECONDS, CampaignKpis
from campaigns.monthly import MonthlyReport
from campaigns.reports import ConversionReport, SavedReport

__all__ = [
    "campaign_html",
    "funnel_svg",
    "monthly_html",
    "monthly_svg",
    "refusals_svg",
    "survival_svg",
]

REPORTS = Path(__file__).resolve().parents[2] / "templates" / "reports"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(REPORTS),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TREATED, _HOLDOUT, _INK = "#1f6feb", "#8b949e", "#24292f"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ci(pair: Any, digits: int = 1) -> str:
    if pair is None:
        return "–"
    return f"{pair[0]:,.{digits}f} to {pair[1]:,.{digits}f}"


def _ci_pct(pair: Any, digits: int = 1) -> str:
    """An interval of shares, in percentage points."""
    if pair is None:
        return "–"
    return f"{100 * pair[0]:,.{digits}f} to {100 * pair[1]:,.{digits}f} pts"


_ENV.filters.update(pct=_pct, num=_num, ci=_ci, ci_pct=_ci_pct)


def _svg(fig: Any) -> Markup:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg") :])  # noqa: S704 (our own matplotlib output)


def _figure(width: float = 6.4, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "telecampaign"  # the same report gives the same file
    fig, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def survival_svg(curves: dict[str, list[float]], launched_on: dt.date, kind: str) -> Markup:
    """The share of each group still a customer, day by day from the launch."""
    fig, ax = _figure()
    for group, color, label in (
        ("treatment", _TREATED, "treated"),
        ("holdout", _HOLDOUT, "holdout"),
    ):
        values = curves.get(group)
        if values:
            ax.step(
                range(len(values)),
                [100 * v for v in values],
                where="post",
                color=color,
                label=label,
                linewidth=2,
            )
    ax.set_xlabel(f"days since the launch on {launched_on}")
    ax.set_ylabel("still a customer (%)" if kind != "win-back" else "back as a customer (%)")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def funnel_svg(kpis: CampaignKpis) -> Markup:
    """Dials down to confirmed conversions."""
    steps = [
        ("dialled", kpis.dials),
        ("answered by a person", kpis.live_answers),
        ("connected to an agent", kpis.connects),
        ("right-party contact", kpis.contacts),
        ("accepted", kpis.conversions),
        ("confirmed by the feed", kpis.confirmed),
    ]
    fig, ax = _figure(height=2.8)
    labels = [s[0] for s in steps][::-1]
    values = [s[1] for s in steps][::-1]
    bars = ax.barh(labels, values, color=_TREATED)
    top = max(values) if any(values) else 1
    for bar, value in zip(bars, values, strict=True):
        ax.text(
            bar.get_width() + top * 0.01,
            bar.get_y() + bar.get_height() / 2,
            f"{value:,}",
            va="center",
            color=_INK,
            fontsize=9,
        )
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("calls")
    return _svg(fig)


def refusals_svg(kpis: CampaignKpis) -> Markup | None:
    reasons = kpis.refusals_by_reason
    if not reasons:
        return None
    fig, ax = _figure(height=0.5 + 0.35 * len(reasons))
    names = list(reasons)[::-1]
    ax.barh(names, [reasons[n] for n in names], color=_HOLDOUT)
    ax.set_xlabel("refusals")
    return _svg(fig)


def monthly_svg(report: MonthlyReport) -> Markup:
    fig, ax = _figure()
    months = [p for p in report.months if p.churn_rate is not None]
    bars = ax.bar(
        [p.label if p.complete else f"{p.label} (incomplete)" for p in months],
        [100 * (p.churn_rate or 0) for p in months],
        color=_TREATED,
        label="churn rate",
    )
    for bar, month in zip(bars, months, strict=True):
        if not month.complete:  # the data does not cover it whole: a rate so far
            bar.set_alpha(0.4)
            bar.set_hatch("//")
    if months:
        ax.axhline(
            100 * months[0].target,
            color="#cf222e",
            linestyle="--",
            label=f"target ({report.annual_target:.0%} a year)",
        )
    ax.set_ylabel("customers lost in the month (%)")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(frameon=False)
    return _svg(fig)


def campaign_html(
    saved: SavedReport | None, conversions: ConversionReport | None, kpis: CampaignKpis
) -> str:
    """One campaign's report: its effect against the holdout, its funnel, its refusals."""
    charts = {
        "survival": survival_svg(saved.curves, saved.launched_on, saved.kind) if saved else None,
        "funnel": funnel_svg(kpis),
        "refusals": refusals_svg(kpis),
    }
    return _ENV.get_template("campaign.html.j2").render(
        saved=saved.to_json() if saved else None,
        conversions=conversions.to_json() if conversions else None,
        kpis=kpis.to_json(),
        charts=charts,
        service_seconds=SERVICE_SECONDS,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def monthly_html(report: MonthlyReport) -> str:
    return _ENV.get_template("monthly.html.j2").render(
        report=report.to_json(),
        chart=monthly_svg(report),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
