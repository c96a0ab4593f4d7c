"""The headless commands of factorial studies: sweep, the factor report, power, models (rich output)."""

from __future__ import annotations

import sys

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from warroom_tui.commands import _open_store, console
from warroom_tui.engine import events as ev
from warroom_tui.errors import CliError
from warroom_tui.paths import default_db


async def sweep_command(args) -> int:
    import asyncio
    import signal

    from warroom_tui.providers.gateway import Gateway
    from warroom_tui.runner import BatchFailed, RunOwned, RunSpec
    from warroom_tui.scenario import Scenario
    from warroom_tui.session import preflight
    from warroom_tui.sweep import DesignError, LocalExecutor, cells, find_design, load_design, run_specs

    if args.runs_per_cell is not None and args.runs_per_cell < 1:
        raise CliError("--runs-per-cell: must be at least 1")
    try:
        path = find_design(str(args.design))
        design = load_design(path)
        cell_list = cells(design, path, args.backend)
    except DesignError as exc:
        raise CliError(str(exc)) from None
    specs = run_specs(design, cell_list, args.runs_per_cell)
    for c in cell_list:
        missing = preflight(c.scenario)
        if missing:
            raise CliError(f"{path}: cell {c.label}: cannot start: " + "; ".join(missing))
    if args.backend == "sim" or all(a.model.startswith("sim/") for c in cell_list for a in c.scenario.roster()):
        console.print("[bold yellow]SIMULATED[/] agents: they play their tags (sim/tagged), not real models.")
    per_cell = len(specs) // len(cell_list)
    console.print(f"{escape(design.name)}: {len(cell_list)} cells x {per_cell} runs = {len(specs)} runs")
    store = await _open_store(args.db)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, disable=args.quiet)
    overall = progress.add_task("sweep: runs", total=len(specs))
    cell_task: dict[str, TaskID] = {}
    current: dict[str, object] = {"cell": None, "run": None}

    def on_spec(spec: RunSpec) -> None:
        label = ",".join(f"{k}={v}" for k, v in spec.scenario.cell.items())
        if label not in cell_task:
            if current["cell"] is not None:
                progress.update(current["cell"], visible=False)  # type: ignore[arg-type]
            cell_task[label] = progress.add_task(f"  cell {escape(label)}", total=per_cell)
            current["cell"] = cell_task[label]

    async def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            if current["run"] is not None:
                progress.remove_task(current["run"])  # type: ignore[arg-type]
            s: Scenario = event.scenario
            current["run"] = progress.add_task(f"    run {event.replicate + 1} rounds", total=s.rounds + 1)
        elif isinstance(event, ev.RoundDone) and current["run"] is not None:
            progress.update(current["run"], completed=event.round + 1)  # type: ignore[arg-type]
        elif isinstance(event, ev.RunDone):
            progress.advance(overall)
            if current["cell"] is not None:
                progress.advance(current["cell"])  # type: ignore[arg-type]

    gateway = Gateway()
    executor = LocalExecutor()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, executor.interrupt)
    try:
        with progress:
            results = await executor(specs, store, gateway, fresh=args.fresh, on_event=on_event, on_spec=on_spec)
    except (RunOwned, BatchFailed) as exc:
        raise CliError(str(exc)) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await gateway.aclose()
        await store.close()
    done = sum(r.status.finished for r in results)
    stored = sum(r.stored for r in results)
    console.print(f"{done} of {len(specs)} runs finished ({stored} already stored), "
                  f"stored in {escape(str(args.db or default_db()))}")
    if executor.interrupted:
        print(f"warroom: interrupted after {done} of {len(specs)} runs; run the same command to resume",
              file=sys.stderr)
        return 130
    return 0 if all(r.status.finished for r in results) and len(results) == len(specs) else 1


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[escape(x) for x in r])
    console.print(table)

