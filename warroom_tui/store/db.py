"""The run store: raw aiosqlite, WAL, schema versioned with `PRAGMA user_version`.

Every SQL statement of warroom lives in this package: `runs.py` (runs, agents, messages, events) and
`labels.py` (coders and labels), `tables.py` (whole tables for analysis). Callers get frozen rows (`rows.py`) and write in
`async with store.transaction():` when several writes must land together.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import aiosqlite

from warroom_tui.store.base import StoreError
from warroom_tui.store.labels import CoderKindError, LabelQueries
from warroom_tui.store.owners import OwnerQueries
from warroom_tui.store.runs import RunQueries
from warroom_tui.store.tables import TableQueries

__all__ = ["CoderKindError", "MIGRATIONS", "SCHEMA_VERSION", "Store", "StoreError", "describe_error"]

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
    # 3: named message fields instead of a JSON bag; the study's raw fields kept apart for its exporter;
    #    imported runs identified by the hash of their transcript
    """
    ALTER TABLE messages RENAME COLUMN extra TO study;
    ALTER TABLE messages ADD COLUMN language TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN time TEXT NOT NULL DEFAULT '';
    UPDATE messages SET language = COALESCE(json_extract(study, '$.language_detected'), ''),
                        time = COALESCE(json_extract(study, '$.time'), '') WHERE study != '{}';
    ALTER TABLE agents RENAME COLUMN extra TO study;
    UPDATE agents SET study = '{}' WHERE run_id IN (SELECT id FROM runs WHERE source = 'live');
    ALTER TABLE runs ADD COLUMN digest TEXT;
    CREATE UNIQUE INDEX runs_digest ON runs(digest) WHERE digest IS NOT NULL;
    """,
    # 4: the process writing a running run (only a run whose owner is gone is resumed)
    """
    ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
    ALTER TABLE runs ADD COLUMN owner_host TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN heartbeat REAL;
    """,
    # 5: copying: the share of a message's words repeated verbatim from what its agent had seen, and
    #    where (character spans "a-b,c-d"); NULL for messages stored before it was measured
    """
    ALTER TABLE messages ADD COLUMN copy_share REAL;
    ALTER TABLE messages ADD COLUMN copied TEXT NOT NULL DEFAULT '';
    """,
    # 6: a live run's identity: the hash of its spec (scenario content, seed, replicate; runspec.py), so a
    #    batch on any executor finds the runs it already made; NULL for runs stored before
    """
    ALTER TABLE runs ADD COLUMN spec TEXT;
    CREATE INDEX runs_spec ON runs(spec) WHERE spec IS NOT NULL;
    """,
    # 7: recipe versus family: an agent's base checkpoint; who a message replies to (agent indices
    #    "0,2" and how they were found: named | seen; NULL until computed); the sweep cell a run belongs to
    """
    ALTER TABLE agents ADD COLUMN base TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN partners TEXT;
    ALTER TABLE messages ADD COLUMN partner_how TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN cell TEXT NOT NULL DEFAULT '{}';
    """,
    # 8: the agent messages whose partners were never computed (stored before 7), found without reading the
    #    whole messages table (`warroom judge` asks each time before it codes); empty once they are filled in
    """
    CREATE INDEX messages_without_partners ON messages(run_id) WHERE agent_idx IS NOT NULL AND partners IS NULL;
    """,
    # 9: the agent messages' columns a batch of coding lists them by (who, in which run, in what order) and the
    #    rosters read: both queries read this index instead of the whole messages table, texts and all
    """
    CREATE INDEX messages_coding ON messages(run_id, seq, agent_idx, is_error, nickname, error_kind, round)
        WHERE agent_idx IS NOT NULL;
    """,
    # 10: a coding holds its labels, one JSON object (flag -> [value 0/1, level]): a batch of coding writes one row a
    #     message instead of eight. `labels` is a view with the table's columns, and writes through it still work
    """
    ALTER TABLE codings ADD COLUMN flags TEXT NOT NULL DEFAULT '{}';
    INSERT OR IGNORE INTO codings (message_id, coder_id, status) SELECT DISTINCT message_id, coder_id, 'coded' FROM labels;
    UPDATE codings SET flags = (SELECT json_group_object(l.flag, json_array(l.value, l.level)) FROM labels l
                                WHERE l.message_id = codings.message_id AND l.coder_id = codings.coder_id)
        WHERE EXISTS (SELECT 1 FROM labels l WHERE l.message_id = codings.message_id AND l.coder_id = codings.coder_id);
    DROP TABLE labels;
    CREATE VIEW labels (message_id, coder_id, flag, value, level) AS
        SELECT c.message_id, c.coder_id, j.key, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')
        FROM codings c, json_each(c.flags) j;
    CREATE TRIGGER labels_insert INSTEAD OF INSERT ON labels BEGIN
        INSERT OR IGNORE INTO codings (message_id, coder_id, status) VALUES (NEW.message_id, NEW.coder_id, 'coded');
        UPDATE codings SET flags = json_set(flags, '$."' || NEW.flag || '"', json_array(NEW.value, COALESCE(NEW.level, '')))
            WHERE message_id = NEW.message_id AND coder_id = NEW.coder_id;
    END;
    CREATE TRIGGER labels_update INSTEAD OF UPDATE ON labels BEGIN
        UPDATE codings SET flags = json_remove(flags, '$."' || OLD.flag || '"')
            WHERE message_id = OLD.message_id AND coder_id = OLD.coder_id;
        INSERT INTO labels (message_id, coder_id, flag, value, level)
            VALUES (NEW.message_id, NEW.coder_id, NEW.flag, NEW.value, NEW.level);
    END;
    CREATE TRIGGER labels_delete INSTEAD OF DELETE ON labels BEGIN
        UPDATE codings SET flags = json_remove(flags, '$."' || OLD.flag || '"')
            WHERE message_id = OLD.message_id AND coder_id = OLD.coder_id;
    END;
    """,
    # 11: an agent named before it had said anything the speaker had seen (a crashed one) is no partner: the
    #     partners found by name are computed again (`warroom judge` fills them in; the report says how many wait)
    """
    UPDATE messages SET partners = NULL, partner_how = '' WHERE agent_idx IS NOT NULL AND partner_how = 'named';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


