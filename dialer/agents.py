"""The agent board: each agent's state, shared in Redis by every web process and worker.

An agent is in one state at a time, on at most one campaign:

    offline  --login-->  ready  --claim-->  talk  --end_call-->  wrap  --finish_wrap-->  ready
                         ready/wrap  --pause-->  paused  --ready/login-->  ready

Preview dialing (the agent sees the customer first and decides to dial) holds the agent
out of the ready set while they read the card, and reserves the entry for them::

    ready  --preview-->  preview  --skip-->  ready
                         preview  --dial-->  preview on the attempt  --claim-->  talk
                                             (not answered)  --end_call-->  ready

Every move is one Lua script, so two workers never hand one agent to two calls and a
reader never sees an agent half-way between two states. Beside the agent's hash, each
state but offline keeps a sorted set per campaign scored by the time the state began:
``ready`` gives the longest-idle agent first, ``talk`` and ``wrap`` give pacing its
start times. Moves that webhooks and jobs repeat (claim, end_call, finish_wrap) are
idempotent, as those arrive at least once.

Keys, under ``prefix``::

    {prefix}:agent:{agent}            hash: state, campaign, attempt, since, pause_code
    {prefix}:agents                   set of every agent seen
    {prefix}:{state}:{campaign}       zsets for ready, talk, wrap and paused, scored by since
    {prefix}:attempt-agent:{attempt}  the agent that took the attempt, kept a day
    {prefix}:waiting:{campaign}       answered calls waiting for an agent
    {prefix}:previewing:{campaign}    set of the list entries agents are previewing
    {prefix}:board                    set when the board was built: gone, Redis lost it

Redis may keep nothing on disk: a restart or a flush empties the board while agents are
still at their desks. ``intact`` tells, and ``restore`` puts back the states the store's
agent history last recorded (``dialer.board_restore``), for agents not seen since.

The scripts build key names from the prefix and what they read (an agent's campaign is
known only inside the script), so the board needs one Redis (or Sentinel), not a Cluster.

Errors: ``BoardError`` for a move the agent's state does not allow; ``ValueError`` for
arguments no state allows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

__all__ = ["AgentBoard", "AgentState", "AgentStatus", "BoardError", "CampaignAgents", "EntryTaken"]

ATTEMPT_AGENT_TTL = 86_400  # seconds: long past any call and its wrap-up


class AgentState(StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    TALK = "talk"
    WRAP = "wrap"
    PAUSED = "paused"
    PREVIEW = "preview"


@dataclass(frozen=True)
class AgentStatus:
    agent_id: int
    state: AgentState
    campaign_id: int | None
    attempt_id: int | None
    since: float  # clock seconds when this state began
    pause_code: str | None
    entry_id: int | None = None  # the list entry the agent is previewing


@dataclass(frozen=True)
class CampaignAgents:
    """What pacing needs from the board, for one campaign."""

    ready: int
    talk_started: tuple[float, ...]
    wrap_started: tuple[float, ...]
    paused: int
    waiting_calls: int  # answered calls waiting for an agent right now


class BoardError(Exception):
    """A move the agent's state does not allow; the message says what to do instead."""


class EntryTaken(BoardError):
    """Another agent is previewing that list entry."""


# Shared by every script: ARGV[1] is the prefix. ``place`` moves an agent to a state,
# out of its old campaign set and into the new one; ``reply`` returns an error text
# ('' when the move was made or was not needed) and the agent's hash.
_PREAMBLE = """
local prefix = ARGV[1]
local SETS = {ready = true, talk = true, wrap = true, paused = true}

local function agent_key(agent)
  return prefix .. ':agent:' .. agent
end

local function place(agent, state, campaign, attempt, since, code, entry)
  entry = entry or ''
  local key = agent_key(agent)
  local old = redis.call('HMGET', key, 'state', 'campaign', 'entry')
  if old[1] and SETS[old[1]] and old[2] and old[2] ~= '' then
    redis.call('ZREM', prefix .. ':' .. old[1] .. ':' .. old[2], agent)
  end
  if old[3] and old[3] ~= '' and (old[3] ~= entry or old[2] ~= campaign) then
    redis.call('SREM', prefix .. ':previewing:' .. old[2], old[3])
  end
  redis.call('HSET', key, 'state', state, 'campaign', campaign, 'attempt', attempt,
             'since', since, 'pause_code', code, 'entry', entry)
  if SETS[state] and campaign ~= '' then
    redis.call('ZADD', prefix .. ':' .. state .. ':' .. campaign, since, agent)
  end
  redis.call('SADD', prefix .. ':agents', agent)
end

local function reply(err, agent)
  return {err, redis.call('HGETALL', agent_key(agent))}
end

local function current(agent)
  local cur = redis.call('HMGET', agent_key(agent), 'state', 'campaign', 'attempt',
                         'pause_code', 'entry')
  return cur[1] or 'offline', cur[2] or '', cur[3] or '', cur[4] or '', cur[5] or ''
end

-- a call the agent dialed from a preview holds the agent as a talk would
local function on_call(state, attempt)
  return state == 'talk' or (state == 'preview' and attempt ~= '')
end
"""

