"""Stored runs and one coder's labels, from the store, shaped for the statistics (analysis never reads the store)."""

from __future__ import annotations

from warroom_tui.analysis.stats import RunData
from warroom_tui.store.db import Store


async def default_coder(store: Store) -> str | None:
    """The conservative panel if there is one, else the built-in coder, else the first non-human coder."""
    coders = [c for c in await store.coders() if c["kind"] != "human"]
    for prefix in ("panel-intersection", "builtin"):
        for c in coders:
            if c["name"].startswith(prefix):
                return c["name"]
    return coders[0]["name"] if coders else None


async def study_report(store: Store, coder: str, traits: list[str], pairs=None, rq1_series: str | None = None) -> dict:
    """The report for the runs in the store, from one coder's labels (RQ1 on series A when there is one)."""
    import asyncio

    from warroom_tui.analysis.stats import report

    runs = await load_runs(store, coder)
    if rq1_series is None and any(r.series == "A" for r in runs):
        rq1_series = "A"
    rep = await asyncio.to_thread(report, runs, traits, pairs, rq1_series)  # bootstraps: off the event loop
    rep["coder"], rep["runs"] = coder, len(runs)
    return rep


async def load_runs(store: Store, coder: str, comp_flag: str = "comp") -> list[RunData]:
    coders = {c["name"]: c["id"] for c in await store.coders()}
    cid = coders[coder]
    runs: dict[int, RunData] = {}
    for r in await store.db.execute_fetchall(
            "SELECT r.id, r.series, EXISTS(SELECT 1 FROM messages e WHERE e.run_id=r.id AND e.is_error=1"
            " AND e.error_kind='permanent') FROM runs r WHERE r.status != 'running' OR r.source = 'import'"):
        runs[r[0]] = RunData(run_id=r[0], series=r[1], crashed=bool(r[2]), agents={})
    for run_id, idx, name in await store.db.execute_fetchall("SELECT run_id, idx, name FROM agents"):
        if run_id in runs:
            runs[run_id].agents[idx] = name
    rows = await store.db.execute_fetchall(
        "SELECT m.run_id, m.id, m.agent_idx, l.flag, l.value, l.level FROM labels l"
        " JOIN messages m ON m.id = l.message_id WHERE l.coder_id = ? ORDER BY m.run_id, m.seq", (cid,))
    per_message: dict[int, tuple[int, int, dict[str, bool], str]] = {}
    for run_id, mid, agent, flag, value, level in rows:
        if run_id not in runs:
            continue
        entry = per_message.setdefault(mid, (run_id, agent, {}, ""))
        entry[2][flag] = bool(value)
        if flag == comp_flag and value:
            per_message[mid] = (run_id, agent, entry[2], level)
    for run_id, agent, flags, level in per_message.values():
        run = runs[run_id]
        run.labels.setdefault(agent, []).append(flags)
        if flags.get(comp_flag):
            run.levels.append(level)
    return [r for r in runs.values() if r.labels]