async def _connection(target: str, uri: bool = False) -> aiosqlite.Connection:
    """A connection (its own thread, a daemon). Cancelled while it connects (Ctrl+C), aiosqlite stops the thread;
    it is waited for here, so it never reports into an event loop closed meanwhile (a traceback after
    "interrupted")."""
    pending = aiosqlite.connect(target, uri=uri, isolation_level=None)
    # a daemon: a connection left open by an interrupted command (a second Ctrl+C inside its cleanup) kept the
    # process waiting for its thread at exit, for good; what was committed is in the file either way
    pending._thread.daemon = True
    try:
        db = await pending
    except BaseException:
        await asyncio.to_thread(pending._thread.join)
        raise
    db.row_factory = aiosqlite.Row
    return db


class Store(RunQueries, LabelQueries, TableQueries, OwnerQueries):
    """One database file. Use `async with Store.open(path) as store:`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        super().__init__(db)
        self.path = path

    @classmethod
    def open(cls, path: str | Path, read_only: bool = False) -> "_Opener":
        return _Opener(Path(path), read_only)

    @classmethod
    async def connect(cls, path: str | Path, read_only: bool = False) -> "Store":
        """Open (and create or upgrade) a database; `read_only` never creates a file or changes what it holds (a WAL a
        killed writer left is written into the file and removed, as SQLite does for any connection that may write)."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a database file")
        if read_only:
            return cls(await _connect_read_only(path), path)
        if path.exists() and not os.access(path, os.W_OK):
            raise StoreError(f"{path}: the database is read-only (a command that writes needs write access)")
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        db = await _connection(str(path))  # transactions are explicit
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            # up to 8 MiB of pages: room for a chunk of codings (2,000 messages) written in one transaction; more
            # only costs fresh memory (page faults) on whole-table scans, which no cache of the corpus holds
            await db.execute("PRAGMA cache_size=-8192")
            await migrate(db)
        except BaseException as exc:  # Ctrl+C too: the connection is closed before the event loop is
            await db.close()
            if isinstance(exc, Exception):
                raise StoreError(describe_error(path, exc)) from None
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self.db.close()

    async def checkpoint(self) -> None:
        """Write what the WAL holds into the database file now, without waiting for readers (closing the last
        connection does it too, then with all of it left to write)."""
        await self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def check_pages(self) -> None:
        """Refuse a database with corrupted pages before numbers are taken from it: a page SQLite never
        reads would otherwise leave rows out of a report silently. Reads the whole file (about 0.3 s for the
        study corpus), so only the commands that publish numbers call it."""
        rows = list(await self.db.execute_fetchall("PRAGMA quick_check(1)"))
        if rows and rows[0][0] != "ok":
            raise StoreError(describe_error(self.path, sqlite3.DatabaseError(
                f"database disk image is malformed: {rows[0][0]}")))


