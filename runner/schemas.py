"""The JSON API's bodies, as pydantic models: what a route takes and what it answers.

The handlers validate requests with them and ``runner.openapi`` builds the document's
schemas from them, so the description cannot drift from what the code accepts.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from campaigns.plan_request import PlanAsked, PlanRequest

__all__ = ["PlanBody"]


class PlanBody(PlanAsked):
    """Give `size`, or `agents`, `hours` and `contacts_per_hour`, or neither (every
    customer worth a call)."""

    dry_run: bool = False

    @field_validator("dry_run", mode="before")
    @classmethod
    def _true_or_false(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise PydanticCustomError("dry_run", "true to preview only, false to store the plan")
        return value

    def plan_request(self) -> PlanRequest:
        return PlanRequest(**self.model_dump(exclude={"dry_run"}))
