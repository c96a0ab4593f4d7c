"""Stored runs and one coder's labels, from the store, shaped for the statistics (analysis never reads the store)."""

from __future__ import annotations

import math
from typing import Iterable
from dataclasses import dataclass, field, replace

from warroom_tui.analysis.stats import RunData
from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.types import simulated_coder
from warroom_tui.store.db import Store
from warroom_tui.wording import SIM_MARK


async def default_coder(store: Store, codebook: str | None = None) -> str | None:
    """The conservative panel if there is one, else the built-in coder, else the first non-human coder; with
    `codebook` (a name), coders of that codebook first; a simulated coder (see simulated_coder) only if there is
    nothing else."""
    coders = [c for c in await store.coders() if c.kind != "human"]
    if codebook is not None:  # never the labels of another shipped codebook (their flags differ)
        from warroom_tui.judge.codebook import SHIPPED

        coders = [c for c in coders if c.codebook == codebook or c.codebook not in SHIPPED]
    coded = [c for c in coders if await store.coded_count(c.id)]  # a coder whose labels were all deleted: not it
    coders = coded or coders
    coders = [c for c in coders if not simulated_coder(c.name, c.config)] or coders  # a simulated one if nothing else
    for prefix in ("panel-intersection", "builtin"):
        for c in coders:
            if c.name.startswith(prefix):
                return c.name
    return coders[0].name if coders else None




async def study_report(store: Store, coder: str, codebook: Codebook, pairs=None, rq1_series: str | None = None,
                       include_simulated: bool = False, correction: str = "holm") -> dict:
    """The report for the runs in the store, from one coder's labels (RQ1 on series A when there is one).

    Simulated runs are left out (`simulated_left_out` says how many) unless `include_simulated`; then they
    are their own series, marked, and `simulated_included` says how many.
    """
    import asyncio

    from warroom_tui.analysis.stats import report

    loaded = await load_runs(store, coder, codebook, include_simulated)
    runs = loaded.runs
    if rq1_series is None:
        rq1_series = rq1_default([r.series for r in runs])
    elif rq1_series == "all":
        rq1_series = None  # asked for: every series' agents pooled
    rep = await asyncio.to_thread(report, runs, codebook.trait_ids, pairs, rq1_series, correction)  # off the loop
    rep["coder"], rep["runs"] = coder, len(runs)
    rep["simulated_left_out"], rep["simulated_included"] = loaded.simulated_left_out, loaded.simulated_included
    rep["coverage"] = loaded.coverage
    found = await store.coder(coder)
    kept = found.config.get("codebook_digest") if found else None
    rep["codebook_differs"] = bool(kept and found and kept != codebook.digest(found.kind))
    rep["labels_codebook"] = found.codebook if found else ""
    rep["coder_simulated"] = bool(found and simulated_coder(found.name, found.config))
    rep["labels_from"] = await labels_from(store, coder, codebook)
    comp = next((f for f in codebook.flags if f.kind == "crashed"), None)  # what RQ2 counts, said with its table
    rep["rq2_flag"] = {"id": comp.id, "description": comp.description} if comp else None
    return rep


def coverage_note(rep: dict, tail: str = "") -> str:
    """A warning when the coder has not coded every message of the report's runs ('' when it has); `tail` ends
    the command it suggests (` --db PATH`)."""
    c = rep.get("coverage") or {}
    if not c or c["coded"] >= c["messages"]:
        return ""
    left = c["not_coded_yet"]
    parts = [f"{c['uncoded']} could not be coded"] if c["uncoded"] else []
    judges = c.get("judges") or []
    if left and judges:  # a panel: its labels are the messages every judge coded
        parts.append(f"{left} not coded by every judge of the panel: `warroom judge"
                     f"{''.join(' --judge ' + j for j in judges)}{tail}` codes what they have not yet")
    elif left:
        how = {"builtin": f"`warroom judge{tail}`", "llm": f"`warroom judge --judge {c.get('judge', 'MODEL')}{tail}`",
               "human": "coding by hand (h in the lab, or warroom import --human)"}.get(c.get("kind", ""), "its judge")
        parts.append(f"{left} not coded yet: {how} codes them")
    runs = c["runs_without_labels"]
    total = c.get("runs", 0)
    return (f"partly coded: {rep['coder']} coded {c['coded']:,} of the {c['messages']:,} messages"
            + (f" of the {total} finished runs" if total else "") + f" ({'; '.join(parts)})."
            + f" The numbers read only the coded ones"
            + (f"; {runs} run{'s' * (runs != 1)} without any label {'are' if runs != 1 else 'is'} left out." if runs else "."))


def coverage_of(loaded: "LoadedRuns", run_ids: Iterable[int] | None = None) -> dict:
    """What `coverage_note` reads, over these of the loaded runs (all by default)."""
    ids = list(loaded.counts if run_ids is None else run_ids)
    n, coded, uncoded = (sum(loaded.counts.get(i, (0, 0, 0))[k] for i in ids) for k in range(3))
    labelled = {r.run_id for r in loaded.runs}
    return {"messages": n, "coded": coded, "uncoded": uncoded, "not_coded_yet": n - coded - uncoded, **loaded.coder,
            "runs": sum(1 for i in ids if loaded.counts.get(i, (0,))[0]),
            "runs_without_labels": sum(1 for i in ids if i not in labelled and loaded.counts.get(i, (0,))[0])}


