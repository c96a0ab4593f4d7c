"""Human validation: code a stratified random sample of messages by hand, one at a time, resumable."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from warroom_tui.store.db import Store
from warroom_tui.store.rows import CodingRow
from warroom_tui.tui.text import clipped
from warroom_tui.untrusted import clean_text

KEYS = "123456789"
LEVELS = ("", "L1", "L2", "L3")


async def draw_sample(store: Store, size: int, seed: int = 42) -> list[int]:
    """Message ids, stratified by series and agent: each stratum gets its share (at least one when possible)."""
    rows = await store.sample_frame()
    strata: dict[tuple, list[int]] = defaultdict(list)
    for mid, series, name in rows:
        strata[(series, name)].append(mid)
    total = sum(len(v) for v in strata.values())
    if total == 0:
        return []
    size = min(size, total)
    rng = random.Random(seed)
    keys = sorted(strata)
    exact = {k: size * len(strata[k]) / total for k in keys}
    quota = {k: min(len(strata[k]), max(1, int(exact[k]))) for k in keys}
    while sum(quota.values()) > size:  # more strata than the sample: trim the largest quotas
        k = max(keys, key=lambda k: (quota[k], k))
        quota[k] -= 1
    for k in sorted(keys, key=lambda k: (quota[k] - exact[k], k)):  # largest remainders first
        if sum(quota.values()) >= size:
            break
        if quota[k] < len(strata[k]):
            quota[k] += 1
    picked = [mid for k in keys for mid in rng.sample(strata[k], min(quota[k], len(strata[k])))]
    rng.shuffle(picked)
    return picked


class CodingScreen(Screen):
    """Flags toggle with single keys; enter saves and moves on; the sample and progress live in the database."""

    DEFAULT_CSS = """
    CodingScreen #where { height: 1; padding: 0 1; background: $panel; }
    CodingScreen #context { height: auto; max-height: 8; padding: 0 1; color: $text-muted; }
    CodingScreen #message { padding: 0 1; border: round $primary 40%; }
    CodingScreen #flags { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "save", "Save & next"),
        Binding("backspace", "back", "Previous"),
        Binding("l", "level", "COMP level"),
        Binding("escape", "app.pop_screen", "Close (progress is saved)"),
        *(Binding(k, f"flag({i})", show=False) for i, k in enumerate(KEYS)),
    ]

    def __init__(self, store: Store, codebook, coder: str = "human", size: int = 40, seed: int = 42) -> None:
        super().__init__()
        self.store = store
        self.codebook = codebook
        self.coder = coder
        self.level_flag = next(iter(codebook.levelled_ids), None)
        """The flag `l` sets a level for (compensation)."""
        self.sample_size = size
        self.seed = seed
        self.sample: list[int] = []
        self.index = 0
        self.current: dict[str, bool] = {}
        self.level = ""
        self.coder_id = 0
        self.done_view = False
        self.agreement: dict[str, dict[str, float]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="where")
        with VerticalScroll():
            yield Static(id="context")
            yield Static(id="message")
        yield Static(id="flags")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = clean_text(f"human coding as {self.coder}")
        known = await self.store.coder(self.coder)
        if known is not None and known.config.get("sample"):
            self.sample = known.config["sample"]  # resume
            self.coder_id = known.id
        else:
            self.sample = await draw_sample(self.store, self.sample_size, self.seed)
            self.coder_id = await self.store.coder_id(self.coder, "human", self.codebook.name,
                                                      {"sample": self.sample, "seed": self.seed})
        labels = await self.store.labels(self.coder_id)
        self.index = next((i for i, mid in enumerate(self.sample) if mid not in labels), len(self.sample))
        await self._show()

    @property
    def flags(self) -> list[str]:
        return [f for f in self.codebook.ids][: len(KEYS)]

    async def _show(self) -> None:
        if self.index >= len(self.sample):
            await self._finish()
            return
        mid = self.sample[self.index]
        view = await self.store.message_view(mid)
        assert view is not None
        run_id, rnd, nickname, text, series = view.run_id, view.round, view.nickname, view.text, view.series
        before = await self.store.messages_before(run_id, view.seq, 2)
        labels = (await self.store.labels(self.coder_id)).get(mid, {})
        self.current = {f: labels.get(f, (False, ""))[0] for f in self.flags}
        self.level = labels.get(self.level_flag, (False, ""))[1] if self.level_flag else ""
        where = (f"message {self.index + 1}/{len(self.sample)} · series {series} · run {run_id} · {nickname}"
                 f" · round {rnd}")
        self.query_one("#where", Static).update(Text(clean_text(where)))
        ctx = Text()
        for nick, sender, t in before:
            ctx.append(clean_text(f"{nick or sender}: "), style="bold")
            ctx.append(" ".join(clean_text(t).split())[:300] + "\n")
        self.query_one("#context", Static).update(ctx)
        window = self.codebook.reading_window
        body = clipped(text, 6000)
        if window and len(text) > window:
            body.stylize("dim", window)  # the part beyond the coders' reading window
        self.query_one("#message", Static).update(body)
        self._show_flags()

    def _show_flags(self) -> None:
        """One line per flag: its key, a mark that does not rely on colour, its name and codebook definition."""
        t = Text()
        for i, f in enumerate(self.flags):
            on = self.current.get(f, False)
            flag = self.codebook.flag(f)
            t.append(f" {KEYS[i]} ", style="bold reverse" if on else "bold")
            t.append(" [x] " if on else " [ ] ", style="bold green" if on else "dim")
            t.append(flag.name, style="bold green" if on else "bold")
            if f == self.level_flag and on:
                t.append(f" {self.level or '(l: level)'}", style="yellow")
            t.append(f"  {flag.description}\n", style="" if on else "dim")
        t.append("enter: save & next · backspace: previous · escape: close (saved)", style="dim")
        self.query_one("#flags", Static).update(t)

    def action_flag(self, i: int) -> None:  # not `toggle`: that is Textual's own action
        if self.done_view or i >= len(self.flags):
            return
        f = self.flags[i]
        self.current[f] = not self.current.get(f, False)
        self._show_flags()

    def action_level(self) -> None:
        if self.level_flag and self.current.get(self.level_flag):
            self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
            self._show_flags()

    async def action_save(self) -> None:
        if self.done_view or self.index >= len(self.sample):
            return
        mid = self.sample[self.index]
        flags = {f: (v, self.level if f == self.level_flag and v else "") for f, v in self.current.items()}
        await self.store.save_codings(self.coder_id, [CodingRow(mid, "coded", "", flags)])
        self.index += 1
        await self._show()

    async def action_back(self) -> None:
        if self.index > 0 and not self.done_view:
            self.index -= 1
            await self._show()

    async def _finish(self) -> None:
        from warroom_tui.judge.human import agreement_with

        self.done_view = True
        self.query_one("#where", Static).update(Text(f"done: {len(self.sample)} messages coded as {self.coder}"))
        table = Table(title=Text(f"Cohen's kappa: {self.coder} against each judge"))
        table.add_column("judge")
        for f in self.flags:
            table.add_column(self.codebook.flag(f).name, justify="right")
        table.add_column("n", justify="right")
        for c in await self.store.coders():
            if c.kind == "human":
                continue
            k = await agreement_with(self.store, self.coder, c.name, self.flags)
            if k["n"]:
                self.agreement[c.name] = k
                table.add_row(Text(c.name), *[("-" if k[f] != k[f] else f"{k[f]:.2f}") for f in self.flags],
                              str(int(k["n"])))
        self.query_one("#context", Static).update("")
        self.query_one("#message", Static).update(table)
        self.query_one("#flags", Static).update(Text("escape: close", style="dim"))
