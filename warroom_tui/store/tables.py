"""Whole tables for analysis (the Parquet export and `warroom_tui.data`): one query per table, typed columns.

Every table carries `run_id`, and the tables about a run's content carry the run's `simulated` flag, so
simulated runs can never be mixed into real ones unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warroom_tui.modelid import is_simulated
from warroom_tui.store.base import Queries

ColumnType = str
"""int | float | str | bool | json (JSON text)"""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    """(name, type) in order."""
    rows: list[tuple[Any, ...]]

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]


def _cols(spec: str) -> tuple[tuple[str, ColumnType], ...]:
    """'run_id:int uid:str ...' -> ((name, type), ...)"""
    return tuple((part.split(":")[0], part.split(":")[1]) for part in spec.split())


_TABLES: dict[str, tuple[str, str]] = {
    "runs": (
        "run_id:int uid:str scenario:str series:str source:str source_file:str replicate:int seed:int"
        " simulated:bool status:str reason:str brief:str conditions:json meta:json started_at:str"
        " finished_at:str digest:str cell:json n_agents:int n_messages:int",
        "SELECT r.id, r.uid, r.scenario, r.series, r.source, r.source_file, r.replicate, r.seed, r.simulated,"
        " r.status, r.reason, r.brief, r.conditions, r.meta, r.started_at, r.finished_at, r.digest, r.cell,"
        " (SELECT COUNT(*) FROM agents a WHERE a.run_id=r.id),"
        " (SELECT COUNT(*) FROM messages m WHERE m.run_id=r.id AND m.agent_idx IS NOT NULL)"
        " FROM runs r ORDER BY r.id"),
    "agents": (
        "run_id:int agent_idx:int key:str name:str nickname:str model:str family:str base:str recipe:str"
        " kind:str temperature:float study:json",
        "SELECT run_id, idx, key, name, nickname, model, family, base, recipe, kind, temperature, study FROM agents"
        " ORDER BY run_id, idx"),
    "messages": (
        "message_id:int run_id:int series:str simulated:bool seq:int round:int agent_idx:int sender:str"
        " nickname:str name:str model:str text:str is_error:bool error_kind:str visible:bool started_at:float"
        " finished_at:float seen_upto:int dropped:int tokens:int temperature:float language:str time:str"
        " study:json partners:str partner_how:str copy_share:float copied:str",
        "SELECT m.id, m.run_id, r.series, r.simulated, m.seq, m.round, m.agent_idx, m.sender, m.nickname, m.name,"
        " m.model, m.text, m.is_error, m.error_kind, m.visible, m.started_at, m.finished_at, m.seen_upto,"
        " m.dropped, m.tokens, m.temperature, m.language, m.time, m.study, m.partners, m.partner_how,"
        " m.copy_share, m.copied FROM messages m JOIN runs r ON r.id=m.run_id ORDER BY m.run_id, m.seq"),
    "events": (
        "event_id:int run_id:int simulated:bool round:int seq:int kind:str field:str agent_idx:int old:json"
        " new:json at:str",
        "SELECT e.id, e.run_id, r.simulated, e.round, e.seq, e.kind, e.field, e.agent_idx, e.old, e.new, e.at"
        " FROM events e JOIN runs r ON r.id=e.run_id ORDER BY e.run_id, e.id"),
    "coders": (
        "coder_id:int coder:str kind:str codebook:str config:json",
        "SELECT id, name, kind, codebook, config FROM coders ORDER BY id"),
    "codings": (
        "message_id:int run_id:int simulated:bool coder:str coder_kind:str status:str reason:str at:str",
        "SELECT c.message_id, m.run_id, r.simulated, k.name, k.kind, c.status, c.reason, c.at FROM codings c"
        " JOIN coders k ON k.id=c.coder_id JOIN messages m ON m.id=c.message_id JOIN runs r ON r.id=m.run_id"
        " ORDER BY k.id, m.run_id, m.seq"),
    "labels": (
        "message_id:int run_id:int simulated:bool coder:str coder_kind:str flag:str value:bool level:str",
        "SELECT l.message_id, m.run_id, r.simulated, k.name, k.kind, l.flag, l.value, l.level FROM labels l"
        " JOIN coders k ON k.id=l.coder_id JOIN messages m ON m.id=l.message_id JOIN runs r ON r.id=m.run_id"
        " ORDER BY k.id, m.run_id, m.seq, l.flag"),
}

TABLE_NAMES: tuple[str, ...] = tuple(_TABLES)


class TableQueries(Queries):
    async def table(self, name: str) -> Table:
        """One whole table (see `TABLE_NAMES`), SQLite's 0/1 turned into booleans."""
        spec, sql = _TABLES[name]
        columns = _cols(spec)
        bools = [i for i, (_, t) in enumerate(columns) if t == "bool"]
        rows = []
        for r in await self._all(sql):
            row = list(r)
            for i in bools:
                row[i] = None if row[i] is None else bool(row[i])
            rows.append(tuple(row))
        if name == "agents":  # an agent is simulated by its model id (one rule: modelid.is_simulated)
            columns += (("simulated", "bool"),)
            rows = [row + (is_simulated(row[5]),) for row in rows]
        return Table(name, columns, rows)

    async def table_sizes(self) -> dict[str, int]:
        """Rows per stored table, counted by SQLite itself (what an export must hold)."""
        return {name: (await self._all(f"SELECT COUNT(*) FROM {name}"))[0][0] for name in TABLE_NAMES}
