"""Two stored runs side by side: conditions and their changes, similarity, flag rates, agent profiles."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from warroom_tui.analysis.profiles import mean_pairwise_cosine, profile
from warroom_tui.analysis.stats import RunData, run_profiles
from warroom_tui.analysis.tables import heat
from warroom_tui.engine.transcript import clean_text
from warroom_tui.store.db import Store
from warroom_tui.store.rows import EventRow, RunRow


def _value(v) -> str:
    if isinstance(v, dict):  # a crash: kind, from which round, seen by peers or not
        parts = [str(v.get("kind", "?"))]
        if v.get("from_round"):
            parts.append(f"from R{v['from_round']}")
        if v.get("visible") is False:
            parts.append("hidden")
        return " ".join(parts)
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return "-" if v is None else str(v)


def timeline(run: RunRow, events: list[EventRow], names: dict[int, str]) -> Table:
    """The conditions the run started with, then every change in the order it took effect (by round)."""
    t = Table(title=Text("conditions"), title_justify="left", show_header=False, expand=True)
    t.add_column("when", style="dim", no_wrap=True)
    t.add_column("what")
    for key, value in (run.conditions or {}).items():
        if key == "crashes" and isinstance(value, list):  # the scenario names each crashed agent
            text = ", ".join(f"{c.get('agent')}: {_value(c)}" if isinstance(c, dict) else str(c) for c in value)
        else:
            text = _value(value)
        t.add_row("start", Text(clean_text(f"{key}: {text or '-'}")))
    for e in sorted(events, key=lambda e: (e.round if e.round is not None else -1, e.seq or 0, e.id)):
        who = f" {names.get(e.agent, e.agent)}" if e.agent is not None else ""
        change = f"{_value(e.old)} → {_value(e.new)}" if e.kind == "condition" else e.kind
        t.add_row(f"R{e.round if e.round is not None else '-'}", Text(clean_text(f"{e.field or e.kind}{who}: {change}")))
    return t


def flag_rates(data: RunData | None, traits: list[str]) -> Table:
    t = Table(title=Text("flag rates (all agents)"), title_justify="left", expand=True)
    for f in traits:
        t.add_column(f.upper(), justify="right")
    labels = [lab for ls in (data.labels.values() if data else []) for lab in ls]
    t.add_row(*[heat(float(v)) for v in profile(labels, traits)] if labels else ["-"] * len(traits))
    return t


def profiles_table(data: RunData | None, traits: list[str]) -> Table | Text:
    if data is None:
        return Text("no labels for this run from this coder", style="dim")
    t = Table(title=Text("agent profiles"), title_justify="left", expand=True)
    t.add_column("agent")
    for f in traits:
        t.add_column(f.upper(), justify="right")
    t.add_column("n", justify="right")
    for a, vec in sorted(run_profiles(data, traits).items()):
        t.add_row(Text(clean_text(data.agents.get(a, str(a)))), *[heat(float(v)) for v in vec],
                  str(len(data.labels[a])))
    return t


class CompareScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    CompareScreen #coder { height: 1; padding: 0 1; background: $panel; }
    CompareScreen VerticalScroll { width: 1fr; padding: 0 1; border: round $primary 40%; }
    """

    def __init__(self, store: Store, a: int, b: int, codebook=None) -> None:
        super().__init__()
        self.store = store
        self.pair = (a, b)
        self.codebook = codebook
        self.similarity: dict[int, float] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="coder")
        with Horizontal():
            for run_id in self.pair:
                with VerticalScroll(id=f"run-{run_id}"):
                    yield Static(id=f"body-{run_id}")
        yield Footer()

    async def on_mount(self) -> None:
        from warroom_tui.report import default_coder, load_runs
        from warroom_tui.judge.codebook import load_codebook

        self.sub_title = clean_text(f"compare runs {self.pair[0]} and {self.pair[1]}")
        codebook = self.codebook or load_codebook()
        traits = codebook.trait_ids
        coder = await default_coder(self.store)
        loaded = await load_runs(self.store, coder, codebook, include_simulated=True) if coder else None
        data = {r.run_id: r for r in loaded.runs} if loaded else {}  # two chosen runs: simulated ones too
        self.query_one("#coder", Static).update(Text(
            f"labels from {coder}" if coder else "no labels yet: similarity and flag rates need a judge"))
        for run_id in self.pair:
            run = await self.store.run(run_id)
            box = self.query_one(f"#run-{run_id}", VerticalScroll)
            if run is None:
                self.query_one(f"#body-{run_id}", Static).update(Text(f"run {run_id} is gone"))
                continue
            box.border_title = clean_text(f"run {run_id} · {run.series} · {run.status.value}")
            agents = await self.store.agents(run_id)
            names = {a.idx: a.nickname if a.nickname == a.name else f"{a.nickname} ({a.name})" for a in agents}
            mine = data.get(run_id)
            sim = mean_pairwise_cosine(run_profiles(mine, traits)) if mine else float("nan")
            self.similarity[run_id] = sim
            head = Text()
            head.append(clean_text(run.uid) + "\n", style="bold")
            head.append(clean_text(f"scenario {run.scenario}") + (" · SIMULATED" if run.simulated else "") + "\n")
            head.append("similarity (mean pairwise cosine of profiles): ", style="dim")
            head.append("-" if math.isnan(sim) else f"{sim:.3f}", style="bold")
            head.append("\nagents: " + clean_text(", ".join(f"{a.nickname} ({a.name}, {a.model})" for a in agents)),
                        style="dim")
            body = Group(head, timeline(run, await self.store.events(run_id), names), flag_rates(mine, traits),
                         profiles_table(mine, traits))
            self.query_one(f"#body-{run_id}", Static).update(body)
