"""The run store: raw aiosqlite, WAL, schema versioned with `PRAGMA user_version`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import aiosqlite

from warroom_tui.engine.transcript import Message

MIGRATIONS: list[str] = [
    # 1: runs, agents, messages, condition events
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        scenario TEXT NOT NULL DEFAULT '',
        series TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT 'live',      -- live | import
        source_file TEXT NOT NULL DEFAULT '',
        replicate INTEGER NOT NULL DEFAULT 0,
        seed INTEGER,
        simulated INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'running',   -- running | done | stopped | failed
        reason TEXT NOT NULL DEFAULT '',
        brief TEXT NOT NULL DEFAULT '',
        conditions TEXT NOT NULL DEFAULT '{}',    -- JSON: the conditions the run started with
        meta TEXT NOT NULL DEFAULT '{}',          -- JSON: scenario or study metadata
        started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        finished_at TEXT
    );
    CREATE TABLE agents (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        nickname TEXT NOT NULL,
        model TEXT NOT NULL,
        family TEXT NOT NULL DEFAULT '',
        recipe TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'chat',
        temperature REAL,
        extra TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        round INTEGER,
        agent_idx INTEGER,
        sender TEXT NOT NULL,
        nickname TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        is_error INTEGER NOT NULL DEFAULT 0,
        error_kind TEXT NOT NULL DEFAULT '',
        visible INTEGER NOT NULL DEFAULT 1,
        started_at REAL,
        finished_at REAL,
        seen_upto INTEGER,
        dropped INTEGER NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL DEFAULT 0,
        temperature REAL,
        extra TEXT NOT NULL DEFAULT '{}',
        UNIQUE (run_id, seq)
    );
    CREATE INDEX messages_run ON messages(run_id, round);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        round INTEGER,
        seq INTEGER,
        kind TEXT NOT NULL,
        field TEXT NOT NULL DEFAULT '',
        agent_idx INTEGER,
        old TEXT,
        new TEXT,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX runs_series ON runs(series);
    """,
    # 2: coders (judges, the human, adjudications) and their labels, one row per message, coder and flag
    """
    CREATE TABLE coders (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,                       -- builtin | llm | human | adjudicated
        codebook TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE codings (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        coder_id INTEGER NOT NULL REFERENCES coders(id) ON DELETE CASCADE,
        status TEXT NOT NULL,                     -- coded | uncoded
        reason TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (message_id, coder_id)
    );
    CREATE TABLE labels (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        coder_id INTEGER NOT NULL REFERENCES coders(id) ON DELETE CASCADE,
        flag TEXT NOT NULL,
        value INTEGER NOT NULL,
        level TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (message_id, coder_id, flag)
    );
    CREATE INDEX labels_coder ON labels(coder_id, flag);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    pass


class Store:
    """One database file. Use `async with Store.open(path) as store:`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> "_Opener":
        return _Opener(Path(path))

    @classmethod
    async def connect(cls, path: str | Path) -> "Store":
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path))
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await migrate(db)
        except Exception as exc:
            await db.close()
            raise StoreError(f"{path}: not a warroom database ({exc})") from None
        return cls(db, path)

    async def close(self) -> None:
        await self.db.close()

    # -- runs ----------------------------------------------------------------
    async def create_run(self, *, uid: str, scenario: str, series: str, brief: str, agents: list[dict],
                         source: str = "live", source_file: str = "", replicate: int = 0,
                         seed: int | None = None, simulated: bool = False, conditions: dict | None = None,
                         meta: dict | None = None, status: str = "running", commit: bool = True) -> int:
        cur = await self.db.execute(
            "INSERT INTO runs (uid, scenario, series, source, source_file, replicate, seed, simulated, status,"
            " brief, conditions, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (uid, scenario, series, source, source_file, replicate, seed, int(simulated), status, brief,
             _dump(conditions or {}), _dump(meta or {})),
        )
        run_id = cur.lastrowid
        assert run_id is not None
        await self.db.executemany(
            "INSERT INTO agents (run_id, idx, key, name, nickname, model, family, recipe, kind, temperature,"
            " extra) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(run_id, i, a["key"], a["name"], a["nickname"], a["model"], a.get("family", ""),
              a.get("recipe", ""), a.get("kind", "chat"), a.get("temperature"), _dump(a.get("extra", {})))
             for i, a in enumerate(agents)],
        )
        if commit:
            await self.db.commit()
        return run_id

    async def finish_run(self, run_id: int, status: str, reason: str = "") -> None:
        await self.db.execute(
            "UPDATE runs SET status=?, reason=?, finished_at=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id=?",
            (status, reason, run_id))
        await self.db.commit()

    async def add_messages(self, run_id: int, messages: Iterable[Message], commit: bool = True) -> None:
        await self.db.executemany(
            "INSERT INTO messages (run_id, seq, round, agent_idx, sender, nickname, name, model, text, is_error,"
            " error_kind, visible, started_at, finished_at, seen_upto, dropped, tokens, temperature, extra)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(run_id, m.seq, m.round, m.agent, m.sender, m.nickname, m.name, m.model, m.text, int(m.is_error),
              m.error_kind, int(m.visible), m.started_at, m.finished_at, m.seen_upto, m.dropped, m.tokens,
              m.temperature, _dump(m.extra)) for m in messages],
        )
        if commit:
            await self.db.commit()

    async def add_event(self, run_id: int, kind: str, *, round_: int | None = None, seq: int | None = None,
                        field: str = "", agent: int | None = None, old: Any = None, new: Any = None) -> None:
        await self.db.execute(
            "INSERT INTO events (run_id, round, seq, kind, field, agent_idx, old, new) VALUES (?,?,?,?,?,?,?,?)",
            (run_id, round_, seq, kind, field, agent, _dump(old), _dump(new)))
        await self.db.commit()

    # -- reading -------------------------------------------------------------
    async def runs(self, series: str | None = None) -> list[dict]:
        sql = ("SELECT r.*, (SELECT COUNT(*) FROM messages m WHERE m.run_id=r.id AND m.agent_idx IS NOT NULL)"
               " AS n_messages FROM runs r")
        args: tuple = ()
        if series is not None:
            sql += " WHERE r.series=?"
            args = (series,)
        rows = await self.db.execute_fetchall(sql + " ORDER BY r.id", args)
        return [_row(r) for r in rows]

    async def run(self, ref: str | int) -> dict | None:
        if isinstance(ref, int) or str(ref).isdigit():
            rows = await self.db.execute_fetchall("SELECT * FROM runs WHERE id=?", (int(ref),))
        else:
            rows = await self.db.execute_fetchall("SELECT * FROM runs WHERE uid=?", (ref,))
        return _row(rows[0]) if rows else None

    async def find_run(self, scenario: str, replicate: int, seed: int) -> dict | None:
        """The latest live run of this scenario, replicate and seed (for resuming a batch)."""
        rows = await self.db.execute_fetchall(
            "SELECT * FROM runs WHERE source='live' AND scenario=? AND replicate=? AND seed=? ORDER BY id DESC LIMIT 1",
            (scenario, replicate, seed))
        return _row(rows[0]) if rows else None

    async def agents(self, run_id: int) -> list[dict]:
        rows = await self.db.execute_fetchall("SELECT * FROM agents WHERE run_id=? ORDER BY idx", (run_id,))
        return [_row(r) for r in rows]

    async def messages(self, run_id: int) -> list[Message]:
        rows = await self.db.execute_fetchall("SELECT * FROM messages WHERE run_id=? ORDER BY seq", (run_id,))
        return [
            Message(seq=r["seq"], sender=r["sender"], text=r["text"], round=r["round"], agent=r["agent_idx"],
                    nickname=r["nickname"], name=r["name"], model=r["model"], is_error=bool(r["is_error"]),
                    error_kind=r["error_kind"], visible=bool(r["visible"]), started_at=r["started_at"] or 0.0,
                    finished_at=r["finished_at"] or 0.0, seen_upto=r["seen_upto"] if r["seen_upto"] is not None
                    else -1, dropped=r["dropped"], tokens=r["tokens"], temperature=r["temperature"],
                    extra=json.loads(r["extra"]))
            for r in rows
        ]

    async def events(self, run_id: int) -> list[dict]:
        rows = await self.db.execute_fetchall("SELECT * FROM events WHERE run_id=? ORDER BY id", (run_id,))
        out = []
        for r in rows:
            d = dict(r)
            d["old"], d["new"] = json.loads(d["old"]), json.loads(d["new"])
            out.append(d)
        return out

    async def counts(self) -> dict[str, int]:
        rows = await self.db.execute_fetchall(
            "SELECT r.series, COUNT(*) AS n FROM runs r GROUP BY r.series ORDER BY r.series")
        return {r["series"]: r["n"] for r in rows}


    # -- coders and labels ----------------------------------------------------
    async def coder_id(self, name: str, kind: str, codebook: str = "", config: dict | None = None) -> int:
        rows = await self.db.execute_fetchall("SELECT id FROM coders WHERE name=?", (name,))
        if rows:
            return rows[0][0]
        # OR IGNORE: two workers may ask for the same new coder at once
        await self.db.execute("INSERT OR IGNORE INTO coders (name, kind, codebook, config) VALUES (?,?,?,?)",
                              (name, kind, codebook, _dump(config or {})))
        await self.db.commit()
        rows = await self.db.execute_fetchall("SELECT id FROM coders WHERE name=?", (name,))
        return rows[0][0]

    async def coders(self) -> list[dict]:
        rows = await self.db.execute_fetchall("SELECT * FROM coders ORDER BY id")
        return [_row(r) for r in rows]

    async def save_codings(self, coder_id: int, codings: Iterable[tuple], commit: bool = True) -> None:
        """codings: (message_id, status, reason, {flag: (value, level)})."""
        codings = list(codings)
        await self.db.executemany(
            "INSERT OR REPLACE INTO codings (message_id, coder_id, status, reason) VALUES (?,?,?,?)",
            [(mid, coder_id, status, reason) for mid, status, reason, _ in codings])
        await self.db.executemany(
            "INSERT OR REPLACE INTO labels (message_id, coder_id, flag, value, level) VALUES (?,?,?,?,?)",
            [(mid, coder_id, flag, int(bool(v)), lvl or "") for mid, _, _, flags in codings
             for flag, (v, lvl) in flags.items()])
        if commit:
            await self.db.commit()

    async def uncoded_messages(self, coder_id: int) -> list[dict]:
        """Agent messages (not errors) that this coder has not coded yet."""
        rows = await self.db.execute_fetchall(
            "SELECT m.id, m.run_id, m.seq, m.round, m.agent_idx, m.text FROM messages m"
            " WHERE m.agent_idx IS NOT NULL AND m.is_error=0"
            " AND NOT EXISTS (SELECT 1 FROM codings c WHERE c.message_id=m.id AND c.coder_id=?)"
            " ORDER BY m.run_id, m.seq", (coder_id,))
        return [dict(r) for r in rows]

    async def message_id(self, run_uid: str, seq: int) -> int | None:
        rows = await self.db.execute_fetchall(
            "SELECT m.id FROM messages m JOIN runs r ON r.id=m.run_id WHERE r.uid=? AND m.seq=?", (run_uid, seq))
        return rows[0][0] if rows else None

    async def labels(self, coder_id: int, run_id: int | None = None) -> dict[int, dict[str, tuple[bool, str]]]:
        sql = ("SELECT l.message_id, l.flag, l.value, l.level FROM labels l JOIN messages m ON m.id=l.message_id"
               " WHERE l.coder_id=?")
        args: tuple = (coder_id,)
        if run_id is not None:
            sql += " AND m.run_id=?"
            args += (run_id,)
        out: dict[int, dict[str, tuple[bool, str]]] = {}
        for mid, flag, value, level in await self.db.execute_fetchall(sql, args):
            out.setdefault(mid, {})[flag] = (bool(value), level)
        return out


class _Opener:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.store: Store | None = None

    async def __aenter__(self) -> Store:
        self.store = await Store.connect(self.path)
        return self.store

    async def __aexit__(self, *exc) -> None:
        if self.store is not None:
            await self.store.close()


async def migrate(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("PRAGMA user_version")
    version = rows[0][0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"schema version {version} is newer than this warroom ({SCHEMA_VERSION})")
    for number in range(version, SCHEMA_VERSION):
        await db.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;")
    return SCHEMA_VERSION


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _row(row: aiosqlite.Row) -> dict:
    d = dict(row)
    for key in ("conditions", "meta", "extra", "config"):
        if key in d and isinstance(d[key], str):
            d[key] = json.loads(d[key])
    return d
