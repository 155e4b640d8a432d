"""The agent board in Redis: moves, claims under concurrency, idempotency, pacing figures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from dialer.agents import AgentBoard, AgentState, AgentStatus, BoardError, CampaignAgents

T = TypeVar("T")
Scenario = Callable[[AgentBoard], Awaitable[T]]


async def _on_board(redis_url: str, prefix: str, scenario: Scenario[T]) -> T:
    return await _on_client(
        redis_url, prefix, lambda client: scenario(AgentBoard(client, prefix=prefix))
    )


async def _on_client(redis_url: str, prefix: str, scenario: Callable[[Redis], Awaitable[T]]) -> T:
    client = Redis.from_url(redis_url)
    try:
        return await scenario(client)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def on_board(redis_url: str, redis_prefix: str) -> Callable[[Scenario[T]], T]:
    """Run a scenario against a fresh board under this test's prefix, then drop its keys."""

    def run(scenario: Scenario[T]) -> T:
        return asyncio.run(_on_board(redis_url, redis_prefix, scenario))

    return run


def test_a_whole_call_cycle(on_board: Callable[[Scenario[None]], None]) -> None:
    async def scenario(board: AgentBoard) -> None:
        assert await board.status(7) == AgentStatus(7, AgentState.OFFLINE, None, None, 0.0, None)
        ready = await board.login(7, 1, 100.0)
        assert ready == AgentStatus(7, AgentState.READY, 1, None, 100.0, None)
        assert await board.claim(1, 501, 110.5) == 7
        assert await board.status(7) == AgentStatus(7, AgentState.TALK, 1, 501, 110.5, None)
        assert await board.agent_of(501) == 7
        assert await board.end_call(501, 200.25) == 7
        assert await board.status(7) == AgentStatus(7, AgentState.WRAP, 1, 501, 200.25, None)
        done = await board.finish_wrap(7, 501, 230.0)
        assert done == AgentStatus(7, AgentState.READY, 1, None, 230.0, None)
        assert await board.claim(1, 502, 231.0) == 7
        assert await board.end_call(502, 240.0) == 7
        paused = await board.finish_wrap(7, 502, 250.0, then=AgentState.PAUSED, code="lunch")
        assert paused == AgentStatus(7, AgentState.PAUSED, 1, None, 250.0, "lunch")
        offline = await board.logout(7, 300.0)
        assert offline == AgentStatus(7, AgentState.OFFLINE, None, None, 300.0, None)

    on_board(scenario)