# ARGV: prefix, agent, campaign, now
_LOGIN = """
local agent, campaign, now = ARGV[2], ARGV[3], ARGV[4]
local state, on, attempt = current(agent)
if on_call(state, attempt) or state == 'wrap' then
  return reply('agent ' .. agent .. ' is in ' .. state .. ' on campaign ' .. on ..
               ': finish the call and its wrap-up before logging in again', agent)
end
if not (state == 'ready' and on == campaign) then
  place(agent, 'ready', campaign, '', now, '')
end
return reply('', agent)
"""

# ARGV: prefix, agent, now
_LOGOUT = """
local agent, now = ARGV[2], ARGV[3]
local state, _, attempt = current(agent)
if on_call(state, attempt) then
  return reply('agent ' .. agent .. ' is on a call: end the call before logging out', agent)
end
if state ~= 'offline' then
  place(agent, 'offline', '', '', now, '')
end
return reply('', agent)
"""

# ARGV: prefix, agent, code, now
_PAUSE = """
local agent, code, now = ARGV[2], ARGV[3], ARGV[4]
local state, on, attempt, paused_for = current(agent)
if on_call(state, attempt) then
  return reply('agent ' .. agent .. ' is on a call: pause after the call ends', agent)
end
if state == 'offline' then
  return reply('agent ' .. agent .. ' is logged out: log in to a campaign first', agent)
end
if not (state == 'paused' and paused_for == code) then
  place(agent, 'paused', on, '', now, code)
end
return reply('', agent)
"""

# ARGV: prefix, agent, now
_READY = """
local agent, now = ARGV[2], ARGV[3]
local state, on, attempt = current(agent)
if on_call(state, attempt) then
  return reply('agent ' .. agent .. ' is on a call: end the call first', agent)
end
if state == 'offline' then
  return reply('agent ' .. agent .. ' is logged out: log in to a campaign first', agent)
end
if state ~= 'ready' then
  place(agent, 'ready', on, '', now, '')
end
return reply('', agent)
"""

# ARGV: prefix, campaign, attempt, now, ttl
_CLAIM = """
local campaign, attempt, now, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local taken = prefix .. ':attempt-agent:' .. attempt
local had = redis.call('GET', taken)
if had then
  local state, on, on_attempt = current(had)
  if state == 'preview' and on_attempt == attempt then
    place(had, 'talk', on, attempt, now, '')
  end
  return had
end
local first = redis.call('ZRANGE', prefix .. ':ready:' .. campaign, 0, 0)
if #first == 0 then
  return false
end
local agent = first[1]
place(agent, 'talk', campaign, attempt, now, '')
redis.call('SET', taken, agent, 'EX', ttl)
return agent
"""

# ARGV: prefix, attempt, now, then ('wrap', or 'ready' for a call with nothing to wrap up),
# the agent to look at when the attempt's own key is gone ('' for none)
_END_CALL = """
local attempt, now, after, held = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local agent = redis.call('GET', prefix .. ':attempt-agent:' .. attempt)
if not agent then
  if held == '' then
    return false
  end
  agent = held
end
local state, on, on_attempt = current(agent)
if state == 'preview' and on_attempt == attempt then
  place(agent, 'ready', on, '', now, '')  -- a dialed preview nobody answered
elseif state == 'talk' and on_attempt == attempt then
  if after == 'ready' then
    place(agent, 'ready', on, '', now, '')
  else
    place(agent, 'wrap', on, attempt, now, '')
  end
end
return agent
"""

