"""The headless commands behind the CLI (rich output, no Textual)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from warroom_tui.errors import CliError
from warroom_tui.engine import events as ev
from warroom_tui.paths import default_db
from warroom_tui.scenario import DEFAULT_SCENARIO, ScenarioError, find_scenario, load_scenario, scenarios_dir
from warroom_tui.store.db import Store, StoreError

console = Console(stderr=False, highlight=False)


async def _open_store(path: Path | None) -> Store:
    try:
        return await Store.connect(path or default_db())
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _scenario(ref: str | None):
    try:
        return load_scenario(find_scenario(ref or DEFAULT_SCENARIO))
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


async def run_command(args) -> int:
    from warroom_tui.runner import run_batch, with_backend

    scenario = with_backend(_scenario(args.scenario), args.backend)
    if args.runs is not None and args.runs < 1:
        raise CliError("--runs: must be at least 1")
    runs = args.runs or scenario.replicates
    store = await _open_store(args.db)
    simulated = any(a.model.startswith("sim/") for a in scenario.roster())
    if simulated:
        console.print("[bold yellow]SIMULATED[/] agents: scripted personas, not real models.")
    per_run = scenario.rounds + 1 if scenario.conditions.scaffolding != "isolated" else 1
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, disable=args.quiet, transient=False)
    overall = progress.add_task(f"{escape(scenario.name)}: runs", total=runs)
    current = {"task": None}

    async def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            current["task"] = progress.add_task(f"  run {event.replicate + 1} rounds", total=per_run)
        elif isinstance(event, ev.RoundDone) and current["task"] is not None:
            progress.advance(current["task"])
        elif isinstance(event, ev.RunDone):
            if current["task"] is not None:
                progress.update(current["task"], completed=per_run)
            progress.advance(overall)

    try:
        with progress:
            results = await run_batch(scenario, store, runs=runs, seed=args.seed, on_event=on_event)
    finally:
        await store.close()
    table = Table(title=f"{escape(scenario.name)} ({escape(scenario.label)})")
    for col in ("run", "status", "rounds", "messages", "errors", "crashed"):
        table.add_column(col)
    for r in results:
        table.add_row(escape(r.run_uid), r.status, str(r.rounds), str(r.messages), str(r.errors),
                      escape(", ".join(r.crashed)) or "-")
    console.print(table)
    console.print(f"stored in {escape(str(args.db or default_db()))}")
    return 0 if all(r.status in ("done", "failed") for r in results) else 1


async def import_command(args) -> int:
    from warroom_tui.store.study_json import StudyFormatError, import_study_run, load_study_file, study_files

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
    added = skipped = 0
    try:
        for source, data in checked:
            if await import_study_run(store, data, source) is None:
                skipped += 1
            else:
                added += 1
        counts = await store.counts()
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


async def export_command(args) -> int:
    from warroom_tui.store.study_json import export_name, export_run

    store = await _open_store(args.db)
    written = 0
    try:
        runs = await store.runs(series=args.series)
        for run in runs:
            data = await export_run(store, run)
            target = args.out / export_name(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
            written += 1
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    finally:
        await store.close()
    console.print(f"wrote {written} runs to {escape(str(args.out))}")
    return 0


def list_scenarios() -> int:
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
