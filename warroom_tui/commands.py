"""The headless commands behind the CLI (rich output, no Textual)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from warroom_tui.errors import CliError
from warroom_tui.opening import _checked, _codebook, _open_store, db_flag
from warroom_tui.outfiles import check_free, unused_path, write_whole
from warroom_tui.paths import default_db
from warroom_tui.store.db import Store, StoreError, describe_error
from warroom_tui.terminal import CleanConsole
from warroom_tui.untrusted import clean_text, label_problem, one_line
from warroom_tui.wording import counted

# scenarios, the engine's events and pydantic models are imported by the commands that need them:
# `warroom judge` starts without them. emoji=False: ":name:" in model text is text, never an emoji.
console = CleanConsole(stderr=False, highlight=False, emoji=False)


def _scenario(ref: str | None):
    from warroom_tui.scenario import DEFAULT_SCENARIO, ScenarioError, find_scenario, load_scenario

    try:
        return load_scenario(find_scenario(ref or DEFAULT_SCENARIO))
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


def executor_choice(args) -> tuple[str, type, dict]:
    """`--executor` and `--address` (run, sweep), checked at once: the name, its class and its options."""
    from warroom_tui.executors import check_address, executor_class

    name = getattr(args, "executor", "local")
    address = getattr(args, "address", None)
    if address and name != "ray":
        raise CliError("--address: only with --executor ray")
    try:
        executor_type = executor_class(name)
        if address:
            check_address(address)
    except ImportError as exc:
        raise CliError(f"--executor {name}: {exc}") from None
    except ConnectionError as exc:
        raise CliError(f"--address {address}: cannot reach the Ray cluster: {exc}") from None
    return name, executor_type, ({"address": address} if name == "ray" else {})


def on_interrupt(executor_now: Callable[[], Any]) -> Callable[[], None]:
    """From now on Ctrl+C or SIGTERM interrupts the command: the executor, once there, stores open runs as
    interrupted and starts no other; before it exists the command is cancelled (nothing to keep).
    Returns what removes the handlers."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    me = asyncio.current_task()

    def interrupt() -> None:
        executor = executor_now()
        if executor is not None:
            executor.interrupt()
        elif me is not None:
            me.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)

    def remove() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    return remove


async def run_on(executor, specs: list, address: str | None) -> list:
    """The specs' runs on the executor; a run another process owns, a broken run or an unreachable Ray
    cluster is one line."""
    from warroom_tui.runner import BatchFailed, RunOwned

    try:
        return await executor.run(specs)
    except (RunOwned, BatchFailed) as exc:
        raise CliError(str(exc)) from None
    except ConnectionError as exc:
        raise CliError(f"--address {address}: cannot connect to Ray ({exc})") from None


