"""The lab screen: the shared chat, one live panel per agent, the conditions bar."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input

from warroom_tui.engine import events as ev
from warroom_tui.engine.clock import RealClock, VirtualClock
from warroom_tui.engine.conditions import Crash
from warroom_tui.engine.loop import Engine
from warroom_tui.scenario import CRASH_KINDS, SCAFFOLDINGS, Scenario
from warroom_tui.modelid import is_simulated
from warroom_tui.store.db import Store
from warroom_tui.store.recorder import Recorder
from warroom_tui.tui.bar import ConditionsBar, SimBanner
from warroom_tui.tui.chat import ChatLog
from warroom_tui.tui.overlay import JudgeStrip, sparkline, tally_text
from warroom_tui.tui.modals import LinePrompt, OptionPicker
from warroom_tui.tui.panel import AgentPanel

LAB_BINDINGS = [
    Binding("n", "naming", "Naming", id="naming"),
    Binding("s", "scaffolding", "Scaffold", id="scaffolding"),
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
    Binding("question_mark,f1", "help", "Help", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
]


class LabScreen(Screen):
    BINDINGS = LAB_BINDINGS
    DEFAULT_CSS = """
    LabScreen #main { height: 1fr; }
    LabScreen ChatLog { width: 1fr; }
    LabScreen #panels { width: 40; min-width: 30; border: round $primary 40%; }
    LabScreen #say { display: none; }
    LabScreen #say.-show { display: block; }
    """

    def __init__(self, scenario: Scenario, *, store: Store, gateway, virtual: bool = False,
                 pause_after: int | None = None, judges: list[str] | None = None, codebook=None,
                 replay: tuple[int, float] | None = None) -> None:
        super().__init__()
        self.replay = replay  # (run id, speed): play a stored run back, read-only
        self.judge_specs = judges if judges is not None else ["builtin"]
        self.codebook = codebook
        self.judge = None  # the JudgeWorker of the current run
        self.tallies = "counts"
        self.scenario = scenario
        self.store = store
        self.gateway = gateway
        self.virtual = virtual
        self.pause_after = pause_after
        self.engine: Engine | None = None
        self.state = "starting"
        self.panels: list[AgentPanel] = []
        self.run_uid = ""
        self.custom_names: list[str] | None = (
            list(scenario.conditions.naming) if isinstance(scenario.conditions.naming, list) else None)
        self._t0 = time.monotonic()

    @property
    def simulated(self) -> bool:
        return any(is_simulated(a.model) for a in self.scenario.roster())

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        if self.simulated:
            yield SimBanner()
        yield ConditionsBar(id="bar")
        if self.judge_specs:
            yield JudgeStrip(id="strip")
        with Horizontal(id="main"):
            yield ChatLog(id="chat")
            with VerticalScroll(id="panels"):
                nicks = self.scenario.nicknames()
                for i, a in enumerate(self.scenario.roster()):
                    panel = AgentPanel(i, nicks[i], a.name, a.model, a.family, a.recipe,
                                       simulated=is_simulated(a.model), id=f"agent-{i}")
                    self.panels.append(panel)
                    yield panel
        yield Input(placeholder="write to the group as the user; enter sends, escape cancels", id="say")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "warroom"
        self.sub_title = f"{self.scenario.name} ({self.scenario.label})"
        self.query_one("#panels").border_title = "agents"
        self._update_bar()
        self.set_interval(1 / 15, self._flush_panels)
        self.call_after_refresh(self.start_run)  # paint first: litellm and model servers load after

    def on_resize(self) -> None:
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

    # -- the run -----------------------------------------------------------
    def start_run(self) -> None:
        self.run_worker(self._run(), name="engine", group="engine", exclusive=True, exit_on_error=False)

    async def _run(self) -> None:
        if self.replay is not None:
            from warroom_tui.replay import Replayer

            engine = await Replayer.load(self.store, self.replay[0], self.replay[1])
        else:
            engine = Engine(self.scenario, self.gateway, clock=VirtualClock() if self.virtual else RealClock())
            engine.subscribe(Recorder(self.store))
        self.engine, self.run_uid = engine, engine.run_uid
        if self.judge_specs and self.codebook is not None:
            from warroom_tui.judge.service import make_judges
            from warroom_tui.judge.worker import JudgeWorker

            self.judge = JudgeWorker(self.store, make_judges(self.judge_specs, self.codebook, self.gateway),
                                     self.codebook, on_update=self._on_judge)
            engine.subscribe(self.judge)
            self.run_worker(self.judge.run(), name="judge", group="judge", exclusive=True, exit_on_error=False)
        engine.subscribe(self._on_event)
        if self.replay is None and any(a.model.startswith("local/") for a in self.scenario.roster()):
            self._set_state("loading models…")
            for p in self.panels:
                p.status = "loading"
        try:
            if self.replay is None:
                await self.gateway.prepare([a.model for a in self.scenario.roster()])
        except Exception as exc:  # a model that cannot load must not close the lab
            self._set_state("failed to start")
            self.query_one(ChatLog).add_marker(f"could not start: {exc}")
            return
        for p in self.panels:
            p.status = "waiting"
        self._set_state("replaying" if self.replay else "running")
        try:
            await engine.run()
        except Exception as exc:
            self._set_state("failed")
            self.query_one(ChatLog).add_marker(f"run failed: {type(exc).__name__}: {exc}")

    async def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.TokenDelta):
            self.panels[event.agent].feed(event.text, time.monotonic())
            return
        chat = self.query_one(ChatLog)
        if isinstance(event, (ev.MessageAdded, ev.MessageDone)):
            m = event.message
            chat.add_message(m, m.time or self._clock(m.finished_at))
            if m.agent is not None:
                panel = self.panels[m.agent]
                if m.is_error:
                    panel.stream = m.text
                    if panel.status != "crashed":
                        panel.status = "error"
                else:
                    panel.count += 1
                    panel.stream = m.text
                    panel.status = "done"
                panel.dirty = True
        elif isinstance(event, ev.MessageStarted):
            self.panels[event.agent].begin(time.monotonic())
        elif isinstance(event, ev.AgentCrashed):
            self.panels[event.agent].status = "crashed"
            chat.add_marker(f"{self.panels[event.agent].nickname} left the run (crashed)")
        elif isinstance(event, ev.AgentRevived):
            self.panels[event.agent].status = "waiting"
        elif isinstance(event, ev.ConditionChanged):
            who = f" for {self.panels[event.agent].nickname}" if event.agent is not None else ""
            chat.add_marker(f"condition {event.field}{who}: {_show(event.old)} → {_show(event.new)}"
                            f" (from round {event.round})")
            if event.field == "naming" and self.engine:
                for panel, nick in zip(self.panels, self.engine.nicknames):
                    panel.nickname, panel.dirty = nick, True
        elif isinstance(event, ev.RoundDone):
            if self.pause_after is not None and event.round + 1 >= self.pause_after and self.engine:
                self.pause_after = None  # once
                self.engine.pause()
                self.state = "paused"
            elif self.engine and self.engine.paused:
                self.state = "paused"  # after a step
        elif isinstance(event, ev.RunDone):
            self.state = event.status + (f": {event.reason}" if event.reason else "")
        self._update_bar()

    def _on_judge(self, update) -> None:
        if self.judge is None or update.run_uid != self.run_uid:
            return
        state = update.state
        agents = [update.agent] if update.agent is not None else range(len(self.panels))
        for i in agents:
            self._tally_panel(i, state)
        kappa = self.judge.kappas(state)
        self.query_one(JudgeStrip).show(self.judge.primary, state.group, state.marks, kappa, state.uncoded)

    def _tally_panel(self, i: int, state) -> None:
        panel = self.panels[i]
        if self.tallies == "off" or self.judge is None:
            panel.overlay = ""
        else:
            n, counts = self.judge.tally(state, i)
            names = {f.id: f.name for f in self.judge.codebook.flags}
            spark = sparkline([snap.get(i, float("nan")) for _, snap in state.per_agent], 12)
            panel.overlay = tally_text(n, counts, names, self.tallies, spark)
        panel.dirty = True

    def action_tallies(self) -> None:
        order = ["counts", "rates", "off"]
        self.tallies = order[(order.index(self.tallies) + 1) % len(order)]
        if self.judge is not None and self.run_uid in self.judge.runs:
            for i in range(len(self.panels)):
                self._tally_panel(i, self.judge.runs[self.run_uid])
        self.notify(f"tallies: {self.tallies}", markup=False)

    def _clock(self, at: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(time.time())) if not self.virtual else f"t+{at:.1f}s"

    def _set_state(self, state: str) -> None:
        self.state = state
        self._update_bar()

    def _update_bar(self) -> None:
        e = self.engine
        live = e.conditions if e else None
        crashes = []
        if e and live:
            crashes = [f"{e.nicknames[i]}:{c.kind}" for i, c in sorted(live.crashes.items())]
        for i, panel in enumerate(self.panels):
            panel.temperature = live.temperature_for(i) if live else (
                self.scenario.roster()[i].temperature or self.scenario.conditions.temperature)
        state = "paused" if e and e.paused and self.state in ("running", "replaying") else self.state
        self.query_one(ConditionsBar).show(
            naming=live.naming if live else self.scenario.conditions.naming,
            scaffolding=live.scaffolding if live else self.scenario.conditions.scaffolding,
            temperature=live.temperature if live else self.scenario.conditions.temperature,
            crashes=crashes, round_=e.round if e else 0, rounds=self.scenario.rounds, state=state)

    # -- helpers -----------------------------------------------------------
    def _live(self, changes: bool = True) -> Engine | None:
        if self.replay is not None and changes:
            self.notify("a replay is read-only: conditions cannot change", severity="warning", markup=False)
            return None
        if self.engine is None or self.state.split(":")[0].startswith(("done", "stopped", "failed", "replay ")):
            self.notify("no run in progress: R starts a new one", severity="warning", markup=False)
            return None
        return self.engine

    def _focused_agent(self) -> int | None:
        return self.focused.index if isinstance(self.focused, AgentPanel) else None

    def _with_agent(self, title: str, then, only: set[int] | None = None) -> None:
        agent = self._focused_agent()
        if agent is not None and (only is None or agent in only):
            then(agent)
            return
        nicks = self.engine.nicknames if self.engine else self.scenario.nicknames()
        options = [(str(i), f"{nicks[i]}  ({a.name})") for i, a in enumerate(self.scenario.roster())
                   if only is None or i in only]
        if not options:
            self.notify("no agent to choose", markup=False)
            return
        self.app.push_screen(OptionPicker(title, options), lambda oid: oid is not None and then(int(oid)))

    # -- actions (bindings and the command palette) ------------------------
    async def action_naming(self) -> None:
        if (e := self._live()) is None:
            return
        cycle: list = ["neutral", "real"] + ([self.custom_names] if self.custom_names else [])
        current = e.conditions.naming
        nxt = cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else "neutral"
        await e.change("naming", nxt)

    def action_custom_names(self) -> None:
        if self._live() is None:
            return
        current = ", ".join(self.custom_names or self.scenario.nicknames())

        async def apply(value: str | None) -> None:
            names = [n.strip() for n in (value or "").split(",") if n.strip()]
            if len(names) != len(self.panels) or len(set(names)) != len(names):
                self.notify(f"give {len(self.panels)} different names, separated by commas", markup=False,
                            severity="error")
                return
            self.custom_names = names
            if self.engine:
                await self.engine.change("naming", names)

        self.app.push_screen(LinePrompt("Custom names (comma-separated)", current), apply)

    async def action_scaffolding(self) -> None:
        if (e := self._live()) is None:
            return
        order = list(SCAFFOLDINGS)
        await e.change("scaffolding", order[(order.index(e.conditions.scaffolding) + 1) % len(order)])

    async def action_temperature(self, delta: float) -> None:
        if (e := self._live()) is None:
            return
        agent = self._focused_agent()
        current = e.conditions.temperature_for(agent) if agent is not None else e.conditions.temperature
        value = round(min(2.0, max(0.0, current + delta)), 2)
        await e.change("temperature", value, agent=agent)

    def action_crash(self) -> None:
        if (e := self._live()) is None:
            return

        def choose_kind(agent: int) -> None:
            kinds = [(k, k) for k in CRASH_KINDS]

            async def inject(kind: str | None) -> None:
                if kind is not None:
                    await e.change("crash", Crash(kind=kind), agent=agent)

            self.app.push_screen(OptionPicker(f"Crash {e.nicknames[agent]}: what kind?", kinds), inject)

        self._with_agent("Inject a crash into which agent?", choose_kind, only=set(e.active))

    def action_revive(self) -> None:
        if (e := self._live()) is None:
            return
        affected = set(e.conditions.crashes) | (set(range(len(self.panels))) - e.active)

        def revive(agent: int) -> None:
            self.run_worker(e.change("revive", None, agent=agent), exit_on_error=False)

        self._with_agent("Revive which agent?", revive, only=affected)

    def action_pause(self) -> None:
        if (e := self._live(changes=False)) is None:
            return
        if e.paused:
            e.resume()
            self.state = "replaying" if self.replay else "running"
        else:
            e.pause()
            self.state = "paused"
        self._update_bar()

    def action_step(self) -> None:
        if (e := self._live(changes=False)) is None:
            return
        e.step()
        self.state = "replaying" if self.replay else "running"
        self._update_bar()

    def action_stop(self) -> None:
        if (e := self._live(changes=False)) is None:
            return
        e.stop()

    async def action_new_run(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        for worker in self.workers:
            if worker.group == "engine":
                await worker.wait() if not worker.is_finished else None
        self.query_one(ChatLog).reset()
        for panel in self.panels:
            panel.status, panel.stream, panel.count = "waiting", "", 0
        self.engine = None
        self.state = "starting"
        self.start_run()

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
        if text and (e := self._live()) is not None:
            await e.say(text)

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
        from warroom_tui.store.markdown import run_markdown

        run = await self.store.run(self.run_uid) if self.run_uid else None
        if run is None:
            self.notify("no stored run to export yet", markup=False)
            return
        text = run_markdown(run, await self.store.agents(run.id), await self.store.messages(run.id),
                            await self.store.events(run.id))
        folder = Path(getattr(self.app, "settings").export_dir).expanduser()
        path = folder / f"warroom-{run.uid.replace(':', '_').replace('/', '_')}.md"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc}", severity="error", markup=False)
            return
        self.notify(f"exported to {path}", markup=False)

    def action_scenarios(self) -> None:
        self.app.action_scenarios()

    def action_browser(self) -> None:
        self.app.action_browser()

    def action_stats(self) -> None:
        self.app.action_stats()

    def action_code(self) -> None:
        self.app.action_code()

    def action_theme(self) -> None:
        self.app.action_next_theme()

    def action_help(self) -> None:
        self.app.action_help()

    async def on_unmount(self) -> None:
        if self.engine is not None:
            self.engine.stop()


def _show(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)


def _preview(m) -> str:
    who = "User" if m.sender == "user" else (m.nickname or m.sender)
    return f"{who} R{m.round if m.round is not None else '-'}: " + " ".join(m.text.split())[:90]