def test_the_longest_idle_agent_is_claimed_first(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(3, 1, 30.0)
        await board.login(1, 1, 10.0)
        await board.login(2, 1, 20.0)
        await board.login(1, 1, 40.0)  # already ready there: keeps its place
        assert (await board.status(1)).since == 10.0
        assert [await board.claim(1, attempt, 50.0) for attempt in (1, 2, 3, 4)] == [
            1,
            2,
            3,
            None,
        ]
        await board.end_call(2, 60.0)
        await board.end_call(1, 61.0)
        await board.finish_wrap(1, 1, 70.0)
        await board.finish_wrap(2, 2, 65.0)
        assert await board.claim(1, 5, 80.0) == 2

    on_board(scenario)


def test_concurrent_claims_never_share_an_agent(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        for agent in range(10):
            await board.login(agent, 1, float(agent))
        claimed = await asyncio.gather(*(board.claim(1, 1000 + n, 50.0) for n in range(50)))
        agents = [agent for agent in claimed if agent is not None]
        assert len(agents) == 10
        assert sorted(agents) == list(range(10))
        figures = await board.campaign_agents(1)
        assert (figures.ready, len(figures.talk_started)) == (0, 10)

    on_board(scenario)


def test_concurrent_claims_of_one_attempt_take_one_agent(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        for agent in range(5):
            await board.login(agent, 1, float(agent))
        claimed = await asyncio.gather(*(board.claim(1, 77, 50.0) for _ in range(20)))
        assert set(claimed) == {0}
        assert (await board.campaign_agents(1)).ready == 4

    on_board(scenario)


def test_claim_end_call_and_finish_wrap_are_idempotent(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(1, 1, 0.0)
        await board.login(2, 1, 1.0)
        assert await board.claim(1, 9, 5.0) == 1
        assert await board.claim(1, 9, 6.0) == 1
        assert (await board.status(1)).since == 5.0
        assert (await board.status(2)).state is AgentState.READY
        assert await board.end_call(9, 10.0) == 1
        assert await board.end_call(9, 11.0) == 1
        assert (await board.status(1)).since == 10.0
        first = await board.finish_wrap(1, 9, 20.0)
        assert await board.finish_wrap(1, 9, 21.0) == first
        assert await board.end_call(9, 22.0) == 1  # a late repeat changes nothing
        assert await board.status(1) == first
        assert await board.claim(1, 9, 23.0) == 1  # the attempt keeps its agent
        assert await board.status(1) == first
        # already on the next call: the old wrap-up is past
        assert await board.claim(1, 10, 30.0) == 2
        assert await board.claim(1, 11, 31.0) == 1
        talking = await board.status(1)
        assert await board.finish_wrap(1, 9, 32.0) == talking
        assert await board.end_call(404, 33.0) is None

    on_board(scenario)


def test_a_paused_agent_is_never_claimed(on_board: Callable[[Scenario[None]], None]) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(1, 1, 0.0)
        paused = await board.pause(1, "training", 5.0)
        assert paused == AgentStatus(1, AgentState.PAUSED, 1, None, 5.0, "training")
        assert await board.pause(1, "training", 6.0) == paused
        assert await board.claim(1, 1, 10.0) is None
        assert await board.ready(1, 20.0) == AgentStatus(1, AgentState.READY, 1, None, 20.0, None)
        assert (await board.ready(1, 25.0)).since == 20.0
        assert await board.claim(1, 1, 30.0) == 1
        await board.end_call(1, 40.0)
        assert (await board.pause(1, "break", 45.0)).state is AgentState.PAUSED
        assert await board.claim(1, 2, 50.0) is None
        assert (await board.login(1, 1, 60.0)).state is AgentState.READY

    on_board(scenario)


@pytest.mark.parametrize(
    ("setup", "move", "says"),
    [
        ("talk", lambda b: b.login(1, 1, 9.0), "finish the call"),
        ("wrap", lambda b: b.login(1, 2, 9.0), "finish the call"),
        ("talk", lambda b: b.logout(1, 9.0), "end the call"),
        ("talk", lambda b: b.pause(1, "break", 9.0), "pause after the call"),
        ("talk", lambda b: b.ready(1, 9.0), "end the call"),
        ("talk", lambda b: b.finish_wrap(1, 1, 9.0), "end the call"),
        ("wrap", lambda b: b.finish_wrap(1, 2, 9.0), "did not take attempt 2"),
        ("offline", lambda b: b.ready(1, 9.0), "log in"),
        ("offline", lambda b: b.pause(1, "break", 9.0), "log in"),
    ],
)
def test_impossible_moves_raise(
    on_board: Callable[[Scenario[None]], None],
    setup: str,
    move: Callable[[AgentBoard], Awaitable[AgentStatus]],
    says: str,
) -> None:
    async def scenario(board: AgentBoard) -> None:
        if setup != "offline":
            await board.login(1, 1, 0.0)
            await board.claim(1, 1, 1.0)
        if setup == "wrap":
            await board.end_call(1, 2.0)
        before = await board.status(1)
        with pytest.raises(BoardError, match=says):
            await move(board)
        assert await board.status(1) == before

    on_board(scenario)


def test_arguments_no_state_allows(on_board: Callable[[Scenario[None]], None]) -> None:
    async def scenario(board: AgentBoard) -> None:
        with pytest.raises(ValueError, match="reason code"):
            await board.pause(1, "", 0.0)
        with pytest.raises(ValueError, match="ready, paused or offline"):
            await board.finish_wrap(1, 1, 0.0, then=AgentState.TALK)
        with pytest.raises(ValueError, match="reason code"):
            await board.finish_wrap(1, 1, 0.0, then=AgentState.PAUSED)

    on_board(scenario)


def test_campaign_figures_for_pacing(on_board: Callable[[Scenario[None]], None]) -> None:
    async def scenario(board: AgentBoard) -> None:
        for agent in range(1, 7):
            await board.login(agent, 1, float(agent))
        await board.claim(1, 11, 10.0)
        await board.claim(1, 12, 12.0)
        await board.claim(1, 13, 13.0)
        await board.end_call(13, 20.5)
        await board.pause(5, "break", 21.0)
        await board.logout(6, 22.0)
        await board.call_waiting(1, 1)
        await board.call_waiting(1, 1)
        assert await board.campaign_agents(1) == CampaignAgents(
            ready=1,
            talk_started=(10.0, 12.0),
            wrap_started=(20.5,),
            paused=1,
            waiting_calls=2,
        )
        assert await board.campaign_agents(2) == CampaignAgents(0, (), (), 0, 0)
        listed = await board.agents(1)
        assert [(s.agent_id, s.state) for s in listed] == [
            (1, AgentState.TALK),
            (2, AgentState.TALK),
            (3, AgentState.WRAP),
            (4, AgentState.READY),
            (5, AgentState.PAUSED),
        ]
        assert [s.agent_id for s in await board.agents()] == [1, 2, 3, 4, 5, 6]

    on_board(scenario)


def test_the_waiting_counter_never_goes_below_zero(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        assert await board.call_waiting(1, -1) == 0
        assert await board.call_waiting(1, 1) == 1
        assert await board.call_waiting(1, -1) == 0
        assert await board.call_waiting(1, -1) == 0
        assert await board.call_waiting(1, 1) == 1
        assert (await board.campaign_agents(1)).waiting_calls == 1

    on_board(scenario)


def test_campaigns_are_isolated(on_board: Callable[[Scenario[None]], None]) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(1, 1, 0.0)
        await board.login(2, 2, 1.0)
        await board.call_waiting(2, 1)
        assert await board.claim(2, 100, 5.0) == 2
        assert await board.claim(2, 101, 5.0) is None
        assert (await board.campaign_agents(1)).waiting_calls == 0
        # moving an agent to another campaign takes it out of the first one
        await board.login(1, 2, 6.0)
        assert await board.claim(1, 102, 7.0) is None
        assert await board.claim(2, 102, 7.0) == 1
        assert (await board.campaign_agents(1)).ready == 0

    on_board(scenario)


def test_boards_under_other_prefixes_do_not_meet(redis_url: str, redis_prefix: str) -> None:
    async def scenario(client: Redis) -> int | None:
        other = AgentBoard(client, prefix=f"{redis_prefix}:other")
        await other.login(1, 1, 0.0)
        return await AgentBoard(client, prefix=redis_prefix).claim(1, 1, 1.0)

    assert asyncio.run(_on_client(redis_url, redis_prefix, scenario)) is None


# Random moves on a small board; after each, every agent sits in exactly the one set its
# hash names (with its since as score), and a talking agent is the one its attempt maps to.
AGENTS = st.integers(1, 4)
CAMPAIGNS = st.integers(1, 2)
ATTEMPTS = st.integers(1, 6)
THEN = st.sampled_from([AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE])
MOVES = st.one_of(
    st.tuples(st.just("login"), AGENTS, CAMPAIGNS),
    st.tuples(st.just("logout"), AGENTS),
    st.tuples(st.just("pause"), AGENTS, st.sampled_from(["break", "lunch"])),
    st.tuples(st.just("ready"), AGENTS),
    st.tuples(st.just("claim"), CAMPAIGNS, ATTEMPTS),
    st.tuples(st.just("end_call"), ATTEMPTS),
    st.tuples(st.just("finish_wrap"), AGENTS, ATTEMPTS, THEN),
)
SETS = (AgentState.READY, AgentState.TALK, AgentState.WRAP, AgentState.PAUSED)


async def _apply(board: AgentBoard, move: tuple[object, ...], now: float) -> None:
    name, *args = move
    try:
        if name == "finish_wrap":
            agent, attempt, then = args
            assert isinstance(agent, int)
            assert isinstance(attempt, int)
            assert isinstance(then, AgentState)
            code = "break" if then is AgentState.PAUSED else None
            await board.finish_wrap(agent, attempt, now, then=then, code=code)
        else:
            await getattr(board, str(name))(*args, now)
    except BoardError:
        pass


async def _check(board: AgentBoard, client: Redis, prefix: str) -> None:
    statuses = {s.agent_id: s for s in await board.agents()}
    members: dict[int, list[tuple[AgentState, int, float]]] = {}
    for campaign in (1, 2):
        for state in SETS:
            key = f"{prefix}:{state}:{campaign}"
            for member, score in await client.zrange(key, 0, -1, withscores=True):
                members.setdefault(int(member), []).append((state, campaign, score))
    talking: set[int] = set()
    for agent, status in statuses.items():
        if status.state is AgentState.OFFLINE:
            assert agent not in members
            assert status.campaign_id is None
            continue
        assert status.campaign_id is not None
        assert members[agent] == [(status.state, status.campaign_id, status.since)]
        has_attempt = status.state in (AgentState.TALK, AgentState.WRAP)
        assert (status.attempt_id is not None) == has_attempt
        if status.attempt_id is not None:
            assert await board.agent_of(status.attempt_id) == agent
            if status.state is AgentState.TALK:
                assert status.attempt_id not in talking
                talking.add(status.attempt_id)
        assert (status.pause_code is not None) == (status.state is AgentState.PAUSED)
    assert set(members) <= set(statuses)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moves=st.lists(MOVES, max_size=30))
def test_random_moves_keep_the_board_consistent(
    redis_url: str, moves: list[tuple[object, ...]]
) -> None:
    prefix = f"tctest:{uuid.uuid4().hex[:10]}"

    async def scenario(client: Redis) -> None:
        board = AgentBoard(client, prefix=prefix)
        for step, move in enumerate(moves):
            await _apply(board, move, float(step))
            await _check(board, client, prefix)

    asyncio.run(_on_client(redis_url, prefix, scenario))


def test_release_frees_the_agent_of_a_machine_answered_call_without_wrap_up(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(3, 1, 10.0)
        assert await board.claim(1, 900, 11.0) == 3
        assert await board.release(900, 15.0) == 3
        assert await board.status(3) == AgentStatus(3, AgentState.READY, 1, None, 15.0, None)
        # repeated, or followed by the carrier's end of the call: nothing more happens
        assert await board.release(900, 16.0) == 3
        assert await board.end_call(900, 17.0) == 3
        assert (await board.status(3)).state is AgentState.READY
        assert await board.release(901, 18.0) is None

    on_board(scenario)


def test_a_preview_holds_the_agent_and_the_entry_until_dialed_or_skipped(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        await board.login(7, 1, 100.0)
        await board.login(8, 1, 101.0)
        held = await board.preview(7, 900, 110.0)
        assert held == AgentStatus(7, AgentState.PREVIEW, 1, None, 110.0, None, 900)
        assert await board.preview(7, 900, 111.0) == held  # repeated: no change
        assert await board.preview(8, 900, 112.0) is None  # another agent has it
        assert await board.previewing(1) == {900}
        with pytest.raises(BoardError, match="dial or skip that customer first"):
            await board.preview(7, 901, 113.0)
        # a previewing agent is out of the ready set: a progressive call goes to agent 8
        assert (await board.campaign_agents(1)).ready == 1
        assert await board.claim(1, 500, 114.0) == 8

        skipped = await board.skip(7, 900, 120.0)
        assert skipped == AgentStatus(7, AgentState.READY, 1, None, 120.0, None)
        assert await board.previewing(1) == set()
        assert await board.skip(7, 900, 121.0) == skipped  # repeated: no change

        await board.preview(7, 901, 130.0)
        dialing = await board.dial(7, 901, 600, 131.0)
        assert (dialing.state, dialing.attempt_id, dialing.entry_id) == (
            AgentState.PREVIEW,
            600,
            901,
        )
        with pytest.raises(BoardError, match="on a call"):
            await board.pause(7, "lunch", 132.0)
        with pytest.raises(BoardError, match="the call decides"):
            await board.skip(7, 901, 132.0)
        with pytest.raises(BoardError, match="end the call first"):
            await board.finish_wrap(7, 600, 132.0)
        # answered: the answer's claim finds the reserved agent, not the longest-ready one
        assert await board.claim(1, 600, 140.0) == 7
        talk = await board.status(7)
        assert (talk.state, talk.attempt_id, talk.entry_id) == (AgentState.TALK, 600, None)
        assert await board.previewing(1) == set()
        assert await board.end_call(600, 200.0) == 7
        assert (await board.status(7)).state is AgentState.WRAP
        await board.finish_wrap(7, 600, 210.0)

        # dialed and not answered: ready again, with no wrap-up
        await board.preview(7, 902, 220.0)
        await board.dial(7, 902, 601, 221.0)
        assert await board.end_call(601, 250.0) == 7
        assert await board.status(7) == AgentStatus(7, AgentState.READY, 1, None, 250.0, None)
        assert await board.previewing(1) == set()

        # a paused agent takes no preview; logging out ends one
        with pytest.raises(BoardError, match="go ready"):
            await board.preview(8, 903, 260.0)  # agent 8 is talking
        await board.preview(7, 903, 261.0)
        await board.logout(7, 262.0)
        assert await board.previewing(1) == set()

    on_board(scenario)


def test_a_board_redis_lost_is_put_back_and_agents_seen_since_keep_their_state(
    on_board: Callable[[Scenario[None]], None],
) -> None:
    async def scenario(board: AgentBoard) -> None:
        assert not await board.intact(), "never built"
        await board.login(7, 1, 100.0)  # logged in again after the loss
        restored = await board.restore(
            [
                AgentStatus(7, AgentState.PAUSED, 2, None, 50.0, "lunch"),
                AgentStatus(8, AgentState.TALK, 1, 901, 60.0, None),
                AgentStatus(9, AgentState.PAUSED, 1, None, 70.0, "break"),
                AgentStatus(10, AgentState.OFFLINE, None, None, 80.0, None),
            ]
        )
        assert restored == 2
        assert await board.intact()
        assert await board.status(7) == AgentStatus(7, AgentState.READY, 1, None, 100.0, None)
        assert await board.status(8) == AgentStatus(8, AgentState.TALK, 1, 901, 60.0, None)
        assert await board.agent_of(901) == 8, "the call's end finds its agent"
        assert (await board.status(9)).pause_code == "break"
        assert (await board.status(10)).state is AgentState.OFFLINE
        agents = await board.campaign_agents(1)
        assert (agents.ready, agents.talk_started, agents.paused) == (1, (60.0,), 1)

    on_board(scenario)