async def _connect_read_only(path: Path) -> aiosqlite.Connection:
    if not path.is_file():
        raise StoreError(f"{path}: no such database")
    # A folder nobody can write to (a read-only mount) holds no live writer's WAL: read it as immutable,
    # since SQLite cannot create the shared-memory file there.
    immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
    # A file it may write is opened for writing, then only queried: a connection that only reads cannot remove
    # the -wal and -shm files SQLite makes beside a WAL database, and they stayed after every report; the last
    # connection to close removes them (with nothing in the WAL, nothing is written).
    mode = "rw" if not immutable and os.access(path, os.W_OK) else "ro"
    db = await _connection(f"file:{path}?mode={mode}{immutable}", uri=True)
    try:
        if mode == "rw":
            await db.execute("PRAGMA query_only=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        version = list(await db.execute_fetchall("PRAGMA user_version"))[0][0]
    except BaseException as exc:
        await db.close()
        if isinstance(exc, Exception):
            raise StoreError(describe_error(path, exc)) from None
        raise
    if version != SCHEMA_VERSION:
        await db.close()
        raise StoreError(f"{path}: schema version {version}, this warroom reads {SCHEMA_VERSION}"
                         " (a writing command such as `warroom run` upgrades it)")
    return db


def describe_error(path: Path, exc: BaseException) -> str:
    """One line for a person: what is wrong with the database file, and what became of the work."""
    text = " ".join(str(exc).split())
    if "locked" in text:
        return f"{path}: the database is locked by another process; nothing was changed, try again"
    if "full" in text:
        return f"{path}: the disk is full (database or disk is full); the unfinished write was rolled back"
    if "file is not a database" in text:
        return f"{path}: not a warroom database ({text})"
    if "malformed" in text or "corrupt" in text:
        return (f"{path}: the database is corrupted ({text}); nothing was read from it "
                "(`sqlite3 FILE .recover` may save what is left)")
    if "readonly" in text or "read-only" in text:
        return f"{path}: the database is read-only (a command that writes needs write access)"
    if "unable to open" in text:
        return f"{path}: cannot open the database file ({text})"
    return f"{path}: not a warroom database ({text})"


class _Opener:
    def __init__(self, path: Path, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self.store: Store | None = None

    async def __aenter__(self) -> Store:
        self.store = await Store.connect(self.path, self.read_only)
        return self.store

    async def __aexit__(self, *exc) -> None:
        if self.store is not None:
            await self.store.close()


async def migrate(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    version = rows[0][0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"schema version {version} is newer than this warroom ({SCHEMA_VERSION})")
    for number in range(version, SCHEMA_VERSION):
        await db.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;")
    return SCHEMA_VERSION
