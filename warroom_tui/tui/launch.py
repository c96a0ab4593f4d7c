"""`warroom lab`: load the scenario and settings, then open the app."""

from __future__ import annotations

from warroom_tui.errors import CliError
from warroom_tui.commands import _scenario
from warroom_tui.paths import default_db
from warroom_tui.runner import with_backend
from warroom_tui.settings import SettingsError, load_settings


def lab_command(args) -> int:
    scenario = with_backend(_scenario(args.scenario), args.backend)
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    if getattr(args, "judges", None):
        settings = settings.model_copy(update={"judges": [] if args.judges == ["none"] else args.judges})
    if getattr(args, "codebook", None):
        settings = settings.model_copy(update={"codebook": str(args.codebook)})
    if settings.judges:
        from warroom_tui.judge.codebook import CodebookError, load_codebook

        try:
            load_codebook(settings.codebook)
        except CodebookError as exc:
            raise CliError(str(exc)) from None
    from warroom_tui.tui.app import LabApp

    LabApp(scenario, db_path=args.db or default_db(), settings=settings).run()
    return 0
