"""Code every uncoded message in a store with one or more judges; adjudicate a panel."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence, TypeVar, overload

from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.panel import MODES, combine
from warroom_tui.judge.types import Coding, Judge, JudgeFailure, Roster, Verdict
from warroom_tui.judge.copying import load_spans
from warroom_tui.store.db import Store
from warroom_tui.store.labels import CodebookChangedError, EncodedCoding, encode_codings, encode_labels
from warroom_tui.store.rows import CodingRow, RunRoster, UncodedMessage
from warroom_tui.store.texts import close_texts, message_texts

T = TypeVar("T")


class BuiltinJudge:
    """The built-in coder as a judge: one message in a thread, many in chunks (in forked processes when
    there are enough)."""

    kind = "builtin"

    def __init__(self, codebook: Codebook) -> None:
        self.coder = BuiltinCoder(codebook)
        self.codebook = codebook
        self.name = judge_identity("builtin", codebook)[0]

    async def code(self, text: str, roster: Roster) -> Coding:
        return await asyncio.to_thread(self.coder.code, text, roster)  # never blocks the lab

    def code_many(self, jobs: Sequence[tuple[str, Roster]]) -> AsyncIterator[list[Verdict]]:
        """Yields chunks of CHUNK codings: the caller commits each, so an interruption keeps them."""
        return self._chunks(jobs, _code_slice)

    def code_rows(self, jobs: Jobs) -> AsyncGenerator[list[EncodedCoding], None]:
        """As `code_many`, each coding encoded as the store keeps it, where it was coded (a forked worker)."""
        return self._chunks(jobs, _rows_slice)

    async def _chunks(self, jobs: Sequence[tuple[str, Roster]],
                      work: Callable[..., list[T]]) -> AsyncGenerator[list[T], None]:
        workers = min(os.cpu_count() or 1, 4)
        if len(jobs) < max(POOL_MIN, 2 * CHUNK) or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            for i in range(0, len(jobs), CHUNK):
                yield await asyncio.to_thread(work, self.coder, jobs, i, i + CHUNK)
            return
        # fork, not spawn: the workers start with the coder imported and its patterns compiled, and
        # inherit the jobs (never pickled): each is sent only the bounds of a chunk
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init,
                                   initargs=(self.codebook, jobs))
        done, pending = False, []
        try:
            loop = asyncio.get_running_loop()
            pending = [loop.run_in_executor(pool, _in_worker, work, a, b) for a, b in chunks(len(jobs), CHUNK, workers)]
            for part in pending:
                yield await part
            done = True
        finally:
            if done:
                pool.shutdown()
            else:  # interrupted (Ctrl+C): what the workers are coding would be lost anyway, so they stop now
                with _no_ctrl_c():  # a second Ctrl+C inside the pool's shutdown left it hanging at exit
                    for part in pending:
                        part.add_done_callback(_retrieved)  # a chunk left: its BrokenProcessPool is not reported
                    for process in list(pool._processes.values()):
                        process.terminate()
                    # a worker stopped while it sent its chunk leaves part of it in the pipe, and the pool's reader
                    # waits for the rest: with this process' end of the pipe closed too, it reads the end instead
                    pool._result_queue._writer.close()  # type: ignore[attr-defined]
                    pool.shutdown(cancel_futures=True)

    async def aclose(self) -> None:
        pass


def _retrieved(part: asyncio.Future) -> None:
    if not part.cancelled():
        part.exception()


@contextmanager
def _no_ctrl_c() -> Iterator[None]:
    """Ctrl+C ignored inside (the main thread's handler; elsewhere nothing to change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def make_judges(specs: list[str], codebook: Codebook, gateway=None, timeout: float = 60.0) -> list[Judge]:
    """Judges from specs (`builtin` or a model id). LLM judges use `gateway`, or one of their own they close."""
    judges: list[Judge] = []
    owns = gateway is None
    for spec in specs or ["builtin"]:
        if spec == "builtin":
            judges.append(BuiltinJudge(codebook))
        else:
            from warroom_tui.judge.llm import LLMJudge  # the providers: off the built-in coder's path

            if gateway is None:
                from warroom_tui.providers.gateway import Gateway

                gateway = Gateway()
            judges.append(LLMJudge(spec, codebook, gateway, timeout=timeout, owns_gateway=owns))
    return judges


def judge_identity(spec: str, codebook: Codebook) -> tuple[str, str]:
    """The coder name and kind a judge spec stores its labels under (as make_judges' judges do)."""
    return (f"builtin@{codebook.name}", "builtin") if spec == "builtin" else (f"{spec}@{codebook.name}", "llm")


async def check_coders(store: Store, identities: Sequence[tuple[str, str]], codebook: Codebook) -> None:
    """Refuse (CodebookChangedError), writing nothing, when any of these coders (name, kind) holds labels made
    with another version of the codebook: before a session or a batch codes anything."""
    for name, kind in identities:
        if await store.codebook_conflict(name, codebook.digest(kind)):
            raise CodebookChangedError(
                f"coder {name!r} coded messages of this database with another version of codebook {codebook.name!r}")


def panel_identities(names: Sequence[str], codebook: Codebook) -> list[tuple[str, str]]:
    """The adjudicated coders a panel of judges stores (none for one judge), in the order of MODES."""
    return [(f"panel-{mode}@{codebook.name}", "adjudicated") for mode in MODES] if len(names) >= 2 else []


@dataclass
class JudgeReport:
    coded: dict[str, int] = field(default_factory=dict)
    uncoded: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, Counter] = field(default_factory=dict)
    kappa: dict = field(default_factory=dict)
    deleted: int = 0
    """Codings --recode deleted first."""


