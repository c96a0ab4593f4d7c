"""Nothing slow is imported on start-up: litellm loads only when a model is first called."""

import signal
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def ctrl_c_handler():
    """`entry` ignores Ctrl+C once a command was interrupted (the process is ending): not this test process."""
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


def test_cli_and_engine_import_without_litellm_or_textual():
    code = ("import sys, warroom_tui.cli, warroom_tui.engine.loop, warroom_tui.runner, warroom_tui.store.db;"
            "print('litellm' in sys.modules, 'textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_judge_command_loads_its_terminal_output_only_once_codings_are_in():
    """rich (about 60 ms of imports) loads beside the built-in coder's workers, not before they start."""
    code = "import sys, warroom_tui.cli, warroom_tui.judging, warroom_tui.judge.service; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


def test_a_simulated_run_never_imports_litellm(tmp_path):
    """The simulator streams straight from the gateway; litellm (150 MB, seconds) is for real models only."""
    code = ("import sys; from warroom_tui.cli import main;"
            f"rc = main(['run', 'sim-demo', '--backend', 'sim', '--runs', '1', '--quiet', '--db', r'{tmp_path / 'w.db'}']);"
            "print(rc, 'litellm' in sys.modules, 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-3:] == ["0", "False", "False"]  # nor Ray: only `--executor ray` imports it


def test_judging_with_the_builtin_coder_never_imports_pydantic(tmp_path):
    """The codebook is checked without pydantic (0.2 s of `warroom judge`'s start) when it is valid as written."""
    db = tmp_path / "w.db"
    subprocess.run([sys.executable, "-m", "warroom_tui", "run", "sim-demo", "--backend", "sim", "--runs", "1",
                    "--quiet", "--db", str(db)], capture_output=True, text=True, check=True)
    code = ("import sys; from warroom_tui.cli import main;"
            f"rc = main(['judge', '--judge', 'builtin', '--db', r'{db}']);"
            "print(rc, 'pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-2:] == ["0", "False"]


JUDGE_SEES_THE_COLLECTOR = """
import gc, sys
from warroom_tui.judge import service
seen = []
code_rows = service.BuiltinJudge.code_rows

def watched(self, jobs):
    seen.append(gc.isenabled())
    return code_rows(self, jobs)

service.BuiltinJudge.code_rows = watched
sys.argv = ["warroom", "judge", "--judge", "builtin", "--db", sys.argv[1]]
from warroom_tui.start import entry
rc = entry()
print(rc, seen, gc.isenabled())
"""


def test_the_judge_batch_runs_with_the_cycle_collector_on(tmp_path):
    """The cycle collector is off while the modules load, and for `warroom judge` until its batch starts (what
    its start makes lives through the batch): the batch itself, an LLM judge's hours long, runs with it on."""
    db = tmp_path / "w.db"
    subprocess.run([sys.executable, "-m", "warroom_tui", "run", "sim-demo", "--backend", "sim", "--runs", "1",
                    "--quiet", "--db", str(db)], capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", JUDGE_SEES_THE_COLLECTOR, str(db)], capture_output=True, text=True,
                         check=True).stdout
    assert out.split()[-3:] == ["0", "[True]", "True"]


def test_ctrl_c_at_any_point_of_the_start_is_one_line_and_exit_130(monkeypatch, capsys):
    """Before a command catches its own Ctrl+C, the modules load and the arguments are read: the command's first
    module loads nothing else (checked in a fresh interpreter), and an interruption after it is one line."""
    code = "import sys, warroom_tui.start; print(sorted(m for m in sys.modules if m.startswith(('warroom', 'asyncio'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['warroom_tui', 'warroom_tui.start']"

    import warroom_tui.cli
    from warroom_tui.start import entry

    def interrupted(argv=None):
        raise KeyboardInterrupt  # as if pressed while `cli` (asyncio, argparse, ...) was still loading

    monkeypatch.setattr(warroom_tui.cli, "main", interrupted)
    assert entry() == 130
    assert capsys.readouterr().err == "warroom: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a Ctrl+C more while it ends: no traceback



def test_ctrl_c_while_a_module_makes_its_classes_is_one_line_and_exit_130(monkeypatch, capsys):
    """A Ctrl+C pressed while a loading module made a class came out as a RuntimeError traceback: Python wraps
    what a class' __set_name__ hooks raise (a dataclass' fields have them). Any other RuntimeError is still
    raised."""
    import warroom_tui.cli
    from warroom_tui.start import entry

    class Interrupting:
        def __set_name__(self, owner, name):
            raise KeyboardInterrupt

    def loading(argv=None):
        class Row:  # as a module being imported makes its classes
            field = Interrupting()

    monkeypatch.setattr(warroom_tui.cli, "main", loading)
    assert entry() == 130
    assert capsys.readouterr().err == "warroom: interrupted\n"

    def broken(argv=None):
        raise RuntimeError("not a Ctrl+C")

    monkeypatch.setattr(warroom_tui.cli, "main", broken)
    with pytest.raises(RuntimeError, match="not a Ctrl"):
        entry()

def test_an_interrupted_import_says_nothing_of_it_was_stored(tmp_path, monkeypatch, capsys):
    import json

    from warroom_tui.cli import main
    from warroom_tui.store import study_json

    async def interrupted(store, checked):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_json, "import_study_runs", interrupted)
    src = tmp_path / "t.json"
    src.write_text(json.dumps({"condition": {"series": "Z"}, "environment": {"agentRanking": [
        {"key": "a", "name": "A", "nickname": "Agent-A", "model": "m"}]},
        "conversation": {"messages": [{"sender": "user", "text": "b"}]}}))
    assert main(["import", str(src), "--db", str(tmp_path / "w.db")]) == 130
    assert capsys.readouterr().err == ("warroom: interrupted; what it was importing is not stored (transcripts are"
                                       " stored all at once, a human-coded file whole); run it again\n")
