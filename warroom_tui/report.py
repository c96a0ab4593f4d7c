"""Stored runs and one coder's labels, from the store, shaped for the statistics (analysis never reads the store)."""

from __future__ import annotations

from warroom_tui.analysis.stats import RunData
from warroom_tui.store.db import Store


async def default_coder(store: Store) -> str | None:
    """The conservative panel if there is one, else the built-in coder, else the first non-human coder."""
    coders = [c for c in await store.coders() if c.kind != "human"]
    for prefix in ("panel-intersection", "builtin"):
        for c in coders:
            if c.name.startswith(prefix):
                return c.name
    return coders[0].name if coders else None


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
    found = await store.coder(coder)
    if found is None:
        raise LookupError(f"no coder {coder!r}")
    runs = {r.run.id: RunData(run_id=r.run.id, series=r.run.series, crashed=r.crashed, agents=dict(r.agents))
            for r in await store.finished_runs()}
    for run_id, _, agent, flags in await store.labels_by_run(found.id):
        run = runs.get(run_id)
        if run is None:
            continue
        values = {f: v for f, (v, _) in flags.items()}
        run.labels.setdefault(agent, []).append(values)
        if values.get(comp_flag):
            run.levels.append(flags[comp_flag][1])
    return [r for r in runs.values() if r.labels]
