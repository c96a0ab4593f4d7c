"""`warroom judge`: code every uncoded message of a store. Its terminal output (rich) loads only once the
first codings are in: with the built-in coder that is after its workers have started, so the import runs
beside the coding instead of before it."""

from __future__ import annotations

from typing import Any

from warroom_tui.errors import CliError
from warroom_tui.opening import _codebook, _open_store, changed_codebook
from warroom_tui.untrusted import label_problem


class LazyProgress:
    """The judges' progress bars, made (rich imported, the display started) at the first update."""

    def __init__(self, ticking: bool) -> None:
        self.ticking = ticking  # an LLM judge: redrawn by rich's thread; the built-in coder: at each chunk
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def update(self, name: str, done: int, total: int) -> None:
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from warroom_tui.commands import console

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=console, auto_refresh=self.ticking)
            self.progress.start()
        if name not in self.tasks:
            from rich.markup import escape

            self.tasks[name] = self.progress.add_task(escape(name), total=total)
        self.progress.update(self.tasks[name], completed=done, total=total, refresh=not self.ticking)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


async def judge_command(args) -> int:
    from warroom_tui.judge.service import judge_store, make_judges
    from warroom_tui.judge.types import simulated_coder
    from warroom_tui.store.labels import CodebookChangedError

    for spec in args.judges or []:  # a judge's name is its coder's, printed in tables and lines
        if problem := label_problem(spec):
            raise CliError(f"--judge: {problem}")
    codebook = _codebook(args.codebook)
    judges = make_judges(args.judges or ["builtin"], codebook, timeout=args.timeout)
    store = await _open_store(args.db, must_exist=True)
    for j in judges:
        if simulated_coder(j.name):  # rich and the commands loaded only then (the built-in coder's start stays light)
            from rich.markup import escape

            from warroom_tui.commands import SIMULATED_JUDGE, console

            console.print(SIMULATED_JUDGE.format(escape(j.name)))
    # the built-in coder reports in quick chunks: the bar is redrawn then, not by a thread that would
    # compete for the interpreter with the batch (it cost the corpus' judging a second)
    progress = LazyProgress(ticking=any(j.kind != "builtin" for j in judges))
    try:
        # each backfill imports what it needs (the engine, the scenarios) only when there is something to fill
        runs = await store.runs_without_partners()
        if runs:  # messages stored before partners were measured
            from warroom_tui.store.recorder import backfill_partners

            await backfill_partners(store, runs)
        if await store.has_untagged_imports():  # study runs imported before agents had tags
            from warroom_tui.scenario import shipped_tags

            await store.fill_imported_tags(shipped_tags())
        try:
            args.stored = {}  # judge -> (stored, to do): what an interruption says

            def stored(name: str, done: int, total: int) -> None:
                args.stored[name] = (done, total)
                progress.update(name, done, total)

            report = await judge_store(store, judges, codebook, on_progress=stored, recode=args.recode,
                                       on_deleted=lambda: setattr(args, "deleted", True))  # for an interruption
        except CodebookChangedError as exc:
            raise changed_codebook(exc, args.codebook, args.db, args.judges) from None
        finally:
            progress.stop()
    finally:
        for j in judges:
            await j.aclose()
        await store.close()
    from rich.markup import escape
    from rich.table import Table

    from warroom_tui.commands import console

    table = Table(title=f"judged with codebook {escape(codebook.name)}")
    for col in ("judge", "coded", "uncoded", "why uncoded"):
        table.add_column(col)
    for name in report.coded:
        why = ", ".join(f"{k} {v}" for k, v in report.reasons[name].most_common(3)) or "-"
        table.add_row(escape(name), str(report.coded[name]), str(report.uncoded[name]), escape(why))
    console.print(table)
    if report.deleted:
        console.print(f"--recode: {report.deleted:,} earlier codings deleted first")
    elif not any(report.coded.values()) and not any(report.uncoded.values()):
        console.print("nothing left to code: every message has these judges' labels (--recode codes them again)")
    for (a, b), ks in report.kappa.items():
        t = Table(title=f"Cohen's kappa {escape(a)} vs {escape(b)} (n={int(ks['n'])})")
        for f in codebook.ids:
            t.add_column(f)
        t.add_row(*[f"{ks[f]:.3f}" for f in codebook.ids])
        console.print(t)
    return 0
