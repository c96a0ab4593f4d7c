"""`warroom`: the lab (default) and its headless commands: run, import, export."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Coroutine

from warroom_tui import __version__
from warroom_tui.errors import CliError
from warroom_tui.paths import default_db
from warroom_tui.untrusted import clean_text

EXIT_BAD_INPUT = 2
INTERRUPTED = {"judge": "what was coded is stored (in chunks); run it again to code the rest",  # see _stored
               "import": "what it was importing is not stored (transcripts are stored all at once, a human-coded file"
                         " whole); run it again",
               "export": "the files written are whole, the others not written; run it again with --force to write all",
               "run": "every finished message is stored; run it again to take up where it stopped",
               "sweep": "every finished message is stored; run it again to take up where it stopped"}


class HelpFormatter(argparse.HelpFormatter):
    """Help with the default database's path, found only when help is shown (platformdirs: 5 ms of imports)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        return text.replace("DEFAULT_DB", str(default_db())) if text else text


class Parser(argparse.ArgumentParser):
    """The commands' parser: its subcommands' parsers are of this class too (argparse makes them so)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="warroom",
        description="A terminal lab for watching and measuring how several LLMs behave in one group chat.",
    )
    ap.add_argument("--version", action="version", version=f"warroom-tui {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def executor_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: one run after another in this process (default); ray: one Ray task per run")
        p.add_argument("--address", default=None,
                       help="--executor ray: the cluster to use (auto, host:6379, ray://host:10001; default: start"
                            " a local Ray instance)")

    def db_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=Path, default=None,
                       help="database file (default: $WARROOM_DB or DEFAULT_DB)")

    lab = sub.add_parser("lab", help="open the lab on a scenario (the default command)")
    lab.add_argument("scenario", nargs="?", default=None, help="a scenario file or shipped name (default: local-hetero)")
    lab.add_argument("--backend", choices=["sim"], default=None, help="sim: swap every agent for the simulator")
    lab.add_argument("--judge", dest="judges", action="append", metavar="builtin|MODEL|none",
                     help="live judges (default: settings, else builtin); none turns judging off")
    lab.add_argument("--codebook", type=Path, default=None, help="a codebook TOML (default: the study's v4)")
    db_arg(lab)

    rpl = sub.add_parser("replay", help="play a stored run back in the lab, as if live")
    rpl.add_argument("run", help="a run id or uid (see the run browser, or `warroom report`)")
    rpl.add_argument("--speed", type=float, default=1.0, help="playback speed (1 = about 30 words a second)")
    db_arg(rpl)

    run = sub.add_parser("run", help="run a scenario headless, storing every message")
    run.add_argument("scenario", nargs="?", default=None, help="a scenario file or shipped name (default: local-hetero)")
    run.add_argument("--runs", type=int, default=None, help="replicates to run (default: the scenario's)")
    run.add_argument("--seed", type=int, default=None, help="base seed (replicate i uses seed + i)")
    run.add_argument("--backend", choices=["sim"], default=None, help="sim: swap every agent for the simulator")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--fresh", action="store_true",
                     help="start new runs even if this scenario and seed ran before (default: take up where it stopped)")
    executor_args(run)
    db_arg(run)

    swp = sub.add_parser("sweep", help="run a factorial design: every cell of its factors, replicates each")
    swp.add_argument("design", type=Path, help="a design TOML or shipped name (recipe-sim, recipe-factorial)")
    swp.add_argument("--runs-per-cell", type=int, default=None, help="replicates per cell (default: the design's)")
    swp.add_argument("--backend", choices=["sim"], default=None,
                     help="sim: every agent plays its tags in the simulator (sim/tagged)")
    swp.add_argument("--quiet", action="store_true", help="no progress bars")
    swp.add_argument("--fresh", action="store_true", help="start new runs (default: take up where it stopped)")
    executor_args(swp)
    db_arg(swp)

    imp = sub.add_parser("import", help="import the study's transcript JSON files (files or folders), or a human CSV")
    imp.add_argument("paths", nargs="+", type=Path)
    imp.add_argument("--human", action="store_true", help="the paths are human-coded CSV files (like human_dev.csv)")
    imp.add_argument("--coder", default="human", help="--human: the coder name to store the labels under")
    imp.add_argument("--codebook", type=Path, default=None, help="--human: the codebook the labels follow")
    db_arg(imp)

    judge = sub.add_parser("judge", help="code every uncoded message in the store")
    judge.add_argument("--judge", dest="judges", action="append", metavar="builtin|MODEL",
                       help="a judge: builtin (default) or any litellm model id; repeat for a panel")
    judge.add_argument("--codebook", type=Path, default=None, help="a codebook TOML (default: the study's v4)")
    judge.add_argument("--timeout", type=float, default=60.0, help="seconds per LLM judge call")
    judge.add_argument("--recode", action="store_true",
                       help="delete these judges' labels and code every message again (needed after the codebook"
                            " changed without a new name)")
    db_arg(judge)

    rep = sub.add_parser("report", help="the study's statistics for the runs in the database")
    rep.add_argument("--json", action="store_true", help="print JSON instead of tables")
    rep.add_argument("--coder", default=None, help="whose labels (default: the conservative panel, else builtin)")
    rep.add_argument("--compare", action="append", metavar="X:Y", help="series to compare (default: the study's)")
    rep.add_argument("--rq1-series", default=None, help="series for RQ1 (default: A when present, else the series with the most runs; all: pool every series)")
    rep.add_argument("--profiles", action="append", metavar="SERIES", help="series whose profiles to show (default: all)")
    rep.add_argument("--codebook", type=Path, default=None, help="the codebook the labels follow")
    rep.add_argument("--include-simulated", action="store_true",
                     help="include simulated runs, as their own series marked (sim) (default: left out)")
    rep.add_argument("--factors", default=None, metavar="family,recipe,partner",
                     help="the recipe-versus-family report: flag rates by partner tag, distance shares by tag")
    rep.add_argument("--flag", default=None, help="--factors: the flag conditioned on the partner (default: HEDGE)")
    rep.add_argument("--correction", choices=["holm", "bonferroni", "none"], default="holm",
                     help="multiple-comparison correction within each family of tests (default: holm)")
    db_arg(rep)

    pw = sub.add_parser("power", help="runs per cell a comparison needs, by resampling stored (pilot) runs")
    pw.add_argument("--compare", required=True, metavar="X:Y",
                    help="two series, or cell levels such as panel=a+b:panel=a+c or naming=neutral:naming=real")
    pw.add_argument("--delta", type=float, default=0.1, help="the difference to detect (default 0.1)")
    pw.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    pw.add_argument("--power", type=float, default=0.8, help="the power wanted (default 0.8)")
    pw.add_argument("--flag", default=None, help="compare a flag's rate per run (default: mean pairwise cosine)")
    pw.add_argument("--coder", default=None, help="whose labels (default: as the report)")
    pw.add_argument("--codebook", type=Path, default=None, help="the codebook the labels follow")
    pw.add_argument("--include-simulated", action="store_true", help="use simulated runs too (a pilot sweep)")
    pw.add_argument("--json", action="store_true", help="print JSON")
    db_arg(pw)

    exp = sub.add_parser("export", help="export stored runs or labels")
    exp.add_argument("--format", choices=["warroom-json", "coded-csv", "parquet", "finetune"], default="warroom-json",
                     help="what to write (default: warroom-json, the study's transcript format)")
    exp.add_argument("--out", type=Path, required=True,
                     help="warroom-json, parquet, finetune: a folder; coded-csv: a file (one per coder when there "
                          "are several)")
    exp.add_argument("--force", action="store_true",
                     help="replace files already there (default: refused, nothing written)")
    exp.add_argument("--series", default=None, help="warroom-json: only runs of this series")
    exp.add_argument("--coder", default=None, help="coded-csv: only this coder")
    exp.add_argument("--codebook", type=Path, default=None, help="coded-csv: the codebook the labels follow")
    exp.add_argument("--include-simulated", action="store_true",
                     help="coded-csv: include simulated runs, with a `simulated` column; finetune: include "
                          "simulated debates (default: left out)")
    db_arg(exp)

    mods = sub.add_parser("models", help="bundled models and GGUF files found on this machine (Ollama, LM Studio, HF)")
    mods.set_defaults(command="models")

    scen = sub.add_parser("scenarios", help="list the shipped scenarios")
    scen.set_defaults(command="scenarios")
    return ap


def with_default_command(argv: list[str], commands) -> list[str]:
    """`warroom --db X`, `warroom local-hetero`: the lab, whenever the first argument is not a command."""
    if argv and (argv[0] in commands or argv[0] in ("-h", "--help", "--version")):
        return argv
    return ["lab", *argv]


def _run(command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace) -> int:
    """An async command in a new event loop, the loop made before the command's coroutine: a Ctrl+C while the
    loop is being made leaves no coroutine that never ran (a warning at exit)."""
    with asyncio.Runner() as runner:
        if args.command == "judge":
            setattr(runner, "_on_sigint", partial(_second_ctrl_c_quits, runner, getattr(runner, "_on_sigint")))
        runner.get_loop()
        return runner.run(command(args))


def _second_ctrl_c_quits(runner: asyncio.Runner, first: Callable[..., None], signum, frame, main_task) -> None:
    """`warroom judge`: the first Ctrl+C cancels the command (asyncio's own handling), which stores what it
    finished and stops its workers; a second ends the process there and then. asyncio raises that one as a
    KeyboardInterrupt wherever the command is: inside the acquisition of a lock of the workers' pool it left the
    process waiting for good (1 of 26 double presses). What was committed is in the database; the workers are
    stopped first."""
    if not getattr(runner, "_interrupt_count", 0):
        return first(signum, frame, main_task)
    import multiprocessing

    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(1)  # reaped: none left behind as a zombie
    if os.isatty(1):
        os.write(1, b"\x1b[?25h")  # the progress bar hid the cursor: shown again, as its own ending does
    os.write(2, b"\nwarroom: interrupted again: stopped at once (what was stored is kept)\n")
    os._exit(130)


def _command(command: str) -> Callable[[argparse.Namespace], int]:
    """The command's function, its modules loaded."""
    if command == "replay":
        from warroom_tui.tui.launch import replay_command
        return replay_command
    if command == "lab":
        from warroom_tui.tui.launch import lab_command
        return lab_command
    if command == "models":
        from warroom_tui.factorial_commands import models_command
        return models_command
    if command == "scenarios":
        from warroom_tui.commands import list_scenarios
        return lambda args: list_scenarios()
    if command == "run":
        from warroom_tui.commands import run_command as job
    elif command == "sweep":
        from warroom_tui.factorial_commands import sweep_command as job
    elif command == "import":
        from warroom_tui.commands import import_command as job
    elif command == "judge":
        from warroom_tui.judging import judge_command as job
    elif command == "report":
        from warroom_tui.commands import report_command as job
    elif command == "power":
        from warroom_tui.factorial_commands import power_command as job
    elif command == "export":
        from warroom_tui.commands import export_command as job
    else:
        return lambda args: 0
    return partial(_run, job)


def _stored(args) -> str:
    """What an interrupted `judge` stored, in whole chunks (judge_command keeps the count as each is stored)."""
    stored = getattr(args, "stored", None) or {}
    if not stored:
        return "no chunk was finished, nothing stored"
    return ", ".join(f"{clean_text(name)} stored {done:,} of {total:,} codings" for name, (done, total) in stored.items())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    args = parser.parse_args(with_default_command(list(sys.argv[1:] if argv is None else argv), commands))
    command = args.command
    try:
        run = _command(command)
        if not gc.isenabled():  # warroom_tui.start turned the cycle collector off while the modules loaded
            gc.freeze()  # what they made lives as long as the process: left out of the collector's passes
            if command != "judge":  # the judge's start (its codebook compiled, its store read) makes only what
                gc.enable()  # its batch keeps: it turns the collector on as its batch starts (judge_store)
        return run(args)
    except CliError as exc:
        print(f"warroom: {clean_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, asyncio.CancelledError):
        said = INTERRUPTED.get(command, "")
        if command == "judge" and getattr(args, "deleted", False):  # --recode's first step is done: not again
            said = f"{_stored(args)}; run it again without --recode to code the rest"
        elif command == "judge" and getattr(args, "recode", False):  # stopped before it deleted anything
            said = "nothing was deleted or coded yet; run it again (with --recode) to code every message again"
        elif command == "judge":
            said = f"{_stored(args)}; run it again to code the rest"
        print(f"warroom: interrupted{'; ' + said if said else ''}", file=sys.stderr)
        return 130
    except sqlite3.DatabaseError as exc:  # a database that broke under a command: one line, never a traceback
        from warroom_tui.paths import default_db
        from warroom_tui.store.db import describe_error

        print(f"warroom: {clean_text(describe_error(getattr(args, 'db', None) or default_db(), exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # the store's own refusals (a coder name taken by another kind, ...): one line
        from warroom_tui.store.base import StoreError

        if not isinstance(exc, StoreError):
            raise
        print(f"warroom: {' '.join(clean_text(str(exc)).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
