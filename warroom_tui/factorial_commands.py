"""The headless commands of factorial studies: sweep, the factor report, power, models (rich output)."""

from __future__ import annotations

import sys

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from warroom_tui.commands import cell, console, executor_choice, on_interrupt, run_on
from warroom_tui.engine import events as ev
from warroom_tui.opening import _checked, _open_store, db_flag
from warroom_tui.errors import CliError
from warroom_tui.modelid import is_simulated
from warroom_tui.paths import default_db
from warroom_tui.scenario import MAX_RUNS
from warroom_tui.wording import counted


async def sweep_command(args) -> int:
    import asyncio

    from warroom_tui.session import preflight
    from warroom_tui.sweep import DesignError, cells, find_design, load_design, run_specs

    executor_name, executor_type, options = executor_choice(args)
    address = options.get("address")
    if args.runs_per_cell is not None and not 1 <= args.runs_per_cell <= MAX_RUNS:
        raise CliError(f"--runs-per-cell: must be from 1 to {MAX_RUNS:,}")
    try:
        path = find_design(str(args.design))
        design = load_design(path)
        cell_list = cells(design, path, args.backend)
    except DesignError as exc:
        raise CliError(str(exc)) from None
    specs = run_specs(design, cell_list, args.runs_per_cell)
    per_cell = len(specs) // len(cell_list)
    if len(specs) > MAX_RUNS:
        raise CliError(f"{path}: {len(cell_list)} cells x {per_cell} runs is more than {MAX_RUNS:,} runs")
    executor = None
    remove_handlers = on_interrupt(lambda: executor)
    try:
        try:
            for c in cell_list:
                missing = await asyncio.to_thread(preflight, c.scenario)
                if missing:
                    raise CliError(f"{path}: cell {c.label}: cannot start: " + "; ".join(missing))
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None
        if args.backend == "sim" or all(is_simulated(a.model) for c in cell_list for a in c.scenario.roster()):
            console.print("[bold yellow]SIMULATED[/] agents: they play their tags (sim/tagged), not real models.")
        console.print(f"{escape(design.name)}: {len(cell_list)} cells x {per_cell} runs = {len(specs)} runs")
        store = await _open_store(args.db)
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, disable=args.quiet)
        title = "sweep: runs"
        overall = progress.add_task(title, total=len(specs))
        bars: dict[str, TaskID] = {}  # a bar per running run, removed when it ends

        async def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.RunStarted) and event.run_uid not in bars:
                s = event.scenario
                last = s.rounds if s.conditions.scaffolding != "isolated" else 0  # round 0 answers the brief
                label = ",".join(f"{k}={v}" for k, v in s.cell.items())
                bars[event.run_uid] = progress.add_task(f"  {escape(label)} run {event.replicate + 1}: round",
                                                        total=last)
            elif isinstance(event, ev.RoundDone) and event.run_uid in bars:
                progress.update(bars[event.run_uid], completed=event.round)  # as the lab counts
            elif isinstance(event, ev.RunDone):
                progress.advance(overall)
                if event.run_uid in bars:
                    progress.remove_task(bars.pop(event.run_uid))

        def on_progress(counts) -> None:
            progress.update(overall, description=f"{title} · {counts.line()}")

        executor = executor_type(store, fresh=args.fresh, on_event=on_event,
                                 on_progress=on_progress if executor_name != "local" else None, **options)
        try:
            with progress:
                results = await run_on(executor, specs, address)
        finally:
            executor.close()
            await store.close()
    finally:
        remove_handlers()
    done = sum(r.status.finished for r in results)
    stored = sum(r.stored for r in results)
    if executor_name != "local":
        console.print(f"{executor_name}: {executor.counts.line()}")
    console.print(f"{done} of {counted(len(specs), 'run')} finished ({stored} already stored), "
                  f"stored in {escape(str(args.db or default_db()))}")
    if executor.interrupted:
        print(f"warroom: interrupted after {done} of {counted(len(specs), 'run')}; run the same command to resume",
              file=sys.stderr)
        return 130
    return 0 if all(r.status.finished for r in results) and len(results) == len(specs) else 1


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[cell(x) for x in r])
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
    from warroom_tui.judge.codebook import CodebookError
    from warroom_tui.report import flag_coder

    if wanted is not None and await store.coder(wanted) is None:
        raise CliError(f"--coder: no coder {wanted!r} in the database")
    try:
        found = await flag_coder(store, flag, wanted, codebook_path)
    except CodebookError as exc:
        raise CliError(str(exc)) from None
    if found is None:
        raise CliError(f"--flag: no coder's codebook has {flag.upper()}; code the runs with one that does "
                       "(`warroom judge --codebook interaction` for HEDGE, REPAIR, CHALLENGE)")
    return found


