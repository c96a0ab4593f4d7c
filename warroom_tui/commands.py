"""The headless commands behind the CLI (rich output, no Textual)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from warroom_tui.errors import CliError
from warroom_tui.paths import default_db
from warroom_tui.store.db import Store, StoreError

# scenarios, the engine's events and pydantic models are imported by the commands that need them:
# `warroom judge` starts without them. emoji=False: ":name:" in model text is text, never an emoji.
console = Console(stderr=False, highlight=False, emoji=False)


async def _open_store(path: Path | None, read_only: bool = False, must_exist: bool = False) -> Store:
    """Reading commands open read-only: they never create or change a file."""
    path = path or default_db()
    if must_exist and not path.is_file():
        raise CliError(f"{path}: no such database")
    try:
        return await Store.connect(path, read_only)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _scenario(ref: str | None):
    from warroom_tui.scenario import DEFAULT_SCENARIO, ScenarioError, find_scenario, load_scenario

    try:
        return load_scenario(find_scenario(ref or DEFAULT_SCENARIO))
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


async def run_command(args) -> int:
    import asyncio
    import signal

    from warroom_tui.engine import events as ev
    from warroom_tui.engine.status import RunStatus
    from warroom_tui.modelid import is_simulated
    from warroom_tui.providers.gateway import Gateway
    from warroom_tui.runner import Batch, BatchFailed, RunOwned, with_backend
    from warroom_tui.session import preflight

    scenario = with_backend(_scenario(args.scenario), args.backend)
    if args.runs is not None and args.runs < 1:
        raise CliError("--runs: must be at least 1")
    missing = preflight(scenario)
    if missing:
        raise CliError(f"{scenario.name}: cannot start: " + "; ".join(missing))
    runs = args.runs or scenario.replicates
    store = await _open_store(args.db)
    simulated = any(is_simulated(a.model) for a in scenario.roster())
    if simulated:
        console.print("[bold yellow]SIMULATED[/] agents: scripted personas, not real models.")
    per_run = scenario.rounds + 1 if scenario.conditions.scaffolding != "isolated" else 1
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=args.quiet, transient=False)
    overall = progress.add_task(f"{escape(scenario.name)}: runs", total=runs)
    current: dict[str, TaskID | None] = {"task": None}

    async def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            current["task"] = progress.add_task(f"  run {event.replicate + 1} rounds", total=per_run)
        elif isinstance(event, ev.RoundDone) and current["task"] is not None:
            progress.update(current["task"], completed=event.round + 1)
        elif isinstance(event, ev.RunDone):
            progress.advance(overall)

    gateway = Gateway()
    batch = Batch(scenario, store, gateway, runs=runs, seed=args.seed, fresh=args.fresh, on_event=on_event)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, batch.interrupt)
    try:
        with progress:
            results = await batch.run()
    except (RunOwned, BatchFailed) as exc:
        raise CliError(str(exc)) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await gateway.aclose()
        await store.close()
    table = Table(title=f"{escape(scenario.name)} ({escape(scenario.label)})")
    for col in ("run", "status", "last round", "messages", "errors", "crashed"):
        table.add_column(col)
    for r in results:
        table.add_row(escape(r.run_uid), str(r.status) + (" (stored)" if r.stored else ""), str(r.rounds),
                      str(r.messages), str(r.errors), escape(", ".join(r.crashed)) or "-")
    console.print(table)
    console.print(f"stored in {escape(str(args.db or default_db()))}")
    if batch.interrupted:
        finished = sum(r.status != RunStatus.INTERRUPTED for r in results)
        print(f"warroom: interrupted after {finished} of {runs} runs; run the same command to resume",
              file=sys.stderr)
        return 130
    return 0 if all(r.status.finished for r in results) else 1


async def import_human_command(args) -> int:
    from warroom_tui.judge.human import HumanCsvError, agreement_with, import_human, read_human_csv

    codebook = _codebook(args.codebook)
    for path in args.paths:  # check every file before storing anything
        try:
            read_human_csv(path, codebook)
        except HumanCsvError as exc:
            raise CliError(str(exc)) from None
    store = await _open_store(args.db)
    try:
        known = await store.coder(args.coder)
        if known is not None and known.kind != "human":
            raise CliError(f"--coder: {args.coder!r} is the {known.kind} coder's name; give the human labels "
                           "another name")
        async with store.transaction():  # every file or none
            done = [(path, *await import_human(store, path, args.coder, codebook)) for path in args.paths]
        for path, stored, missing in done:
            console.print(f"{escape(str(path))}: {stored} labels stored as {escape(args.coder)}"
                          + (f", {missing} messages not in the database (import their transcripts first)"
                             if missing else ""))
        table = Table(title=f"Cohen's kappa against {escape(args.coder)}")
        table.add_column("coder")
        flags = codebook.coded_ids
        for f in flags + ["mean", "n"]:
            table.add_column(f, justify="right")
        for c in await store.coders():
            if c.name != args.coder and c.kind != "human":
                k = await agreement_with(store, args.coder, c.name, flags)
                if k["n"]:
                    table.add_row(escape(c.name), *[f"{k[f]:.3f}" for f in flags + ["mean"]], str(int(k["n"])))
        if table.row_count:
            console.print(table)
    finally:
        await store.close()
    return 0


async def import_command(args) -> int:
    if args.human:
        return await import_human_command(args)
    from warroom_tui.store.study_json import StudyFormatError, import_study_runs, load_study_file, study_files

    files = study_files(args.paths)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        raise CliError(f"{missing[0]}: no such file or folder")
    if not files:
        raise CliError(f"{args.paths[0]}: no .json files found")
    checked = []
    for path in files:  # check every file before storing anything
        try:
            checked.append(load_study_file(path))
        except StudyFormatError as exc:
            raise CliError(str(exc)) from None
    store = await _open_store(args.db)
    try:
        added, skipped = await import_study_runs(store, checked)
        counts = await store.counts()
    except sqlite3.OperationalError as exc:
        raise CliError(f"{store.path}: {exc}: another warroom is writing it; nothing was imported, "
                       "try again when it is done") from None
    finally:
        await store.close()
    console.print(f"imported {added} runs ({skipped} already stored)")
    table = Table(title="runs per series")
    table.add_column("series")
    table.add_column("runs", justify="right")
    for series, n in counts.items():
        table.add_row(escape(series), str(n))
    console.print(table)
    return 0


def unused_path(path: Path, taken: set[str]) -> Path:
    """`path`, or `name~2.ext`, `name~3.ext`, … when this export already wrote it (compared case-blind, as some
    file systems do): an export never overwrites a file it wrote itself."""
    candidate, n = path, 1
    while str(candidate.resolve()).casefold() in taken:
        n += 1
        candidate = path.with_name(f"{path.stem}~{n}{path.suffix}")
    taken.add(str(candidate.resolve()).casefold())
    return candidate


def _codebook(path):
    from warroom_tui.judge.codebook import CodebookError, load_codebook

    try:
        return load_codebook(path)
    except CodebookError as exc:
        raise CliError(str(exc)) from None


async def judge_command(args) -> int:
    from warroom_tui.judge.service import judge_store, make_judges

    codebook = _codebook(args.codebook)
    judges = make_judges(args.judges or ["builtin"], codebook, timeout=args.timeout)
    store = await _open_store(args.db, must_exist=True)
    # the built-in coder reports in quick chunks: the bar is redrawn then, not by a thread that would
    # compete for the interpreter with the batch (it cost the corpus' judging a second)
    ticking = any(j.kind != "builtin" for j in judges)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, auto_refresh=ticking)
    tasks: dict[str, TaskID] = {}

    def on_progress(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(escape(name), total=total)
        progress.update(tasks[name], completed=done, total=total, refresh=not ticking)

    try:
        with progress:
            report = await judge_store(store, judges, codebook, on_progress=on_progress)
    finally:
        for j in judges:
            await j.aclose()
        await store.close()
    table = Table(title=f"judged with codebook {escape(codebook.name)}")
    for col in ("judge", "coded", "uncoded", "why uncoded"):
        table.add_column(col)
    for name in report.coded:
        why = ", ".join(f"{k} {v}" for k, v in report.reasons[name].most_common(3)) or "-"
        table.add_row(escape(name), str(report.coded[name]), str(report.uncoded[name]), escape(why))
    console.print(table)
    for (a, b), ks in report.kappa.items():
        t = Table(title=f"Cohen's kappa {escape(a)} vs {escape(b)} (n={int(ks['n'])})")
        for f in codebook.ids:
            t.add_column(f)
        t.add_row(*[f"{ks[f]:.3f}" for f in codebook.ids])
        console.print(t)
    return 0


async def build_report(store: Store, coder: str | None, codebook, pairs=None, rq1_series=None,
                       include_simulated: bool = False, correction: str = "holm") -> dict:
    from warroom_tui.report import default_coder, study_report

    coder = coder or await default_coder(store)
    if coder is None:
        raise CliError("no labels yet: run `warroom judge` first")
    if await store.coder(coder) is None:
        raise CliError(f"--coder: no coder {coder!r} in the database")
    return await study_report(store, coder, codebook, pairs, rq1_series, include_simulated, correction)


def _pairs(specs: list[str] | None):
    if not specs:
        return None
    out = []
    for spec in specs:
        x, sep, y = spec.partition(":")
        if not sep or not x or not y:
            raise CliError(f"--compare: expected X:Y, got {spec!r}")
        out.append((f"{x} vs {y}", x, y))
    return out


async def report_command(args) -> int:
    from warroom_tui.analysis.tables import report_group

    codebook = _codebook(args.codebook)
    store = await _open_store(args.db, read_only=True)
    try:
        rep = await build_report(store, args.coder, codebook, _pairs(args.compare), args.rq1_series,
                                 args.include_simulated, args.correction)
        rep["copying"] = copying_rows(await store.copy_shares(args.include_simulated))
    finally:
        await store.close()
    if args.json:
        print(json.dumps(rep, indent=2, default=lambda v: None))
        return 0
    from warroom_tui.report import simulated_note

    console.print(f"{rep['runs']} runs, labels from {escape(rep['coder'])}"
                  + simulated_note(rep, "--include-simulated to add them"))
    console.print(report_group(rep, args.profiles))
    if rep["copying"]:
        console.print(copying_table(rep["copying"]))
    return 0


def copying_rows(shares: list[tuple[str, str, bool, float, int]]) -> list[dict]:
    """The report's copying rows: simulated runs (when included) marked as the rest of the report marks them."""
    from warroom_tui.report import SIM_MARK

    return [{"series": s + SIM_MARK * sim, "agent": a + SIM_MARK * sim, "copy_share": v, "n": n}
            for s, a, sim, v, n in shares]