def rq1_default(series: list[str]) -> str | None:
    """RQ1 tests agents within one series (pooling series would mix conditions): the study's A when there,
    else its simulated stand-in, else the series with the most runs (the first by name on a tie)."""
    if not series:
        return None
    for name in ("A", f"A{SIM_MARK}"):
        if name in series:
            return name
    return min(set(series), key=lambda s: (-series.count(s), s))


async def labels_from(store: Store, coder: str, codebook: Codebook) -> dict:
    """Who produced the labels (a panel names its judges) and, for each human coder in the store, that coder's
    per-flag kappa against the human with a 95% bootstrap interval: how far to trust the flags."""
    import asyncio

    from warroom_tui.analysis.agreement import kappa_with_ci
    from warroom_tui.store.labels import values

    coders = {c.name: c for c in await store.coders()}
    row = coders[coder]
    mine = values(await store.labels(row.id))
    humans = []
    runs = None
    for human in (c for c in coders.values() if c.kind == "human" and c.name != coder):
        if runs is None:  # each message's run: the interval resamples whole runs
            runs = await store.message_runs()
        theirs = values(await store.labels(human.id))
        k = await asyncio.to_thread(kappa_with_ci, theirs, mine, codebook.ids, groups=runs)
        if k["n"]:
            humans.append({"human": human.name, **k})
    return {"coder": coder, "kind": row.kind, "judges": list(row.config.get("judges", [])), "humans": humans}


def simulated_note(rep: dict, how_to_include: str) -> str:
    """What a report did with simulated runs, in a few words (empty when there were none)."""
    if rep["simulated_included"]:
        return f"; {rep['simulated_included']} simulated, kept apart as (sim)"
    if rep["simulated_left_out"]:
        n = rep["simulated_left_out"]
        return f"; {n} simulated run{'s' * (n != 1)} left out ({how_to_include})"
    return ""


@dataclass(frozen=True)
class LoadedRuns:
    runs: list[RunData]
    simulated_left_out: int
    simulated_included: int
    coverage: dict = field(default_factory=dict)
    """Of the runs the report is about: agent `messages`, how many the coder `coded`, stored as `uncoded`
    (a judge's failures), and `runs_without_labels` (left out whole); the coder's `kind` (and a panel's
    `judges`, a judge's model as `judge`), for what to run."""
    counts: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    """Run id -> (agent messages, coded, uncoded), for each finished run the report is about."""
    coder: dict = field(default_factory=dict)


async def load_runs(store: Store, coder: str, codebook: Codebook, include_simulated: bool = False) -> LoadedRuns:
    """Finished runs with this coder's labels. A simulated run is left out, or with `include_simulated` kept
    as series `<series> (sim)` with agents `<name> (sim)`, so it never joins a real series or model."""
    found = await store.coder(coder)
    if found is None:
        raise LookupError(f"no coder {coder!r}")
    comp = next((f.id for f in codebook.flags if f.kind == "crashed"), None)
    runs: dict[int, RunData] = {}
    simulated: set[int] = set()
    for r in await store.finished_runs():
        mark = SIM_MARK if r.run.simulated else ""
        if r.run.simulated:
            simulated.add(r.run.id)
        runs[r.run.id] = RunData(run_id=r.run.id, series=r.run.series + mark, crashed=r.crashed,
                                 agents={i: name + mark for i, name in r.agents.items()})
    for run_id, _, agent, flags in await store.labels_by_run(found.id):
        run = runs.get(run_id)
        if run is None:
            continue
        values = {f: v for f, (v, _) in flags.items()}
        run.labels.setdefault(agent, []).append(values)
        if comp is not None and values.get(comp):
            run.levels.append(flags[comp][1])
    labelled = [r for r in runs.values() if r.labels]
    sims = sum(r.run_id in simulated for r in labelled)
    counts = await store.coverage(found.id)
    scoped = {i: counts.get(i, (0, 0, 0)) for i in runs if include_simulated or i not in simulated}
    who = {"kind": found.kind, **({"judges": [j.rsplit("@", 1)[0] for j in found.config.get("judges", [])]}
                                  if found.kind == "adjudicated" else {}),
           **({"judge": found.name.rsplit("@", 1)[0]} if found.kind == "llm" else {})}
    if include_simulated:
        loaded = LoadedRuns(labelled, 0, sims, counts=scoped, coder=who)
    else:
        loaded = LoadedRuns([r for r in labelled if r.run_id not in simulated], sims, 0, counts=scoped, coder=who)
    return replace(loaded, coverage=coverage_of(loaded))


