"""The run browser: stored runs from the database; open one read-only."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from warroom_tui.store.db import Store
from warroom_tui.tui.chat import ChatLog


class RunBrowser(Screen):
    BINDINGS = [Binding("escape,q,b", "app.pop_screen", "Back"), Binding("enter", "open", "Open", show=True),
                Binding("p", "replay", "Replay", show=True)]
    DEFAULT_CSS = """
    RunBrowser DataTable { height: 1fr; }
    RunBrowser #summary { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.run_ids: list[int] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = "stored runs"
        table = self.query_one(DataTable)
        table.add_columns("id", "series", "scenario", "source", "status", "messages", "agents", "started")
        runs = await self.store.runs()
        for r in reversed(runs):
            self.run_ids.append(r.id)
            sim = " (sim)" if r.simulated else ""
            table.add_row(*[Text(str(v)) for v in (
                r.id, r.series, r.scenario + sim, r.source, r.status, r.n_messages,
                "", (r.started_at or "")[:19])], key=str(r.id))
        self.query_one("#summary", Static).update(Text(f"{len(runs)} runs in {self.store.path.name}"))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(RunView(self.store, int(str(event.row_key.value))))

    async def action_replay(self) -> None:
        table = self.query_one(DataTable)
        if self.run_ids and table.cursor_row is not None:
            await self.app.action_replay(self.run_ids[table.cursor_row], getattr(self.app, "replay_speed", 1.0))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.run_ids and table.cursor_row is not None:
            self.app.push_screen(RunView(self.store, self.run_ids[table.cursor_row]))


class RunView(Screen):
    """One stored run, read-only: the whole chat and who took part."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    RunView #who { height: auto; max-height: 10; padding: 0 1; background: $panel; }
    """

    def __init__(self, store: Store, run_id: int) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="who")
        yield ChatLog(id="chat")
        yield Footer()

    async def on_mount(self) -> None:
        run = await self.store.run(self.run_id)
        if run is None:
            self.notify(f"run {self.run_id} is gone", severity="error", markup=False)
            return
        self.sub_title = f"run {run.uid} (read-only)"
        agents = await self.store.agents(self.run_id)
        who = Text()
        for a in agents:
            who.append(a.nickname, style="bold")
            who.append(f" {a.name} · {a.model}   ", style="dim")
        if run.simulated:
            who.append("SIMULATED", style="bold reverse yellow")
        self.query_one("#who", Static).update(who)
        chat = self.query_one(ChatLog)
        for m in await self.store.messages(self.run_id):
            chat.add_message(m)
        chat.scroll_home(animate=False)
