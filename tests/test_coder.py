"""The built-in coder's batch path: interrupted runs keep what they coded, the worker processes agree
with one process, and copied text is measured rather than coded."""

from __future__ import annotations

import pytest

from warroom_tui.cli import main
from warroom_tui.judge import service
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.service import BuiltinJudge, judge_store
from warroom_tui.store.db import Store

from tests.test_judge import sim_run

CB = load_codebook()


async def coded(path) -> tuple[int, int]:
    async with Store.open(path) as store:
        rows = await store.db.execute_fetchall("SELECT COUNT(*) FROM codings")
        total = await store.db.execute_fetchall(
            "SELECT COUNT(*) FROM messages WHERE agent_idx IS NOT NULL AND is_error=0")
    return rows[0][0], total[0][0]


async def test_interrupted_judge_keeps_the_chunks_it_finished(tmp_path, monkeypatch, capsys):
    db = tmp_path / "w.db"
    async with Store.open(db) as store:
        await sim_run(store, rounds=3)
    calls = {"n": 0}
    real = BuiltinCoder.code

    def code(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(service, "CHUNK", 3)
    monkeypatch.setattr(BuiltinCoder, "code", code)
    assert await _cli(["judge", "--db", str(db)]) == 130
    assert "what was coded is stored" in capsys.readouterr().err
    done, total = await coded(db)
    assert done == 3  # the first chunk, committed; nothing of the interrupted one
    monkeypatch.setattr(BuiltinCoder, "code", real)
    assert await _cli(["judge", "--db", str(db)]) == 0
    assert await coded(db) == (total, total)


async def _cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)  # main runs its own event loop


async def test_worker_processes_code_as_one_process_does(tmp_path, monkeypatch):
    monkeypatch.setattr(service, "POOL_MIN", 4)
    async with Store.open(tmp_path / "w.db") as store:
        await sim_run(store, rounds=3)
        report = await judge_store(store, [BuiltinJudge(CB)], CB, chunk=4)
        cid = {c.name: c.id for c in await store.coders()}["builtin@v4"]
        labels = await store.labels(cid)
        todo = await store.uncoded_messages(cid + 1000)
        rosters = service.RosterCache(store)
        coder = BuiltinCoder(CB)
        for m in todo:
            want = coder.code(m.text, await rosters.roster(m.run_id, m.agent))
            assert {f: v for f, (v, _) in labels[m.id].items()} == want.flags
    assert report.coded["builtin@v4"] == len(todo) >= 8