async def run_command(args) -> int:
    import asyncio

    from warroom_tui.engine import events as ev
    from warroom_tui.engine.debate import DebateSnapshot
    from warroom_tui.engine.status import RunStatus
    from warroom_tui.runner import with_backend
    from warroom_tui.modelid import is_simulated
    from warroom_tui.runspec import batch_specs
    from warroom_tui.scenario import MAX_RUNS, MAX_SEED
    from warroom_tui.session import preflight

    executor_name, executor_type, options = executor_choice(args)
    address = options.get("address")
    scenario = with_backend(_scenario(args.scenario), args.backend)
    if args.runs is not None and not 1 <= args.runs <= MAX_RUNS:
        raise CliError(f"--runs: must be from 1 to {MAX_RUNS:,}")
    if args.seed is not None and not -MAX_SEED <= args.seed <= MAX_SEED:
        raise CliError("--seed: must be within ±2**62 (seeds are stored as 64-bit integers)")
    executor = None
    remove_handlers = on_interrupt(lambda: executor)
    try:
        missing = await asyncio.to_thread(preflight, scenario)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    if missing:
        raise CliError(f"{scenario.name}: cannot start: " + "; ".join(missing))
    specs = batch_specs(scenario, args.runs, args.seed)
    runs = len(specs)
    store = await _open_store(args.db)
    simulated = any(is_simulated(a.model) for a in scenario.roster())
    if simulated:
        console.print("[bold yellow]SIMULATED[/] agents: scripted personas, not real models.")
    last_round = scenario.rounds if scenario.conditions.scaffolding != "isolated" else 0  # round 0: the brief
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=args.quiet, transient=False)
    title = f"{escape(scenario.name)}: runs"
    overall = progress.add_task(title, total=runs)
    bars: dict[str, TaskID] = {}
    many = executor_name != "local"  # runs at once: a bar per running run, removed when it ends

    votes: dict[str, str] = {}  # a debate's final vote per run

    async def on_event(event: ev.Event) -> None:
        if isinstance(event, DebateSnapshot) and event.rounds:
            last = event.rounds[-1]
            votes[event.run_uid] = (f"answer {event.answer}, vote {last.vote or '-'}{' (a tie)' if last.tied else ''} "
                                    f"({'right' if last.correct else 'wrong'}), {last.accuracy:.0%} of agents right")
        if isinstance(event, ev.RunStarted) and event.run_uid not in bars:
            bars[event.run_uid] = progress.add_task(f"  run {event.replicate + 1}: round", total=last_round)
        elif isinstance(event, ev.RoundDone) and event.run_uid in bars:
            progress.update(bars[event.run_uid], completed=event.round)  # numbered as the lab and the README
        elif isinstance(event, ev.RunDone):
            progress.advance(overall)
            if many and event.run_uid in bars:
                progress.remove_task(bars.pop(event.run_uid))

    def on_progress(counts) -> None:
        progress.update(overall, description=f"{title} · {counts.line()}")

    executor = executor_type(store, fresh=args.fresh, on_event=on_event, on_progress=on_progress if many else None,
                             **options)
    try:
        with progress:
            results = await run_on(executor, specs, address)
    finally:
        remove_handlers()
        executor.close()
        await store.close()
    table = Table(title=f"{escape(scenario.name)} ({escape(scenario.label)})")
    for col in ("run", "status", "last round", "messages", "errors", "crashed"):
        table.add_column(col)
    for r in results:
        table.add_row(escape(r.run_uid), str(r.status) + (" (stored)" if r.stored else ""), str(r.rounds),
                      str(r.messages), str(r.errors), escape(", ".join(r.crashed)) or "-")
    console.print(table)
    if many:
        console.print(f"{executor_name}: {executor.counts.line()}")
    for uid, vote in votes.items():
        console.print(f"debate {escape(uid)}: {escape(vote)}")
    console.print(f"stored in {escape(str(args.db or default_db()))}")
    if executor.interrupted:
        finished = sum(r.status != RunStatus.INTERRUPTED for r in results)
        print(f"warroom: interrupted after {finished} of {counted(runs, 'run')}; run the same command to resume",
              file=sys.stderr)
        return 130
    return 0 if all(r.status.finished for r in results) else 1


async def import_human_command(args) -> int:
    from warroom_tui.judge.human import HumanCsvError, agreement_with, import_human, read_human_csv

    if problem := label_problem(args.coder):  # a name printed in tables and lines
        raise CliError(f"--coder: {problem}")
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
        try:
            async with store.transaction():  # every file or none
                done = [(path, *await import_human(store, path, args.coder, codebook)) for path in args.paths]
                if not any(stored for _, stored, _ in done):  # the wrong database, most likely: no coder left behind
                    missing = sum(m for _, _, m in done)
                    files = ", ".join(str(p) for p in args.paths)
                    raise CliError(f"{files}: " + (f"not one of {counted(missing, 'labelled message')} is in the database "
                                                   "(import their transcripts first)" if missing else
                                                   "no labelled message") + "; nothing stored")
        except HumanCsvError as exc:  # what the database says of a file (a run it cannot tell): nothing stored
            raise CliError(str(exc)) from None
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
                    table.add_row(cell(c.name), *[f"{k[f]:.3f}" for f in flags + ["mean"]], str(int(k["n"])))
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
        raise CliError(f"{describe_error(store.path, exc)}; nothing was imported") from None
    finally:
        await store.close()
    console.print(f"imported {counted(added, 'run')} ({skipped} already stored)")
    table = Table(title="runs per series")
    table.add_column("series")
    table.add_column("runs", justify="right")
    for series, n in counts.items():
        table.add_row(cell(series), str(n))
    console.print(table)
    return 0


