"""A planned campaign's status: launch, pause, resume and stop, and the moves refused."""

from __future__ import annotations

import pytest
from planner_base import ScoredBase, _request
from sqlalchemy import Engine

from campaigns.errors import CampaignError
from campaigns.lifecycle import move
from campaigns.planner import plan
from store.models import CampaignStatus


def test_launch_pause_resume_stop(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(10, p_churn=[0.4] * 10)
    plan(engine, _request(name="q4"))
    with pytest.raises(CampaignError, match="cannot resume 'q4': it is planned"):
        move(engine, "q4", "resume")
    assert move(engine, "q4", "launch").status is CampaignStatus.RUNNING
    assert move(engine, "q4", "pause").status is CampaignStatus.PAUSED
    assert move(engine, "q4", "resume").status is CampaignStatus.RUNNING
    stopped = move(engine, "q4", "stop")
    assert stopped.status is CampaignStatus.STOPPED
    assert stopped.ended_at is not None
    with pytest.raises(CampaignError, match="cannot launch"):
        move(engine, "q4", "launch")
    with pytest.raises(CampaignError, match="no campaign named 'nope'"):
        move(engine, "nope", "launch")
