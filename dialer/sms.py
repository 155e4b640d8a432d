"""Texts sent when calls did not reach the customer, and what each costs in segments.

An SMS is sent in GSM-7 when every character is in the GSM 03.38 alphabet (the basic
table, or the extension table, whose characters take two units) and in UCS-2 otherwise;
one segment holds 160 GSM-7 units or 70 UCS-2 units, and a longer text is sent in parts
of 153 or 67, as each part gives room to the concatenation header. A character outside
the basic multilingual plane (an emoji) is a surrogate pair: two UCS-2 units. ``smsutil``
does the counting; ``measure`` names its result in our terms.

The texts are jinja2 templates in ``templates/sms/``, one per campaign kind, each ending
with the opt-out line, since a text that gives no way out is not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import smsutil
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from campaigns.settings.model import CampaignSettings
from campaigns.settings.templates import OPT_OUT_LINE, render

__all__ = ["OPT_OUT_LINE", "SMS_KINDS", "SmsBody", "campaign_sms", "measure", "render_sms"]

# Beside the packages both in the repository and in the wheel (force-included there).
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_SUFFIX = ".txt.j2"

SMS_KINDS: tuple[str, ...] = tuple(
    sorted(
        path.name.removesuffix(_SUFFIX)
        for path in (TEMPLATES / "sms").glob(f"*{_SUFFIX}")
        if not path.name.startswith("_")
    )
)


@dataclass(frozen=True)
class SmsBody:
    text: str
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    characters: int  # characters as a reader counts them, not encoding units


def measure(text: str) -> SmsBody:
    """The encoding a text needs and the segments it is billed as; empty text is none."""
    if not text:
        # smsutil calls an empty text UCS-2; it is nothing to send.
        return SmsBody(text, "GSM-7", 0, 0)
    split = smsutil.split(text)
    encoding: Literal["GSM-7", "UCS-2"] = "GSM-7" if split.encoding == "gsm0338" else "UCS-2"
    return SmsBody(text, encoding, len(split.parts), len(text))


def _sentence(value: object) -> str:
    """End a phrase with a full stop unless it has its own."""
    phrase = str(value).strip()
    return phrase if phrase.endswith((".", "!", "?")) else f"{phrase}."


# Plain text, never HTML: escaping would put "&amp;" in a customer's text.
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,  # noqa: S701
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["sentence"] = _sentence


def render_sms(kind: str, **fields: object) -> SmsBody:
    """The text of ``kind`` with ``fields``, on one line, measured; a missing field raises.

    Fields the templates use: company, first_name, callback_number, offer (or None) and
    opt_out (``OPT_OUT_LINE``).
    """
    if kind not in SMS_KINDS:
        raise ValueError(f"no SMS template {kind!r}; known kinds: {', '.join(SMS_KINDS)}")
    text = _ENV.get_template(f"sms/{kind}{_SUFFIX}").render(**fields)
    return measure(" ".join(text.split()))


def campaign_sms(
    settings: CampaignSettings,
    kind: str,
    *,
    company: str,
    first_name: str | None,
    callback_number: str,
    offer: str | None,
) -> SmsBody:
    """The text a campaign sends: its own template (checked when it was set), else the
    product's for its kind."""
    if settings.templates.sms is not None:
        own = render(
            settings.templates.sms,
            company=company,
            first_name=first_name or "",
            callback_number=callback_number,
            offer=offer or "",
        )
        return measure(" ".join(own.split()))
    return render_sms(
        kind,
        company=company,
        first_name=first_name,
        callback_number=callback_number,
        offer=offer,
        opt_out=OPT_OUT_LINE,
    )
