"""Coders (judges, humans, adjudications) and their labels; the queries of the human coding screen."""

from __future__ import annotations

import sqlite3
from typing import Iterable

import aiosqlite

from warroom_tui.store.base import Queries, StoreError, dump, load
from warroom_tui.store.rows import CoderRow, CodingRow, MessageView, RunRoster, UncodedMessage

Labels = dict[int, dict[str, tuple[bool, str]]]
"""message id -> flag -> (value, level)"""


def values(labels: Labels) -> dict[int, dict[str, bool]]:
    """The labels without their levels: message id -> flag -> value."""
    return {mid: {f: v for f, (v, _) in flags.items()} for mid, flags in labels.items()}


BULK = 16
"""A batch of this many codings or more is cheaper to check once (three more statements) than row by row."""


class CoderKindError(StoreError):
    """A coder name already used by a coder of another kind (human and judge labels never share a coder)."""


class LabelQueries(Queries):
    async def coder(self, name: str) -> CoderRow | None:
        rows = await self._all("SELECT * FROM coders WHERE name=?", (name,))
        return _coder(rows[0]) if rows else None

    async def coders(self) -> list[CoderRow]:
        return [_coder(r) for r in await self._all("SELECT * FROM coders ORDER BY id")]

    async def coder_id(self, name: str, kind: str, codebook: str = "", config: dict | None = None) -> int:
        """The coder's id, created on first use. A name taken by a coder of another kind is refused."""
        async with self.transaction():  # OR IGNORE: two workers may ask for the same new coder at once
            await self.db.execute("INSERT OR IGNORE INTO coders (name, kind, codebook, config) VALUES (?,?,?,?)",
                                  (name, kind, codebook, dump(config or {})))
        found = await self.coder(name)
        assert found is not None
        if found.kind != kind:
            raise CoderKindError(f"coder {name!r} already holds {found.kind} labels; {kind} labels need another name")
        return found.id

    async def save_codings(self, coder_id: int, codings: Iterable[CodingRow]) -> None:
        """One transaction: a batch is stored whole or not at all. The foreign keys of a large batch's rows
        (about 8 a message, each checked by SQLite in two lookups) are checked once for the whole batch instead."""
        codings = list(codings)
        async with self.transaction(checks_keys=len(codings) < BULK) as check:
            await self.db.executemany(
                "INSERT OR REPLACE INTO codings (message_id, coder_id, status, reason) VALUES (?,?,?,?)",
                [(c.message_id, coder_id, c.status, c.reason) for c in codings])
            await self.db.executemany(
                "INSERT OR REPLACE INTO labels (message_id, coder_id, flag, value, level) VALUES (?,?,?,?,?)",
                [(c.message_id, coder_id, flag, int(bool(v)), lvl or "") for c in codings
                 for flag, (v, lvl) in c.flags.items()])
            if check:
                rows = await self._all(
                    "SELECT NOT EXISTS (SELECT 1 FROM coders WHERE id=?) OR EXISTS (SELECT 1 FROM json_each(?)"
                    " WHERE value NOT IN (SELECT id FROM messages))", (coder_id, dump([c.message_id for c in codings])))
                if rows[0][0]:
                    raise sqlite3.IntegrityError("FOREIGN KEY constraint failed")

    async def uncoded_messages(self, coder_id: int, texts: bool = True) -> list[UncodedMessage]:
        """Agent messages (not errors) that this coder has not coded yet; `texts=False`: each with text and
        copied spans "" (whoever codes them reads them: texts.message_texts)."""
        text = "m.text, m.copied" if texts else "'', ''"
        rows = await self._tuples(
            f"SELECT m.id, m.run_id, m.seq, m.round, m.agent_idx, {text} FROM messages m"
            " WHERE m.agent_idx IS NOT NULL AND m.is_error=0"
            " AND NOT EXISTS (SELECT 1 FROM codings c WHERE c.message_id=m.id AND c.coder_id=?)"
            " ORDER BY m.run_id, m.seq", (coder_id,))
        return list(map(UncodedMessage._make, rows))

    async def rosters(self, run_ids: Iterable[int] | None = None) -> dict[int, RunRoster]:
        """Who was in each run (every run, or those asked for): agents' names in roster order, any other
        nickname an agent had in its messages (in the order they appear), and who failed permanently."""
        wanted = None if run_ids is None else set(run_ids)
        names: dict[int, list[list[str]]] = {}
        for run_id, nickname, name, model in await self._tuples(
                "SELECT run_id, nickname, name, model FROM agents ORDER BY run_id, idx"):
            if wanted is None or run_id in wanted:
                names.setdefault(run_id, []).append([nickname, name, model, model.rsplit("/", 1)[-1]])
        crashed: dict[int, set[int]] = {}
        for run_id, idx, nickname, failed in await self._tuples(  # one pass over the messages for both
                "SELECT run_id, agent_idx, nickname, MAX(is_error=1 AND error_kind='permanent') FROM messages"
                " WHERE agent_idx IS NOT NULL GROUP BY run_id, agent_idx, nickname ORDER BY run_id, MIN(seq)"):
            group = names.get(run_id)
            if nickname and group is not None and 0 <= idx < len(group) and nickname not in group[idx]:
                group[idx].append(nickname)
            if failed:
                crashed.setdefault(run_id, set()).add(idx)
        return {run_id: RunRoster(tuple(tuple(dict.fromkeys(n for n in g if n)) for g in group),
                                  frozenset(crashed.get(run_id, ())))
                for run_id, group in names.items()}

    async def labels(self, coder_id: int, run_id: int | None = None) -> Labels:
        sql = ("SELECT l.message_id, l.flag, l.value, l.level FROM labels l JOIN messages m ON m.id=l.message_id"
               " WHERE l.coder_id=?")
        args: tuple = (coder_id,)
        if run_id is not None:
            sql += " AND m.run_id=?"
            args += (run_id,)
        out: Labels = {}
        for mid, flag, value, level in await self._all(sql, args):
            out.setdefault(mid, {})[flag] = (bool(value), level)
        return out

    async def labels_by_run(self, coder_id: int) -> list[tuple[int, int, int, dict[str, tuple[bool, str]]]]:
        """(run id, message id, agent index, flags) for every message the coder labelled, in run order."""
        rows = await self._all(
            "SELECT m.run_id, m.id, m.agent_idx, l.flag, l.value, l.level FROM labels l"
            " JOIN messages m ON m.id = l.message_id WHERE l.coder_id = ? ORDER BY m.run_id, m.seq", (coder_id,))
        out: dict[int, tuple[int, int, int, dict[str, tuple[bool, str]]]] = {}
        for run_id, mid, agent, flag, value, level in rows:
            out.setdefault(mid, (run_id, mid, agent, {}))[3][flag] = (bool(value), level)
        return list(out.values())

    async def message_labels(self, run_uid: str, seq: int) -> dict[str, dict[str, tuple[bool, str]]]:
        """One message's labels: coder name -> flag -> (value, level) (the message details view)."""
        rows = await self._all(
            "SELECT c.name, l.flag, l.value, l.level FROM labels l JOIN coders c ON c.id=l.coder_id"
            " JOIN messages m ON m.id=l.message_id JOIN runs r ON r.id=m.run_id WHERE r.uid=? AND m.seq=?"
            " ORDER BY c.id, l.flag", (run_uid, seq))
        out: dict[str, dict[str, tuple[bool, str]]] = {}
        for name, flag, value, level in rows:
            out.setdefault(name, {})[flag] = (bool(value), level)
        return out

    async def agent_message(self, run_id: int, nickname: str, round_: int) -> int | None:
        """The id of the message an agent (by nickname) wrote in a round."""
        rows = await self._all(
            "SELECT id FROM messages WHERE run_id=? AND nickname=? AND round=? AND agent_idx IS NOT NULL ORDER BY seq",
            (run_id, nickname, round_))
        return rows[0][0] if rows else None

    # -- the human coding screen ------------------------------------------------
    async def sample_frame(self) -> list[tuple[int, str, str]]:
        """(message id, series, agent name) of every agent message that is not an error."""
        rows = await self._all(
            "SELECT m.id, r.series, a.name FROM messages m JOIN runs r ON r.id = m.run_id"
            " JOIN agents a ON a.run_id = m.run_id AND a.idx = m.agent_idx"
            " WHERE m.agent_idx IS NOT NULL AND m.is_error = 0 ORDER BY m.id")
        return [(r[0], r[1], r[2]) for r in rows]

    async def message_view(self, message_id: int) -> MessageView | None:
        rows = await self._all(
            "SELECT m.id, m.run_id, m.seq, m.round, m.nickname, m.text, r.series FROM messages m"
            " JOIN runs r ON r.id=m.run_id WHERE m.id=?", (message_id,))
        return MessageView(*rows[0]) if rows else None

    async def messages_before(self, run_id: int, seq: int, n: int) -> list[tuple[str, str, str]]:
        """(nickname, sender, text) of the `n` chat messages before `seq` (round markers left out), oldest first."""
        rows = await self._all(
            "SELECT nickname, sender, text FROM messages WHERE run_id=? AND seq<? AND sender!='system'"
            " ORDER BY seq DESC LIMIT ?", (run_id, seq, n))
        return [(r[0], r[1], r[2]) for r in reversed(rows)]

    async def progress_mark(self) -> tuple[int, int]:
        """(finished runs, codings): changes when a run finishes or a message is coded."""
        rows = await self._all(
            "SELECT (SELECT COUNT(*) FROM runs WHERE status != 'running'), (SELECT COUNT(*) FROM codings)")
        return rows[0][0], rows[0][1]


def _coder(r: aiosqlite.Row) -> CoderRow:
    return CoderRow(id=r["id"], name=r["name"], kind=r["kind"], codebook=r["codebook"], config=load(r["config"]))