async def factor_report_command(args) -> int:
    import json

    from warroom_tui.analysis.factor_tables import factor_group
    from warroom_tui.report import factor_study

    factors = _factors(args.factors)
    flag = (args.flag or "hedge").casefold()
    store = await _open_store(args.db, read_only=True)
    try:
        await _checked(store)
        coder, codebook = await _flag_coder(store, args.coder, flag, args.codebook)
        rep = await factor_study(store, coder, codebook, factors, flag, args.include_simulated)
    finally:
        await store.close()
    if args.json:
        from warroom_tui.report import strict_json

        print(json.dumps(strict_json(rep), indent=2, allow_nan=False, default=lambda v: None))
        return 0
    console.print(factor_group(rep))
    return 0


def _shipped_name(coder) -> str | None:
    """The shipped codebook a coder's labels follow, if it is one (else the default)."""
    from warroom_tui.judge.codebook import SHIPPED

    return coder.codebook if coder is not None and coder.codebook in SHIPPED else None


def _side(spec: str, run, series: str) -> bool:
    """A side of --compare: a series name, or cell levels `factor=level[,factor=level]`."""
    if "=" not in spec:
        return series == spec
    wanted = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    return all(str(run.cell.get(k)) == v for k, v in wanted.items())


async def power_command(args) -> int:
    import asyncio
    import json

    from warroom_tui.analysis.power import power_curve
    from warroom_tui.analysis.profiles import mean_pairwise_cosine
    from warroom_tui.analysis.stats import run_profiles
    from warroom_tui.opening import _codebook
    from warroom_tui.report import coverage_note, coverage_of, default_coder, load_runs

    x, sep, y = args.compare.partition(":")
    if not sep or not x or not y:
        raise CliError(f"--compare: expected X:Y (series names or cell levels such as naming=real), got {args.compare!r}")
    if x == y:
        raise CliError(f"--compare: {x!r} against itself: power compares two different sides")
    for name, value, low, high in (("--delta", args.delta, -10, 10), ("--alpha", args.alpha, 0, 1),
                                   ("--power", args.power, 0, 1)):
        if not low < value < high or (name == "--delta" and value == 0):
            raise CliError(f"{name}: {value} is out of range")
    store = await _open_store(args.db, read_only=True)
    try:
        await _checked(store)
        if args.flag:
            flag = args.flag.casefold()
            coder, codebook = await _flag_coder(store, args.coder, flag, args.codebook)
        else:
            flag = None
            codebook = _codebook(args.codebook)
            coder = args.coder or await default_coder(store, codebook.name)
            if coder is None:
                raise CliError(f"no labels from codebook {codebook.name} yet: run `warroom judge` first")
            if args.coder and args.codebook is None:
                codebook = _codebook(_shipped_name(await store.coder(coder)))
        loaded = await load_runs(store, coder, codebook, args.include_simulated)
        rows = {r.id: r for r in await store.runs()}
    except LookupError as exc:
        raise CliError(f"--coder: {exc}") from None
    finally:
        await store.close()
    values: dict[str, list[float]] = {x: [], y: []}
    for run in loaded.runs:
        if flag is not None:
            msgs = [m for ls in run.labels.values() for m in ls]
            value = sum(bool(m.get(flag)) for m in msgs) / len(msgs) if msgs else float("nan")
        else:
            value = mean_pairwise_cosine(run_profiles(run, codebook.trait_ids))
        if value != value:
            continue
        series = run.series
        for side in (x, y):
            if _side(side, rows[run.run_id], series.removesuffix(" (sim)") if args.include_simulated else series):
                values[side].append(value)
    for side in (x, y):
        if len(values[side]) < 3:
            raise CliError(f"--compare: {side!r} has {len(values[side])} pilot runs with labels; power needs at "
                           "least 3 a side (run a pilot sweep first"
                           + ("" if args.include_simulated else ", or --include-simulated for simulated runs") + ")")
    rep = await asyncio.to_thread(power_curve, values[x], values[y], args.delta, args.alpha, args.power)
    measure = f"{flag.upper()} rate per run" if flag else "mean pairwise cosine per run"
    compared = [i for i in loaded.counts if any(_side(side, rows[i], rows[i].series) for side in (x, y))]
    rep.update(x=x, y=y, measure=measure, coder=coder, coverage=coverage_of(loaded, compared))
    if args.json:
        from warroom_tui.report import strict_json

        print(json.dumps(strict_json(rep), indent=2, allow_nan=False))
        return 0
    console.print(f"{escape(measure)}, labels from {escape(coder)}; pilot: {escape(x)} n={rep['n_x']} mean "
                  f"{rep['mean_x']:.3f} (sd {rep['sd_x']:.3f}), {escape(y)} n={rep['n_y']} mean {rep['mean_y']:.3f} "
                  f"(sd {rep['sd_y']:.3f}); observed difference {rep['observed']:+.3f}")
    if note := coverage_note(rep, db_flag(args)):
        console.print(f"[bold yellow]warning[/]: {escape(note)}")
    if min(rep["n_x"], rep["n_y"]) < 10:
        console.print("a pilot of fewer than 10 runs a side gives a rough estimate: resampling cannot see more "
                      "spread than the pilot had")
    shown = []
    for c in rep["curve"]:  # a small curve: up to the first n past 0.95 (and past the target)
        shown.append(c)
        if c["power"] >= max(0.95, args.power) and len(shown) > 1:
            break
    bar = lambda p: "█" * round(p * 20)  # noqa: E731
    _print_table(f"power to detect a difference of {args.delta:+g} (alpha {args.alpha:g})", ["runs per cell", "power", ""],
                 [[str(c["n"]), f"{c['power']:.2f}", bar(c["power"])] for c in shown])
    needed = rep["needed"]
    console.print(f"runs per cell needed for power {args.power:g}: "
                  + (str(needed) if needed else f"more than {rep['curve'][-1]['n']}"))
    console.print(f"method: {escape(rep['method'])}")
    return 0


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def models_command(args) -> int:
    """The bundled models and every GGUF found (Ollama, LM Studio, the Hugging Face cache,
    WARROOM_GGUF_DIRS), with what their own metadata says."""
    from warroom_tui.providers import gguf, local

    rows: list[list[str]] = []

    def add(model: str, where: str, info, error: str = "") -> None:
        if info is None:
            rows.append([model, where, "-", "-", "-", "-", "-", "-", error or "not installed"])
            return
        t = info.tags()
        rows.append([model, where, _size(info.size), info.quantisation, "chat" if info.chat else "completion",
                     t["family"] or "-", t["base"] or "-", t["recipe"] or "-", ""])

    installed = local.available()
    for key, spec in local.SPECS.items():
        path = local.smollm2_path() if key == "smollm2" else (local.gemma_path() if installed[key] else None)
        try:
            add(f"{local.LOCAL_PREFIX}{key}", "bundled", gguf.read_header(path) if path else None)
        except gguf.GGUFError as exc:
            add(f"{local.LOCAL_PREFIX}{key}", "bundled", None, str(exc))
    for found in gguf.discover():
        add(found.model, found.where, found.info, found.error)
    columns = ["model", "where", "size", "quant", "prompt", "family", "base", "recipe", "problem"]
    if not any(r[-1] for r in rows):
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    _print_table("models (tags from each file's metadata: general.architecture, general.base_model.* or basename, "
                 "general.finetune)", columns, rows)
    console.print(f"searched: Ollama ({escape(str(gguf.ollama_root()))}), "
                  + ", ".join(escape(str(d)) for d in gguf.search_dirs()))
    return 0
