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



FACTOR_CHOICES = ("family", "base", "recipe", "partner")


def _factors(spec: str) -> list[str]:
    out = [f.strip().casefold() for f in spec.split(",") if f.strip()]
    bad = [f for f in out if f not in FACTOR_CHOICES]
    if bad or not out:
        raise CliError(f"--factors: expected a comma-separated list of {', '.join(FACTOR_CHOICES)}, got {spec!r}")
    if out == ["partner"]:
        raise CliError("--factors: partner needs a tag to condition on (family, base or recipe)")
    return out


async def _flag_coder(store, wanted: str | None, flag: str, codebook_path):
    """The coder (default: the built-in one, else any) whose codebook has the flag, and that codebook."""
    from warroom_tui.judge.codebook import SHIPPED, CodebookError, load_codebook

    def book(name: str):
        try:
            if codebook_path is not None:
                return load_codebook(codebook_path)
            return load_codebook(name) if name in SHIPPED else None
        except CodebookError as exc:
            raise CliError(str(exc)) from None

    coders = [c for c in await store.coders() if wanted in (None, c.name)]
    if wanted is not None and not coders:
        raise CliError(f"--coder: no coder {wanted!r} in the database")
    coders.sort(key=lambda c: (c.kind != "builtin", c.kind == "human", c.id))
    for c in coders:
        cb = book(c.codebook)
        if cb is not None and flag in cb.ids:
            return c.name, cb
    raise CliError(f"--flag: no coder has labels for {flag.upper()}; code the runs first, for example "
                   "`warroom judge --codebook interaction`")


async def factor_report_command(args) -> int:
    import asyncio
    import json

    from warroom_tui.analysis.factors import factor_report
    from warroom_tui.report import factor_observations

    factors = _factors(args.factors)
    flag = (args.flag or "hedge").casefold()
    store = await _open_store(args.db, read_only=True)
    try:
        coder, codebook = await _flag_coder(store, args.coder, flag, args.codebook)
        obs, left_out, unknown = await factor_observations(store, coder, args.include_simulated)
    finally:
        await store.close()
    rep = await asyncio.to_thread(factor_report, obs, flag, codebook.trait_ids, factors)
    rep.update(coder=coder, simulated_left_out=left_out, partners_unknown=unknown)
    if args.json:
        print(json.dumps(rep, indent=2, default=lambda v: None))
        return 0
    print_factor_report(rep)
    return 0


def _pct(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


def print_factor_report(rep: dict) -> None:
    name = rep["flag"].upper()
    console.print(f"{rep['messages']} coded messages ({rep['with_partner']} with a partner), labels from "
                  f"{escape(rep['coder'])}"
                  + (f"; {rep['simulated_left_out']} simulated runs left out (--include-simulated to add them)"
                     if rep["simulated_left_out"] else ""))
    if rep["partners_unknown"]:
        console.print(f"{rep['partners_unknown']} messages have no partners computed yet: run `warroom judge`")
    for tag, rows in rep["partner"].items():
        rates, shifts = [], []
        for r in rows:
            for lv in r["levels"]:
                ci = f"{lv['ci_low']:.2f}-{lv['ci_high']:.2f}" if lv["ci_low"] == lv["ci_low"] else "-"
                rates.append([r["responder"], r[tag] if tag != "recipe" else r["recipe"], lv["partner"],
                              _pct(lv["rate"]), ci, str(lv["n"]), str(lv["runs"])])
            if "shift" in r:
                rel = f"{r['relative_shift']:+.0%}" if r["relative_shift"] == r["relative_shift"] else "-"
                ci = f"{r['shift_ci'][0]:+.2f} to {r['shift_ci'][1]:+.2f}" if "shift_ci" in r else "-"
                shifts.append([r["responder"], r["high"], r["low"], f"{r['shift']:+.3f}", ci, rel])
        _print_table(f"{name} rate by the partner's {tag}",
                     ["responder", f"its {tag}", f"partner {tag}", "rate", "95% CI", "messages", "runs"], rates)
        _print_table(f"partner-conditioned shift of {name} ({tag})",
                     ["responder", "highest with", "lowest with", "shift", "95% CI", "relative"], shifts)
    console.print(f"rates: {rep['intervals']}. shift: the highest minus the lowest partner level (relative: to the "
                  "lowest), its interval from the same resamples; both levels are picked on the same data, so with "
                  "no partner effect a shift is still about the half-width of its interval.")
    d = rep["decomposition"]
    _print_table(f"between-agent behavioural distance ({', '.join(f.upper() for f in d['flags'])} profiles, "
                 f"{d['units']} agent-runs of {d['agents']} agents)",
                 ["factor", "levels", "share (R²)", "pseudo-F", "p"],
                 [[r["factor"], str(r["groups"]), _pct(r["r2"]), _pct(r["F"]) if r["F"] != float("inf") else "inf",
                   r["note"] or f"{r['p']:.3f}"] for r in d["factors"]])
    console.print(escape(d["method"]))