async def build_report(store: Store, coder: str | None, codebook, pairs=None, rq1_series=None,
                       include_simulated: bool = False, correction: str = "holm") -> dict:
    from warroom_tui.report import default_coder, study_report

    coder = coder or await default_coder(store, codebook.name)
    if coder is None:
        others = [c.name for c in await store.coders() if c.kind != "human"]
        if others:
            raise CliError(f"no labels from codebook {codebook.name!r} (the database has {', '.join(others[:4])}):"
                           " run `warroom judge` with that codebook first, or pass --coder NAME")
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
        if x == y:
            raise CliError(f"--compare {spec}: compares a series with itself")
        out.append((f"{x} vs {y}", x, y))
    return list(dict.fromkeys(out))  # a pair asked twice is one test (twice, it counted twice in the correction)


def check_series(rep: dict, args) -> None:
    """Every series the options name is among the runs reported: a typo left a comparison out of its family of
    tests (its correction changed with it), or showed RQ1 or the profiles of nothing, without a word."""
    known = set(rep["profiles"])
    asked = [(f"--compare {x}:{y}", s) for _, x, y in _pairs(args.compare) or [] for s in (x, y)]
    asked += [("--rq1-series", args.rq1_series)] if args.rq1_series not in (None, "all") else []
    asked += [("--profiles", s) for s in args.profiles or []]
    for option, series in asked:
        if series not in known:
            hint = "" if args.include_simulated else "; simulated runs are left out without --include-simulated"
            raise CliError(f"{option}: no series {series!r} among the runs reported (series: "
                           f"{', '.join(sorted(known)) or 'none'}{hint})")


async def report_command(args) -> int:
    if getattr(args, "factors", None):
        from warroom_tui.factorial_commands import factor_report_command

        return await factor_report_command(args)
    from warroom_tui.analysis.tables import report_group

    codebook = _codebook(args.codebook)
    from warroom_tui.analysis.debate_tables import debate_group
    from warroom_tui.report import debate_report, roles_report

    store = await _open_store(args.db, read_only=True)
    try:
        await _checked(store)
        debate = await debate_report(store, args.include_simulated)
        try:
            rep = await build_report(store, args.coder, codebook, _pairs(args.compare), args.rq1_series,
                                     args.include_simulated, args.correction)
        except CliError:
            if not debate["runs"]:
                raise
            rep = None  # debates are scored from their text: no labels needed
        if rep is not None:
            check_series(rep, args)
            rep["copying"] = copying_rows(await store.copy_shares(args.include_simulated))
            rep["roles"] = await roles_report(store, rep["coder"], codebook, args.include_simulated, args.correction)
    finally:
        await store.close()
    if args.json:
        from warroom_tui.report import strict_json

        print(json.dumps(strict_json({**(rep or {}), "debate": debate}), indent=2, allow_nan=False,
                         default=lambda v: None))
        return 0
    from warroom_tui.report import coverage_note, simulated_note

    if rep is None:
        console.print(f"{counted(debate['runs'], 'debate')} (no labels yet: `warroom judge` adds the study's statistics)"
                      + (f"; {debate['simulated_left_out']} simulated left out (--include-simulated to add them)"
                         if debate["simulated_left_out"] else ""))
        console.print(debate_group(debate, None))
        return 0
    console.print(counted(rep['runs'], 'run')  # whose labels: the next line (report_group's, the lab's too)
                  + simulated_note(rep, "--include-simulated to add them"))
    if not rep["runs"]:  # every table would be empty
        return 0
    if rep.get("coder_simulated"):
        console.print(SIMULATED_JUDGE.format(escape(rep["coder"])))
    if note := coverage_note(rep, db_flag(args)):
        console.print(f"[bold yellow]warning[/]: {escape(note)}")
    if rep.get("codebook_differs"):
        console.print(codebook_warning(rep["coder"], rep.get("labels_codebook") or codebook.name, codebook.name,
                                       args.codebook is not None))
    console.print(report_group(rep, args.profiles))
    if rep["copying"]:
        console.print(copying_table(rep["copying"]))
    console.print(debate_group(debate, rep["roles"], args.correction))
    return 0