# ARGV: prefix, agent, attempt, now, next state, pause code
_FINISH_WRAP = """
local agent, attempt, now, next_state, code = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local state, on, on_attempt = current(agent)
if on_attempt == attempt then
  if on_call(state, on_attempt) then
    return reply('agent ' .. agent .. ' is still on attempt ' .. attempt ..
                 ': end the call first', agent)
  end
  if next_state == 'offline' then
    place(agent, 'offline', '', '', now, '')
  else
    place(agent, next_state, on, '', now, code)
  end
  return reply('', agent)
end
if redis.call('GET', prefix .. ':attempt-agent:' .. attempt) == agent then
  return reply('', agent)
end
return reply('agent ' .. agent .. ' did not take attempt ' .. attempt ..
             ': finish the wrap-up of the attempt the agent is on', agent)
"""

# ARGV: prefix, agent, entry, now
_PREVIEW = """
local agent, entry, now = ARGV[2], ARGV[3], ARGV[4]
local state, on, attempt, _, previewing = current(agent)
if state == 'preview' then
  if previewing == entry then
    return reply('', agent)
  end
  return reply('agent ' .. agent .. ' is previewing entry ' .. previewing ..
               ': dial or skip that customer first', agent)
end
if state ~= 'ready' then
  return reply('agent ' .. agent .. ' is ' .. state .. ': go ready to take the next customer',
               agent)
end
if redis.call('SADD', prefix .. ':previewing:' .. on, entry) == 0 then
  return reply('taken', agent)
end
place(agent, 'preview', on, '', now, '', entry)
return reply('', agent)
"""

# ARGV: prefix, agent, entry, attempt, now, ttl
_DIAL = """
local agent, entry, attempt, now, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local state, on, on_attempt, _, previewing = current(agent)
if state ~= 'preview' or previewing ~= entry then
  return reply('agent ' .. agent .. ' is not previewing entry ' .. entry ..
               ': take the next customer again', agent)
end
if on_attempt ~= '' and on_attempt ~= attempt then
  return reply('agent ' .. agent .. ' already dialed attempt ' .. on_attempt, agent)
end
redis.call('HSET', agent_key(agent), 'attempt', attempt)
redis.call('SET', prefix .. ':attempt-agent:' .. attempt, agent, 'EX', ttl)
return reply('', agent)
"""

# ARGV: prefix, agent, entry, now
_SKIP = """
local agent, entry, now = ARGV[2], ARGV[3], ARGV[4]
local state, on, attempt, _, previewing = current(agent)
if state ~= 'preview' or previewing ~= entry then
  return reply('', agent)  -- already past that preview
end
if attempt ~= '' then
  return reply('agent ' .. agent .. ' dialed attempt ' .. attempt ..
               ': the call decides what happens next', agent)
end
place(agent, 'ready', on, '', now, '')
return reply('', agent)
"""

# ARGV: prefix, then (agent, state, campaign, attempt, since, pause code) per agent
_RESTORE = """
local restored = 0
for i = 2, #ARGV, 6 do
  local agent, state, campaign = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local attempt, since, code = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  -- an agent seen since Redis lost the board has a state of its own: it stands
  if redis.call('EXISTS', agent_key(agent)) == 0 then
    place(agent, state, campaign, attempt, since, code)
    if attempt ~= '' then
      redis.call('SET', prefix .. ':attempt-agent:' .. attempt, agent, 'EX', 86400)
    end
    restored = restored + 1
  end
end
redis.call('SET', prefix .. ':board', 'built')
return restored
"""

# ARGV: prefix, campaign, delta
_CALL_WAITING = """
local key = prefix .. ':waiting:' .. ARGV[2]
local waiting = redis.call('INCRBY', key, ARGV[3])
if waiting < 0 then
  redis.call('SET', key, 0)
  waiting = 0
end
return waiting
"""


_Hash = Mapping[bytes | str, bytes | str]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _optional_int(value: str) -> int | None:
    return int(value) if value else None


def _status(agent_id: int, fields: _Hash) -> AgentStatus:
    """An agent's status from its hash; an agent never seen is offline."""
    text = {_text(name): _text(value) for name, value in fields.items()}
    return AgentStatus(
        agent_id=agent_id,
        state=AgentState(text.get("state", AgentState.OFFLINE)),
        campaign_id=_optional_int(text.get("campaign", "")),
        attempt_id=_optional_int(text.get("attempt", "")),
        since=float(text.get("since") or 0.0),
        pause_code=text.get("pause_code") or None,
        entry_id=_optional_int(text.get("entry", "")),
    )


