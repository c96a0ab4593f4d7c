"""One message in detail: who and how it was made, what the agent had seen, its judge labels; copy it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from warroom_tui.engine.transcript import Message, clean_text
from warroom_tui.untrusted import one_line
from warroom_tui.store.db import Store
from warroom_tui.tui.text import clipped


def facts(m: Message) -> Table:
    """The message's provenance as a two-column table (every value plain text)."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim")
    t.add_column()
    who = "User" if m.sender == "user" else one_line(m.nickname or m.sender)
    if m.name and m.name != m.nickname:
        who += f" ({clean_text(m.name)})"
    latency = m.finished_at - m.started_at if m.finished_at and m.started_at else None
    rows = [
        ("speaker", who),
        ("round · seq", f"{m.round if m.round is not None else '-'} · {m.seq}"),
        ("model", clean_text(m.model) or "-"),
        ("temperature", f"{m.temperature:.2f}" if m.temperature is not None else "-"),
        ("tokens", str(m.tokens) if m.tokens else "-"),
        ("latency", f"{latency:.2f} s" if latency is not None else "-"),
        ("had seen", f"messages up to seq {m.seen_upto}" if m.seen_upto >= 0 else "-"),
        ("context trimmed", f"{m.dropped} turns left out to fit the window" if m.dropped else "no"),
    ]
    if m.agent is not None and not m.is_error:
        rows.append(("copied", copied_fact(m)))
    if m.is_error:
        rows.append(("error", f"{m.error_kind or 'error'}" + ("" if m.visible else " (hidden from peers)")))
    for label, value in rows:
        t.add_row(label, Text(value))
    return t


def copied_fact(m: Message) -> str:
    """How much of the message repeats, verbatim, what its agent had seen (see judge/copying.py)."""
    if m.copy_share is None:
        return "not measured"
    spans = len(m.copied)
    return (f"{m.copy_share:.0%} of its words repeat what it had seen (runs of 5+ words"
            + (f", {spans} passage{'s' if spans != 1 else ''})" if spans else ")"))


def labels_table(labels: dict[str, dict[str, tuple[bool, str]]], names: dict[str, str]) -> Table | Text:
    """Coder -> the flags it set (with levels); `names` maps flag ids to display names."""
    if not labels:
        return Text("no judge labels for this message yet", style="dim")
    t = Table(title=Text("judge labels"), title_justify="left", expand=False)
    t.add_column("coder")
    t.add_column("flags set")
    for coder, flags in labels.items():
        on = [names.get(f, f.upper()) + (f" {lvl}" if lvl else "") for f, (v, lvl) in flags.items() if v]
        t.add_row(Text(clean_text(coder)), Text(", ".join(on) or "none"))
    return t


class MessageDetail(ModalScreen[None]):
    DEFAULT_CSS = """
    MessageDetail { align: center middle; }
    MessageDetail > Vertical { width: 90%; max-width: 110; height: 90%; border: thick $accent;
                               background: $surface; padding: 0 1; }
    MessageDetail #body { height: 1fr; }
    MessageDetail #text { border: round $primary 40%; padding: 0 1; }
    MessageDetail #buttons { height: 3; align-horizontal: right; }
    MessageDetail Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close"), Binding("c", "copy", "Copy text"),
                Binding("left,p", "step(-1)", "Previous message"), Binding("right,n", "step(1)", "Next message")]

    def __init__(self, message: Message, *, store: Store | None = None, run_uid: str = "",
                 flag_names: dict[str, str] | None = None, siblings: list[Message] | None = None) -> None:
        super().__init__()
        self.message = message
        self.store = store
        self.run_uid = run_uid
        self.flag_names = flag_names or {}
        self.chat_messages = [m for m in (siblings or [message]) if m.sender != "system"]
        """The messages left and right step through (the chat's, in order)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll(id="body"):
                yield Static(facts(self.message), id="facts")
                yield Static(clipped(self.message.text), id="text")
                yield Static(Text("judge labels: loading…", style="dim"), id="labels")
            with Horizontal(id="buttons"):
                yield Button("Copy text (c)", id="copy", variant="primary")
                yield Button("Close (esc)", id="close")

    async def on_mount(self) -> None:
        await self._show()

    async def action_step(self, delta: int) -> None:
        """The previous or next message of the chat (left/right, p/n)."""
        seqs = [m.seq for m in self.chat_messages]
        if self.message.seq not in seqs:
            return
        k = seqs.index(self.message.seq) + delta
        if 0 <= k < len(self.chat_messages):
            self.message = self.chat_messages[k]
            self.query_one("#facts", Static).update(facts(self.message))
            self.query_one("#text", Static).update(clipped(self.message.text))
            await self._show()

    async def _show(self) -> None:
        position = ""
        seqs = [m.seq for m in self.chat_messages]
        if len(seqs) > 1 and self.message.seq in seqs:
            position = f" · {seqs.index(self.message.seq) + 1} of {len(seqs)} (← →)"
        self.query_one(Vertical).border_title = f"message details{position}"
        labels: dict = {}
        if self.store is not None and self.run_uid:
            labels = await self.store.message_labels(self.run_uid, self.message.seq)
        self.query_one("#labels", Static).update(labels_table(labels, self.flag_names))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.message.text)
        self.notify("message copied to the clipboard", markup=False)


def flag_names(codebook) -> dict[str, str]:
    return {f.id: f.name for f in codebook.flags} if codebook is not None else {}
