"""The warroom lab application."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from warroom_tui.runner import with_backend
from warroom_tui.providers.keys import keys_summary
from warroom_tui.scenario import ScenarioError, load_scenario, scenarios_dir
from warroom_tui.session import RunSession
from warroom_tui.settings import Settings, save_setting, settings_path
from warroom_tui.store.db import Store
from warroom_tui.tui.browser import RunBrowser
from warroom_tui.tui.lab import LAB_BINDINGS, LabScreen
from warroom_tui.tui.modals import HelpScreen, OptionPicker
from warroom_tui.untrusted import clean_text

THEMES_DIR = Path(__file__).resolve().parents[1] / "themes"
BASE_RE = re.compile(r"/\*\s*base:\s*([\w-]+)\s*\*/")


def binding_ids() -> set[str]:
    """The ids a user may rebind under [keys] in settings.toml (the help screen lists them)."""
    return {b.id for b in LAB_BINDINGS if b.id}


def theme_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(THEMES_DIR.glob("*.tcss"))} if THEMES_DIR.is_dir() else {}


def theme_base(path: Path) -> str:
    match = BASE_RE.search(path.read_text(encoding="utf-8"))
    return match.group(1) if match else "textual-dark"


class LabApp(App):
    """`warroom lab`: watch a group conversation happen and change its conditions while it runs."""

    TITLE = "warroom"
    CSS_PATH = list(theme_files().values())
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, scenario, *, db_path: Path, settings: Settings | None = None, gateway=None,
                 virtual: bool = False, pause_after: int | None = None,
                 replay: tuple[str, float] | None = None, backend: str | None = None,
                 settings_file: Path | None = None) -> None:
        super().__init__()
        self.settings_file = settings_file
        """Where choices made in the lab (the theme) are remembered; None: not remembered."""
        self.replay = replay
        self.backend = backend
        """`sim` or None: every run the lab starts (new run, scenario picker) uses it."""
        self.scenario = scenario
        self.db_path = db_path
        self.settings = settings or Settings()
        self.virtual = virtual
        self.pause_after = pause_after
        self._gateway = gateway
        self.store: Store | None = None
        self.themes = theme_files()
        self.theme_name = ""
        self.sessions: list[RunSession] = []

    def notify(self, message: str, **kwargs) -> None:
        """Every notice (many carry a provider's or a file's text) is cleaned of escapes and controls."""
        super().notify(clean_text(message), **kwargs)

    @property
    def gateway(self):
        if self._gateway is None:
            from warroom_tui.providers.gateway import Gateway  # no litellm import here: that is lazy too

            self._gateway = Gateway(sim_pace=0 if self.virtual else self.settings.sim_pace)
        return self._gateway

    async def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        self.apply_theme(self.settings.theme if self.settings.theme in self.themes else "dark")
        self.store = await Store.connect(self.db_path)
        await self.store.reap()  # runs left `running` by a process that died show as interrupted
        if self.replay is not None:
            await self.action_replay(*self.replay)
            return
        await self.push_screen(self.lab_screen(self.scenario))

    def _judges(self) -> list:
        from warroom_tui.judge.service import make_judges

        if not self.settings.judges or self.codebook is None:
            return []
        return make_judges(self.settings.judges, self.codebook, self.gateway)

    def lab_screen(self, scenario) -> LabScreen:
        """A lab on a new live run of `scenario`, with the lab's backend."""
        assert self.store is not None
        session = RunSession(with_backend(scenario, self.backend), store=self.store, gateway=self.gateway,
                             judges=self._judges(), codebook=self.codebook, virtual=self.virtual,
                             pause_after=self.pause_after)
        self.sessions.append(session)
        return LabScreen(session, virtual=self.virtual)

    def new_run(self) -> None:
        """`R`: leave the current run (stored as stopped) and start a new live one."""
        self.switch_screen(self.lab_screen(self.scenario))

    async def action_replay(self, ref, speed: float = 1.0) -> None:
        """Play a stored run back in the lab, as if live."""
        assert self.store is not None
        try:
            session = await RunSession.replay(self.store, ref, speed, judges=self._judges(), codebook=self.codebook)
        except Exception as exc:  # a missing or odd run must not close the app
            self.notify(f"cannot replay {ref}: {exc}", severity="error", markup=False)
            if not self.screen_stack or len(self.screen_stack) <= 1:
                await self.push_screen(self.lab_screen(self.scenario))
            return
        self.sessions.append(session)
        await self.push_screen(LabScreen(session))

    @property
    def codebook(self):
        from warroom_tui.judge.codebook import load_codebook

        if not hasattr(self, "_codebook"):
            self._codebook = load_codebook(self.settings.codebook) if self.settings.judges else None
        return self._codebook

    async def on_unmount(self) -> None:
        for session in self.sessions:  # a quit lab stores its open run as stopped
            await session.close()
        if self._gateway is not None:
            await self._gateway.aclose()
        if self.store is not None:
            await self.store.close()

    # -- themes ------------------------------------------------------------
    def apply_theme(self, name: str) -> None:
        for other in self.themes:
            self.remove_class(f"theme-{other}")
        if name in self.themes:
            self.theme = theme_base(self.themes[name])
            self.add_class(f"theme-{name}")
        self.theme_name = name

    def action_next_theme(self) -> None:
        names = list(self.themes)
        if names:
            i = names.index(self.theme_name) if self.theme_name in names else -1
            self.apply_theme(names[(i + 1) % len(names)])
            self.notify(f"theme: {self.theme_name}", markup=False)
            self.remember("theme", self.theme_name)

    def remember(self, key: str, value: str) -> None:
        if self.settings_file is None:
            return
        try:
            save_setting(self.settings_file, key, value)
        except (OSError, ValueError) as exc:  # an unreadable or odd settings file: say so, keep going
            self.notify(f"cannot save {key} to {self.settings_file}: {exc}", severity="warning", markup=False)

    # -- screens -----------------------------------------------------------
    def get_key_display(self, binding: Binding) -> str:
        """Keys as a person reads them: `+`, `.`, `?`, `F1`, `^e` (the footer's short form for ctrl)."""
        shown = super().get_key_display(binding)
        return shown if binding.key_display else re.sub(r"\bf(\d+)$", r"F\1", shown)

    def keys_display(self, keys: str) -> str:
        """`plus,equals_sign` -> `+ =`; `ctrl+e` stays `ctrl+e` (the help screen's long form)."""
        shown = [self.get_key_display(Binding(k.strip(), "")) for k in keys.split(",") if k.strip()]
        return " ".join("ctrl+" + k[1:] if k.startswith("^") and len(k) > 1 else k for k in shown)

    def action_help(self) -> None:
        keymap = getattr(self, "_keymap", {}) or {}
        rows = [(self.keys_display(keymap.get(b.id, b.key) if b.id else b.key), b.description, b.id or "")
                for b in LAB_BINDINGS]
        rows.append(("ctrl+p", "Command palette", ""))
        rows.append(("tab / shift+tab", "Focus the next / previous agent panel (then + - for its temperature)", ""))
        rows.append(("↑ ↓ pgup pgdn home end", "Scroll the chat (ctrl+end: the newest; it follows again there)", ""))
        rows.append(("⏎ / click", "Details of the last message in view (or the one clicked)", ""))
        self.push_screen(HelpScreen(rows, str(settings_path())))

    def action_stats(self) -> None:
        from warroom_tui.judge.codebook import load_codebook
        from warroom_tui.tui.stats import StatsScreen

        if self.store is not None:
            self.push_screen(StatsScreen(self.store, self.codebook or load_codebook(self.settings.codebook)))

    def action_code(self) -> None:
        from warroom_tui.judge.codebook import load_codebook
        from warroom_tui.tui.coding import CodingScreen
        from warroom_tui.tui.modals import LinePrompt

        codebook = self.codebook or load_codebook(self.settings.codebook)

        def start(value: str | None) -> None:
            if value is None or self.store is None:
                return
            name, _, size = value.partition(",")
            try:
                n = int(size.strip() or 40)
            except ValueError:
                self.notify("write: name, sample size (for example: alice, 40)", severity="error", markup=False)
                return
            self.push_screen(CodingScreen(self.store, codebook, coder=name.strip() or "human", size=max(1, n)))

        self.push_screen(LinePrompt("Code by hand as (coder name, sample size); a known name resumes", "human, 40"),
                         start)

    def action_browser(self) -> None:
        if self.store is not None:
            self.push_screen(RunBrowser(self.store))

    def action_scenarios(self) -> None:
        """Each shipped scenario with its description, agents and the API keys it needs (with the lab's backend)."""
        options: list[tuple[str, str | Text]] = []
        for path in sorted(scenarios_dir().glob("*.toml")):
            try:
                scenario = with_backend(load_scenario(path), self.backend)
            except ScenarioError as exc:
                options.append((str(path), Text(f"{path.stem}: {exc}", style="dim")))
                continue
            roster = scenario.roster()
            label = Text(path.stem, style="bold")
            if scenario.description:
                label.append(f"  {scenario.description}", style="")
            label.append(f"\n  {len(roster)} agents: " + ", ".join(dict.fromkeys(a.model for a in roster)), style="dim")
            label.append("\n  " + keys_summary([(a.model, a.api_base) for a in roster]), style="italic")
            options.append((str(path), label))
        backend = f"; backend: {self.backend}" if self.backend else ""

        def open_scenario(path: str | None) -> None:
            if path is None:
                return
            try:
                scenario = load_scenario(path)
            except ScenarioError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self.scenario = scenario
            self.new_run()

        self.push_screen(OptionPicker(f"Open a scenario (starts a new run{backend})", options), open_scenario)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, LabScreen):
            for b in LAB_BINDINGS:
                if b.id in ("quit", "help"):
                    continue
                action, _, arg = b.action.partition("(")
                method = getattr(screen, f"action_{action}")
                yield SystemCommand(b.description, f"lab: {b.description.lower()} ({self.keys_display(b.key)})",
                                    (lambda m=method, a=arg: screen.run_worker(
                                        _call(m, a), exit_on_error=False)))


async def _call(method, arg: str):
    result = method(float(arg.rstrip(")"))) if arg else method()
    if hasattr(result, "__await__"):
        await result