def copying_rows(shares: list[tuple[str, str, bool, float, int]]) -> list[dict]:
    """The report's copying rows: simulated runs (when included) marked as the rest of the report marks them."""
    from warroom_tui.wording import SIM_MARK

    return [{"series": s + SIM_MARK * sim, "agent": a + SIM_MARK * sim, "copy_share": v, "n": n}
            for s, a, sim, v, n in shares]


def copying_table(rows: list[dict]) -> Table:
    """Mean copy share per agent and series: copying peers is itself a convergence behaviour."""
    table = Table(title="copying: share of words repeated verbatim from what the agent had seen (5-word runs)")
    for col in ("series", "agent", "copy share", "messages"):
        table.add_column(col)
    for r in rows:
        table.add_row(cell(r["series"]), cell(r["agent"]), f"{r['copy_share']:.2f}", str(r["n"]))
    return table


def cell(text: str) -> str:
    """A name from data as a table cell's markup: on one line (untrusted.one_line), escaped."""
    return escape(one_line(text))


def cannot_write(where: Path, exc: OSError) -> CliError:
    """One line: the file the system named (else `where`), and why."""
    return CliError(f"{exc.filename or where}: cannot write: {exc.strerror or exc}")


async def export_command(args) -> int:
    remove = on_interrupt(lambda: None)  # SIGTERM too stops it between two files (it left a partial one behind)
    try:
        if args.format == "coded-csv":
            return await export_coded(args)
        if args.format == "parquet":
            return await export_parquet(args)
        if args.format == "finetune":
            return await export_finetune(args)
        return await export_json(args)
    finally:
        remove()


async def export_json(args) -> int:
    from warroom_tui.store.study_json import StudyFormatError, export_path, export_run, inside

    store = await _open_store(args.db, read_only=True)
    written = 0
    taken: set[str] = set()
    try:
        files = []
        for run in await store.runs(series=args.series):
            try:  # names come from data: each part made safe, the whole checked to stay under --out
                target = inside(args.out, unused_path(export_path(args.out, run), taken))
            except StudyFormatError as exc:
                raise CliError(str(exc)) from None
            files.append((target, run))
        check_free([target for target, _ in files], args.force)
        for target, run in files:
            text = json.dumps(await export_run(store, run), ensure_ascii=False, indent=2)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_whole(target, text)
            written += 1
    except OSError as exc:
        raise cannot_write(args.out, exc) from None
    finally:
        await store.close()
    console.print(f"wrote {counted(written, 'run')} to {escape(str(args.out))}")
    return 0


async def export_parquet(args) -> int:
    from warroom_tui.data import MissingExtra, write_parquet

    store = await _open_store(args.db, read_only=True)
    try:
        written = await write_parquet(store, args.out, args.force)
    except MissingExtra as exc:
        raise CliError(f"--format parquet: {exc}") from None
    except OSError as exc:
        raise cannot_write(args.out, exc) from None
    finally:
        await store.close()
    console.print(f"wrote {escape(str(args.out))}: " + ", ".join(f"{name} {n}" for name, n in written.items()))
    return 0


