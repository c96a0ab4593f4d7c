"""Runs, their agents, messages and condition events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import aiosqlite

from warroom_tui.engine.status import RunStatus
from warroom_tui.judge.copying import dump_spans, load_spans
from warroom_tui.judge.partners import dump_partners, load_partners
from warroom_tui.store.base import Queries, dump, load
from warroom_tui.store.rows import AgentRow, EventRow, LabelledRun, RunRow

if TYPE_CHECKING:
    from warroom_tui.engine.transcript import Message

_INSERT_MESSAGE = (
    "INSERT INTO messages (run_id, seq, round, agent_idx, sender, nickname, name, model, text, is_error,"
    " error_kind, visible, started_at, finished_at, seen_upto, dropped, tokens, temperature, language, time,"
    " study, copy_share, copied, partners, partner_how) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


UNTAGGED_IMPORT = "family='' AND base='' AND recipe='' AND run_id IN (SELECT id FROM runs WHERE source='import')"
"""An agent of an imported run without any tag (`fill_imported_tags` gives it those of its model id)."""

class RunQueries(Queries):
    # -- writing -------------------------------------------------------------
    async def create_run(self, *, uid: str, scenario: str, series: str, brief: str, agents: list[AgentRow],
                         source: str = "live", source_file: str = "", replicate: int = 0,
                         seed: int | None = None, simulated: bool = False, conditions: dict | None = None,
                         meta: dict | None = None, status: RunStatus = RunStatus.RUNNING, reason: str = "",
                         digest: str | None = None, spec: str | None = None, cell: dict | None = None) -> int:
        async with self.transaction():
            cur = await self.db.execute(
                "INSERT INTO runs (uid, scenario, series, source, source_file, replicate, seed, simulated, status,"
                " reason, brief, conditions, meta, digest, spec, cell) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uid, scenario, series, source, source_file, replicate, seed, int(simulated),
                 RunStatus(status).value, reason, brief, dump(conditions or {}), dump(meta or {}), digest, spec,
                 dump(cell or {})),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            await self.db.executemany(
                "INSERT INTO agents (run_id, idx, key, name, nickname, model, family, recipe, kind, temperature,"
                " study, base) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(run_id, a.idx, a.key, a.name, a.nickname, a.model, a.family, a.recipe, a.kind, a.temperature,
                  dump(a.study), a.base) for a in agents],
            )
        return run_id

    async def finish_run(self, run_id: int, status: RunStatus, reason: str = "") -> None:
        """Set a run's status (a run taken up again is set back to running)."""
        async with self.transaction():
            await self.db.execute(
                "UPDATE runs SET status=?, reason=?, finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?",
                (RunStatus(status).value, reason, run_id))

    async def add_messages(self, run_id: int, messages: Iterable[Message]) -> None:
        async with self.transaction():
            await self.db.executemany(_INSERT_MESSAGE, [_message_row(run_id, m) for m in messages])

    async def add_message(self, run_id: int, m: Message) -> int:
        """Commit one message; returns its id."""
        async with self.transaction():
            cur = await self.db.execute(_INSERT_MESSAGE, _message_row(run_id, m))
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def add_event(self, run_id: int, kind: str, *, round_: int | None = None, seq: int | None = None,
                        field: str = "", agent: int | None = None, old: Any = None, new: Any = None) -> None:
        async with self.transaction():
            await self.db.execute(
                "INSERT INTO events (run_id, round, seq, kind, field, agent_idx, old, new) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, round_, seq, kind, field, agent, dump(old), dump(new)))

    async def set_digest(self, run_id: int, digest: str) -> None:
        async with self.transaction():
            await self.db.execute("UPDATE runs SET digest=? WHERE id=?", (digest, run_id))

    # -- reading -------------------------------------------------------------
    async def runs(self, series: str | None = None) -> list[RunRow]:
        sql = ("SELECT r.*, (SELECT COUNT(*) FROM messages m WHERE m.run_id=r.id AND m.agent_idx IS NOT NULL)"
               " AS n_messages FROM runs r")
        args: tuple = ()
        if series is not None:
            sql += " WHERE r.series=?"
            args = (series,)
        return [_run(r) for r in await self._all(sql + " ORDER BY r.id", args)]

    async def runs_mark(self) -> tuple:
        """Changes whenever a run is added, ends or gets a message (cheap: the browser polls it)."""
        rows = await self._all(
            "SELECT COUNT(*), MAX(id), MAX(finished_at), SUM(status='running'), (SELECT MAX(id) FROM messages)"
            " FROM runs")
        return tuple(rows[0])

    async def run(self, ref: str | int) -> RunRow | None:
        """By id (a number) or uid."""
        if isinstance(ref, int) or str(ref).isdigit():
            rows = await self._all("SELECT * FROM runs WHERE id=?", (int(ref),))
        else:
            rows = await self._all("SELECT * FROM runs WHERE uid=?", (ref,))
        return _run(rows[0]) if rows else None

    async def run_by_digest(self, digest: str) -> RunRow | None:
        rows = await self._all("SELECT * FROM runs WHERE digest=?", (digest,))
        return _run(rows[0]) if rows else None

    async def imported_without_digest(self) -> list[RunRow]:
        """Runs imported before runs were identified by their content."""
        rows = await self._all("SELECT * FROM runs WHERE source='import' AND digest IS NULL")
        return [_run(r) for r in rows]

    async def find_run(self, spec: str, scenario: str, replicate: int, seed: int) -> RunRow | None:
        """The latest live run with this spec (see runspec.py), for resuming a batch; runs stored before specs
        were kept are found by scenario name, replicate and seed."""
        rows = await self._all("SELECT * FROM runs WHERE spec=? ORDER BY id DESC LIMIT 1", (spec,))
        if not rows:
            rows = await self._all(
                "SELECT * FROM runs WHERE source='live' AND spec IS NULL AND scenario=? AND replicate=? AND seed=?"
                " ORDER BY id DESC LIMIT 1", (scenario, replicate, seed))
        return _run(rows[0]) if rows else None

    async def agents(self, run_id: int) -> list[AgentRow]:
        rows = await self._all("SELECT * FROM agents WHERE run_id=? ORDER BY idx", (run_id,))
        return [_agent(r) for r in rows]

    async def agent_names(self) -> dict[int, list[str]]:
        """Every run's agent names, in roster order (the run browser)."""
        out: dict[int, list[str]] = {}
        for run_id, name in await self._all("SELECT run_id, name FROM agents ORDER BY run_id, idx"):
            out.setdefault(run_id, []).append(name)
        return out

    async def messages(self, run_id: int) -> list[Message]:
        from warroom_tui.engine.transcript import Message  # not on the judge's start (3 ms of imports)

        rows = await self._all("SELECT * FROM messages WHERE run_id=? ORDER BY seq", (run_id,))
        return [
            Message(seq=r["seq"], sender=r["sender"], text=r["text"], round=r["round"], agent=r["agent_idx"],
                    nickname=r["nickname"], name=r["name"], model=r["model"], is_error=bool(r["is_error"]),
                    error_kind=r["error_kind"], visible=bool(r["visible"]), started_at=r["started_at"] or 0.0,
                    finished_at=r["finished_at"] or 0.0, seen_upto=r["seen_upto"] if r["seen_upto"] is not None
                    else -1, dropped=r["dropped"], tokens=r["tokens"], temperature=r["temperature"],
                    language=r["language"], time=r["time"], study=load(r["study"]), copy_share=r["copy_share"],
                    copied=load_spans(r["copied"]), partners=load_partners(r["partners"]),
                    partner_how=r["partner_how"])
            for r in rows
        ]

    async def message_ids(self, run_id: int) -> dict[int, int]:
        """seq -> message id, for a stored run."""
        rows = await self._all("SELECT seq, id FROM messages WHERE run_id=?", (run_id,))
        return {seq: mid for seq, mid in rows}

    async def events(self, run_id: int) -> list[EventRow]:
        rows = await self._all("SELECT * FROM events WHERE run_id=? ORDER BY id", (run_id,))
        return [EventRow(id=r["id"], round=r["round"], seq=r["seq"], kind=r["kind"], field=r["field"],
                         agent=r["agent_idx"], old=load(r["old"]), new=load(r["new"]), at=r["at"]) for r in rows]

    async def message_runs(self) -> dict[int, int]:
        """message id -> its run, for every agent message."""
        return dict(await self._tuples("SELECT id, run_id FROM messages WHERE agent_idx IS NOT NULL"))

    async def message_partners(self) -> dict[int, tuple[int, ...] | None]:
        """message id -> the agents it replied to, for every agent message (None: not computed)."""
        rows = await self._all("SELECT id, partners FROM messages WHERE agent_idx IS NOT NULL")
        return {mid: load_partners(p) for mid, p in rows}

    async def all_agents(self) -> dict[int, list[AgentRow]]:
        """Every run's agents, in roster order."""
        out: dict[int, list[AgentRow]] = {}
        rows = await self._all("SELECT * FROM agents ORDER BY run_id, idx")
        for r in rows:
            out.setdefault(r["run_id"], []).append(_agent(r))
        return out

    async def fill_imported_tags(self, tags: dict[str, dict[str, str]]) -> int:
        """Give agents of imported runs without any tag those of their model id; returns the agents changed."""
        changed = 0
        async with self.transaction():
            for model, t in tags.items():
                cur = await self.db.execute(
                    f"UPDATE agents SET family=?, base=?, recipe=? WHERE model=? AND {UNTAGGED_IMPORT}",
                    (t.get("family", ""), t.get("base", ""), t.get("recipe", ""), model))
                changed += cur.rowcount
        return changed

    async def has_untagged_imports(self) -> bool:
        """Whether an agent of an imported run has no tag at all (what `fill_imported_tags` would fill)."""
        rows = await self._all(
            f"SELECT EXISTS (SELECT 1 FROM agents WHERE {UNTAGGED_IMPORT})")
        return bool(rows[0][0])

    async def runs_without_partners(self) -> list[int]:
        """Runs with agent messages whose partners were never computed (stored before they were)."""
        rows = await self._all("SELECT DISTINCT run_id FROM messages WHERE agent_idx IS NOT NULL AND partners IS NULL")
        return [r[0] for r in rows]

    async def set_partners(self, run_id: int, rows: list[tuple[int, tuple[int, ...], str]]) -> None:
        """(seq, partners, how) for messages of one run."""
        async with self.transaction():
            await self.db.executemany("UPDATE messages SET partners=?, partner_how=? WHERE run_id=? AND seq=?",
                                      [(dump_partners(p), how, run_id, seq) for seq, p, how in rows])

    async def copy_shares(self, include_simulated: bool = False) -> list[tuple[str, str, bool, float, int]]:
        """(series, agent name, simulated, mean copy share, messages) over the agent messages of finished runs
        whose copying was measured; simulated runs only when asked for, and never pooled with real ones."""
        rows = await self._all(
            "SELECT r.series, a.name, r.simulated, AVG(m.copy_share), COUNT(*) FROM messages m"
            " JOIN runs r ON r.id=m.run_id JOIN agents a ON a.run_id=m.run_id AND a.idx=m.agent_idx"
            " WHERE m.copy_share IS NOT NULL AND m.is_error=0 AND r.status != 'running' AND (r.simulated=0 OR ?)"
            " GROUP BY r.series, a.name, r.simulated ORDER BY r.simulated, r.series, a.name", (int(include_simulated),))
        return [(r[0], r[1], bool(r[2]), float(r[3]), int(r[4])) for r in rows]

    async def counts(self) -> dict[str, int]:
        """Runs per series."""
        rows = await self._all(
            "SELECT r.series, COUNT(*) AS n FROM runs r GROUP BY r.series ORDER BY r.series")
        return {r["series"]: r["n"] for r in rows}

    async def finished_runs(self) -> list[LabelledRun]:
        """Runs the statistics may use (not running), with who crashed and the agents' names."""
        crashed = {r[0] for r in await self._all(
            "SELECT DISTINCT run_id FROM messages WHERE is_error=1 AND error_kind='permanent'")}
        names: dict[int, dict[int, str]] = {}
        for run_id, idx, name in await self._all("SELECT run_id, idx, name FROM agents"):
            names.setdefault(run_id, {})[idx] = name
        rows = await self._all("SELECT * FROM runs WHERE status != 'running' ORDER BY id")
        return [LabelledRun(run=_run(r), crashed=r["id"] in crashed, agents=names.get(r["id"], {})) for r in rows]


def _message_row(run_id: int, m: Message) -> tuple:
    return (run_id, m.seq, m.round, m.agent, m.sender, m.nickname, m.name, m.model, m.text, int(m.is_error),
            m.error_kind, int(m.visible), m.started_at, m.finished_at, m.seen_upto, m.dropped, m.tokens,
            m.temperature, m.language, m.time, dump(m.study), m.copy_share, dump_spans(m.copied),
            dump_partners(m.partners), m.partner_how)


def _agent(r: aiosqlite.Row) -> AgentRow:
    return AgentRow(idx=r["idx"], key=r["key"], name=r["name"], nickname=r["nickname"], model=r["model"],
                    family=r["family"], recipe=r["recipe"], kind=r["kind"], temperature=r["temperature"],
                    study=load(r["study"]), base=r["base"])


def _run(r: aiosqlite.Row) -> RunRow:
    keys = r.keys()
    return RunRow(id=r["id"], uid=r["uid"], scenario=r["scenario"], series=r["series"], source=r["source"],
                  source_file=r["source_file"], replicate=r["replicate"], seed=r["seed"],
                  simulated=bool(r["simulated"]), status=RunStatus(r["status"]), reason=r["reason"],
                  brief=r["brief"], conditions=load(r["conditions"]), meta=load(r["meta"]),
                  started_at=r["started_at"], finished_at=r["finished_at"], digest=r["digest"],
                  spec=r["spec"] if "spec" in keys else None, n_messages=r["n_messages"] if "n_messages" in keys else 0,
                  cell=load(r["cell"]))
