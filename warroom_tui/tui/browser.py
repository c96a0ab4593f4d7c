"""The run browser: stored runs from the database, searchable, sortable, filterable; open one read-only,
replay it, or compare two side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from warroom_tui.store.db import Store
from warroom_tui.tui.chat import ChatLog
from warroom_tui.untrusted import clean_text, one_line

if TYPE_CHECKING:
    from warroom_tui.tui.app import LabApp

COLUMNS = ("✓", "id", "series", "scenario", "source", "status", "sim", "messages", "agents", "started")
FIELDS = {"series": "series", "scenario": "scenario", "status": "status", "source": "source", "sim": "sim",
          "simulated": "sim", "date": "started", "started": "started", "agents": "agents", "id": "id"}
FILTER_HELP = "/ search: any words, or series:A scenario:demo status:done sim:yes date:2026-11; -term excludes"


@dataclass(frozen=True)
class RunEntry:
    id: int
    series: str
    scenario: str
    source: str
    status: str
    sim: str
    messages: int
    agents: str
    started: str

    def field(self, name: str) -> str:
        return str(getattr(self, name))

    def matches(self, query: str) -> bool:
        """Every term holds: `field:prefix` on that column, a bare word anywhere; `-term` negates."""
        for term in query.lower().split():
            negate = term.startswith("-") and len(term) > 1
            term = term[1:] if negate else term
            key, sep, value = term.partition(":")
            if sep and key in FIELDS:
                hit = self.field(FIELDS[key]).lower().startswith(value)
            else:
                hit = any(term in self.field(f).lower() for f in FIELDS.values())
            if hit == negate:
                return False
        return True


def cell(entry: RunEntry, column: str) -> Text:
    text = Text(clean_text(entry.field(column)))
    if column == "agents":
        text.truncate(36, overflow="ellipsis")
    return text


def sort_key(entry: RunEntry, column: str):
    value = getattr(entry, column)
    return (0, value) if isinstance(value, int) else (1, value.lower())


class RunBrowser(Screen):
    POLL = 2.0
    """Seconds between looks at the store: runs another process adds (a batch, a sweep) show up as they go."""
    BINDINGS = [
        Binding("escape,q,b", "back", "Back"), Binding("enter", "open", "Open", show=True),
        Binding("p", "replay", "Replay", show=True), Binding("slash", "search", "Search", show=True),
        Binding("s", "sort", "Sort: next column", show=True), Binding("r", "reverse", "Reverse", show=True),
        Binding("space", "mark", "Mark", show=True),
        Binding("c", "compare", "Compare 2", show=True),
    ]
    DEFAULT_CSS = """
    RunBrowser DataTable { height: 1fr; }
    RunBrowser #summary { height: 1; padding: 0 1; background: $panel; }
    RunBrowser #search { height: 3; }
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.entries: list[RunEntry] = []
        self.shown: list[RunEntry] = []
        self.run_ids: list[int] = []
        self.marked: list[int] = []
        self.sort_by = ("id", True)
        """(column, descending): newest first."""
        self._mark: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder=FILTER_HELP, id="search")
        yield Static(id="summary")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = "stored runs"
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        await self.reload()
        table.focus()
        self.set_interval(self.POLL, self.reload)

    async def on_screen_resume(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the runs again when the store changed (this lab's run or another process's batch)."""
        if self._mark is not None and not self.is_current:
            return
        mark = await self.store.runs_mark()
        if mark == self._mark:
            return
        self._mark = mark
        names = await self.store.agent_names()
        self.entries = [
            RunEntry(id=r.id, series=r.series, scenario=r.scenario, source=r.source, status=r.status.value,
                     sim="yes" if r.simulated else "no", messages=r.n_messages,
                     agents=", ".join(names.get(r.id, [])), started=(r.started_at or "")[:19])
            for r in await self.store.runs()]
        self.refill()

    def refill(self) -> None:
        """Apply the search and the sort; keep the cursor on the same run when it is still shown."""
        table = self.query_one(DataTable)
        current = self.run_ids[table.cursor_row] if self.run_ids and 0 <= table.cursor_row < len(self.run_ids) else None
        query = self.query_one("#search", Input).value
        column, descending = self.sort_by
        self.shown = sorted((e for e in self.entries if e.matches(query)), key=lambda e: sort_key(e, column),
                            reverse=descending)
        self.run_ids = [e.id for e in self.shown]
        table.clear()
        for e in self.shown:
            table.add_row(Text("✓" if e.id in self.marked else ""),
                          *[cell(e, c) for c in COLUMNS[1:]], key=str(e.id))
        if current in self.run_ids:
            table.move_cursor(row=self.run_ids.index(current))
        arrow = "↓" if descending else "↑"
        summary = f"{len(self.shown)} of {len(self.entries)} runs in {self.store.path.name} · sorted by {column} {arrow}"
        if self.marked:
            summary += f" · marked: {', '.join(map(str, self.marked))}"
        self.query_one("#summary", Static).update(Text(summary))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "search":
            self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()

    def sort_on(self, column: str) -> None:
        if column not in COLUMNS[1:]:
            return
        current, descending = self.sort_by
        self.sort_by = (column, not descending if column == current else column in ("id", "messages", "started"))
        self.refill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_on(str(event.column_key.value))

    def action_sort(self) -> None:
        """Sort by the next column (the table's cursor is a row cursor, so a key cycles the columns)."""
        columns = COLUMNS[1:]
        current = self.sort_by[0]
        self.sort_on(columns[(columns.index(current) + 1) % len(columns)] if current in columns else columns[0])

    def action_reverse(self) -> None:
        column, descending = self.sort_by
        self.sort_by = (column, not descending)
        self.refill()

    def _cursor_run(self) -> int | None:
        table = self.query_one(DataTable)
        if self.run_ids and 0 <= table.cursor_row < len(self.run_ids):
            return self.run_ids[table.cursor_row]
        return None

    def action_mark(self) -> None:
        run_id = self._cursor_run()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked = (self.marked + [run_id])[-2:]
        self.refill()

    def action_compare(self) -> None:
        from warroom_tui.tui.compare import CompareScreen

        pair = list(self.marked)
        cursor = self._cursor_run()
        if len(pair) < 2 and cursor is not None and cursor not in pair:
            pair.append(cursor)
        if len(pair) != 2:
            self.notify("mark two runs with space (or one, and put the cursor on the other), then c",
                        severity="warning", markup=False)
            return
        self.app.push_screen(CompareScreen(self.store, pair[0], pair[1], getattr(self.app, "codebook", None)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(RunView(self.store, int(str(event.row_key.value))))

    async def action_replay(self) -> None:
        run_id = self._cursor_run()
        if run_id is not None:
            app = cast("LabApp", self.app)
            await app.action_replay(run_id, getattr(app, "replay_speed", 1.0))

    def action_open(self) -> None:
        run_id = self._cursor_run()
        if run_id is not None:
            self.app.push_screen(RunView(self.store, run_id))


class RunView(Screen):
    """One stored run, read-only: the whole chat and who took part; enter on a message shows its details."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("M", "markdown", "Markdown view")]
    DEFAULT_CSS = """
    RunView #who { height: auto; max-height: 10; padding: 0 1; background: $panel; }
    """

    def __init__(self, store: Store, run_id: int) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self.run_uid = ""

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
        self.run_uid = run.uid
        self.sub_title = clean_text(f"run {run.uid} (read-only)")
        agents = await self.store.agents(self.run_id)
        who = Text()
        for a in agents:
            who.append(one_line(a.nickname), style="bold")
            who.append(f" {one_line(a.name)} · {one_line(a.model)}   ", style="dim")
        if run.simulated:
            who.append("SIMULATED", style="bold reverse yellow")
        self.query_one("#who", Static).update(who)
        chat = self.query_one(ChatLog)
        for m in await self.store.messages(self.run_id):
            chat.add_message(m)
        chat.scroll_home(animate=False)
        chat.focus()

    def action_markdown(self) -> None:
        shown = self.query_one(ChatLog).toggle_markdown()
        self.notify("finished messages: " + ("Markdown" if shown else "raw text"), markup=False)

    def on_chat_log_selected(self, event: ChatLog.Selected) -> None:
        from warroom_tui.tui.detail import MessageDetail, flag_names

        self.app.push_screen(MessageDetail(event.message, store=self.store, run_uid=self.run_uid,
                                           flag_names=flag_names(getattr(self.app, "codebook", None)),
                                           siblings=list(event.chat.messages)))
