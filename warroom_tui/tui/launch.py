"""`warroom lab`: load the scenario and settings, then open the app."""

from __future__ import annotations

from warroom_tui.errors import CliError
from warroom_tui.commands import _scenario
from warroom_tui.paths import default_db
from warroom_tui.settings import Settings, SettingsError, check_key_ids, load_settings, settings_path


def _settings() -> Settings:
    from warroom_tui.tui.app import binding_ids

    try:
        settings = load_settings()
        check_key_ids(settings, binding_ids())
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    return settings


def lab_command(args) -> int:
    scenario = _scenario(args.scenario)
    settings = _settings()
    if getattr(args, "judges", None):
        settings = settings.model_copy(update={"judges": [] if args.judges == ["none"] else args.judges})
    if getattr(args, "codebook", None):
        settings = settings.model_copy(update={"codebook": str(args.codebook)})
    codebook = None
    if settings.judges:
        from warroom_tui.opening import _codebook

        codebook = _codebook(settings.codebook)  # one line on a bad one; a note left in the terminal on a copy
    from warroom_tui.tui.app import LabApp

    db = args.db or default_db()
    _check_writable(db, settings.judges, codebook, settings.codebook)
    LabApp(scenario, db_path=db, settings=settings, backend=args.backend, settings_file=settings_path()).run()
    return 0


def _check_writable(db, judges: list[str] | None = None, codebook=None, where=None) -> None:
    """The lab writes every run: a database it cannot open for writing is one line, before the screen opens; so
    is a live judge whose labels there were made with another version of the codebook."""
    import asyncio

    from warroom_tui.store.db import Store, StoreError
    from warroom_tui.store.labels import CodebookChangedError

    async def check() -> None:
        async with Store.open(db) as store:
            if judges and codebook is not None:
                from warroom_tui.judge.service import check_coders, judge_identity

                await check_coders(store, [judge_identity(spec, codebook) for spec in judges], codebook)

    try:
        asyncio.run(check())
    except CodebookChangedError as exc:
        from warroom_tui.opening import changed_codebook

        raise changed_codebook(exc, where, db, judges) from None
    except StoreError as exc:
        raise CliError(str(exc)) from None


def replay_command(args) -> int:
    import asyncio

    from warroom_tui.store.db import Store, StoreError

    if args.speed <= 0:
        raise CliError("--speed: must be more than 0")
    db = args.db or default_db()

    async def exists() -> bool:
        try:
            async with Store.open(db, read_only=True) as store:
                return await store.run(args.run) is not None
        except StoreError as exc:
            raise CliError(str(exc)) from None

    if not asyncio.run(exists()):
        raise CliError(f"{args.run}: no such run in {db}")
    settings = _settings()
    from warroom_tui.scenario import DEFAULT_SCENARIO, find_scenario, load_scenario
    from warroom_tui.tui.app import LabApp

    LabApp(load_scenario(find_scenario(DEFAULT_SCENARIO)), db_path=db, settings=settings,
           replay=(args.run, args.speed), settings_file=settings_path()).run()
    return 0