async def export_finetune(args) -> int:
    from warroom_tui.store.finetune import collect, write

    store = await _open_store(args.db, read_only=True)
    try:
        export = await collect(store, args.include_simulated)
    finally:
        await store.close()
    if not export.debates:
        left = f" ({export.simulated_left_out} simulated left out: --include-simulated)" if export.simulated_left_out else ""
        raise CliError(f"--format finetune: no finished debate runs in the database{left}")
    try:
        written = write(export, args.out, args.force)
    except OSError as exc:
        raise cannot_write(args.out, exc) from None
    table = Table(title=f"finetuning examples from {export.debates} debates -> {escape(str(args.out))}")
    for col in ("agent", "role", "examples", "candidates", "file"):
        table.add_column(col)
    for tally, path in written:
        table.add_row(cell(tally.agent), cell(tally.role), str(len(tally.examples)), str(tally.candidates),
                      escape(path.name))
    console.print(table)
    if export.simulated_left_out:
        console.print(f"{export.simulated_left_out} simulated runs left out (--include-simulated to add them)")
    return 0


async def export_coded(args) -> int:
    from warroom_tui.store.coded_csv import coded_rows, file_part, write_coded_csv

    codebook = _codebook(args.codebook)
    store = await _open_store(args.db, read_only=True)
    try:
        await _checked(store)
        coders = [c for c in await store.coders() if args.coder in (None, c.name)]
        if not coders:
            raise CliError(f"--coder: no coder {args.coder!r} in the database" if args.coder
                           else "no labels yet: run `warroom judge` first")
        out: Path = args.out
        taken: set[str] = set()
        left_out = 0
        paths = [unused_path(out if len(coders) == 1 else
                             out.with_name(f"{out.stem}_{file_part(c.name)}{out.suffix or '.csv'}"), taken)
                 for c in coders]
        try:
            check_free(paths, args.force)
        except OSError as exc:  # a name too long, a folder that cannot be read
            raise cannot_write(out, exc) from None
        rows = [await coded_rows(store, c.id, codebook, args.include_simulated) for c in coders]
        if not any(got.rows for got in rows):  # a file of a header only: written, it was in the way of the next try
            left = rows[0].simulated_left_out
            raise CliError("no labelled messages to export" + (
                f" ({counted(left, 'simulated run')} left out: --include-simulated adds them)" if left else ""))
        for c, path, got in zip(coders, paths, rows):
            try:
                write_coded_csv(got, codebook, path, args.include_simulated)
            except OSError as exc:
                raise cannot_write(path, exc) from None
            left_out = got.simulated_left_out
            console.print(f"{escape(c.name)}: {len(got.rows)} rows -> {escape(str(path))}")
            kept = c.config.get("codebook_digest")
            if kept and kept != codebook.digest(c.kind):  # its flags read by another version's definitions
                console.print(codebook_warning(c.name, c.codebook or codebook.name, codebook.name,
                                               args.codebook is not None))
        if left_out:
            console.print(f"{left_out} simulated runs left out (--include-simulated to add them, marked)")
    finally:
        await store.close()
    return 0


SIMULATED_JUDGE = ("[bold yellow]SIMULATED[/] judge: {}'s labels are scripted (PHATIC from the word count, every other "
                   "flag on about a quarter of the messages by a hash of the text), not a reading of the messages: for "
                   "trying the pipeline only")


def codebook_warning(coder: str, made: str, read: str, given: bool) -> str:
    """The warning for labels made with another codebook (or another version of it) than the one they are read with."""
    what = (f"another version of codebook {made} than {'the one given' if given else 'the shipped one'}" if made == read
            else f"codebook {made}, read here with codebook {read}")
    return (f"[bold yellow]warning[/]: {escape(coder)}'s labels were made with {escape(what)}"
            " (pass the one they were made with: --codebook FILE)")


def list_scenarios() -> int:
    from warroom_tui.scenario import ScenarioError, load_scenario, scenarios_dir

    table = Table(title="scenarios")
    for col in ("name", "series", "agents", "rounds", "description"):
        table.add_column(col)
    for path in sorted(scenarios_dir().glob("*.toml")):
        try:
            s = load_scenario(path)
        except ScenarioError as exc:
            print(f"warroom: {clean_text(str(exc))}", file=sys.stderr)
            continue
        table.add_row(escape(path.stem), escape(s.label), str(len(s.roster())), str(s.rounds),
                      escape(s.description))
    console.print(table)
    return 0
