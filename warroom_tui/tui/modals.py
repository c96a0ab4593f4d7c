"""Small modal screens: pick one option, type a line, the help screen."""

from __future__ import annotations

from typing import Callable, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option


class OptionPicker(ModalScreen[str | None]):
    """Choose one of `options` (id, label); dismisses with the id, or None on escape."""

    DEFAULT_CSS = """
    OptionPicker { align: center middle; }
    OptionPicker > Vertical { width: 70%; max-width: 90; height: auto; max-height: 80%;
                              border: thick $accent; background: $surface; padding: 0 1; }
    OptionPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, title: str, options: Sequence[tuple[str, str | Text]]) -> None:
        super().__init__()
        self.title_text = title
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield OptionList(*[Option(Text(label) if isinstance(label, str) else label, id=oid)
                               for oid, label in self.options])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class LinePrompt(ModalScreen[str | None]):
    """One line of text; `check(value)` returns what is wrong (shown in the dialog, the text kept) or None."""

    DEFAULT_CSS = """
    LinePrompt { align: center middle; }
    LinePrompt > Vertical { width: 70%; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    LinePrompt #problem { color: $error; display: none; }
    LinePrompt #problem.-show { display: block; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, title: str, value: str = "", check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            yield Input(value=self.value)
            yield Label(id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value) if self.check else None
        if problem:
            label = self.query_one("#problem", Label)
            label.update(Text(problem))
            label.add_class("-show")
            return
        self.dismiss(event.value)


class HelpScreen(ModalScreen[None]):
    """Every binding of the lab with its id (for `[keys]` in settings.toml) and current keys."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss(None)", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]], settings_file: str) -> None:
        super().__init__()
        self.rows = rows
        self.settings_file = settings_file

    def compose(self) -> ComposeResult:
        table = Table(title="warroom lab: keys", expand=True, show_edge=False)
        table.add_column("keys", style="bold")
        table.add_column("action")
        table.add_column("id (rebind in settings)", style="dim")
        for keys, description, binding_id in self.rows:
            table.add_row(Text(keys), Text(description), Text(binding_id))
        note = Text.assemble(
            ("Rebind keys in ", "dim"), (self.settings_file, "bold"), (" under [keys], e.g. ", "dim"),
            ('naming = "k"', "bold"), (". Every action is also in the command palette (ctrl+p).", "dim"))
        with VerticalScroll():
            yield Static(table)
            yield Static(note)


class NoticeDialog(ModalScreen[None]):
    """A problem a person must read before going on (a run that cannot start: what it lacks)."""

    DEFAULT_CSS = """
    NoticeDialog { align: center middle; }
    NoticeDialog > Vertical { width: 80%; max-width: 90; height: auto; border: thick $error;
                              background: $surface; padding: 1 2; }
    NoticeDialog #hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Close")]

    def __init__(self, title: str, lines: Sequence[str], hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            for line in self.lines:
                yield Static(Text(f"• {line}"))
            yield Static(Text(self.hint), id="hint")