def copying_table(rows: list[dict]) -> Table:
    """Mean copy share per agent and series: copying peers is itself a convergence behaviour."""
    table = Table(title="copying: share of words repeated verbatim from what the agent had seen (5-word runs)")
    for col in ("series", "agent", "copy share", "messages"):
        table.add_column(col)
    for r in rows:
        table.add_row(escape(r["series"]), escape(r["agent"]), f"{r['copy_share']:.2f}", str(r["n"]))
    return table


async def export_command(args) -> int:
    if args.format == "coded-csv":
        return await export_coded(args)
    if args.format == "parquet":
        return await export_parquet(args)
    from warroom_tui.store.study_json import export_name, export_run

    store = await _open_store(args.db, read_only=True)
    written = 0
    taken: set[str] = set()
    try:
        runs = await store.runs(series=args.series)
        for run in runs:
            data = await export_run(store, run)
            target = unused_path(args.out / export_name(run), taken)  # two runs may come from same-named files
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
            written += 1
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    finally:
        await store.close()
    console.print(f"wrote {written} runs to {escape(str(args.out))}")
    return 0


async def export_parquet(args) -> int:
    from warroom_tui.data import MissingExtra, write_parquet

    store = await _open_store(args.db)
    try:
        written = await write_parquet(store, args.out)
    except MissingExtra as exc:
        raise CliError(f"--format parquet: {exc}") from None
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    finally:
        await store.close()
    console.print(f"wrote {escape(str(args.out))}: " + ", ".join(f"{name} {n}" for name, n in written.items()))
    return 0