async def roles_by_run(store: Store) -> dict[int, str]:
    """Each run's roles label: what it started with (`none` for runs before roles existed), `mixed` when the
    roles changed during the run."""
    out: dict[int, str] = {}
    for r in await store.finished_runs():
        roles = r.run.conditions.get("roles", "none")
        label = "+".join(map(str, roles)) if isinstance(roles, list) else str(roles)
        if r.run.source == "live":
            if any(e.kind == "condition" and e.field == "roles" for e in await store.events(r.run.id)):
                label = "mixed"
        out[r.run.id] = label
    return out


async def roles_report(store: Store, coder: str, codebook: Codebook, include_simulated: bool = False,
                       correction: str = "holm") -> dict:
    """Differentiation with roles = none against assigned roles, per series (see analysis/roles.py)."""
    from warroom_tui.analysis.roles import roles_comparison

    loaded = await load_runs(store, coder, codebook, include_simulated)
    return roles_comparison(loaded.runs, await roles_by_run(store), codebook.trait_ids, correction)


async def debate_report(store: Store, include_simulated: bool = False) -> dict:
    """Debate scores per series (and roles) and round, read from the stored messages of finished debates."""
    from warroom_tui.analysis.debate import score_rounds, summarise
    from warroom_tui.protocol import canonical, extract_answer
    from warroom_tui.scenario import ScenarioError, parse_scenario

    roles = await roles_by_run(store)
    runs, left_out = [], 0
    for r in await store.finished_runs():
        stored = r.run.meta.get("scenario") or {}
        if stored.get("mode") != "debate":
            continue
        if r.run.simulated and not include_simulated:
            left_out += 1
            continue
        try:
            scenario = parse_scenario(stored, source=f"run {r.run.uid}")
        except ScenarioError:
            continue
        assert scenario.debate is not None
        task = scenario.debate.pick(r.run.replicate)[1]
        messages = [m for m in await store.messages(r.run.id) if m.agent is not None and not m.is_error]
        scores = score_rounds([(m.round or 0, m.agent, extract_answer(m.text, task)) for m in messages
                               if m.agent is not None], canonical(task))
        mark = SIM_MARK if r.run.simulated else ""
        runs.append((f"{r.run.series}{mark} · roles={roles.get(r.run.id, 'none')}", scores,
                     {i: name + mark for i, name in r.agents.items()}, canonical(task)))
    return {"rounds": summarise(runs), "runs": len(runs), "simulated_left_out": left_out}


def strict_json(value):
    """The report with NaN and infinities as null: strict JSON parsers reject NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


async def factor_observations(store: Store, coder: str, include_simulated: bool = False):
    """Every coded agent message of finished runs, with its agent's tags and its partners' tags (simulated runs
    left out unless `include_simulated`). Returns (observations, simulated runs left out, messages without
    computed partners)."""
    from warroom_tui.analysis.factors import TAGS, Observation

    found = await store.coder(coder)
    if found is None:
        raise LookupError(f"no coder {coder!r}")
    finished = {r.run.id: r.run for r in await store.finished_runs()}
    agents = await store.all_agents()
    partners = await store.message_partners()
    obs, left_out, unknown = [], set(), 0
    for run_id, mid, agent, flags in await store.labels_by_run(found.id):
        run = finished.get(run_id)
        if run is None or agent is None:
            continue
        if run.simulated and not include_simulated:
            left_out.add(run_id)
            continue
        roster = agents.get(run_id, [])
        if agent >= len(roster):
            continue
        who = partners.get(mid)
        if who is None:
            unknown += 1
        tags = lambda a: {t: getattr(a, t) for t in TAGS}  # noqa: E731
        obs.append(Observation(run_id=run_id, responder=roster[agent].name, tags=tags(roster[agent]),
                               partners=tuple(tags(roster[p]) for p in who or () if p < len(roster)),
                               flags={f: v for f, (v, _) in flags.items()}))
    return obs, len(left_out), unknown


async def flag_coder(store: Store, flag: str, wanted: str | None = None, codebook_path=None):
    """(coder, codebook) for the coder (the built-in one first) whose codebook has `flag`, or None. A coder's
    codebook is the shipped one of its name, else `codebook_path`."""
    from warroom_tui.judge.codebook import SHIPPED, load_codebook

    coders = [c for c in await store.coders() if wanted in (None, c.name)]
    coders.sort(key=lambda c: (c.kind != "builtin", c.kind == "human", c.id))
    for c in coders:
        cb = load_codebook(codebook_path) if codebook_path is not None else (
            load_codebook(c.codebook) if c.codebook in SHIPPED else None)
        if cb is not None and flag in cb.ids:
            return c.name, cb
    return None


async def factor_study(store: Store, coder: str, codebook: Codebook, factors: list[str], flag: str = "hedge",
                       include_simulated: bool = False) -> dict:
    """The recipe-versus-family report (analysis/factors.py) for the stored runs, from one coder's labels."""
    import asyncio

    from warroom_tui.analysis.factors import factor_report

    obs, left_out, unknown = await factor_observations(store, coder, include_simulated)
    rep = await asyncio.to_thread(factor_report, obs, flag, codebook.trait_ids, factors)  # off the loop
    rep.update(coder=coder, simulated_left_out=left_out, partners_unknown=unknown)
    return rep
