"""Coders (judges, humans, adjudications) and their labels; the queries of the human coding screen."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from functools import partial
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


class CodebookChangedError(StoreError):
    """A coder's labels were made with another version of the codebook (same name, other content)."""


class LabelQueries(Queries):
    async def coder(self, name: str) -> CoderRow | None:
        rows = await self._all("SELECT * FROM coders WHERE name=?", (name,))
        return _coder(rows[0]) if rows else None

    async def coders(self) -> list[CoderRow]:
        return [_coder(r) for r in await self._all("SELECT * FROM coders ORDER BY id")]

    async def coder_id(self, name: str, kind: str, codebook: str = "", config: dict | None = None,
                       digest: str = "") -> int:
        """The coder's id, created on first use. A name taken by a coder of another kind is refused, and so is
        a codebook `digest` other than the one the coder's labels were made with (one is kept from first use)."""
        config = {**(config or {}), **({"codebook_digest": digest} if digest else {})}
        async with self.transaction():  # OR IGNORE: two workers may ask for the same new coder at once
            await self.db.execute("INSERT OR IGNORE INTO coders (name, kind, codebook, config) VALUES (?,?,?,?)",
                                  (name, kind, codebook, dump(config)))
        found = await self.coder(name)
        assert found is not None
        if found.kind != kind:
            raise CoderKindError(f"coder {name!r} already holds {found.kind} labels; {kind} labels need another name")
        if digest and found.config.get("codebook_digest") != digest:
            if await self.codebook_conflict(name, digest):
                raise CodebookChangedError(
                    f"coder {name!r} coded messages of this database with another version of codebook {codebook!r}")
            async with self.transaction():  # labels from before digests were kept, or none at all: this one now
                await self.db.execute("UPDATE coders SET config=json_set(config, '$.codebook_digest', ?) WHERE id=?",
                                      (digest, found.id))
        return found.id

    async def codebook_conflict(self, name: str, digest: str) -> bool:
        """Whether coder `name` holds labels made with another codebook digest than `digest` (writes nothing)."""
        found = await self.coder(name)
        return (found is not None and found.config.get("codebook_digest", digest) != digest
                and await self.coded_count(found.id) > 0)

    async def coded_count(self, coder_id: int) -> int:
        return (await self._tuples("SELECT count(*) FROM codings WHERE coder_id=?", (coder_id,)))[0][0]

    async def forget_codings(self, coder_id: int) -> int:
        """Delete every coding (and so every label) of a coder; how many there were."""
        async with self.transaction():
            cur = await self.db.execute("DELETE FROM codings WHERE coder_id=?", (coder_id,))
        return cur.rowcount

    async def save_codings(self, coder_id: int, codings: Iterable[CodingRow]) -> None:
        """One transaction: a batch is stored whole or not at all, each coding with its labels (replacing any
        earlier coding of the message by this coder)."""
        await self.save_encoded(coder_id, encode_codings(codings))

    async def save_encoded(self, coder_id: int, codings: list[EncodedCoding]) -> None:
        """As `save_codings`, for codings encoded already (where they were made: a coding worker). The foreign
        keys of a large batch's rows are checked once for the whole batch instead of row by row."""
        async with self.transaction(checks_keys=len(codings) < BULK) as check:
            # the coder's id is an int, and the batch's time stamp (the column's default, taken once, not for each
            # row: a third of the write's time) in the same format: written into the statement, not into each row
            at = _stamp(datetime.now(timezone.utc))
            await self.db.executemany(
                "INSERT OR REPLACE INTO codings (message_id, coder_id, status, reason, flags, at)"
                f" VALUES (?,{int(coder_id)},?,?,?,'{at}')", codings)
            if check:
                found = await self._all(
                    "SELECT NOT EXISTS (SELECT 1 FROM coders WHERE id=?) OR EXISTS (SELECT 1 FROM json_each(?)"
                    " WHERE value NOT IN (SELECT id FROM messages))", (coder_id, dump([c[0] for c in codings])))
                if found[0][0]:
                    raise sqlite3.IntegrityError("FOREIGN KEY constraint failed")

    async def uncoded_messages(self, coder_id: int, texts: bool = True) -> list[UncodedMessage]:
        """Agent messages (not errors) that this coder has not coded yet; `texts=False`: each with text and
        copied spans "" (whoever codes them reads them: texts.message_texts)."""
        text = "m.text, m.copied" if texts else "'', ''"
        rows = await self._tuples(
            f"SELECT m.id, m.run_id, m.agent_idx, {text} FROM messages m"
            " WHERE m.agent_idx IS NOT NULL AND m.is_error=0"
            " AND NOT EXISTS (SELECT 1 FROM codings c WHERE c.message_id=m.id AND c.coder_id=?)"
            " ORDER BY m.run_id, m.seq", (coder_id,))
        return list(map(_UNCODED, rows))  # each row has the type's fields, in order: made without _make's checks

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
        sql = "SELECT c.message_id, c.flags FROM codings c"
        args: tuple = (coder_id,)
        if run_id is not None:
            sql += " JOIN messages m ON m.id=c.message_id WHERE c.coder_id=? AND m.run_id=?"
            args += (run_id,)
        else:
            sql += " WHERE c.coder_id=?"
        return {mid: labels for mid, flags in await self._tuples(sql + " AND c.flags != '{}'", args)
                if (labels := _flags(flags))}

    async def labels_by_run(self, coder_id: int) -> list[tuple[int, int, int, dict[str, tuple[bool, str]]]]:
        """(run id, message id, agent index, flags) for every message the coder labelled, in run order."""
        rows = await self._tuples(
            "SELECT m.run_id, m.id, m.agent_idx, c.flags FROM codings c JOIN messages m ON m.id = c.message_id"
            " WHERE c.coder_id = ? AND c.flags != '{}' ORDER BY m.run_id, m.seq", (coder_id,))
        return [(run_id, mid, agent, labels) for run_id, mid, agent, flags in rows if (labels := _flags(flags))]

    async def coverage(self, coder_id: int) -> dict[int, tuple[int, int, int]]:
        """Run id -> (agent messages, how many the coder coded, how many it stored as uncoded) for every run."""
        rows = await self._tuples(
            "SELECT m.run_id, count(*), coalesce(sum(c.status = 'coded'), 0), coalesce(sum(c.status = 'uncoded'), 0)"
            " FROM messages m LEFT JOIN codings c ON c.message_id = m.id AND c.coder_id = ?"
            " WHERE m.agent_idx IS NOT NULL AND m.is_error = 0 GROUP BY m.run_id", (coder_id,))
        return {run_id: (n, coded, uncoded) for run_id, n, coded, uncoded in rows}

    async def message_labels(self, run_uid: str, seq: int) -> dict[str, dict[str, tuple[bool, str]]]:
        """One message's labels: coder name -> flag -> (value, level) (the message details view)."""
        rows = await self._tuples(
            "SELECT k.name, c.flags FROM codings c JOIN coders k ON k.id=c.coder_id"
            " JOIN messages m ON m.id=c.message_id JOIN runs r ON r.id=m.run_id WHERE r.uid=? AND m.seq=?"
            " AND c.flags != '{}' ORDER BY k.id", (run_uid, seq))
        return {name: dict(sorted(labels.items())) for name, flags in rows if (labels := _flags(flags))}

    async def agent_message(self, run_id: int, nickname: str, round_: int) -> int | None:
        """The id of the message an agent (by nickname) wrote in a round; AmbiguousMessage when messages of two
        agents have that nickname in that round (which of them a label is for cannot be told)."""
        rows = await self._all(
            "SELECT id, agent_idx FROM messages WHERE run_id=? AND nickname=? AND round=? AND agent_idx IS NOT NULL"
            " ORDER BY seq", (run_id, nickname, round_))
        if len({r[1] for r in rows}) > 1:
            raise AmbiguousMessage(f"{len({r[1] for r in rows})} agents wrote as {nickname!r} in round {round_}")
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


