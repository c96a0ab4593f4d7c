"""The lab screen: the shared chat, one live panel per agent, the conditions bar."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from warroom_tui.engine import events as ev
from warroom_tui.engine.debate import DebateSnapshot
from warroom_tui.engine.roles import label
from warroom_tui.engine.status import Phase
from warroom_tui.judge.snapshot import JudgeSnapshot
from warroom_tui.modelid import is_simulated
from warroom_tui.scenario import CRASH_KINDS
from warroom_tui.session import Refused, RunSession
from warroom_tui.tui.bar import ConditionsBar, SimBanner
from warroom_tui.tui.chat import ChatLog
from warroom_tui.tui.debate import DebateStrip
from warroom_tui.tui.overlay import JudgeStrip, sparkline, tally_text
from warroom_tui.tui.modals import LinePrompt, NoticeDialog, OptionPicker
from warroom_tui.tui.panel import AgentPanel
from warroom_tui.untrusted import clean_text

if TYPE_CHECKING:
    from warroom_tui.tui.app import LabApp

MIN_SIZE = (64, 16)
"""Below this the lab shows a notice instead of a collapsed layout: the chat needs 20 columns beside the
40-column agent panels, and 10 rows below the header, banner, bars and footer."""

LAB_BINDINGS = [
    Binding("question_mark,f1", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
    Binding("n", "naming", "Naming", id="naming"),
    Binding("s", "scaffolding", "Scaffold", id="scaffolding"),
    Binding("r", "roles", "Roles", id="roles", show=False),
    Binding("plus,equals_sign", "temperature(0.1)", "Temp+", id="temp_up"),
    Binding("minus", "temperature(-0.1)", "Temp-", id="temp_down"),
    Binding("x", "crash", "Crash", id="crash"),
    Binding("v", "revive", "Revive", id="revive"),
    Binding("space", "pause", "Pause", id="pause"),
    Binding("full_stop", "step", "Step", id="step"),
    Binding("e", "stop", "End run", id="stop", show=False),
    Binding("R", "new_run", "New run", id="new_run", show=False),
    Binding("m", "write", "Write", id="write"),
    Binding("N", "custom_names", "Custom names", id="custom_names", show=False),
    Binding("y", "copy", "Copy", id="copy", show=False),
    Binding("ctrl+e", "export", "Export .md", id="export", show=False),
    Binding("o", "scenarios", "Scenarios", id="scenarios", show=False),
    Binding("b", "browser", "Runs", id="browser"),
    Binding("j", "tallies", "Tallies", id="tallies"),
    Binding("S", "stats", "Statistics", id="stats", show=False),
    Binding("h", "code", "Code by hand", id="code", show=False),
    Binding("T", "theme", "Theme", id="theme", show=False),
    Binding("M", "markdown", "Markdown view", id="markdown", show=False),
]
CHAT_KEYS = [Binding(key, f"chat('{action}')", show=False) for key, action in (
    ("pageup", "page_up"), ("pagedown", "page_down"), ("home", "scroll_home"), ("end", "scroll_end"),
    ("ctrl+home", "scroll_home"), ("ctrl+end", "scroll_end"))] + [Binding("enter", "details", show=False)]
"""Scroll the chat from anywhere in the lab (the chat's own keys when it has focus); enter on a focused
panel shows the details of that agent's latest message."""


class Streamed(Message):
    """One event of the run session's stream, delivered as a Textual message."""

    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


LIVE_ONLY = {"naming", "scaffolding", "temperature", "crash", "revive", "write", "custom_names"}
"""Commands that change a live run: shown dimmed, and not run, during a replay (it is read-only)."""


class LabScreen(Screen):
    """A view of one run session: it renders the session's stream and turns keys into its commands."""

    BINDINGS: ClassVar[list[BindingType]] = [*LAB_BINDINGS, *CHAT_KEYS]
    DEFAULT_CSS = """
    LabScreen #main { height: 1fr; }
    LabScreen #too-small { display: none; width: 1fr; height: 1fr; content-align: center middle;
                           text-style: bold; }
    LabScreen.-too-small > * { display: none; }
    LabScreen.-too-small > #too-small { display: block; }
    LabScreen ChatLog { width: 1fr; }
    LabScreen #panels { width: 40; min-width: 30; border: round $primary 40%; }
    LabScreen #say { display: none; }
    LabScreen #say.-show { display: block; }
    """

    @property
    def lab_app(self) -> LabApp:
        return cast("LabApp", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ONLY and self.session.is_replay:
            return None  # dimmed in the footer: a replay never changes
        return True

    def __init__(self, session: RunSession, *, virtual: bool = False) -> None:
        super().__init__()
        self.session = session
        self.scenario = session.scenario
        self.virtual = virtual
        self.tallies = "counts"
        self.snapshot: JudgeSnapshot | None = None
        self.state = session.state
        self.panels: list[AgentPanel] = []

    @property
    def run_uid(self) -> str:
        return self.session.run_uid

    @property
    def simulated(self) -> bool:
        return any(is_simulated(a.model) for a in self.scenario.roster())

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        if self.simulated:
            yield SimBanner()
        yield ConditionsBar(id="bar")
        if self.session.judge is not None:
            yield JudgeStrip(id="strip")
        if self.scenario.mode == "debate":
            yield DebateStrip(id="debate")
        with Horizontal(id="main"):
            yield ChatLog(id="chat")
            with VerticalScroll(id="panels"):
                nicks = self.session.nicknames
                for i, a in enumerate(self.scenario.roster()):
                    panel = AgentPanel(i, nicks[i], a.name, a.model, a.family, a.recipe,
                                       simulated=is_simulated(a.model), base=a.base, id=f"agent-{i}")
                    self.panels.append(panel)
                    yield panel
        yield Input(placeholder="write to the group as the user; enter sends, escape cancels", id="say")
        yield Footer()
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.title = "warroom"
        self.sub_title = clean_text(f"{self.scenario.name} ({self.scenario.label})") + (
            " · replay" if self.session.is_replay else "")
        self.query_one("#panels").border_title = "agents"
        self._update_bar()
        self.set_interval(1 / 15, self._flush_panels)
        self.session.subscribe(self._forward)
        self.call_after_refresh(self.session.start)  # paint first: litellm and model servers load after

    async def _forward(self, event: ev.Event) -> None:
        if isinstance(event, ev.TokenDelta):  # the hot path: into the panel's buffer, drawn at 15 fps
            self.panels[event.agent].feed(event.text, time.monotonic())
        else:
            self.post_message(Streamed(event))

    def on_resize(self) -> None:
        width, height = self.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(Text(
                f"terminal too small: {MIN_SIZE[0]} x {MIN_SIZE[1]} needed (now {width} x {height})"))
        self._size_panels()

    def _size_panels(self) -> None:
        box = self.query_one("#panels")
        width = self.size.width
        box.styles.width = 40 if width < 120 else max(40, int(width * 0.45))
        rows = max(2, (box.size.height or max(4, self.size.height - 6)) // max(1, len(self.panels)))
        for panel in self.panels:
            panel.styles.height = min(max(2, rows), 12)

    def _flush_panels(self) -> None:
        for panel in self.panels:
            panel.refresh_view()

    # -- rendering the stream ------------------------------------------------
    def on_streamed(self, message: Streamed) -> None:
        event = message.event
        chat = self.query_one(ChatLog)
        if isinstance(event, (ev.MessageAdded, ev.MessageDone)):
            m = event.message
            chat.add_message(m, m.time or self._clock(m.finished_at))
            if m.agent is not None:
                panel = self.panels[m.agent]
                panel.stream = m.text
                panel.count += 0 if m.is_error else 1
                if m.copy_share is not None:
                    panel.copies.append(m.copy_share)
                panel.dirty = True
        elif isinstance(event, ev.MessageStarted):
            self.panels[event.agent].begin(time.monotonic())
        elif isinstance(event, ev.AgentStatus):
            self.panels[event.agent].status = event.status
        elif isinstance(event, ev.AgentCrashed):
            chat.add_marker(f"{self.panels[event.agent].nickname} left the run (crashed)")
        elif isinstance(event, ev.ConditionChanged):
            chat.add_marker(change_text(event, self.session.nicknames))
            if event.field == "naming":
                for panel, nick in zip(self.panels, self.session.nicknames):
                    panel.nickname, panel.dirty = nick, True
        elif isinstance(event, ev.StateChanged):
            self.state = event.state
            if event.phase.broken:
                chat.add_marker(event.state)
            if event.phase is Phase.CANNOT_START:  # nothing was stored: say what is missing, and what to do
                self.app.push_screen(NoticeDialog(
                    "This run cannot start", event.detail.split("; "),
                    "Nothing was stored. Set what is missing and press R, or o for another scenario, "
                    "or start with --backend sim. (enter or escape closes this)"))
        elif isinstance(event, JudgeSnapshot):
            self.snapshot = event
            self._show_judges()
        elif isinstance(event, DebateSnapshot):
            self.query_one(DebateStrip).show(event)
            for panel in self.panels:  # its latest answer (from the round before while it is typing; ? for none)
                said = next((dict(r.answers) for r in reversed(event.rounds) if panel.index in dict(r.answers)), None)
                answer = said[panel.index] if said is not None else None
                panel.answer = None if said is None else (answer or "?", answer == event.answer)
                panel.dirty = True
        self._update_bar()

    def _show_judges(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        names = {f.id: f.name for f in self.session.judge.codebook.flags} if self.session.judge else {}
        for panel, tally in zip(self.panels, snap.tallies):
            panel.overlay = "" if self.tallies == "off" else tally_text(
                tally.coded, dict(tally.counts), names, self.tallies, sparkline(list(tally.similarity), 12))
            panel.dirty = True
        self.query_one(JudgeStrip).show(snap.judge, list(snap.group), list(snap.marks), dict(snap.kappa),
                                        snap.uncoded)

    def action_tallies(self) -> None:
        order = ["counts", "rates", "off"]
        self.tallies = order[(order.index(self.tallies) + 1) % len(order)]
        self._show_judges()
        self.notify(f"tallies: {self.tallies}", markup=False)

    def _clock(self, at: float) -> str:
        """Wall time of a live message; a replay shows the time stored with the run, not the time now."""
        stored = self.session.replay_start
        if self.virtual or (stored is not None and stored[1]):
            return f"t+{at:.1f}s"
        return time.strftime("%H:%M:%S", time.localtime(stored[0] + at if stored is not None else time.time()))

    def _update_bar(self) -> None:
        live = self.session.conditions
        nicks = self.session.nicknames
        roles = live.roles_for(len(self.panels))
        for i, panel in enumerate(self.panels):
            panel.temperature, panel.run_temperature = live.temperature_for(i), live.temperature
            role = "" if roles[i] == "none" else roles[i]
            panel.dirty, panel.role = panel.dirty or role != panel.role, role
        self.query_one(ConditionsBar).show(
            naming=live.naming, scaffolding=live.scaffolding, temperature=live.temperature,
            crashes=[f"{nicks[i]}:{c.kind}" for i, c in sorted(live.crashes.items())],
            round_=self.session.round, rounds=self.scenario.rounds, state=self.state, roles=label(live.roles))

    # -- commands ------------------------------------------------------------
    async def _do(self, command) -> None:
        """Run a session command; a refusal is a notice, never an error."""
        try:
            await command
        except Refused as exc:
            self.notify(str(exc), severity="warning", markup=False)

    def _focused_agent(self) -> int | None:
        return self.focused.index if isinstance(self.focused, AgentPanel) else None

    def _with_agent(self, title: str, then: Callable[[int], None], choices) -> None:
        try:
            allowed = choices()
        except Refused as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        agent = self._focused_agent()
        if agent is not None and agent in allowed:
            then(agent)
            return
        nicks = self.session.nicknames
        options = [(str(i), f"{nicks[i]}  ({a.name})") for i, a in enumerate(self.scenario.roster()) if i in allowed]
        if not options:
            self.notify("no agent to choose", markup=False)
            return
        def chosen(oid: str | None) -> None:
            if oid is not None:
                then(int(oid))

        self.app.push_screen(OptionPicker(title, options), chosen)

    async def action_naming(self) -> None:
        await self._do(self.session.cycle_naming())

    def action_custom_names(self) -> None:
        if self.session.is_replay or not self.session.in_progress:
            self.run_worker(self._do(self.session.cycle_naming()), exit_on_error=False)  # says why not
            return
        current = ", ".join(self.session.custom_names or self.session.nicknames)


        def split(value: str) -> list[str]:
            return [n.strip() for n in value.split(",") if n.strip()]

        def check(value: str) -> str | None:
            return self.session.names_problem(split(value))

        async def apply(value: str | None) -> None:
            if value is not None:
                await self._do(self.session.set_custom_names(split(value)))

        self.app.push_screen(LinePrompt("Custom names (comma-separated)", current, check=check), apply)

    async def action_roles(self) -> None:
        await self._do(self.session.cycle_roles())

    async def action_scaffolding(self) -> None:
        await self._do(self.session.cycle_scaffolding())

    async def action_temperature(self, delta: float) -> None:
        await self._do(self.session.nudge_temperature(delta, self._focused_agent()))

    def action_crash(self) -> None:
        def choose_kind(agent: int) -> None:
            async def inject(kind: str | None) -> None:
                if kind is not None:
                    await self._do(self.session.crash(agent, kind))

            self.app.push_screen(OptionPicker(f"Crash {self.session.nicknames[agent]}: what kind?",
                                              [(k, k) for k in CRASH_KINDS]), inject)

        self._with_agent("Inject a crash into which agent?", choose_kind, self.session.crashable)

    def action_revive(self) -> None:
        def revive(agent: int) -> None:
            self.run_worker(self._do(self.session.revive(agent)), exit_on_error=False)

        self._with_agent("Revive which agent?", revive, self.session.revivable)

    async def action_pause(self) -> None:
        await self._do(self.session.toggle_pause())

    async def action_step(self) -> None:
        await self._do(self.session.step())

    def action_stop(self) -> None:
        try:
            self.session.end()
        except Refused as exc:
            self.notify(str(exc), severity="warning", markup=False)

    def action_new_run(self) -> None:
        """A new live run of the lab's scenario (from a replay too)."""
        self.lab_app.new_run()

    def action_quit(self) -> None:
        self.app.exit()

    def action_write(self) -> None:
        box = self.query_one("#say", Input)
        box.add_class("-show")
        box.focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "say":
            return
        text = event.value.strip()
        event.input.value = ""
        event.input.remove_class("-show")
        self.query_one(ChatLog).focus()  # the keys scroll the chat again, not a hidden box
        if text:
            await self._do(self.session.say(text))

    def key_escape(self) -> None:
        box = self.query_one("#say", Input)
        if box.has_class("-show"):
            box.remove_class("-show")
            box.value = ""
            self.query_one(ChatLog).focus()

    def action_copy(self) -> None:
        msgs = self.query_one(ChatLog).messages[-300:]
        if not msgs:
            self.notify("nothing to copy yet", markup=False)
            return
        options = [(str(k), _preview(m)) for k, m in enumerate(msgs)][::-1]

        def copy(oid: str | None) -> None:
            if oid is not None:
                self.app.copy_to_clipboard(msgs[int(oid)].text)
                self.notify("message copied to the clipboard", markup=False)

        self.app.push_screen(OptionPicker("Copy which message?", options), copy)

    async def action_export(self) -> None:
        folder = getattr(self.app, "settings").export_folder()
        try:
            path = await self.session.export_markdown(folder)
        except OSError as exc:
            self.notify(f"cannot write to {folder}: {exc}", severity="error", markup=False)
            return
        self.notify(f"exported to {path}" if path else "no stored run to export yet", markup=False)

    def action_chat(self, action: str) -> None:
        getattr(self.query_one(ChatLog), f"action_{action}")()

    def action_details(self) -> None:
        chat = self.query_one(ChatLog)
        agent = self._focused_agent()
        if agent is None:
            chat.action_details()
            return
        latest = next((m for m in reversed(chat.messages) if m.agent == agent), None)
        if latest is None:
            self.notify(f"{self.session.nicknames[agent]} has not written yet", markup=False)
        else:
            chat.post_message(ChatLog.Selected(chat, latest))

    def action_markdown(self) -> None:
        shown = self.query_one(ChatLog).toggle_markdown()
        self.notify("finished messages: " + ("Markdown" if shown else "raw text (as stored)"), markup=False)

    def on_chat_log_selected(self, event: ChatLog.Selected) -> None:
        from warroom_tui.tui.detail import MessageDetail, flag_names

        judge = self.session.judge
        self.app.push_screen(MessageDetail(event.message, store=self.session.store, run_uid=self.run_uid,
                                           flag_names=flag_names(judge.codebook if judge else None),
                                           siblings=list(event.chat.messages)))

    def action_scenarios(self) -> None:
        self.lab_app.action_scenarios()

    def action_browser(self) -> None:
        self.lab_app.action_browser()

    def action_stats(self) -> None:
        self.lab_app.action_stats()

    def action_code(self) -> None:
        self.lab_app.action_code()

    def action_theme(self) -> None:
        self.lab_app.action_next_theme()

    def action_help(self) -> None:
        self.lab_app.action_help()

    async def on_unmount(self) -> None:
        await self.session.close()


def change_text(event: ev.ConditionChanged, nicknames: list[str]) -> str:
    """A condition change as the chat and the export name it: the agent it applies to, from which round."""
    who = f" for {nicknames[event.agent]}" if event.agent is not None and event.agent < len(nicknames) else ""
    return f"condition {event.field}{who}: {_show(event.old)} → {_show(event.new)} (from round {event.round})"


def _show(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)


def _preview(m) -> str:
    who = "User" if m.sender == "user" else (m.nickname or m.sender)
    return f"{who} R{m.round if m.round is not None else '-'}: " + " ".join(m.text.split())[:90]
