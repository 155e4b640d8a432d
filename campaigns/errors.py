"""Errors a campaign manager can fix: said plainly, with what to do next."""

from __future__ import annotations


class CampaignError(Exception):
    """A plan, launch or export that cannot go ahead as asked."""


class NothingScoredError(CampaignError):
    def __init__(self) -> None:
        super().__init__("no scores yet: run `telecampaign train` and `telecampaign score` first")


class CampaignNotFoundError(CampaignError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no campaign named {name!r}: `telecampaign campaigns` lists them")
