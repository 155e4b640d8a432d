"""Errors a campaign manager can fix: said plainly, with what to do next.

    CampaignError
    +-- NothingScoredError      no churn scores to plan from
    +-- CampaignNotFoundError   no campaign of that name
    +-- CampaignNameTaken       a new campaign's name is in use already

Callers tell them apart by class, never by their text.
"""

from __future__ import annotations


class CampaignError(Exception):
    """A plan, launch or export that cannot go ahead as asked."""


class NothingScoredError(CampaignError):
    def __init__(self) -> None:
        super().__init__("no scores yet: run `telecampaign train` and `telecampaign score` first")


class CampaignNotFoundError(CampaignError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no campaign named {name!r}: `telecampaign campaigns` lists them")


class CampaignNameTaken(CampaignError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a campaign named {name!r} exists already: choose another name")
        self.name = name
