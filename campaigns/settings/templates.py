"""Voicemail and SMS texts a manager writes: jinja2 in a sandbox, with a fixed set of
names, checked when the setting is saved so that a call never fails on a bad template."""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["NAMES", "OPT_OUT_LINE", "check_sms_template", "check_voicemail_template", "render"]

# what a text may name: nothing else about the customer is put in a message
NAMES = ("company", "callback_number", "first_name", "offer")
OPT_OUT_LINE = "Reply STOP to opt out."
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def check_voicemail_template(text: str) -> str:
    _check(text)
    return text


def check_sms_template(text: str) -> str:
    _check(text)
    if OPT_OUT_LINE not in text:
        raise ValueError(f'a text must give a way out: end it with "{OPT_OUT_LINE}"')
    return text


def render(text: str, **values: str) -> str:
    return _ENV.from_string(text).render(**values).strip()


def _check(text: str) -> None:
    if not text.strip():
        raise ValueError("the text is empty: write one, or remove the key for the default")
    try:
        names = meta.find_undeclared_variables(_ENV.parse(text))
    except TemplateSyntaxError as exc:
        raise ValueError(f"not a valid template (line {exc.lineno}: {exc.message})") from None
    unknown = sorted(names - set(NAMES))
    if unknown:
        raise ValueError(f"unknown name {', '.join(unknown)}: a text may use {', '.join(NAMES)}")