class AmbiguousMessage(Exception):
    """A nickname and round that name messages of two agents."""


_quoted = json.encoder.encode_basestring  # a JSON string, as json.dumps(ensure_ascii=False) writes it
EncodedCoding = tuple[int, str, str, str]
"""A coding as stored: message id, status, reason, labels as JSON (flag -> [value 0/1, level])."""


_UNCODED = partial(tuple.__new__, UncodedMessage)


def _stamp(now: datetime) -> str:
    """`now` as the codings' `at` column has it: strftime('%Y-%m-%dT%H:%M:%fZ'), milliseconds."""
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


def encode_codings(codings: Iterable[CodingRow]) -> list[EncodedCoding]:
    # a batch's codings often share their flags (a verdict met again): found by the object's id, the object kept
    # with it (`codings` may be a generator: a freed one's id is taken by the next, with other labels)
    encoded: dict[int, tuple[object, str]] = {}
    out = []
    for c in codings:
        known = encoded.get(id(c.flags))
        if known is None:
            known = encoded[id(c.flags)] = (c.flags, encode_labels(c.flags.items()))
        out.append((c.message_id, c.status, c.reason, known[1]))
    return out


def encode_labels(flags: Iterable[tuple[str, tuple[bool, str]]]) -> str:
    """A coding's labels as stored: JSON, flag -> [value 0/1, level], in the order given."""
    return "{" + ",".join([f"{_quoted(f)}:[{1 if v else 0},{_quoted(lvl or '')}]" for f, (v, lvl) in flags]) + "}"


def _flags(stored: str) -> dict[str, tuple[bool, str]]:
    return {f: (bool(v), lvl) for f, (v, lvl) in json.loads(stored).items()}


def _coder(r: aiosqlite.Row) -> CoderRow:
    return CoderRow(id=r["id"], name=r["name"], kind=r["kind"], codebook=r["codebook"], config=load(r["config"]))
