"""Finetuning data from stored debates (Du et al. 2025, arXiv 2501.05707): one JSONL file per agent and role.

Each line is `{"messages": [...]}`: the prompt the agent was sent (rebuilt from the stored messages it had
seen, under the naming, scaffolding and roles of that round) and its reply. As the method does, a generator's
(or an agent without a role's) first-round answer is kept when it matches the run's final majority vote; a
critic's later answer is kept when it moved to the final vote from a different answer the round before.
Only finished (`done`) debate runs count; simulated runs only when asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from warroom_tui.engine.debate import debate_messages, scored
from warroom_tui.engine.prompts import PromptView
from warroom_tui.engine.roles import assign, role_spec
from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message
from warroom_tui.outfiles import check_free, unused_path, write_whole
from warroom_tui.protocol import NO_ROLE, extract_answer
from warroom_tui.scenario import Scenario, ScenarioError, parse_scenario
from warroom_tui.store.coded_csv import file_part
from warroom_tui.store.db import Store
from warroom_tui.store.rows import EventRow, RunRow
from warroom_tui.wording import SIM_MARK


@dataclass
class Tally:
    agent: str
    role: str
    examples: list[dict] = field(default_factory=list)
    candidates: int = 0
    """Messages of this agent and role that could have been kept (generators: first-round answers)."""
    runs: set[int] = field(default_factory=set)


@dataclass
class FinetuneExport:
    files: dict[tuple[str, str], Tally]
    debates: int
    simulated_left_out: int
    no_vote: int
    """Debates without any answer to vote on (nothing kept)."""
    simulated: int = 0
    """Simulated debates included (their agents' files marked `(sim)`)."""


def debate_scenario(run: RunRow) -> Scenario | None:
    stored = run.meta.get("scenario")
    if not stored or stored.get("mode") != "debate":
        return None
    try:
        return parse_scenario(stored, source=f"run {run.uid}")
    except ScenarioError:
        return None


def at_round(scenario: Scenario, events: list[EventRow], round_: int) -> dict:
    """Naming, scaffolding and roles as they stood for a turn of this round (changes for everyone only)."""
    now = {"naming": scenario.conditions.naming, "scaffolding": scenario.conditions.scaffolding,
           "roles": scenario.conditions.roles}
    for e in events:
        if e.kind == "condition" and e.field in now and e.agent is None and (e.round or 0) <= round_:
            now[e.field] = e.new
    return now


def example(scenario: Scenario, events: list[EventRow], seen: list[Message], m: Message) -> list[dict]:
    assert m.agent is not None and scenario.debate is not None
    r = m.round or 0
    now = at_round(scenario, events, r)
    table = scenario.role_prompt_table()
    role = role_spec(assign(now["roles"], len(scenario.roster()), scenario.conditions.generators)[m.agent], table)
    view = PromptView(me=m.agent, nicknames=scenario.nicknames(now["naming"]), scaffolding=now["scaffolding"],
                      role=role.prompt if role else "")
    return debate_messages(view, seen, r, scenario.debate, role) + [{"role": "assistant", "content": m.text}]


async def collect(store: Store, include_simulated: bool = False) -> FinetuneExport:
    files: dict[tuple[str, str], Tally] = {}
    debates = left_out = no_vote = simulated = 0
    for run in await store.runs():
        scenario = debate_scenario(run)
        if scenario is None or run.status is not RunStatus.DONE or scenario.debate is None:
            continue
        if run.simulated and not include_simulated:
            left_out += 1
            continue
        debates += 1
        task = scenario.debate.pick(run.replicate)[1]
        messages = await store.messages(run.id)
        events = await store.events(run.id)
        rounds = scored(messages, task)
        vote = rounds[-1].vote if rounds else None
        if vote is None:
            no_vote += 1
        names = [a.name + SIM_MARK * run.simulated for a in scenario.roster()]  # a simulated one never pooled
        simulated += run.simulated
        table = scenario.role_prompt_table()
        previous: dict[int, str | None] = {}
        spoke_before: set[int] = set()
        for r in sorted({m.round or 0 for m in messages if m.agent is not None}):
            roles = assign(at_round(scenario, events, r)["roles"], len(names), scenario.conditions.generators)
            now: dict[int, str | None] = {}
            for m in messages:
                if m.agent is None or m.is_error or (m.round or 0) != r:
                    continue
                answer = now[m.agent] = extract_answer(m.text, task)
                spec = role_spec(roles[m.agent], table)
                kind = spec.kind if spec else ""
                tally = files.setdefault((names[m.agent], roles[m.agent]), Tally(names[m.agent], roles[m.agent]))
                if kind == "critic":
                    if m.agent not in spoke_before:
                        continue
                    tally.candidates += 1
                    keep = vote is not None and answer == vote and previous.get(m.agent) != vote
                elif r == 0:
                    tally.candidates += 1
                    keep = vote is not None and answer == vote
                else:
                    continue
                if keep:
                    seen = [s for s in messages if s.seq <= m.seen_upto]
                    tally.examples.append({"messages": example(scenario, events, seen, m)})
                    tally.runs.add(run.id)
            previous = now
            spoke_before = set(now)
    return FinetuneExport(files, debates, left_out, no_vote, simulated)


def write(export: FinetuneExport, out: Path, force: bool = False) -> list[tuple[Tally, Path]]:
    """One `<agent>.<role>.jsonl` per agent and role (names escaped as in coded-csv), and a README.md table; none
    of them already there replaced unless `force` (outfiles.TargetExists, before any is written)."""
    taken: set[str] = set()  # agent 'a.b' role 'c' and agent 'a' role 'b.c' name one file: the second gets '~2'
    written = [(tally, unused_path(out / f"{file_part(agent)}.{file_part(role)}.jsonl", taken))
               for (agent, role), tally in sorted(export.files.items())]
    check_free([path for _, path in written] + [out / "README.md"], force)
    out.mkdir(parents=True, exist_ok=True)
    for tally, path in written:
        write_whole(path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in tally.examples))
    sim = (f" ({export.simulated} of them SIMULATED: scripted personas, not real models; their agents' files are "
           "marked (sim))") if export.simulated else ""
    lines = ["# Finetuning data from warroom debates", "",
             f"{export.debates} finished debates{sim}. Generators (and agents without a role, `{NO_ROLE}`): first-round "
             "answers that match the run's final majority vote. Critics: later answers that moved to the final "
             "vote from a different answer the round before.", "",
             "| agent | role | file | examples | candidates | runs |", "|---|---|---|---|---|---|"]
    for tally, path in written:
        agent = tally.agent.replace("|", "\\|")
        lines.append(f"| {agent} | {tally.role} | {path.name} | {len(tally.examples)} | {tally.candidates} "
                     f"| {len(tally.runs)} |")
    write_whole(out / "README.md", "\n".join(lines) + "\n")
    return written
