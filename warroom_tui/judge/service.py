"""Code every uncoded message in a store with one or more judges; adjudicate a panel."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from warroom_tui.analysis.agreement import kappa_table
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.types import Coding, Roster
from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.llm import JudgeFailure, LLMJudge
from warroom_tui.judge.roster import crashed_agents, roster_for, run_aliases
from warroom_tui.store.db import Store
from warroom_tui.store.rows import CodingRow, UncodedMessage

ADJUDICATIONS = ("intersection", "union")


class BuiltinJudge:
    kind = "builtin"

    def __init__(self, codebook: Codebook) -> None:
        self.coder = BuiltinCoder(codebook)
        self.codebook = codebook
        self.name = f"builtin@{codebook.name}"

    async def code(self, text: str, roster: Roster) -> Coding:
        return self.coder.code(text, roster)

    def code_sync(self, text: str, roster: Roster) -> Coding:
        return self.coder.code(text, roster)


def make_judges(specs: list[str], codebook: Codebook, gateway=None, timeout: float = 60.0) -> list:
    judges = []
    for spec in specs or ["builtin"]:
        if spec == "builtin":
            judges.append(BuiltinJudge(codebook))
        else:
            if gateway is None:
                from warroom_tui.providers.gateway import Gateway

                gateway = Gateway()
            judges.append(LLMJudge(spec, codebook, gateway, timeout=timeout))
    return judges


@dataclass
class JudgeReport:
    coded: dict[str, int] = field(default_factory=dict)
    uncoded: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, Counter] = field(default_factory=dict)
    kappa: dict = field(default_factory=dict)


class RosterCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: dict[int, tuple] = {}

    async def get(self, run_id: int) -> tuple:
        if run_id not in self.cache:
            agents = await self.store.agents(run_id)
            messages = await self.store.messages(run_id)
            self.cache[run_id] = (run_aliases(agents, messages), crashed_agents(messages))
        return self.cache[run_id]

    async def roster(self, run_id: int, speaker: int | None) -> Roster:
        aliases, crashed = await self.get(run_id)
        return roster_for(aliases, crashed, speaker)


def _row(mid: int, coding: Coding) -> CodingRow:
    return CodingRow(mid, "coded", "", {f: (v, coding.levels.get(f, "")) for f, v in coding.flags.items()})


async def judge_store(store: Store, judges: list, codebook: Codebook, *, concurrency: int = 4,
                      on_progress: Callable[[str, int, int], None] | None = None) -> JudgeReport:
    report = JudgeReport()
    rosters = RosterCache(store)
    for judge in judges:
        cid = await store.coder_id(judge.name, judge.kind, codebook.name)
        todo = await store.uncoded_messages(cid)
        report.coded[judge.name] = report.uncoded[judge.name] = 0
        report.reasons[judge.name] = Counter()
        for m in todo:
            await rosters.get(m.run_id)
        if isinstance(judge, BuiltinJudge):
            rows = await asyncio.to_thread(_code_builtin, judge, todo, rosters)
            await store.save_codings(cid, rows)
            report.coded[judge.name] = len(rows)
            if on_progress:
                on_progress(judge.name, len(rows), len(todo))
            continue
        await _code_llm(store, cid, judge, todo, rosters, report, concurrency, on_progress)
    if len(judges) >= 2:
        report.kappa = await adjudicate(store, [j.name for j in judges], codebook)
    return report


POOL_MIN = 3000  # messages: below this, one process is faster than starting a pool


def _code_builtin(judge: BuiltinJudge, todo: list[UncodedMessage], rosters: RosterCache) -> list[CodingRow]:
    jobs = [(m.id, m.text, roster_for(*rosters.cache[m.run_id], m.agent)) for m in todo]
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < POOL_MIN or workers < 2:
        return _code_chunk(judge.codebook, jobs)
    size = -(-len(jobs) // workers)
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [row for part in pool.map(_code_chunk, [judge.codebook] * len(chunks), chunks) for row in part]


def _code_chunk(codebook: Codebook, jobs: list[tuple]) -> list[CodingRow]:
    coder = BuiltinCoder(codebook)
    return [_row(mid, coder.code(text, roster)) for mid, text, roster in jobs]


async def _code_llm(store, cid, judge, todo, rosters, report, concurrency, on_progress) -> None:
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(m: UncodedMessage) -> CodingRow:
        async with gate:
            roster = await rosters.roster(m.run_id, m.agent)
            try:
                return _row(m.id, await judge.code(m.text, roster))
            except JudgeFailure as exc:
                return CodingRow(m.id, "uncoded", str(exc))

    for batch_start in range(0, len(todo), 50):
        rows = await asyncio.gather(*(one(m) for m in todo[batch_start:batch_start + 50]))
        await store.save_codings(cid, rows)
        for row in rows:
            if row.status == "coded":
                report.coded[judge.name] += 1
            else:
                report.uncoded[judge.name] += 1
                report.reasons[judge.name][row.reason.split(":")[0]] += 1
        done += len(rows)
        if on_progress:
            on_progress(judge.name, done, len(todo))


async def adjudicate(store: Store, names: list[str], codebook: Codebook) -> dict:
    """The study's panel: intersection (conservative) and union labels over messages every judge coded."""
    coders = {c.name: c.id for c in await store.coders()}
    all_labels = {n: await store.labels(coders[n]) for n in names}
    common = set.intersection(*(set(v) for v in all_labels.values())) if all_labels else set()
    for mode in ADJUDICATIONS:
        cid = await store.coder_id(f"panel-{mode}@{codebook.name}", "adjudicated", codebook.name,
                                  {"judges": names, "mode": mode})
        rows = []
        for mid in sorted(common):
            flags = {}
            for f in codebook.ids:
                values = [all_labels[n][mid].get(f, (False, ""))[0] for n in names]
                value = all(values) if mode == "intersection" else any(values)
                levels = [all_labels[n][mid].get(f, (False, ""))[1] for n in names]
                levels = sorted(l for l in levels if l)
                level = Counter(levels).most_common(1)[0][0] if value and levels else ""
                flags[f] = (value, level)
            rows.append(CodingRow(mid, "coded", "", flags))
        await store.save_codings(cid, rows)
    plain = {n: {mid: {f: v for f, (v, _) in all_labels[n][mid].items()} for mid in common} for n in names}
    return kappa_table(plain, codebook.ids)
