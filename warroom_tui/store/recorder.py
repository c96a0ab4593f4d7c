"""The store as an engine subscriber: every finished message is committed as it lands."""

from __future__ import annotations

from warroom_tui.engine import events as ev
from warroom_tui.engine.loop import agent_key
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message
from warroom_tui.judge.copying import Seen, measure
from warroom_tui.judge.partners import measure_partners, partners_of
from warroom_tui.judge.roster import run_aliases
from warroom_tui.runspec import spec_key
from warroom_tui.store.db import Store
from warroom_tui.store.rows import AgentRow


def agent_rows(scenario, nicknames: list[str]) -> list[AgentRow]:
    return [AgentRow(idx=i, key=agent_key(i), name=a.name, nickname=nicknames[i], model=a.model, family=a.family,
                     recipe=a.recipe, kind=a.kind or "", temperature=a.temperature, base=a.base)
            for i, a in enumerate(scenario.roster())]


class Recorder:
    """Writes a run's events to the store. `record` returns the id of a message it stored."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.run_ids: dict[str, int] = {}
        self.seen: dict[str, Seen] = {}  # per run: what its messages say, for the copy share
        self.agents: dict[str, list[AgentRow]] = {}  # per run: who is in it, for partners
        self.transcripts: dict[str, list[Message]] = {}  # per run: its messages so far, for partners

    async def __call__(self, event: ev.Event) -> None:
        await self.record(event)

    async def record(self, event: ev.Event) -> int | None:
        if isinstance(event, ev.RunStarted) and event.resumed:
            run = await self.store.run(event.run_uid)
            if run is not None:
                self.run_ids[event.run_uid] = run.id
                seen = self.seen[event.run_uid] = Seen()
                stored = await self.store.messages(run.id)
                for m in stored:
                    seen.add(m.seq, m.text)
                self.agents[event.run_uid] = await self.store.agents(run.id)
                self.transcripts[event.run_uid] = stored
                await self.store.finish_run(run.id, RunStatus.RUNNING)
                await self.store.claim(run.id)
                return None
        if isinstance(event, ev.RunStarted):
            s = event.scenario
            agents = self.agents[event.run_uid] = agent_rows(s, event.nicknames)
            self.transcripts[event.run_uid] = []
            self.run_ids[event.run_uid] = await self.store.create_run(
                uid=event.run_uid, scenario=s.name, series=s.label, brief=s.brief, agents=agents,
                cell=dict(s.cell), replicate=event.replicate, seed=event.seed,
                simulated=event.simulated, conditions=s.conditions.model_dump(mode="json"),
                meta={"scenario": s.model_dump(mode="json")}, spec=spec_key(s, event.seed, event.replicate),
            )
            await self.store.claim(self.run_ids[event.run_uid])
            return None
        run_id = self.run_ids.get(event.run_uid)
        if run_id is None:
            return None
        if isinstance(event, (ev.MessageDone, ev.MessageAdded)):
            m, seen = event.message, self.seen.setdefault(event.run_uid, Seen())
            if m.agent is not None and not m.is_error:
                m.copy_share, m.copied = measure(seen, m.seq, m.seen_upto, m.text)
            else:
                seen.add(m.seq, m.text)
            earlier = self.transcripts.setdefault(event.run_uid, [])
            if m.agent is not None:
                aliases = run_aliases(self.agents.get(event.run_uid, []), earlier + [m])
                m.partners, m.partner_how = partners_of(m, earlier, aliases)
            earlier.append(m)
            return await self.store.add_message(run_id, m)
        if isinstance(event, ev.ConditionChanged):
            await self.store.add_event(run_id, "condition", round_=event.round, seq=event.seq, field=event.field,
                                       agent=event.agent, old=event.old, new=event.new)
        elif isinstance(event, ev.AgentCrashed):
            await self.store.add_event(run_id, "crashed", round_=event.round, agent=event.agent, new=event.error)
        elif isinstance(event, ev.AgentRevived):
            await self.store.add_event(run_id, "revived", round_=event.round, agent=event.agent)
        elif isinstance(event, ev.RunDone):
            self.seen.pop(event.run_uid, None)
            self.agents.pop(event.run_uid, None)
            self.transcripts.pop(event.run_uid, None)
            await self.store.finish_run(run_id, event.status, event.reason)
        return None


async def backfill_partners(store: Store, runs: list[int] | None = None) -> int:
    """Compute the partners of messages stored before they were measured (in `runs`, when the caller has
    already asked the store which); returns the runs updated."""
    runs = await store.runs_without_partners() if runs is None else runs
    for run_id in runs:
        messages = await store.messages(run_id)
        measure_partners(messages, run_aliases(await store.agents(run_id), messages))
        await store.set_partners(run_id, [(m.seq, m.partners or (), m.partner_how) for m in messages
                                          if m.agent is not None])
    return len(runs)
