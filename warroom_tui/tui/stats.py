"""The statistics screen: the study's tables for the runs in the database, refreshed as runs finish."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from warroom_tui.analysis.factor_tables import factor_group
from warroom_tui.analysis.tables import report_group
from warroom_tui.store.db import Store
from warroom_tui.untrusted import clean_text
from warroom_tui.wording import counted


class StatsScreen(Screen):
    BINDINGS = [Binding("escape,q,S", "app.pop_screen", "Back"), Binding("r", "refresh", "Refresh"),
                Binding("i", "toggle_simulated", "Simulated runs in/out")]
    DEFAULT_CSS = """
    StatsScreen #status { height: 1; padding: 0 1; background: $panel; }
    StatsScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, store: Store, codebook, coder: str | None = None, poll: float = 3.0,
                 include_simulated: bool = False) -> None:
        super().__init__()
        self.include_simulated = include_simulated
        self.store = store
        self.codebook = codebook
        self.coder = coder
        self.poll = poll
        self._seen: tuple = ()
        self.report: dict | None = None
        self.factors: dict | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with VerticalScroll():
            yield Static(id="tables")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = "statistics"
        await self.action_refresh()
        if self.poll:
            self.set_interval(self.poll, self._maybe_refresh)

    async def _fingerprint(self) -> tuple:
        return await self.store.progress_mark()

    async def _maybe_refresh(self) -> None:
        if await self._fingerprint() != self._seen:
            await self.action_refresh()

    async def action_refresh(self) -> None:
        from warroom_tui.report import coverage_note, default_coder, simulated_note, study_report

        self._seen = await self._fingerprint()
        status = self.query_one("#status", Static)
        coder = self.coder or await default_coder(self.store, self.codebook.name)
        self.factors = await self._factor_report()
        factors = factor_group(self.factors) if self.factors else ""
        if coder is None:
            status.update(Text(f"no labels from codebook {self.codebook.name} yet: run some messages through a judge"))
            self.query_one("#tables", Static).update(factors)
            return
        rep = await study_report(self.store, coder, self.codebook, include_simulated=self.include_simulated)
        note = simulated_note(rep, "i to include them")
        if not rep["runs"]:
            self.report = None
            status.update(Text(clean_text(f"no finished runs with labels from {coder}{note}")))
            self.query_one("#tables", Static).update(factors)
            return
        self.report = rep
        partly = coverage_note(rep, f" --db {self.store.path}")
        status.update(Text(clean_text(f"{counted(rep['runs'], 'run')} · labels from {coder}{note} · refreshed as runs finish"
                                      " (r to refresh now)" + (f"\n{partly}" if partly else ""))))
        tables = report_group(rep)
        self.query_one("#tables", Static).update(Group(tables, factors) if self.factors else tables)

    async def _factor_report(self) -> dict | None:
        """The recipe-versus-family report, when a coder has HEDGE labels and the runs have tagged agents."""
        from warroom_tui.report import factor_study, flag_coder

        found = await flag_coder(self.store, "hedge")
        if found is None:
            return None
        rep = await factor_study(self.store, found[0], found[1], ["family", "recipe", "partner"], "hedge",
                                 self.include_simulated)
        return rep if rep["messages"] else None

    async def action_toggle_simulated(self) -> None:
        self.include_simulated = not self.include_simulated
        await self.action_refresh()