async def export_coded(args) -> int:
    from warroom_tui.store.coded_csv import file_part, write_coded_csv

    codebook = _codebook(args.codebook)
    store = await _open_store(args.db, read_only=True)
    try:
        coders = [c for c in await store.coders() if args.coder in (None, c.name)]
        if not coders:
            raise CliError(f"--coder: no coder {args.coder!r} in the database" if args.coder
                           else "no labels yet: run `warroom judge` first")
        out: Path = args.out
        taken: set[str] = set()
        left_out = 0
        for c in coders:
            path = unused_path(out if len(coders) == 1 else
                               out.with_name(f"{out.stem}_{file_part(c.name)}{out.suffix or '.csv'}"), taken)
            try:
                got = await write_coded_csv(store, c.id, codebook, path, args.include_simulated)
            except OSError as exc:
                raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None
            left_out = got.simulated_left_out
            console.print(f"{escape(c.name)}: {len(got.rows)} rows -> {escape(str(path))}")
        if left_out:
            console.print(f"{left_out} simulated runs left out (--include-simulated to add them, marked)")
    finally:
        await store.close()
    return 0


def list_scenarios() -> int:
    from warroom_tui.scenario import ScenarioError, load_scenario, scenarios_dir

    table = Table(title="scenarios")
    for col in ("name", "series", "agents", "rounds", "description"):
        table.add_column(col)
    for path in sorted(scenarios_dir().glob("*.toml")):
        try:
            s = load_scenario(path)
        except ScenarioError as exc:
            print(f"warroom: {exc}", file=sys.stderr)
            continue
        table.add_row(escape(path.stem), escape(s.label), str(len(s.roster())), str(s.rounds),
                      escape(s.description))
    console.print(table)
    return 0