class Jobs(Sequence[tuple[str, Roster]]):
    """The coder's jobs (text, roster) of uncoded messages, each made when it is read: a forked worker makes
    only those of its own chunks."""

    def __init__(self, todo: Sequence[UncodedMessage], rosters: RosterCache,
                 texts: Callable[[list[int]], list[tuple[str, str]]] | None = None) -> None:
        self.todo = todo
        self.rosters = rosters
        self.texts = texts
        """Reads (text, copied spans) of messages listed without them, by id, in the process making their jobs."""

    def __len__(self) -> int:
        return len(self.todo)

    @overload
    def __getitem__(self, i: int) -> tuple[str, Roster]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, Roster]]: ...

    def __getitem__(self, i: int | slice) -> tuple[str, Roster] | list[tuple[str, Roster]]:
        roster = self.rosters.roster
        part = self.todo[i] if isinstance(i, slice) else [self.todo[i]]
        read = self.texts([m.id for m in part]) if self.texts else [(m.text, m.copied) for m in part]
        jobs = [(text, roster(m.run_id, m.agent, copied)) for m, (text, copied) in zip(part, read)]
        return jobs if isinstance(i, slice) else jobs[0]


def chunks(n: int, most: int, workers: int) -> list[tuple[int, int]]:
    """Bounds of chunks of `n` jobs, in order, for `workers` taking the next one as they finish: each a
    `2 * workers`-th of what is left, kept between a 32nd of `most` and `most`. The chunks shrink towards
    the end, so the workers finish nearly together and the last write, which waits for them all, is small."""
    least = max(1, most // 32)
    bounds, start = [], 0
    while start < n:
        size = min(most, max(least, -(-(n - start) // (2 * workers))))
        bounds.append((start, min(start + size, n)))
        start += size
    return bounds


class RosterCache:
    """Every run's roster, read in one light query (`load`), then handed out without waiting."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: dict[int, RunRoster] = {}

    async def load(self) -> RosterCache:
        self.runs = await self.store.rosters()
        return self

    def roster(self, run_id: int, speaker: int | None, copied: str = "") -> Roster:
        run = self.runs.get(run_id) or RunRoster((), frozenset())
        return _ROSTER((run.agents, speaker, run.crashed, load_spans(copied)))


_ROSTER = partial(tuple.__new__, Roster)  # a Roster of its fields in order, without the keywords' cost (one a job)


async def judge_store(store: Store, judges: Sequence[Judge], codebook: Codebook, *,
                      on_progress: Callable[[str, int, int], None] | None = None, recode: bool = False,
                      on_deleted: Callable[[], None] | None = None) -> JudgeReport:
    """Code what each judge has not coded (`recode`: every message again, its earlier labels deleted first, then
    `on_deleted` called). A judge whose labels were made with another version of the codebook is refused
    (CodebookChangedError)."""
    report = JudgeReport()
    identities = [(j.name, j.kind) for j in judges]
    identities += panel_identities([j.name for j in judges], codebook)
    if not recode:  # every coder checked before any is written to
        await check_coders(store, identities, codebook)
    else:  # every coder's labels deleted first: an interrupted --recode goes on without it, its coders agreeing
        names = {j.name for j in judges}
        panels = [c.name for c in await store.coders()  # any panel made of these judges' labels: stale with them
                  if c.kind == "adjudicated" and names & set(c.config.get("judges", []))]
        for name in dict.fromkeys([n for n, _ in identities] + panels):
            if (old := await store.coder(name)) is not None:
                report.deleted += await store.forget_codings(old.id)
        if on_deleted:
            on_deleted()
    try:
        with _collector_spares_what_is_read():
            rosters = await RosterCache(store).load()
            for judge in judges:
                cid = await _coder(store, judge.name, judge.kind, codebook)
                # the built-in coder's workers read the texts of their own chunks, in parallel, from another
                # connection: only once what this one wrote is committed (it is outside a transaction)
                lazy = isinstance(judge, BuiltinJudge) and store.path.is_file() and not store.db.in_transaction
                todo = await store.uncoded_messages(cid, texts=not lazy)
                gc.freeze()  # what was just read lives through the batch too
                gc.enable()  # off if `warroom judge` started it (cli.main): the batch makes and drops objects
                report.coded[judge.name] = report.uncoded[judge.name] = 0
                report.reasons[judge.name] = Counter()
                done = 0
                texts = partial(message_texts, store.path) if lazy else None
                jobs = Jobs(todo, rosters, texts)
                parts = judge.code_rows(jobs) if isinstance(judge, BuiltinJudge) else _rows_of(judge, jobs)
                # closed here, at once, however this ends: interrupted while a chunk was stored, the workers were
                # stopped only when asyncio finalized the generator, and a second Ctrl+C before then left them be
                async with aclosing(parts):
                    async for rows in parts:
                        await store.save_encoded(cid, rows)
                        if lazy:  # a batch of workers: the WAL goes into the file as they code, not all at the end
                            await store.checkpoint()
                        for _, status, reason, _ in rows:
                            if status == "coded":
                                report.coded[judge.name] += 1
                            else:
                                report.uncoded[judge.name] += 1
                                report.reasons[judge.name][reason.split(":")[0]] += 1
                        done += len(rows)
                        if on_progress:
                            on_progress(judge.name, done, len(todo))
            if len(judges) >= 2:
                report.kappa = await adjudicate(store, [j.name for j in judges], codebook)
    finally:
        close_texts(store.path)  # this process' connection, when its jobs read texts
    return report


@contextmanager
def _collector_spares_what_is_read() -> Iterator[None]:
    """What is alive when a batch starts (the modules, the messages read) lives through it, and the batch makes
    many small objects: left alone, each of the cycle collector's full passes walks all of it again (0.6 s of
    the main process' CPU for the study corpus, 0.15 s with this). Frozen objects are still freed as soon as
    nothing refers to them; they are handed back to the collector at the end."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _rows_of(judge: Judge, jobs: Jobs) -> AsyncGenerator[list[EncodedCoding], None]:
    done = 0
    async for part in judge.code_many(jobs):
        yield encode_codings(_row(m.id, v) for m, v in zip(jobs.todo[done:done + len(part)], part))
        done += len(part)


def _row(mid: int, verdict: Verdict) -> CodingRow:
    if isinstance(verdict, JudgeFailure):
        return CodingRow(mid, "uncoded", str(verdict))
    return CodingRow(mid, "coded", "", {f: (v, verdict.levels.get(f, "")) for f, v in verdict.flags.items()})


CHUNK = 2000  # messages coded, then committed, together: an interrupted judge keeps every finished chunk
POOL_MIN = 4000  # messages: below this, forking a second process costs more than it saves


_WORK: tuple[BuiltinCoder, Sequence[tuple[str, Roster]]] | None = None  # a worker process's coder and jobs


def _worker_init(codebook: Codebook, jobs: Sequence[tuple[str, Roster]]) -> None:
    global _WORK
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    # no nice: the chunks shrink towards the end, so the parent's backlog after the last one stays small
    # (0.05 s on the corpus), and niced workers lose the cores to any other process of the machine
    _WORK = (BuiltinCoder(codebook), jobs)
    gc.disable()  # a worker lives for one batch; what it makes (readings, rows) holds no reference cycles


def _in_worker(work: Callable[..., list[T]], start: int, end: int) -> list[T]:
    assert _WORK is not None
    return work(*_WORK, start, end)


def _code_slice(coder: BuiltinCoder, jobs: Sequence[tuple[str, Roster]], start: int, end: int) -> list[Verdict]:
    """The verdicts of jobs[start:end], the jobs made here (their texts may be read here)."""
    return _code_all(coder, jobs[start:end])


def _rows_slice(coder: BuiltinCoder, jobs: Jobs, start: int, end: int) -> list[EncodedCoding]:
    """The codings of jobs[start:end], encoded to store: the labels of verdicts alike (a batch has a few hundred
    kinds) encoded once."""
    labels: dict[tuple, str] = {}
    rows: list[EncodedCoding] = []
    for m, verdict in zip(jobs.todo[start:end], _code_slice(coder, jobs, start, end)):
        if not isinstance(verdict, Coding):
            rows += encode_codings([_row(m.id, verdict)])
            continue
        flags, levels = verdict.flags, verdict.levels
        key = (tuple(flags.items()), tuple(levels.items()))
        stored = labels.get(key)
        if stored is None:
            stored = labels[key] = encode_labels([(f, (v, levels.get(f, ""))) for f, v in flags.items()])
        rows.append((m.id, "coded", "", stored))
    return rows


def _code_all(coder: BuiltinCoder, jobs: Sequence[tuple[str, Roster]]) -> list[Verdict]:
    """The coder's verdicts, in order. It decides by the text and the roster alone, so a job met again (an
    empty message, "Got it." from the same agent: 14% of the corpus' messages, 9% of its coding time) takes
    the verdict of the first."""
    known: dict[tuple[str, Roster], Verdict] = {}
    out = []
    for job in jobs:
        verdict = known.get(job)
        if verdict is None:
            verdict = known[job] = coder.code(*job)
        out.append(verdict)
    return out


async def _coder(store: Store, name: str, kind: str, codebook: Codebook, config: dict | None = None) -> int:
    return await store.coder_id(name, kind, codebook.name, config, digest=codebook.digest(kind))


async def adjudicate(store: Store, names: list[str], codebook: Codebook) -> dict:
    """The study's panel: intersection (conservative) and union labels over messages every judge coded."""
    from warroom_tui.analysis.agreement import kappa_table  # numpy: off the built-in coder's path

    coders = {c.name: c.id for c in await store.coders()}
    codings = {n: {mid: Coding(flags={f: v for f, (v, _) in flags.items()},
                               levels={f: level for f, (_, level) in flags.items() if level})
                   for mid, flags in (await store.labels(coders[n])).items()} for n in names}
    common = sorted(set.intersection(*(set(v) for v in codings.values()))) if codings else []
    for mode, (name, kind) in zip(MODES, panel_identities(names, codebook)):
        cid = await _coder(store, name, kind, codebook, {"judges": names, "mode": mode})
        await store.save_codings(cid, [_row(mid, combine([codings[n][mid] for n in names], mode, codebook.ids))
                                       for mid in common])
    plain = {n: {mid: codings[n][mid].flags for mid in common} for n in names}
    return kappa_table(plain, codebook.ids)