class AgentBoard:
    """Agents' states for every process, in Redis under ``prefix``."""

    def __init__(self, redis: Redis, *, prefix: str = "tc") -> None:
        self._redis = redis
        self._prefix = prefix
        self._login = redis.register_script(_PREAMBLE + _LOGIN)
        self._logout = redis.register_script(_PREAMBLE + _LOGOUT)
        self._pause = redis.register_script(_PREAMBLE + _PAUSE)
        self._ready = redis.register_script(_PREAMBLE + _READY)
        self._claim = redis.register_script(_PREAMBLE + _CLAIM)
        self._end_call = redis.register_script(_PREAMBLE + _END_CALL)
        self._finish_wrap = redis.register_script(_PREAMBLE + _FINISH_WRAP)
        self._call_waiting = redis.register_script(_PREAMBLE + _CALL_WAITING)
        self._preview = redis.register_script(_PREAMBLE + _PREVIEW)
        self._dial = redis.register_script(_PREAMBLE + _DIAL)
        self._skip = redis.register_script(_PREAMBLE + _SKIP)
        self._restore = redis.register_script(_PREAMBLE + _RESTORE)

    def _key(self, *parts: object) -> str:
        return ":".join([self._prefix, *map(str, parts)])

    async def _move(self, script: AsyncScript, agent_id: int, *args: str | float) -> AgentStatus:
        error, flat = await script(args=[self._prefix, agent_id, *args])
        if error:
            text = _text(error)
            raise EntryTaken(text) if text == "taken" else BoardError(text)  # the script's code
        return _status(agent_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def _agent(self, script: AsyncScript, *args: str | float) -> int | None:
        agent = await script(args=[self._prefix, *args])
        return None if agent is None else int(agent)

    async def login(self, agent_id: int, campaign_id: int, now: float) -> AgentStatus:
        """Make the agent ready on the campaign; a ready agent there keeps its place."""
        return await self._move(self._login, agent_id, campaign_id, now)

    async def logout(self, agent_id: int, now: float) -> AgentStatus:
        """Take the agent off its campaign; refused while on a call."""
        return await self._move(self._logout, agent_id, now)

    async def pause(self, agent_id: int, code: str, now: float) -> AgentStatus:
        """Pause a ready or wrapping agent for the reason ``code``; refused while on a call."""
        if not code:
            raise ValueError("a pause needs a reason code")
        return await self._move(self._pause, agent_id, code, now)

    async def ready(self, agent_id: int, now: float) -> AgentStatus:
        """Make a paused or wrapping agent ready; a ready agent keeps its place."""
        return await self._move(self._ready, agent_id, now)

    async def claim(self, campaign_id: int, attempt_id: int, now: float) -> int | None:
        """Give the attempt the campaign's longest-ready agent; None if nobody is ready.

        An attempt that already has an agent gets the same one back, with no change.
        """
        return await self._agent(self._claim, campaign_id, attempt_id, now, ATTEMPT_AGENT_TTL)

    async def preview(self, agent_id: int, entry_id: int, now: float) -> AgentStatus | None:
        """Hold a ready agent for one list entry of their campaign while they read the
        customer's card; None when another agent is previewing that entry. Repeated for
        the same entry it changes nothing."""
        try:
            return await self._move(self._preview, agent_id, entry_id, now)
        except EntryTaken:
            return None

    async def previewing(self, campaign_id: int) -> set[int]:
        """The list entries of the campaign that agents are previewing now."""
        members = cast(
            Awaitable[set[bytes | str]], self._redis.smembers(self._key("previewing", campaign_id))
        )
        return {int(entry) for entry in await members}

    async def dial(self, agent_id: int, entry_id: int, attempt_id: int, now: float) -> AgentStatus:
        """The previewing agent dials the entry: the attempt's answer goes to them
        (``claim`` returns them), and a call nobody answers makes them ready again."""
        return await self._move(self._dial, agent_id, entry_id, attempt_id, now, ATTEMPT_AGENT_TTL)

    async def skip(self, agent_id: int, entry_id: int, now: float) -> AgentStatus:
        """The previewing agent passes on the entry before dialing: ready again."""
        return await self._move(self._skip, agent_id, entry_id, now)

    async def end_call(
        self, attempt_id: int, now: float, *, agent_id: int | None = None
    ) -> int | None:
        """Move the agent talking on the attempt to wrap-up (an agent whose previewed
        call was never answered to ready); None if no agent had it.

        Repeated, it returns the same agent and changes nothing. ``agent_id`` is the agent
        whose state names the attempt, for when the attempt's own record of its agent has
        expired (``ATTEMPT_AGENT_TTL``); the agent moves only if it is on that attempt.
        """
        return await self._agent(self._end_call, attempt_id, now, "wrap", agent_id or "")

    async def release(
        self, attempt_id: int, now: float, *, agent_id: int | None = None
    ) -> int | None:
        """Make the agent talking on the attempt ready at once, with no wrap-up: the call
        turned out to be an answering machine, or never reached the agent. None if no
        agent had it; idempotent. ``agent_id`` as for ``end_call``."""
        return await self._agent(self._end_call, attempt_id, now, "ready", agent_id or "")

    async def finish_wrap(
        self,
        agent_id: int,
        attempt_id: int,
        now: float,
        *,
        then: AgentState = AgentState.READY,
        code: str | None = None,
    ) -> AgentStatus:
        """End the agent's wrap-up of the attempt: ready, paused (for ``code``) or offline.

        An agent already past that wrap-up is left as it is.
        """
        if then not in (AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE):
            raise ValueError(f"after wrap-up an agent is ready, paused or offline, not {then}")
        if then is AgentState.PAUSED and not code:
            raise ValueError("a pause needs a reason code")
        pause_code = code if then is AgentState.PAUSED and code else ""
        return await self._move(
            self._finish_wrap, agent_id, attempt_id, now, then.value, pause_code
        )

    async def status(self, agent_id: int) -> AgentStatus:
        # redis-py types its commands for both clients, sync and async; this one awaits.
        fields = cast(Awaitable[_Hash], self._redis.hgetall(self._key("agent", agent_id)))
        return _status(agent_id, await fields)

    async def agent_of(self, attempt_id: int) -> int | None:
        agent = await self._redis.get(self._key("attempt-agent", attempt_id))
        return None if agent is None else int(agent)

    async def campaign_agents(self, campaign_id: int) -> CampaignAgents:
        """The campaign's counts and start times, read as one snapshot."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zcard(self._key(AgentState.READY, campaign_id))
            pipe.zrange(self._key(AgentState.TALK, campaign_id), 0, -1, withscores=True)
            pipe.zrange(self._key(AgentState.WRAP, campaign_id), 0, -1, withscores=True)
            pipe.zcard(self._key(AgentState.PAUSED, campaign_id))
            pipe.get(self._key("waiting", campaign_id))
            ready, talk, wrap, paused, waiting = await pipe.execute()
        return CampaignAgents(
            ready=int(ready),
            talk_started=tuple(float(score) for _, score in talk),
            wrap_started=tuple(float(score) for _, score in wrap),
            paused=int(paused),
            waiting_calls=int(waiting or 0),
        )

    async def statuses(self, agent_ids: Sequence[int]) -> list[AgentStatus]:
        """The agents' statuses in the order given, in one round trip.

        Each agent's hash is read whole, so each status is consistent; the agents are not
        read as one snapshot (no transaction: a move may fall between two of them).
        """
        if not agent_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.hgetall(self._key("agent", agent_id))
            hashes = await pipe.execute()
        return [_status(agent_id, h) for agent_id, h in zip(agent_ids, hashes, strict=True)]

    async def agents(self, campaign_id: int | None = None) -> list[AgentStatus]:
        """Every agent seen, by id; with a campaign, only the agents on it."""
        members = cast(Awaitable[set[bytes | str]], self._redis.smembers(self._key("agents")))
        statuses = await self.statuses(sorted(int(agent) for agent in await members))
        if campaign_id is None:
            return statuses
        return [status for status in statuses if status.campaign_id == campaign_id]

    async def intact(self) -> bool:
        """Whether the board is as it was built: False once Redis lost it (a restart of a
        server that keeps nothing on disk, a flush), until ``restore``."""
        return bool(await self._redis.exists(self._key("board")))

    async def restore(self, statuses: Sequence[AgentStatus]) -> int:
        """Put back the agents' states after Redis lost them; an agent that has a state
        again already (it logged in since) keeps it. Marks the board built; how many
        agents were put back."""
        args: list[str | float | int] = [self._prefix]
        for status in statuses:
            if status.state is AgentState.OFFLINE:
                continue
            args += [
                status.agent_id,
                status.state.value,
                status.campaign_id or "",
                status.attempt_id or "",
                status.since,
                status.pause_code or "",
            ]
        return int(await self._restore(args=args))

    async def call_waiting(self, campaign_id: int, delta: int) -> int:
        """Count answered calls waiting for an agent up or down; never below zero."""
        return int(await self._call_waiting(args=[self._prefix, campaign_id, delta]))
