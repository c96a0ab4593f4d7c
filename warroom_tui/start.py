"""The `warroom` command's first step: only this module is loaded before a Ctrl+C can be caught, so an
interruption at any later point (the modules still loading, the arguments read) ends the command with one line."""

import gc
import signal
import sys


def entry() -> int:
    """`cli.main`, then the process ends, and what is still alive goes with it. Frozen, it is skipped by the
    cycle collector's last pass over everything at exit (0.1 s after coding a corpus)."""
    gc.disable()  # while the modules load: what they make lives as long as the process (cli.main turns it on)
    try:
        from warroom_tui.cli import main

        code = main()
    except KeyboardInterrupt:  # before or after a command catches its own (cli.main)
        print("warroom: interrupted", file=sys.stderr)
        code = 130
    except RuntimeError as exc:
        if not _from_ctrl_c(exc):
            raise
        print("warroom: interrupted", file=sys.stderr)
        code = 130
    if code == 130:  # interrupted, and said so: a Ctrl+C more while the process ends (its connections closed, its
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # objects freed) would only add a traceback to that line
    gc.freeze()
    gc.enable()  # off still if the command never started
    return code


def _from_ctrl_c(exc: BaseException) -> bool:
    """A Ctrl+C that Python wrapped as it went by: one pressed while a class of a loading module was being made
    (its __set_name__ hooks) comes out as a RuntimeError caused by it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__
    return False
